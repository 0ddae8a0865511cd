//! CAP 1.2 geometry (section 3.2.4): WGS 84 points, polygons and circles as text.
//!
//! A point is `lat,lon` in decimal degrees; a polygon is four or more points separated by
//! whitespace, the first equal to the last (`38.47,-120.14 38.34,-119.95 38.52,-119.74
//! 38.47,-120.14`); a circle is a point, a space and a radius in kilometres
//! (`32.9525,-115.5527 0`). Numbers are `xs:decimal`: digits with an optional sign and point,
//! never an exponent.
//!
//! Values are kept as `f64`. Writing uses Rust's shortest round-trip form, so reading what
//! was written gives back the same `f64` (not always the same text: `1.50` is written `1.5`).
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
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::{NUMBER_CHARS_MAX, POLYGON_POINTS_MAX};
use varsel_domain::error::quoted;

/// Fewest points in a polygon: a triangle and the first point repeated to close it.
pub const POLYGON_POINTS_MIN: usize = 4;
/// Largest circle radius in km: half the Earth's circumference at the equator (20 037.5 km)
/// rounded up; a larger circle covers the whole Earth and is a mistake.
pub const RADIUS_KM_MAX: f64 = 20_038.0;
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
        let Some((lat, lon)) = text.split_once(',') else {
            return Err(format!("has the point {}; a point is lat,lon like 60.39,5.32", quoted(text)));
        };
        let lat = decimal(lat).map_err(|e| format!("has the latitude {e}"))?;
        let lon = decimal(lon).map_err(|e| format!("has the longitude {e}"))?;
        if !(-90.0..=90.0).contains(&lat) {
            return Err(format!("has the latitude {lat}, outside -90 to 90"));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(format!("has the longitude {lon}, outside -180 to 180"));
        }
        Ok(Point { lat, lon })
    }
}

impl Polygon {
    /// Reads a polygon; the error says what is wrong. At most [`POLYGON_POINTS_MAX`] points
    /// are read: the count is checked before any point is parsed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let count = text.split_whitespace().take(POLYGON_POINTS_MAX + 1).count();
        if count > POLYGON_POINTS_MAX {
            return Err(format!("has more than {POLYGON_POINTS_MAX} points"));
        }
        if count < POLYGON_POINTS_MIN {
            return Err(format!(
                "has {count} points; a polygon needs at least {POLYGON_POINTS_MIN}, the first repeated as the last"
            ));
        }
        let mut points = Vec::with_capacity(count);
        for (index, pair) in text.split_whitespace().enumerate() {
            let point = Point::parse(pair).map_err(|e| format!("point {}: {e}", index + 1))?;
            points.push(point);
        }
        if points.first() != points.last() {
            return Err("is not closed: its first point must be repeated as its last".into());
        }
        Ok(Polygon { points })
    }
}

impl Circle {
    /// Reads `lat,lon radius`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split_whitespace();
        let (Some(center), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "is {}; a circle is a centre and a radius in km, like 60.39,5.32 10",
                quoted(text.trim())
            ));
        };
        let center = Point::parse(center)?;
        let radius_km = decimal(radius).map_err(|e| format!("has the radius {e}"))?;
        if !(0.0..=RADIUS_KM_MAX).contains(&radius_km) {
            return Err(format!("has the radius {radius_km} km, outside 0 to {RADIUS_KM_MAX}"));
        }
        Ok(Circle { center, radius_km })
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
    let text = text.trim();
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits = unsigned.bytes().filter(u8::is_ascii_digit).count();
    let points = unsigned.bytes().filter(|b| *b == b'.').count();
    let well_formed =
        text.len() <= NUMBER_CHARS_MAX && digits > 0 && points <= 1 && digits + points == unsigned.len();
    if !well_formed {
        return Err(format!(
            "{}, which is not a decimal number (digits, an optional sign and point, at most {NUMBER_CHARS_MAX} characters)",
            quoted(text)
        ));
    }
    text.parse::<f64>().map_err(|_| format!("{}, which is not a decimal number", quoted(text)))
}
