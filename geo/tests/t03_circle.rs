//! Circle containment: great-circle distance on the mean Earth sphere, boundary included,
//! near and over the North Pole, across the prime meridian and across the antimeridian.
#![allow(clippy::unwrap_used)]

mod common;

use common::{circle, destination, pt};
use varsel_geo::limits::RADIUS_M_MAX;
use varsel_geo::{Area, Circle, Point, distance_m};

/// Goal: the distance is the haversine on a sphere of 6 371 008.8 m. Method: one degree of
/// latitude is R·π/180 = 111 195.08 m anywhere; a quarter of the equator is R·π/2; the
/// antipode is R·π, to within the haversine's rounding there, and the formula does not go
/// NaN.
#[test]
fn distances() {
    let degree = 6_371_008.8 * std::f64::consts::PI / 180.0;
    assert!((distance_m(pt("60,5"), pt("61,5")) - degree).abs() < 1e-6);
    assert!((distance_m(pt("-0.5,179.5"), pt("0.5,179.5")) - degree).abs() < 1e-6);
    assert!((distance_m(pt("0,0"), pt("0,90")) - 90.0 * degree).abs() < 1e-6);
    // Near the antipode the haversine loses half its digits (asin near its top): 0.19 m here.
    assert!((distance_m(pt("10,20"), pt("-10,-160")) - 180.0 * degree).abs() < 0.5);
    assert!((distance_m(pt("90,0"), pt("90,123")) - 0.0).abs() < 1e-9, "the pole is one point");
}

/// Goal: the boundary is included and exact to the centimetre. Method: around Bergen, points
/// 0.5 m inside and outside the 25 km radius on 36 bearings (rounded to 1e-7 degree, at most
/// 1.1 cm), a radius of 0 holding its centre only.
#[test]
fn radius_boundary() {
    let area = circle(common::BERGEN_25KM);
    let Area::Circle(c) = area else { unreachable!() };
    for i in 0..36 {
        let bearing = f64::from(i) * std::f64::consts::TAU / 36.0;
        assert!(area.contains(destination(c.center, bearing, 24_999.5)), "bearing {i}0° inside");
        assert!(!area.contains(destination(c.center, bearing, 25_000.5)), "bearing {i}0° outside");
    }
    let point = Circle::parse("32.9525,-115.5527 0").unwrap();
    assert!(point.contains(pt("32.9525,-115.5527")));
    assert!(!point.contains(pt("32.9525001,-115.5527")));
}

/// Goal: a circle near the North Pole that does not reach it, and one that covers it: the
/// latter holds every longitude near the pole, also on the far side. Method: distances
/// reasoned along meridians (0.1° of latitude is 11.12 km).
#[test]
fn north_pole() {
    let near = circle("89.5,0 20"); // the pole is 55.6 km away
    assert!(!near.contains(pt("90,0")));
    assert!(near.contains(pt("89.5,1")), "1° of longitude at 89.5° is 0.97 km");
    assert!(near.contains(pt("89.5,-1")));
    assert!(!near.contains(pt("89.5,180")), "the far side, 111 km away");
    let over = circle(common::POLE_20KM); // 89.9°N 30°E, 20 km: the pole is 11.1 km away
    for lon in ["30", "-150", "0", "180", "-180", "90.1234567"] {
        assert!(over.contains(pt(&format!("90,{lon}"))), "the pole at longitude {lon}");
        assert!(over.contains(pt(&format!("89.99,{lon}"))), "89.99° at {lon}, at most 12.2 km");
    }
    assert!(over.contains(pt("89.95,-150")), "beyond the pole, 16.7 km");
    assert!(!over.contains(pt("89.85,-150")), "beyond the pole, 27.8 km");
    assert!(!over.contains(pt("89.7,30")), "22.2 km south");
}

/// Goal: a circle across the prime meridian holds points on both sides. Method: around the
/// Greenwich observatory (51.4779°N 0.0015°W), 12 km: 0.1° of longitude there is 6.9 km.
#[test]
fn prime_meridian() {
    let greenwich = circle(common::GREENWICH_12KM);
    assert!(greenwich.contains(pt("51.4779,0.1")) && greenwich.contains(pt("51.4779,-0.1")));
    assert!(greenwich.contains(pt("51.4779,0")));
    assert!(!greenwich.contains(pt("51.4779,0.2")) && !greenwich.contains(pt("51.4779,-0.2")));
}

/// Goal: a circle across the antimeridian holds points on both sides, written with either
/// sign of 180°. Method: 40 km around 16.8°S 179.9°E (Fiji): 0.1° of longitude there is
/// 10.6 km.
#[test]
fn antimeridian() {
    let fiji = circle(common::FIJI_40KM);
    for inside in ["-16.8,179.9", "-16.8,180", "-16.8,-180", "-16.8,-179.9", "-16.8,-179.75", "-16.6,-179.9"]
    {
        assert!(fiji.contains(pt(inside)), "{inside}");
    }
    for outside in ["-16.8,-179.5", "-16.8,179.5", "-16.4,-179.9"] {
        assert!(!fiji.contains(pt(outside)), "{outside}");
    }
}

/// Goal: the largest radius covers the whole Earth, antipode included, without NaN. Method:
/// the antipode of a centre, and the poles.
#[test]
fn whole_earth() {
    let all = Area::from(Circle::new(pt("59.9,10.7"), RADIUS_M_MAX).unwrap());
    for p in ["-59.9,-169.3", "90,0", "-90,0", "0,180"] {
        assert!(all.contains(pt(p)), "{p}");
    }
    let odd = Circle { center: Point { lat_e7: i32::MAX, lon_e7: i32::MIN }, radius_m: u32::MAX };
    let _ = odd.contains(pt("0,0")); // out of range: any answer, no panic
}
