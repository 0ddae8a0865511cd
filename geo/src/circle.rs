//! [`Circle`]: a centre and a radius in metres, and great-circle distance on a sphere.
//!
//! A point is inside when its haversine distance from the centre, on a sphere of radius
//! [`EARTH_RADIUS_M`] (the mean Earth radius), is at most the radius; the boundary is
//! included, and a radius of 0 is the centre alone (CAP's earthquake example uses one). The
//! sphere is off the WGS 84 ellipsoid by at most 0.5 %, far less than any alert radius is
//! sure to; geopy's `great_circle` uses the same sphere.
//!
//! # Determinism
//!
//! This is the one place the crate uses floating point: `sin`, `cos` and `asin` of `f64`.
//! IEEE 754 arithmetic is deterministic, and Rust never fuses or reorders it, but the
//! transcendental functions come from the platform's math library, which may differ in the
//! last bit between platforms or C libraries. Every node of a cluster runs the same statically
//! linked binary on the same platform, so every node computes the same distances and resolves
//! the same recipients; mixing platforms in one cluster would need a portable math library.
//! A difference in the last bit only matters for a point within micrometres of the circle.
//!
//! The haversine is precise to well below a millimetre, except for points nearly antipodal
//! to the centre (20 000 km away), where `asin` near its top loses half the digits: 0.2 m.
//!
//! Distances are right across the prime meridian and the antimeridian (the haversine of a
//! longitude difference is periodic) and near the poles; a circle that reaches a pole contains
//! every longitude there.
//!
//! ```
//! use varsel_geo::{Circle, Point};
//!
//! let bergen = Circle::parse("60.3975,5.3240 1.5").unwrap();
//! assert_eq!(bergen.radius_m, 1_500);
//! assert!(bergen.contains(Point::parse("60.3975,5.3400").unwrap()));   // 880 m east
//! assert!(!bergen.contains(Point::parse("60.4200,5.3240").unwrap()));  // 2.5 km north
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Field, GeoError, Result};
use crate::limits::{EARTH_RADIUS_M, RADIUS_M_MAX};
use crate::point::{Point, scaled_text};
use crate::text;

/// A centre and a radius of 0 to [`RADIUS_M_MAX`] metres.
///
/// The fields are public; [`Circle::new`] and deserializing check the radius, and
/// [`Circle::contains`] and the cover take any values without panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "CircleFields")]
pub struct Circle {
    /// The centre.
    pub center: Point,
    /// The radius in metres.
    pub radius_m: u32,
}

/// What a serialized [`Circle`] holds, checked by `TryFrom` when it is read back.
#[derive(Deserialize)]
struct CircleFields {
    center: Point,
    radius_m: u32,
}

impl TryFrom<CircleFields> for Circle {
    type Error = GeoError;

    fn try_from(f: CircleFields) -> Result<Self> {
        Circle::new(f.center, f.radius_m)
    }
}

impl Circle {
    /// A circle; the error says when the radius is beyond [`RADIUS_M_MAX`].
    pub fn new(center: Point, radius_m: u32) -> Result<Self> {
        if radius_m > RADIUS_M_MAX {
            let value = scaled_text(radius_m.into(), 3);
            return Err(GeoError::OutOfRange { field: Field::Radius, value });
        }
        Ok(Circle { center, radius_m })
    }

    /// Reads CAP's `lat,lon radius_km` exactly, the radius rounded to the metre (half away
    /// from zero).
    pub fn parse(text: &str) -> Result<Self> {
        let (center, radius) = text::circle(text)?;
        let center = Point::from_text(&center)?;
        let out = || GeoError::OutOfRange { field: Field::Radius, value: radius.as_str().to_string() };
        let radius_m = radius.scaled(3).and_then(|m| u32::try_from(m).ok()).ok_or_else(out)?;
        Circle::new(center, radius_m)
    }

    /// Whether `p` is at most [`Circle::radius_m`] from the centre (haversine distance).
    pub fn contains(&self, p: Point) -> bool {
        distance_m(self.center, p) <= f64::from(self.radius_m)
    }
}

impl fmt::Display for Circle {
    /// CAP's `lat,lon radius_km`, the radius to the metre; reads back the same.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.center, scaled_text(self.radius_m.into(), 3))
    }
}

/// The great-circle distance between two points in metres, by the haversine formula on a
/// sphere of radius [`EARTH_RADIUS_M`]. Never NaN for points in range.
pub fn distance_m(a: Point, b: Point) -> f64 {
    let (lat_a, lat_b) = (a.lat_degrees().to_radians(), b.lat_degrees().to_radians());
    let d_lat = lat_b - lat_a;
    let d_lon = (b.lon_degrees() - a.lon_degrees()).to_radians();
    let (s_lat, s_lon) = ((d_lat / 2.0).sin(), (d_lon / 2.0).sin());
    let h = s_lat * s_lat + lat_a.cos() * lat_b.cos() * s_lon * s_lon;
    // Rounding can take h a hair outside [0, 1] for antipodal points; asin would give NaN.
    2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
}
