//! Polygon containment: inside, outside, exactly on an edge or a vertex (inside), around the
//! reflex vertices of concave shapes, the even-odd rule on self-intersecting rings, and
//! exactness where floating point would have to round.
#![allow(clippy::unwrap_used)]

mod common;

use common::pt;
use varsel_geo::{Point, Polygon};

fn e7(lat_e7: i32, lon_e7: i32) -> Point {
    Point { lat_e7, lon_e7 }
}

/// Goal: the basic cases of a convex ring. Method: a square 1° on a side; its centre, points
/// outside on each side, a point on each edge, each vertex, and points 1e-7 degree (1.1 cm)
/// outside an edge and a vertex.
#[test]
fn square() {
    let square = Polygon::parse("60,10 60,11 61,11 61,10 60,10").unwrap();
    assert!(square.contains(pt("60.5,10.5")));
    for outside in ["59.5,10.5", "61.5,10.5", "60.5,9.5", "60.5,11.5", "59.9999999,10.5", "61,11.0000001"] {
        assert!(!square.contains(pt(outside)), "{outside}");
    }
    for boundary in ["60,10.5", "61,10.5", "60.5,10", "60.5,11", "60,10", "60,11", "61,11", "61,10"] {
        assert!(square.contains(pt(boundary)), "{boundary} is on the boundary");
    }
}

/// Goal: a concave U: the notch between the arms is outside, the arms and base inside, and
/// the reflex vertices at the notch's bottom are exact. Method: the eight neighbours 1e-7
/// degree around a reflex vertex: only the one in the notch is outside; the notch's edges
/// and vertices are inside.
#[test]
fn concave_u() {
    // Arms at longitudes 0-1 and 2-3, the notch from latitude 1 up to the top at 3.
    let u = Polygon::parse("0,0 0,3 3,3 3,2 1,2 1,1 3,1 3,0 0,0").unwrap();
    assert!(u.contains(pt("2.5,0.5")) && u.contains(pt("2.5,2.5")) && u.contains(pt("0.5,1.5")));
    assert!(!u.contains(pt("2,1.5")), "the notch");
    assert!(!u.contains(pt("3.0000001,1.5")), "above the notch");
    assert!(
        u.contains(pt("1,1.5")) && u.contains(pt("2,1")) && u.contains(pt("3,2")),
        "notch edges and vertex"
    );
    let reflex = e7(10_000_000, 10_000_000); // (1, 1)
    for d_lat in -1..=1 {
        for d_lon in -1..=1 {
            let p = e7(reflex.lat_e7 + d_lat, reflex.lon_e7 + d_lon);
            let in_notch = d_lat > 0 && d_lon > 0;
            assert_eq!(u.contains(p), !in_notch, "({d_lat}, {d_lon}) from the reflex vertex");
        }
    }
}

/// Goal: a star, whose inner vertices are reflex: just outside between two spikes is outside,
/// just inside is inside, the tips' neighbourhoods likewise. Method: points 1e-5 degree
/// (1.1 m) beyond and short of each vertex along the ray from the centre, and each vertex.
#[test]
fn star_vertices() {
    let star = Polygon::parse(&common::star()).unwrap();
    let centre = (600_000_000_i64, 100_000_000_i64);
    for v in &star.points()[..10] {
        let (dl, dn) = (i64::from(v.lat_e7) - centre.0, i64::from(v.lon_e7) - centre.1);
        let len = ((dl * dl + dn * dn) as f64).sqrt();
        let along = |k: f64| {
            let s = 1.0 + k * 100.0 / len;
            e7(
                (centre.0 as f64 + dl as f64 * s).round() as i32,
                (centre.1 as f64 + dn as f64 * s).round() as i32,
            )
        };
        assert!(star.contains(*v), "vertex {v}");
        assert!(star.contains(along(-1.0)), "short of {v}");
        assert!(!star.contains(along(1.0)), "beyond {v}");
    }
    assert!(star.contains(pt("60,10")));
}

/// Goal: self-intersecting rings follow the even-odd rule and keep their boundary. Method: a
/// bow tie (both lobes inside, its crossing point on the boundary, west and east of the
/// crossing outside), and a square wound twice (its inside crossed twice: outside, edges
/// inside).
#[test]
fn self_intersecting_even_odd() {
    let bow_tie = Polygon::parse("0,0 2,2 2,0 0,2 0,0").unwrap();
    // South and north lobes, crossing at (1, 1).
    assert!(bow_tie.contains(pt("0.5,1")) && bow_tie.contains(pt("1.5,1")), "both lobes");
    assert!(bow_tie.contains(pt("1,1")), "the crossing is on both edges");
    assert!(!bow_tie.contains(pt("1,0.5")) && !bow_tie.contains(pt("1,1.5")), "west and east of it");
    let twice = Polygon::parse("0,0 0,1 1,1 1,0 0,0 0,1 1,1 1,0 0,0").unwrap();
    assert!(!twice.contains(pt("0.5,0.5")), "wound twice: even");
    assert!(twice.contains(pt("0,0.5")), "its edges are still the boundary");
}

/// Goal: containment is exact where a floating-point test would have to round. Method: a
/// long diagonal edge from (0, 0) to (30, 70) degrees; the points on it at every tenth are
/// on the boundary, and the points 1e-7 degree either side are decided by the side they are
/// on, however far along the 76° edge.
#[test]
fn exact_near_a_long_edge() {
    // Right of the edge (0,0)→(30,70) is the polygon's inside (it runs clockwise).
    let triangle = Polygon::parse("0,0 30,70 0,70 0,0").unwrap();
    for k in 1..10 {
        let on = e7(30_000_000 * k, 70_000_000 * k);
        assert!(triangle.contains(on), "{on} is on the edge");
        assert!(triangle.contains(e7(on.lat_e7 - 1, on.lon_e7)), "1e-7 south of {on}");
        assert!(!triangle.contains(e7(on.lat_e7 + 1, on.lon_e7)), "1e-7 north of {on}");
    }
    // Less than 1e-7 degree either side of the edge, where 3/7 has no finite binary form.
    let p = e7(128_571_429, 300_000_000); // lat 12.8571429 > 30/70 * 30 = 12.857142857...
    assert!(!triangle.contains(p));
    assert!(triangle.contains(e7(128_571_428, 300_000_000)));
}

/// Goal: polygons are planar, as CAP and shapely take them: an edge along a parallel is a
/// straight line in latitude and longitude, not a great circle. Method: a point on a long
/// east-west edge is on the boundary, and one a hair north of it (where the great circle
/// between the edge's ends would pass) is outside.
#[test]
fn planar_edges() {
    let band = Polygon::parse("50,0 50,40 60,40 60,0 50,0").unwrap();
    assert!(band.contains(pt("60,20")));
    assert!(!band.contains(pt("60.0000001,20")));
    assert!(!band.contains(pt("61,20")), "the great circle from 60,0 to 60,40 passes north of 61°");
}
