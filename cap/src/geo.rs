//! CAP 1.2 geometry (section 3.2.4): WGS 84 points, polygons and circles as text.
//!
//! A point is `lat,lon` in decimal degrees; a polygon is four or more points separated by
//! whitespace, the first equal to the last (`38.47,-120.14 38.34,-119.95 38.52,-119.74
//! 38.47,-120.14`); a circle is a point, a space and a radius in kilometres
//! (`32.9525,-115.5527 0`). Numbers are `xs:decimal`: digits with an optional sign and point,
//! never an exponent.
//!
//! The text is read by [`varsel_geo::text`], the one reader of this syntax in Varsel, which
//! checks syntax and ranges on the exact decimal values; this module keeps the values as
//! `f64` and words the errors in this crate's style. Writing uses Rust's shortest round-trip
//! form, so reading what was written gives back the same `f64` (not always the same text:
//! `1.50` is written `1.5`). For area alerts, [`Polygon::to_area`] and [`Circle::to_area`]
//! turn a shape into `varsel-geo`'s exact [`varsel_geo::Area`], which also refuses edges
//! across the antimeridian and polygons of zero area.
//!
//! ```
//! use varsel_cap::geo::{Circle, Polygon};
//!
//! let p = Polygon::parse("60.39,5.32 60.40,5.33 60.38,5.34 60.39,5.32").unwrap();
//! assert_eq!(p.points.len(), 4);
//! assert_eq!(p.to_string(), "60.39,5.32 60.4,5.33 60.38,5.34 60.39,5.32");
//! let err = Polygon::parse("60.39,5.32 60.40,5.33 60.39,5.32").unwrap_err();
//! assert_eq!(err, "has 3 points; a polygon needs at least 4, the first repeated as the last");
//! assert_eq!(Circle::parse("32.9525,-115.5527 0").unwrap().radius_km, 0.0);
//! let area = p.to_area().unwrap();
//! assert!(area.contains(varsel_geo::Point::parse("60.39,5.33").unwrap()));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use varsel_domain::error::quoted;
use varsel_geo::text::{self, Decimal, PointText};
use varsel_geo::{Field, GeoError};

use crate::limits::{NUMBER_CHARS_MAX, POLYGON_POINTS_MAX};

pub use varsel_geo::limits::POLYGON_POINTS_MIN;

/// Largest circle radius in km: half the Earth's circumference at the equator (20 037.5 km)
/// rounded up; a larger circle covers the whole Earth and is a mistake.
pub const RADIUS_KM_MAX: f64 = varsel_geo::limits::RADIUS_KM_MAX as f64;
/// Largest `altitude` or `ceiling` in feet, up or down: about 300 000 km, beyond anything an
/// alert area means, and small enough that the number is always written short.
pub const ALTITUDE_FEET_ABS_MAX: f64 = 1e9;

/// A WGS 84 point in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lon: f64,
}

/// `polygon`: a closed ring of points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    /// The points in order, the first equal to the last.
    pub points: Vec<Point>,
}

/// `circle`: a centre and a radius.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Circle {
    /// The centre.
    pub center: Point,
    /// The radius in kilometres (0 is a point, as in the specification's earthquake example).
    pub radius_km: f64,
}

impl Point {
    /// Reads `lat,lon`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        text::point(text).map(|p| Point::from_text(&p)).map_err(|e| message(&e))
    }

    fn from_text(p: &PointText<'_>) -> Self {
        Point { lat: p.lat.to_f64(), lon: p.lon.to_f64() }
    }
}

impl Polygon {
    /// Reads a polygon; the error says what is wrong. At most [`POLYGON_POINTS_MAX`] points
    /// are read: the count is checked before any point is parsed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let ring = text::polygon(text).map_err(|e| message(&e))?;
        Ok(Polygon { points: ring.iter().map(Point::from_text).collect() })
    }

    /// The polygon as an area for an area alert: its written form read by
    /// [`varsel_geo::Polygon::parse`], exact for coordinates of up to 15 significant digits
    /// (the shortest form of an `f64` read from such a number is that number). Refused if an
    /// edge crosses the antimeridian or the polygon has zero area.
    pub fn to_area(&self) -> Result<varsel_geo::Area, GeoError> {
        varsel_geo::Polygon::parse(&self.to_string()).map(varsel_geo::Area::from)
    }
}

impl Circle {
    /// Reads `lat,lon radius`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (center, radius) = text::circle(text).map_err(|e| message(&e))?;
        Ok(Circle { center: Point::from_text(&center), radius_km: radius.to_f64() })
    }

    /// The circle as an area for an area alert, like [`Polygon::to_area`]; the radius is
    /// rounded to the metre.
    pub fn to_area(&self) -> Result<varsel_geo::Area, GeoError> {
        varsel_geo::Circle::parse(&self.to_string()).map(varsel_geo::Area::from)
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lon)
    }
}

impl fmt::Display for Polygon {
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

impl fmt::Display for Circle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.center, self.radius_km)
    }
}

/// Reads an `xs:decimal` (`-12.5`, `+3`, `.5`, `7.`): an optional sign, digits with at most
/// one point, at least one digit, at most [`NUMBER_CHARS_MAX`] characters. The error is the
/// quoted input and the rule, to follow "has the latitude ".
pub fn decimal(text: &str) -> Result<f64, String> {
    Decimal::parse(text).map(|d| d.to_f64()).ok_or_else(|| not_decimal(&quoted(text.trim())))
}

fn not_decimal(quoted: &str) -> String {
    format!(
        "{quoted}, which is not a decimal number (digits, an optional sign and point, at most {NUMBER_CHARS_MAX} characters)"
    )
}

/// The message for an error of [`varsel_geo::text`], in this crate's style: what the element
/// "has" or "is", to follow its path.
fn message(e: &GeoError) -> String {
    match e {
        GeoError::NotAPoint { text } => format!("has the point {text}; a point is lat,lon like 60.39,5.32"),
        GeoError::NotDecimal { field, text } => format!("has the {field} {}", not_decimal(text)),
        GeoError::OutOfRange { field: Field::Radius, value } => {
            format!("has the radius {value} km, outside 0 to {RADIUS_KM_MAX}")
        }
        GeoError::OutOfRange { field: Field::Latitude, value } => {
            format!("has the latitude {value}, outside -90 to 90")
        }
        GeoError::OutOfRange { field: Field::Longitude, value } => {
            format!("has the longitude {value}, outside -180 to 180")
        }
        GeoError::AtPoint { index, error } => format!("point {index}: {}", message(error)),
        GeoError::TooFewPoints { count } => format!(
            "has {count} points; a polygon needs at least {POLYGON_POINTS_MIN}, the first repeated as the last"
        ),
        GeoError::TooManyPoints => format!("has more than {POLYGON_POINTS_MAX} points"),
        GeoError::NotClosed => "is not closed: its first point must be repeated as its last".into(),
        GeoError::NotACircle { text } => {
            format!("is {text}; a circle is a centre and a radius in km, like 60.39,5.32 10")
        }
        // The rules of areas (antimeridian, zero area), which the text reader does not check.
        other => other.to_string(),
    }
}
