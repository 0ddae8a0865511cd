//! CAP 1.2 geometry as text (section 3.2.4): the one reader of points, polygons and circles,
//! shared by [`crate::Point::parse`], [`crate::Polygon::parse`], [`crate::Circle::parse`] and
//! the CAP document reader in `varsel-cap`.
//!
//! A point is `lat,lon` in decimal degrees (WGS 84); a polygon is four or more points
//! separated by whitespace, the first equal to the last (`38.47,-120.14 38.34,-119.95
//! 38.52,-119.74 38.47,-120.14`); a circle is a point, whitespace and a radius in kilometres
//! (`32.9525,-115.5527 0`). Numbers are `xs:decimal`: digits with an optional sign and point,
//! never an exponent, here at most [`NUMBER_CHARS_MAX`] characters.
//!
//! This module checks the syntax and the ranges and hands back [`Decimal`]s, numbers still as
//! written, so each caller converts them without loss to what it keeps: this crate to
//! integers in 1e-7 degree and metres ([`Decimal::scaled`]), `varsel-cap` to `f64`
//! ([`Decimal::to_f64`]). Every comparison is on the exact decimal value: `90.00000001` is
//! outside -90 to 90, and a ring whose last point is `60.390` and first `60.39` is closed.
//!
//! ```
//! use varsel_geo::text;
//!
//! let ring = text::polygon("60.39,5.32 60.40,5.33 60.38,5.34 60.390,5.32").unwrap();
//! assert_eq!(ring.len(), 4);
//! assert_eq!(ring[1].lat.as_str(), "60.40");
//! assert_eq!(ring[1].lat.scaled(7), Some(604_000_000));
//! let (centre, radius) = text::circle("60.39,5.32 1.5").unwrap();
//! assert_eq!((centre.lon.to_f64(), radius.scaled(3)), (5.32, Some(1_500)));
//! ```

use varsel_domain::error::quoted;

use crate::error::{Field, GeoError, Result};
use crate::limits::{NUMBER_CHARS_MAX, POLYGON_POINTS_MAX, POLYGON_POINTS_MIN, RADIUS_KM_MAX};

/// A number written as an `xs:decimal`, checked but not converted: `-12.5`, `+3`, `.5`, `7.`.
#[derive(Debug, Clone, Copy)]
pub struct Decimal<'a> {
    /// The number as written, without surrounding whitespace.
    text: &'a str,
    /// Whether the value is below zero (`-0` is not).
    negative: bool,
    /// The digits before the point, without leading zeros (empty for 0).
    int: &'a str,
    /// The digits after the point, without trailing zeros.
    frac: &'a str,
}

impl<'a> Decimal<'a> {
    /// Reads an `xs:decimal`: an optional sign, digits with at most one point, at least one
    /// digit, at most [`NUMBER_CHARS_MAX`] characters once surrounding whitespace is trimmed.
    pub fn parse(text: &'a str) -> Option<Self> {
        let text = text.trim();
        if text.len() > NUMBER_CHARS_MAX {
            return None;
        }
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return None;
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let zero = int.is_empty() && frac.is_empty();
        Some(Decimal { text, negative: negative && !zero, int, frac })
    }

    /// The number as written, trimmed: what messages echo.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The nearest `f64` (Rust's parser rounds correctly; `-0` stays negative zero).
    pub fn to_f64(&self) -> f64 {
        // The checked syntax is a subset of what Rust's parser reads, so the fallback (the
        // same value in a canonical form) is never taken.
        self.text.parse().unwrap_or_else(|_| {
            let sign = if self.negative { "-" } else { "" };
            format!("{sign}0{}.{}0", self.int, self.frac).parse().unwrap_or(f64::NAN)
        })
    }

    /// The value times 10^`decimals`, rounded half away from zero to an integer, exactly (no
    /// floating point): `60.39` at 7 decimals is 603 900 000, `0.00000005` is 1, `-0.00000005`
    /// is -1. `None` if it does not fit an `i64`.
    pub fn scaled(&self, decimals: u32) -> Option<i64> {
        let digit = |b: u8| i64::from(b - b'0');
        let mut magnitude: i64 = 0;
        for b in self.int.bytes() {
            magnitude = magnitude.checked_mul(10)?.checked_add(digit(b))?;
        }
        let mut frac = self.frac.bytes();
        for _ in 0..decimals {
            let d = frac.next().map_or(0, digit);
            magnitude = magnitude.checked_mul(10)?.checked_add(d)?;
        }
        if frac.next().is_some_and(|b| b >= b'5') {
            magnitude = magnitude.checked_add(1)?;
        }
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// Whether the absolute value is greater than `bound`, exactly.
    pub fn abs_exceeds(&self, bound: u32) -> bool {
        let bound = bound.to_string();
        let int = (self.int.len(), self.int);
        let bound = (bound.len(), bound.as_str());
        // Equal lengths compare as digit strings; there are no leading zeros.
        int > bound || (int == bound && !self.frac.is_empty())
    }

    /// Whether two decimals have the same value (`60.390` and `60.39`, `-0` and `0`).
    pub fn same_value(&self, other: &Decimal<'_>) -> bool {
        (self.negative, self.int, self.frac) == (other.negative, other.int, other.frac)
    }
}

/// A point as written: latitude and longitude, both in range.
#[derive(Debug, Clone, Copy)]
pub struct PointText<'a> {
    /// Latitude, -90 to 90.
    pub lat: Decimal<'a>,
    /// Longitude, -180 to 180.
    pub lon: Decimal<'a>,
}

impl PointText<'_> {
    /// Whether two points have the same coordinates, exactly.
    pub fn same_value(&self, other: &PointText<'_>) -> bool {
        self.lat.same_value(&other.lat) && self.lon.same_value(&other.lon)
    }
}

/// Reads a number of `field`: [`GeoError::NotDecimal`] if it is not an `xs:decimal`.
pub fn number(text: &str, field: Field) -> Result<Decimal<'_>> {
    Decimal::parse(text).ok_or_else(|| GeoError::NotDecimal { field, text: quoted(text.trim()) })
}

/// Checks that `value` of `field` is at most `bound` away from zero.
fn in_range(value: &Decimal<'_>, field: Field, bound: u32) -> Result<()> {
    if value.abs_exceeds(bound) {
        return Err(GeoError::OutOfRange { field, value: value.as_str().to_string() });
    }
    Ok(())
}

/// Reads `lat,lon`: both numbers first, then both ranges.
pub fn point(text: &str) -> Result<PointText<'_>> {
    let Some((lat, lon)) = text.split_once(',') else {
        return Err(GeoError::NotAPoint { text: quoted(text) });
    };
    let lat = number(lat, Field::Latitude)?;
    let lon = number(lon, Field::Longitude)?;
    in_range(&lat, Field::Latitude, 90)?;
    in_range(&lon, Field::Longitude, 180)?;
    Ok(PointText { lat, lon })
}

/// Reads a polygon's ring: [`POLYGON_POINTS_MIN`] to [`POLYGON_POINTS_MAX`] points, the first
/// equal to the last. The count is checked before any point is read, so a huge text costs no
/// more than [`POLYGON_POINTS_MAX`] + 1 tokens.
pub fn polygon(text: &str) -> Result<Vec<PointText<'_>>> {
    let count = text.split_whitespace().take(POLYGON_POINTS_MAX + 1).count();
    if count > POLYGON_POINTS_MAX {
        return Err(GeoError::TooManyPoints);
    }
    if count < POLYGON_POINTS_MIN {
        return Err(GeoError::TooFewPoints { count });
    }
    let mut points = Vec::with_capacity(count);
    for (index, pair) in text.split_whitespace().enumerate() {
        points.push(point(pair).map_err(|e| GeoError::at_point(index + 1, e))?);
    }
    match (points.first(), points.last()) {
        (Some(first), Some(last)) if first.same_value(last) => Ok(points),
        _ => Err(GeoError::NotClosed),
    }
}

/// Reads a circle: `lat,lon radius`, the radius in km from 0 to [`RADIUS_KM_MAX`].
pub fn circle(text: &str) -> Result<(PointText<'_>, Decimal<'_>)> {
    let mut parts = text.split_whitespace();
    let (Some(centre), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(GeoError::NotACircle { text: quoted(text.trim()) });
    };
    let centre = point(centre)?;
    let radius = number(radius, Field::Radius)?;
    if radius.is_negative() || radius.abs_exceeds(RADIUS_KM_MAX) {
        return Err(GeoError::OutOfRange { field: Field::Radius, value: radius.as_str().to_string() });
    }
    Ok((centre, radius))
}
