//! Properties over generated input: reading never panics on any text, containment and
//! covers never panic on any value, decimals convert exactly, and every cover is sound: a
//! contained point's cell is in a run, and an inside run holds only contained points.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Rng, check_cover, points_near, text7, wrapped};
use proptest::prelude::*;
use varsel_geo::limits::RADIUS_M_MAX;
use varsel_geo::{Area, Circle, Point, Polygon, text};

/// Text made of what coordinates are made of, so that much of it gets past the first check.
fn geo_text() -> impl Strategy<Value = String> {
    "[-+0-9., \t]{0,60}"
}

/// A point anywhere, the poles and the antimeridian often.
fn any_point() -> impl Strategy<Value = Point> {
    let lat = prop_oneof![
        -900_000_000..=900_000_000i32,
        Just(900_000_000),
        Just(-900_000_000),
        899_000_000..=900_000_000
    ];
    let lon = prop_oneof![
        -1_800_000_000..=1_800_000_000i32,
        Just(1_800_000_000),
        Just(-1_800_000_000),
        1_790_000_000..=1_800_000_000
    ];
    (lat, lon).prop_map(|(lat_e7, lon_e7)| Point { lat_e7, lon_e7 })
}

/// A circle of any valid radius, small ones often.
fn any_circle() -> impl Strategy<Value = Circle> {
    let radius =
        prop_oneof![0..=100u32, 0..=50_000u32, 0..=3_000_000u32, 0..=RADIUS_M_MAX, Just(RADIUS_M_MAX)];
    (any_point(), radius).prop_map(|(center, radius_m)| Circle::new(center, radius_m).unwrap())
}

/// A polygon: a star-shaped ring (simple) or a ring of random points in a box (often
/// self-intersecting), around a point anywhere, from metres to tens of degrees across.
fn any_polygon() -> impl Strategy<Value = Polygon> {
    let size_e7 = prop_oneof![100..=10_000i64, 10_000..=1_000_000i64, 1_000_000..=300_000_000i64];
    (any_point(), size_e7, 3..24usize, any::<bool>(), any::<u64>()).prop_filter_map(
        "valid ring",
        |(centre, size, count, star, seed)| {
            let mut rng = Rng::new(seed);
            let mut points: Vec<Point> = (0..count)
                .map(|i| {
                    let (d_lat, d_lon) = if star {
                        let angle = std::f64::consts::TAU * (i as f64 + rng.unit() * 0.9) / count as f64;
                        let r = size as f64 * (0.2 + rng.unit());
                        ((r * angle.sin()) as i64, (r * angle.cos()) as i64)
                    } else {
                        (rng.range(-size, size), rng.range(-size, size))
                    };
                    let lat = (i64::from(centre.lat_e7) + d_lat).clamp(-900_000_000, 900_000_000);
                    let lon = (i64::from(centre.lon_e7) + d_lon).clamp(-1_800_000_000, 1_800_000_000);
                    Point { lat_e7: lat as i32, lon_e7: lon as i32 }
                })
                .collect();
            points.push(points[0]);
            Polygon::new(points).ok()
        },
    )
}

fn any_area() -> impl Strategy<Value = Area> {
    prop_oneof![any_circle().prop_map(Area::from), any_polygon().prop_map(Area::from)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Goal: no text makes a reader panic. Method: any string, and strings of coordinate
    /// characters, through every reader.
    #[test]
    fn reading_never_panics(any in any::<String>(), geo in geo_text()) {
        for t in [&any, &geo] {
            let _ = Point::parse(t);
            let _ = Polygon::parse(t);
            let _ = Circle::parse(t);
            let _ = text::polygon(t);
            let _ = Point::from_decimal(t, t);
        }
    }

    /// Goal: decimals convert exactly: rounding half away from zero at the seventh decimal.
    /// Method: an integer in 1e-9 degree written as a decimal with 9 decimals, against the
    /// same rounding in integer arithmetic.
    #[test]
    fn decimals_round_exactly(e9 in -90_000_000_000i64..=90_000_000_000i64) {
        let m = e9.unsigned_abs();
        let text = format!("{}{}.{:09}", if e9 < 0 { "-" } else { "" }, m / 1_000_000_000, m % 1_000_000_000);
        let rounded = ((m + 50) / 100) as i64 * e9.signum();
        prop_assert_eq!(i64::from(Point::from_decimal(&text, "0").unwrap().lat_e7), rounded, "{}", text);
    }

    /// Goal: what is read is written back to the same value. Method: random valid points and
    /// polygons, `Display` then `parse`.
    #[test]
    fn written_areas_read_back(p in any_point(), polygon in any_polygon(), circle in any_circle()) {
        prop_assert_eq!(Point::parse(&p.to_string()).unwrap(), p);
        prop_assert_eq!(Point::parse(&text7(p)).unwrap(), p);
        prop_assert_eq!(Polygon::parse(&polygon.to_string()).unwrap(), polygon);
        prop_assert_eq!(Circle::parse(&circle.to_string()).unwrap(), circle);
    }

    /// Goal: containment and covers never panic, whatever the values, even out of range
    /// (the fields of `Point` and `Circle` are public). Method: any `i32` coordinates and
    /// any radius; the cover only for areas that pass the checks.
    #[test]
    fn never_panics(lat in any::<i32>(), lon in any::<i32>(), radius in any::<u32>(), p in any::<(i32, i32)>()) {
        let point = Point { lat_e7: p.0, lon_e7: p.1 };
        let wild = Circle { center: Point { lat_e7: lat, lon_e7: lon }, radius_m: radius };
        let _ = wild.contains(point);
        let _ = Area::from(wild).cover_bound();
        let _ = Area::from(wild).cover();
        let _ = varsel_geo::cell_of(point);
        let square = Polygon::parse("0,0 0,1 1,1 1,0 0,0").unwrap();
        let _ = square.contains(point);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Goal: every cover is sound and well-formed: runs ascending and disjoint, within the
    /// bound; a contained point's cell is in a run; a point in an inside run is contained,
    /// and so are the corners of each inside run's end cells. Method: random circles
    /// (poles, antimeridian, radius 0 to the whole Earth) and polygons (simple and
    /// self-intersecting), with 400 points each: near the edge (on and around polygon
    /// edges, within 40 m of a circle's radius) and around the area.
    #[test]
    fn covers_are_sound(area in any_area(), seed in any::<u64>()) {
        let runs = area.cover();
        let mut rng = Rng::new(seed);
        let mut points = points_near(&area, 400, &mut rng);
        points.extend((0..50).map(|_| wrapped(rng.range(-900_000_000, 900_000_000), rng.range(-1_800_000_000, 1_800_000_000))));
        if let Err(e) = check_cover(&area, &runs, &points) {
            return Err(TestCaseError::fail(format!("{e}\narea: {area:?}")));
        }
    }
}
