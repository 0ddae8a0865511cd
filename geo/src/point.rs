//! [`Point`]: a WGS 84 position as two integers in 1e-7 degree.
//!
//! Integers make every comparison and every containment test exact and the same on every
//! node, and 1e-7 degree (1.1 cm of latitude) is finer than any position a phone reports.
//! Text is converted exactly ([`Point::parse`], [`Point::from_decimal`]): `60.39` is
//! 603 900 000, and digits beyond the seventh decimal round half away from zero, never through
//! `f64`.
//!
//! ```
//! use varsel_geo::Point;
//!
//! let p = Point::parse("60.39,5.32").unwrap();
//! assert_eq!((p.lat_e7, p.lon_e7), (603_900_000, 53_200_000));
//! assert_eq!(Point::from_decimal("-0.00000005", "179.999999949").unwrap(), Point::new(-1, 1_799_999_999).unwrap());
//! assert_eq!(Point::from_degrees(60.39, 5.32).unwrap(), p);
//! assert_eq!(p.to_string(), "60.39,5.32");
//! assert_eq!(Point::new(0, 1_800_000_001).unwrap_err().to_string(), "longitude 180.0000001 is outside -180 to 180");
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Field, GeoError, Result};
use crate::limits::{E7_PER_DEGREE, LAT_E7_MAX, LON_E7_MAX};
use crate::text::{self, Decimal, PointText};

/// A WGS 84 position in 1e-7 degree. Ordered by latitude, then longitude.
///
/// The fields are public for reading and for literals in tests; [`Point::new`] and the other
/// constructors check the ranges, and so does deserializing. Every function of this crate
/// takes any `Point` without panicking: one out of range is simply outside every area and
/// falls in the nearest grid cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "PointFields")]
pub struct Point {
    /// Latitude in 1e-7 degree, -900 000 000 to 900 000 000 (north positive).
    pub lat_e7: i32,
    /// Longitude in 1e-7 degree, -1 800 000 000 to 1 800 000 000 (east positive).
    pub lon_e7: i32,
}

/// What a serialized [`Point`] holds, checked by `TryFrom` when it is read back.
#[derive(Deserialize)]
struct PointFields {
    lat_e7: i32,
    lon_e7: i32,
}

impl TryFrom<PointFields> for Point {
    type Error = GeoError;

    fn try_from(f: PointFields) -> Result<Self> {
        Point::new(f.lat_e7, f.lon_e7)
    }
}

impl Point {
    /// A point from coordinates in 1e-7 degree; the error names the coordinate out of range.
    pub fn new(lat_e7: i32, lon_e7: i32) -> Result<Self> {
        if !(-LAT_E7_MAX..=LAT_E7_MAX).contains(&lat_e7) {
            return Err(GeoError::OutOfRange { field: Field::Latitude, value: e7_text(lat_e7.into()) });
        }
        if !(-LON_E7_MAX..=LON_E7_MAX).contains(&lon_e7) {
            return Err(GeoError::OutOfRange { field: Field::Longitude, value: e7_text(lon_e7.into()) });
        }
        Ok(Point { lat_e7, lon_e7 })
    }

    /// Reads CAP's `lat,lon` (`60.39,5.32`) exactly.
    pub fn parse(text: &str) -> Result<Self> {
        Point::from_text(&text::point(text)?)
    }

    /// A point from latitude and longitude as decimal text (`"60.39"`, `"5.32"`), exactly.
    pub fn from_decimal(lat: &str, lon: &str) -> Result<Self> {
        let lat = text::number(lat, Field::Latitude)?;
        let lon = text::number(lon, Field::Longitude)?;
        Point::from_decimals(&lat, &lon)
    }

    /// A point from degrees, each multiplied by 10^7 and rounded half away from zero: for a
    /// number written with at most 7 decimals this is the same point as its text gives. NaN
    /// and infinities are out of range.
    pub fn from_degrees(lat: f64, lon: f64) -> Result<Self> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(GeoError::OutOfRange { field: Field::Latitude, value: lat.to_string() });
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(GeoError::OutOfRange { field: Field::Longitude, value: lon.to_string() });
        }
        let e7 = |deg: f64| (deg * f64::from(E7_PER_DEGREE)).round() as i32;
        Point::new(e7(lat), e7(lon))
    }

    /// A point from a pair the CAP reader checked.
    pub(crate) fn from_text(p: &PointText<'_>) -> Result<Self> {
        Point::from_decimals(&p.lat, &p.lon)
    }

    fn from_decimals(lat: &Decimal<'_>, lon: &Decimal<'_>) -> Result<Self> {
        let e7 = |d: &Decimal<'_>, field, bound| {
            let out = || GeoError::OutOfRange { field, value: d.as_str().to_string() };
            if d.abs_exceeds(bound) {
                return Err(out());
            }
            d.scaled(7).and_then(|v| i32::try_from(v).ok()).ok_or_else(out)
        };
        Point::new(e7(lat, Field::Latitude, 90)?, e7(lon, Field::Longitude, 180)?)
    }

    /// Latitude in degrees: the `f64` nearest to the exact value, the same number a correct
    /// decimal parser (Python's `float`) reads from the point's text.
    pub fn lat_degrees(self) -> f64 {
        f64::from(self.lat_e7) / f64::from(E7_PER_DEGREE)
    }

    /// Longitude in degrees, like [`Point::lat_degrees`].
    pub fn lon_degrees(self) -> f64 {
        f64::from(self.lon_e7) / f64::from(E7_PER_DEGREE)
    }
}

impl fmt::Display for Point {
    /// CAP's `lat,lon` with at most 7 decimals and no trailing zeros; reads back the same.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", e7_text(self.lat_e7.into()), e7_text(self.lon_e7.into()))
    }
}

/// `value` / 10^7 as the shortest exact decimal: `603900000` is `60.39`.
pub(crate) fn e7_text(value: i64) -> String {
    scaled_text(value, 7)
}

/// `value` / 10^`decimals` as the shortest exact decimal (`1500`, 3 is `1.5`).
pub(crate) fn scaled_text(value: i64, decimals: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    let unit = 10u64.pow(decimals);
    let frac = format!("{:0width$}", magnitude % unit, width = decimals as usize);
    let frac = frac.trim_end_matches('0');
    let int = magnitude / unit;
    if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") }
}
