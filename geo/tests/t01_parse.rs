//! Reading areas from CAP text: exact decimals, every rule's refusal and its message, the
//! written form reading back, and the serialized form checked when it is read back.
#![allow(clippy::unwrap_used)]

mod common;

use serde::Serialize;
use varsel_geo::limits::{NUMBER_CHARS_MAX, POLYGON_POINTS_MAX, RADIUS_M_MAX};
use varsel_geo::{Area, Circle, Field, GeoError, Point, Polygon};

fn lat_e7(text: &str) -> i32 {
    Point::from_decimal(text, "0").unwrap().lat_e7
}

/// Goal: decimal text becomes 1e-7 degree exactly, rounding half away from zero beyond the
/// seventh decimal, never through `f64`. Method: values at and around a half; a number whose
/// `f64` times 10^7 falls just below the half (3.10742695 is 31 074 269.499999996 as `f64`),
/// where the exact reading and `from_degrees` differ; every `xs:decimal` form.
#[test]
fn decimals_are_exact() {
    assert_eq!(lat_e7("60.39"), 603_900_000);
    assert_eq!(lat_e7("60.390000049999"), 603_900_000);
    assert_eq!(lat_e7("60.39000005"), 603_900_001);
    assert_eq!(lat_e7("-60.39000005"), -603_900_001);
    assert_eq!(lat_e7("-0.00000004"), 0);
    assert_eq!(lat_e7("3.10742695"), 31_074_270);
    assert_eq!(Point::from_degrees(3.10742695, 0.0).unwrap().lat_e7, 31_074_269, "the f64 route rounds down");
    assert_eq!(lat_e7("+3"), 30_000_000);
    assert_eq!(lat_e7(".5"), 5_000_000);
    assert_eq!(lat_e7("7."), 70_000_000);
    assert_eq!(lat_e7("-0"), 0);
    assert_eq!(lat_e7(" 0060.3900 "), 603_900_000);
    let long = format!("1.{}", "1".repeat(NUMBER_CHARS_MAX - 2));
    assert_eq!(lat_e7(&long), 11_111_111);
    for bad in ["", ".", "+", "-", "3.8e1", "1.2.3", "0x10", "1,5", "--1", "١٢", &format!("{long}1")] {
        let err = Point::from_decimal(bad, "0").unwrap_err();
        assert!(matches!(err, GeoError::NotDecimal { field: Field::Latitude, .. }), "{bad:?}: {err}");
    }
}

/// Goal: ranges are checked on the exact value as written, and the message names the field,
/// the value and the range. Method: values just past each bound, exactly on them, and
/// `f64`s out of range, NaN included.
#[test]
fn ranges() {
    let err = Point::parse("91.5,5.32").unwrap_err();
    assert_eq!(err.to_string(), "latitude 91.5 is outside -90 to 90");
    let err = Point::parse("90.00000000001,0").unwrap_err();
    assert_eq!(err.to_string(), "latitude 90.00000000001 is outside -90 to 90");
    let err = Point::parse("0,-180.000000000000000001").unwrap_err();
    assert_eq!(err.to_string(), "longitude -180.000000000000000001 is outside -180 to 180");
    assert_eq!(Point::parse("-90,-180").unwrap(), Point { lat_e7: -900_000_000, lon_e7: -1_800_000_000 });
    assert_eq!(Point::parse("90.000,180").unwrap(), Point { lat_e7: 900_000_000, lon_e7: 1_800_000_000 });
    assert_eq!(
        Point::from_degrees(f64::NAN, 0.0).unwrap_err().to_string(),
        "latitude NaN is outside -90 to 90"
    );
    let err = Point::from_degrees(0.0, f64::INFINITY).unwrap_err();
    assert_eq!(err.to_string(), "longitude inf is outside -180 to 180");
    assert_eq!(
        Point::new(900_000_001, 0).unwrap_err().to_string(),
        "latitude 90.0000001 is outside -90 to 90"
    );
    let err = Point::parse("60.39;5.32").unwrap_err();
    assert_eq!(err.to_string(), "point \"60.39;5.32\" is not lat,lon like 60.39,5.32");
}

/// Goal: each polygon rule is refused with a message naming the rule, the point or the edge.
/// Method: one ring per rule, and the rules that are not refusals (an edge of exactly 180°,
/// a ring closed by equal values written differently, repeated points).
#[test]
fn polygon_rules() {
    let err = |text: &str| Polygon::parse(text).unwrap_err().to_string();
    assert_eq!(
        err("1,1 2,2 1,1"),
        "polygon has 3 points; a polygon needs at least 4, the first repeated as the last"
    );
    assert_eq!(err("1,1 2,2 3,1 1,2"), "polygon is not closed: its first point must be repeated as its last");
    assert_eq!(err("1,1 2,2 91,1 1,1"), "point 3: latitude 91 is outside -90 to 90");
    assert_eq!(
        err("1,1 2,2 3,x 1,1"),
        "point 3: longitude \"x\" is not a decimal number (digits, an optional sign and point, at most 40 characters)"
    );
    assert_eq!(err(&"1,1 ".repeat(POLYGON_POINTS_MAX + 1)), "polygon has more than 10000 points");
    assert_eq!(
        err("-16,179.5 -17,179.5 -17,-179.5 -16,179.5"),
        "polygon edge from point 2 to point 3 crosses the antimeridian (its longitudes differ by more than \
         180°); split it into two polygons at 180°"
    );
    assert_eq!(err("1,1 2,2 3,3 1,1"), "polygon has zero area: all its points are on one line");
    assert_eq!(err("1,1 1,1 1,1 1,1"), "polygon has zero area: all its points are on one line");
    assert!(
        Polygon::parse("0,-90 1,90 -1,90 0,-90").is_ok(),
        "an edge of exactly 180° is planar, not wrapped"
    );
    assert!(Polygon::parse("60.39,5.32 60.40,5.33 60.38,5.34 60.390,5.320").is_ok(), "closed by value");
    assert!(Polygon::parse("0,0 0,1 0,1 1,1 0,0").is_ok(), "a repeated point is a zero-length edge");
    let points = vec![Point { lat_e7: 0, lon_e7: 0 }; POLYGON_POINTS_MAX + 1];
    assert_eq!(Polygon::new(points).unwrap_err(), GeoError::TooManyPoints);
    let bad = vec![Point { lat_e7: 0, lon_e7: 0 }, Point { lat_e7: i32::MAX, lon_e7: 0 }];
    let ring = [bad.clone(), bad.clone(), vec![bad[0]]].concat();
    assert_eq!(
        Polygon::new(ring).unwrap_err().to_string(),
        "point 2: latitude 214.7483647 is outside -90 to 90"
    );
}

/// Goal: circles read their radius in km exactly, to the metre, from 0 (a point, as CAP
/// allows) to the largest radius. Method: radii around the rounding of a metre and around the
/// bound, and malformed circles.
#[test]
fn circle_rules() {
    let radius = |text: &str| Circle::parse(&format!("60.39,5.32 {text}")).map(|c| c.radius_m);
    assert_eq!(radius("1.5"), Ok(1_500));
    assert_eq!(radius("0"), Ok(0));
    assert_eq!(radius("0.0005"), Ok(1));
    assert_eq!(radius("0.00049999"), Ok(0));
    assert_eq!(radius("20038"), Ok(RADIUS_M_MAX));
    assert_eq!(
        radius("20038.0001").unwrap_err().to_string(),
        "radius 20038.0001 km is outside 0 to 20038 km"
    );
    assert_eq!(radius("-1").unwrap_err().to_string(), "radius -1 km is outside 0 to 20038 km");
    assert_eq!(radius("-0"), Ok(0));
    let err = Circle::parse("60.39,5.32").unwrap_err();
    assert_eq!(
        err.to_string(),
        "circle \"60.39,5.32\" is not a centre and a radius in km, like 60.39,5.32 10"
    );
    assert!(Circle::parse("60.39,5.32 1 2").is_err());
    assert_eq!(Circle::parse("60.39,200 1").unwrap_err().to_string(), "longitude 200 is outside -180 to 180");
    let centre = Point::parse("60.39,5.32").unwrap();
    assert_eq!(
        Circle::new(centre, RADIUS_M_MAX + 1).unwrap_err().to_string(),
        "radius 20038.001 km is outside 0 to 20038 km"
    );
}

/// Goal: what is written reads back to the same value, in the shortest exact form. Method:
/// points, a polygon and a circle through `Display` and `parse`.
#[test]
fn written_form_reads_back() {
    let p = Point { lat_e7: -603_900_001, lon_e7: 1_800_000_000 };
    assert_eq!(p.to_string(), "-60.3900001,180");
    assert_eq!(Point::parse(&p.to_string()).unwrap(), p);
    let polygon = Polygon::parse(common::OSLO).unwrap();
    assert_eq!(Polygon::parse(&polygon.to_string()).unwrap(), polygon);
    let circle = Circle::parse("60.3975,5.3240 1.5").unwrap();
    assert_eq!(circle.to_string(), "60.3975,5.324 1.5");
    assert_eq!(Circle::parse(&circle.to_string()).unwrap(), circle);
}

/// A serialized `Point` has this shape: a stand-in that can hold what `Point` refuses.
#[derive(Serialize)]
struct RawPoint {
    lat_e7: i32,
    lon_e7: i32,
}

/// A serialized `Polygon`.
#[derive(Serialize)]
struct RawPolygon {
    points: Vec<RawPoint>,
}

/// Goal: areas survive postcard (the Raft log's encoding), and what is read back is checked
/// like what is parsed, so a damaged or forged log entry cannot bring in an invalid area.
/// Method: round-trip a polygon and a circle; encode rings and points that break a rule
/// through stand-in types and decode them as the real ones.
#[test]
fn postcard_round_trip_and_checks() {
    for area in [common::polygon(common::OSLO), common::circle(common::FIJI_40KM)] {
        let bytes = postcard::to_stdvec(&area).unwrap();
        assert_eq!(postcard::from_bytes::<Area>(&bytes).unwrap(), area);
    }
    let raw = |lat_e7, lon_e7| RawPoint { lat_e7, lon_e7 };
    let point = postcard::to_stdvec(&raw(900_000_001, 0)).unwrap();
    assert!(postcard::from_bytes::<Point>(&point).is_err());
    let crossing = RawPolygon {
        points: vec![
            raw(0, 1_790_000_000),
            raw(10_000_000, -1_790_000_000),
            raw(0, -1_790_000_000),
            raw(0, 1_790_000_000),
        ],
    };
    let bytes = postcard::to_stdvec(&crossing).unwrap();
    assert!(postcard::from_bytes::<Polygon>(&bytes).is_err());
    let line = RawPolygon { points: vec![raw(0, 0), raw(1, 1), raw(2, 2), raw(0, 0)] };
    assert!(postcard::from_bytes::<Polygon>(&postcard::to_stdvec(&line).unwrap()).is_err());
}
