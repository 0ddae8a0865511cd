//! Where a contact can be found: named places (home, work) in WGS 84, for area alerts.
//!
//! Coordinates are kept as whole numbers of 1e-7 degree (about 1 cm), the unit the spatial
//! index and the containment tests of `varsel-geo` work in, so every node decides the same
//! way whether a place is inside an area. Text is read exactly (`59.9139` is 599,139,000),
//! never through a binary float; more than seven decimals are rounded half away from zero.
//!
//! ```
//! use varsel_domain::location::{Location, parse_degrees};
//!
//! assert_eq!(parse_degrees("lat", "59.9139", 90).unwrap(), 599_139_000);
//! assert_eq!(parse_degrees("lon", "-0.00000005", 180).unwrap(), -1);
//! let err = parse_degrees("lat", "91", 90).unwrap_err();
//! assert_eq!(err.to_string(), "lat: 91 is outside -90 to 90");
//! let home = Location::new("home", 599_139_000, 107_522_000, None).unwrap();
//! assert_eq!(home.to_string(), "home:59.9139,10.7522");
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Rule, ValidationError};
use crate::model::GroupRef;

/// Most places one contact has.
pub const LOCATIONS_PER_CONTACT_MAX: usize = 8;
/// Longest place name.
pub const LOCATION_NAME_CHARS_MAX: usize = 32;
/// Longest address text.
pub const ADDRESS_CHARS_MAX: usize = 256;
/// Units of 1e-7 degree in one degree.
pub const E7: i64 = 10_000_000;

/// Who an alert reaches by where they are: the contacts with a place inside any of the
/// areas, optionally only those in a group. Areas are kept as CAP 1.2 text (`varsel-geo`
/// reads it exactly), so what is stored is what was asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaTarget {
    /// Polygons, CAP syntax: `lat,lon lat,lon ...`, closed, at least 4 pairs.
    pub polygons: Vec<String>,
    /// Circles, CAP syntax: `lat,lon radius_km`.
    pub circles: Vec<String>,
    /// When not empty: only contacts that are members of one of these groups now (the
    /// intersection of the areas with the groups' union).
    pub within_groups: Vec<GroupRef>,
    /// Accept the alert even when no contact is inside.
    pub allow_empty: bool,
}

impl AreaTarget {
    /// True when no area is given.
    pub fn is_empty(&self) -> bool {
        self.polygons.is_empty() && self.circles.is_empty()
    }
}

/// A named place of a contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// Its name, unique per contact: `home`, `work`.
    pub name: String,
    /// Latitude in 1e-7 degree, -90 to 90 degrees.
    pub lat_e7: i32,
    /// Longitude in 1e-7 degree, -180 to 180 degrees.
    pub lon_e7: i32,
    /// Address text for people reading it; not used to place the contact.
    pub address: Option<String>,
}

impl Location {
    /// A checked place; the error names the field and the rule.
    pub fn new(
        name: &str,
        lat_e7: i32,
        lon_e7: i32,
        address: Option<String>,
    ) -> Result<Self, ValidationError> {
        let name = name.trim();
        let n = name.chars().count();
        if name.is_empty() {
            return Err(ValidationError::new("locations.name", Rule::Required, "is required"));
        }
        if n > LOCATION_NAME_CHARS_MAX || name.chars().any(|c| c.is_control() || c == ':' || c == ';') {
            return Err(ValidationError::new(
                "locations.name",
                Rule::Characters,
                format!(
                    "{name:?} must be at most {LOCATION_NAME_CHARS_MAX} characters, without control \
                     characters, ':' or ';'"
                ),
            ));
        }
        check_range("lat", i64::from(lat_e7), 90)?;
        check_range("lon", i64::from(lon_e7), 180)?;
        let address = address.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
        if let Some(a) = &address {
            let n = a.chars().count();
            if n > ADDRESS_CHARS_MAX || a.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "locations.address",
                    Rule::TooLong,
                    format!(
                        "must be at most {ADDRESS_CHARS_MAX} characters without control characters, got {n}"
                    ),
                ));
            }
        }
        Ok(Location { name: name.to_string(), lat_e7, lon_e7, address })
    }

    /// A checked place from degrees (an API's doubles), rounded to 1e-7 degree.
    pub fn from_degrees(
        name: &str,
        lat: f64,
        lon: f64,
        address: Option<String>,
    ) -> Result<Self, ValidationError> {
        let lat_e7 = degrees_e7("lat", lat, 90)?;
        let lon_e7 = degrees_e7("lon", lon, 180)?;
        Location::new(name, lat_e7, lon_e7, address)
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> f64 {
        f64::from(self.lat_e7) / E7 as f64
    }

    /// Longitude in degrees.
    pub fn lon(&self) -> f64 {
        f64::from(self.lon_e7) / E7 as f64
    }
}

/// `name:lat,lon`, the form of the CSV `locations` column.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{},{}", self.name, DegreesE7(self.lat_e7), DegreesE7(self.lon_e7))
    }
}

/// Writes 1e-7 degrees as the shortest exact decimal.
#[derive(Debug, Clone, Copy)]
pub struct DegreesE7(pub i32);

impl fmt::Display for DegreesE7 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = i64::from(self.0);
        let sign = if v < 0 { "-" } else { "" };
        let (whole, frac) = (v.abs() / E7, v.abs() % E7);
        if frac == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{frac:07}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Checks a list of places: at most [`LOCATIONS_PER_CONTACT_MAX`], names unique.
pub fn check_locations(locations: &[Location]) -> Result<(), ValidationError> {
    if locations.len() > LOCATIONS_PER_CONTACT_MAX {
        return Err(ValidationError::new(
            "locations",
            Rule::TooMany,
            format!("has {} places; at most {LOCATIONS_PER_CONTACT_MAX}", locations.len()),
        ));
    }
    for (i, l) in locations.iter().enumerate() {
        if locations[..i].iter().any(|o| o.name == l.name) {
            return Err(ValidationError::new(
                "locations.name",
                Rule::Duplicate,
                format!("{:?} appears twice; each place of a contact has its own name", l.name),
            ));
        }
    }
    Ok(())
}

/// Reads decimal degrees exactly into 1e-7 degree; `bound` is 90 or 180.
pub fn parse_degrees(field: &'static str, text: &str, bound: i64) -> Result<i32, ValidationError> {
    let t = text.trim();
    let bad = || {
        ValidationError::new(
            field,
            Rule::Value,
            format!("{t:?} is not a decimal number of degrees like 59.9139"),
        )
    };
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 3
        || frac.len() > 30
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let mut e7 = whole * E7;
    let mut scale = E7 / 10;
    for (i, b) in frac.bytes().enumerate() {
        let d = i64::from(b - b'0');
        if i < 7 {
            e7 += d * scale;
            scale /= 10;
        } else {
            // The eighth decimal rounds half away from zero; later ones cannot change that
            // except to break an exact half, which rounds up anyway.
            if d >= 5 {
                e7 += 1;
            }
            break;
        }
    }
    let e7 = if negative { -e7 } else { e7 };
    check_range(field, e7, bound).map_err(|_| {
        ValidationError::new(field, Rule::Range, format!("{t} is outside -{bound} to {bound}"))
    })?;
    Ok(e7 as i32)
}

fn degrees_e7(field: &'static str, value: f64, bound: i64) -> Result<i32, ValidationError> {
    if !value.is_finite() {
        return Err(ValidationError::new(field, Rule::Value, format!("{value} is not a number of degrees")));
    }
    let e7 = (value * E7 as f64).round();
    if e7.abs() > (bound * E7) as f64 {
        return Err(ValidationError::new(
            field,
            Rule::Range,
            format!("{value} is outside -{bound} to {bound}"),
        ));
    }
    Ok(e7 as i32)
}

fn check_range(field: &'static str, e7: i64, bound: i64) -> Result<(), ValidationError> {
    if e7.abs() > bound * E7 {
        return Err(ValidationError::new(
            field,
            Rule::Range,
            format!("{} is outside -{bound} to {bound}", DegreesE7(e7 as i32)),
        ));
    }
    Ok(())
}

/// Reads the CSV `locations` column: `;`-separated `name:lat,lon` entries, e.g.
/// `home:59.9139,10.7522;work:60.39,5.32`. Empty text is no places.
pub fn parse_locations(text: &str) -> Result<Vec<Location>, ValidationError> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let format = || {
            ValidationError::new(
                "locations",
                Rule::Value,
                format!("{part:?} is not name:lat,lon (e.g. home:59.9139,10.7522)"),
            )
        };
        let (name, point) = part.split_once(':').ok_or_else(format)?;
        let (lat, lon) = point.split_once(',').ok_or_else(format)?;
        let lat = parse_degrees("lat", lat, 90).map_err(|e| e.in_field("locations"))?;
        let lon = parse_degrees("lon", lon, 180).map_err(|e| e.in_field("locations"))?;
        out.push(Location::new(name, lat, lon, None)?);
    }
    check_locations(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn degrees_are_read_exactly_and_checked() {
        assert_eq!(parse_degrees("lat", "90", 90).unwrap(), 900_000_000);
        assert_eq!(parse_degrees("lat", "-90.0000000", 90).unwrap(), -900_000_000);
        assert_eq!(parse_degrees("lon", "10.75220004", 180).unwrap(), 107_522_000);
        assert_eq!(parse_degrees("lon", "10.75220005", 180).unwrap(), 107_522_001);
        assert_eq!(parse_degrees("lon", ".5", 180).unwrap(), 5_000_000);
        for bad in ["", "-", ".", "1e5", "12a", "1,5", "1234", "--1"] {
            assert_eq!(parse_degrees("lon", bad, 180).unwrap_err().rule, Rule::Value, "{bad}");
        }
        assert_eq!(parse_degrees("lat", "90.0000001", 90).unwrap_err().rule, Rule::Range);
        assert_eq!(parse_degrees("lon", "-180.5", 180).unwrap_err().rule, Rule::Range);
    }

    #[test]
    fn the_locations_column_round_trips() {
        let l = parse_locations("home:59.9139,10.7522; work:60.39,-5.32 ;").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].to_string(), "work:60.39,-5.32");
        assert!(parse_locations("").unwrap().is_empty());
        let e = parse_locations("home:59,10;home:60,11").unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("locations.name", Rule::Duplicate));
        let e = parse_locations("home:95,10").unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("locations.lat", Rule::Range));
        let e = parse_locations("home 59,10").unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("locations", Rule::Value));
    }

    #[test]
    fn doubles_are_rounded_and_checked() {
        let l = Location::from_degrees("home", 59.91390004, 10.7522, Some(" Storgata 1 ".into())).unwrap();
        assert_eq!(
            (l.lat_e7, l.lon_e7, l.address.as_deref()),
            (599_139_000, 107_522_000, Some("Storgata 1"))
        );
        assert_eq!(Location::from_degrees("x", f64::NAN, 0.0, None).unwrap_err().rule, Rule::Value);
        assert_eq!(Location::from_degrees("x", 0.0, 180.1, None).unwrap_err().field, "lon");
        assert_eq!(Location::from_degrees("", 0.0, 0.0, None).unwrap_err().rule, Rule::Required);
    }
}
