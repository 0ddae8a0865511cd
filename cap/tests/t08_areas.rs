//! CAP geometry and area alerts: the CAP reader and `varsel-geo` are one reader, so they
//! accept and refuse the same texts, and a CAP shape becomes an exact `varsel-geo` area.
#![allow(clippy::unwrap_used)]

mod common;

use varsel_cap::geo::{Circle, Polygon};
use varsel_cap::parse;

/// Goal: a CAP document's shapes become areas holding the same coordinates, exactly.
/// Method: the flood alert's polygon and circle: the area's ring is the CAP ring in 1e-7
/// degree, the circle's radius 500 m, and each holds its own vertices and centre.
#[test]
fn shapes_become_areas() {
    let alert = parse(&common::fixture("n1_flood_alert.xml")).unwrap();
    let area = &alert.infos[0].areas[0];
    let polygon = area.polygons[0].to_area().unwrap();
    let varsel_geo::Area::Polygon(ring) = &polygon else { panic!("{polygon:?}") };
    let first = ring.points()[0];
    assert_eq!((first.lat_e7, first.lon_e7), (603_990_000, 53_220_000));
    assert!(ring.points().iter().all(|p| polygon.contains(*p)));
    let circle = area.circles[0].to_area().unwrap();
    let varsel_geo::Area::Circle(c) = &circle else { panic!("{circle:?}") };
    assert_eq!((c.center.lat_e7, c.center.lon_e7, c.radius_m), (603_975_000, 53_240_000, 500));
    let zero = parse(&common::fixture("a3_earthquake.xml")).unwrap().infos[0].areas[0].circles[0];
    let zero = zero.to_area().unwrap();
    assert!(zero.contains(varsel_geo::Point::parse("32.9525,-115.5527").unwrap()));
}

/// Goal: there is one reader: the CAP reader accepts exactly the texts `varsel-geo`'s reader
/// accepts. Method: good and broken polygons and circles through both.
#[test]
fn one_reader() {
    let polygons = [
        "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.47,-120.14",
        "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.470,-120.140",
        "38.47,-120.14 38.34,-119.95 38.47,-120.14",
        "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.47,-120.1400001",
        "90.00000000000000001,0 1,1 2,0 90.00000000000000001,0",
        "3.8e1,1 1,1 2,0 3.8e1,1",
        "1,1 2,2 3;3 1,1",
    ];
    for text in polygons {
        assert_eq!(Polygon::parse(text).is_ok(), varsel_geo::text::polygon(text).is_ok(), "{text}");
    }
    for text in ["60.39,5.32 10", "60.39,5.32", "60.39,5.32 -0.5", "60.39,5.32 20038.0000001", "91,0 1"] {
        assert_eq!(Circle::parse(text).is_ok(), varsel_geo::text::circle(text).is_ok(), "{text}");
    }
    let err = Polygon::parse("90.00000000000000001,0 1,1 2,0 90.00000000000000001,0").unwrap_err();
    assert_eq!(err, "point 1: has the latitude 90.00000000000000001, outside -90 to 90", "exact, not f64");
}

/// Goal: an area is held to the rules of areas, which CAP itself does not set. Method: a
/// valid CAP polygon with an edge across the antimeridian is read, and refused as an area
/// with the reason and the fix.
#[test]
fn area_rules_apply_on_conversion() {
    let fiji = Polygon::parse("-16,179.5 -17,179.5 -17,-179.5 -16,179.5").unwrap();
    let err = fiji.to_area().unwrap_err();
    assert!(err.to_string().contains("split it into two polygons at 180°"), "{err}");
}
