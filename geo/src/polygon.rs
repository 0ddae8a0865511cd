//! [`Polygon`]: one closed ring of points, and the exact test of whether it covers a point.
//!
//! # What a polygon means
//!
//! - **Planar.** Latitude and longitude are treated as plane coordinates (y and x), edges are
//!   straight lines in that plane, as CAP 1.2 draws them and as shapely computes. An edge is
//!   never taken the short way round the antimeridian: a ring with an edge whose longitudes
//!   differ by more than 180° is refused ([`GeoError::CrossesAntimeridian`]); split such an
//!   area into two polygons at 180°.
//! - **One ring, no holes.** CAP's syntax has no way to write a hole; an area with a hole is
//!   sent as several polygons.
//! - **Boundary included.** A point on an edge or a vertex is inside (shapely's `covers`, not
//!   `contains`): a contact standing exactly on the line drawn is alerted.
//! - **Self-intersecting rings are evaluated, not refused**, by the even-odd rule: a point is
//!   inside when a ray from it crosses the ring an odd number of times (a bow tie covers both
//!   lobes; where a ring winds twice round the same place, that place is outside). Refusing
//!   them would turn away real alerts drawn in haste, and checking costs O(n²) on a
//!   10 000-point ring; even-odd is what most map renderers fill.
//! - **Refused:** fewer than [`POLYGON_POINTS_MIN`] or more than [`POLYGON_POINTS_MAX`]
//!   points, a ring not closed, an antimeridian edge, and zero area (every point on one line).
//!
//! # Exactness
//!
//! Containment uses only integer arithmetic: cross products of coordinate differences in
//! `i128` (a difference is below 2^32, a product below 2^64), so the answer is the same on
//! every node and for every build. One test is O(n) in the ring's points.
//!
//! ```
//! use varsel_geo::{Point, Polygon};
//!
//! // A U: the notch between its arms is outside.
//! let u = Polygon::parse("0,0 0,3 3,3 3,2 1,2 1,1 3,1 3,0 0,0").unwrap();
//! let p = |lat, lon| Point::from_degrees(lat, lon).unwrap();
//! assert!(u.contains(p(2.5, 0.5)));   // an arm
//! assert!(!u.contains(p(2.0, 1.5)));  // the notch
//! assert!(u.contains(p(1.0, 1.5)));   // on the notch's edge
//! assert!(u.contains(p(3.0, 3.0)));   // a vertex
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{GeoError, Result};
use crate::limits::{POLYGON_POINTS_MAX, POLYGON_POINTS_MIN};
use crate::point::Point;
use crate::text;

/// A closed ring of [`POLYGON_POINTS_MIN`] to [`POLYGON_POINTS_MAX`] points, the first equal
/// to the last, with no edge across the antimeridian and not all on one line.
///
/// The points are private so that every `Polygon` has passed [`Polygon::new`]; deserializing
/// checks them the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "PolygonFields")]
pub struct Polygon {
    points: Vec<Point>,
}

/// What a serialized [`Polygon`] holds, checked by `TryFrom` when it is read back.
#[derive(Deserialize)]
struct PolygonFields {
    points: Vec<Point>,
}

impl TryFrom<PolygonFields> for Polygon {
    type Error = GeoError;

    fn try_from(f: PolygonFields) -> Result<Self> {
        Polygon::new(f.points)
    }
}

impl Polygon {
    /// A polygon from its ring; the error names the rule broken, and the point or edge.
    pub fn new(points: Vec<Point>) -> Result<Self> {
        if points.len() > POLYGON_POINTS_MAX {
            return Err(GeoError::TooManyPoints);
        }
        if points.len() < POLYGON_POINTS_MIN {
            return Err(GeoError::TooFewPoints { count: points.len() });
        }
        for (index, p) in points.iter().enumerate() {
            Point::new(p.lat_e7, p.lon_e7).map_err(|e| GeoError::at_point(index + 1, e))?;
        }
        if points.first() != points.last() {
            return Err(GeoError::NotClosed);
        }
        let polygon = Polygon { points };
        if let Some(index) = polygon.edges().position(|(a, b)| crosses_antimeridian(a, b)) {
            return Err(GeoError::CrossesAntimeridian { index: index + 1 });
        }
        if polygon.is_on_one_line() {
            return Err(GeoError::ZeroArea);
        }
        Ok(polygon)
    }

    /// Reads CAP's `lat,lon lat,lon ...` exactly and checks it like [`Polygon::new`].
    pub fn parse(text: &str) -> Result<Self> {
        let ring = text::polygon(text)?;
        let mut points = Vec::with_capacity(ring.len());
        for (index, p) in ring.iter().enumerate() {
            points.push(Point::from_text(p).map_err(|e| GeoError::at_point(index + 1, e))?);
        }
        Polygon::new(points)
    }

    /// The ring, the first point repeated as the last.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The edges in order, each from a point to the next.
    pub fn edges(&self) -> impl Iterator<Item = (Point, Point)> + '_ {
        self.points.windows(2).map(|w| (w[0], w[1]))
    }

    /// The south-west and north-east corners of the smallest latitude-longitude box around
    /// the ring.
    pub fn bounds(&self) -> (Point, Point) {
        let mut sw = self.points[0];
        let mut ne = sw;
        for p in &self.points {
            sw = Point { lat_e7: sw.lat_e7.min(p.lat_e7), lon_e7: sw.lon_e7.min(p.lon_e7) };
            ne = Point { lat_e7: ne.lat_e7.max(p.lat_e7), lon_e7: ne.lon_e7.max(p.lon_e7) };
        }
        (sw, ne)
    }

    /// Whether `p` is inside the ring or on it (an edge or a vertex), exactly: even-odd rule
    /// for the inside, an exact collinearity test for the boundary.
    pub fn contains(&self, p: Point) -> bool {
        let mut inside = false;
        for (a, b) in self.edges() {
            if on_segment(a, b, p) {
                return true;
            }
            // The edge crosses the horizontal line through p (counting an end exactly on the
            // line with the edge that leaves it upwards, so a vertex is counted once), and
            // crosses it east of p: p is to the left of the edge taken upwards.
            if (a.lat_e7 > p.lat_e7) != (b.lat_e7 > p.lat_e7) {
                let upwards = b.lat_e7 > a.lat_e7;
                if (cross(a, b, p) > 0) == upwards {
                    inside = !inside;
                }
            }
        }
        inside
    }

    fn is_on_one_line(&self) -> bool {
        let a = self.points[0];
        let Some(&b) = self.points.iter().find(|p| **p != a) else { return true };
        self.points.iter().all(|p| cross(a, b, *p) == 0)
    }
}

impl fmt::Display for Polygon {
    /// CAP's `lat,lon lat,lon ...`; reads back the same.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.points.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// (b - a) × (p - a) with x = longitude, y = latitude: positive when p is left of a→b, zero
/// when the three are on one line. Exact for any `i32` coordinates.
pub(crate) fn cross(a: Point, b: Point, p: Point) -> i128 {
    let d = |u: i32, v: i32| i128::from(u) - i128::from(v);
    d(b.lon_e7, a.lon_e7) * d(p.lat_e7, a.lat_e7) - d(p.lon_e7, a.lon_e7) * d(b.lat_e7, a.lat_e7)
}

/// Whether `p` lies on the closed segment from `a` to `b`.
fn on_segment(a: Point, b: Point, p: Point) -> bool {
    let between = |u: i32, v: i32, w: i32| u.min(v) <= w && w <= u.max(v);
    between(a.lon_e7, b.lon_e7, p.lon_e7) && between(a.lat_e7, b.lat_e7, p.lat_e7) && cross(a, b, p) == 0
}

/// Whether the edge's longitudes differ by more than 180°.
fn crosses_antimeridian(a: Point, b: Point) -> bool {
    (i64::from(a.lon_e7) - i64::from(b.lon_e7)).abs() > i64::from(crate::limits::LON_E7_MAX)
}
