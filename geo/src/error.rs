//! The one error of this crate: which number, point or ring broke which rule.
//!
//! Each variant is a rule; its message names the field or element and what is expected, so
//! it can be shown to the person who drew the area. Input echoed in a message is quoted and
//! cut with [`varsel_domain::error::quoted`], so a hostile text cannot put megabytes or
//! control characters into a response or a log line. `varsel-cap` words the same variants in
//! its own style (`has the latitude 91, outside -90 to 90`) by matching on them.
//!
//! ```
//! use varsel_geo::{Field, GeoError, Point, Polygon};
//!
//! let err = Point::parse("91.5,5.32").unwrap_err();
//! assert_eq!(err, GeoError::OutOfRange { field: Field::Latitude, value: "91.5".into() });
//! assert_eq!(err.to_string(), "latitude 91.5 is outside -90 to 90");
//! let err = Polygon::parse("60,179 61,-179 60,-179 60,179").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "polygon edge from point 1 to point 2 crosses the antimeridian (its longitudes differ by \
//!      more than 180°); split it into two polygons at 180°"
//! );
//! ```

use std::fmt;

use crate::limits::{NUMBER_CHARS_MAX, POLYGON_POINTS_MAX, POLYGON_POINTS_MIN, RADIUS_KM_MAX};

/// The number a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// A latitude, -90 to 90 degrees.
    Latitude,
    /// A longitude, -180 to 180 degrees.
    Longitude,
    /// A circle's radius, 0 to [`RADIUS_KM_MAX`] km.
    Radius,
}

impl Field {
    /// The field's name in messages: `latitude`, `longitude`, `radius`.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Latitude => "latitude",
            Field::Longitude => "longitude",
            Field::Radius => "radius",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An area, or a number or point of one, breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GeoError {
    /// A number is not an `xs:decimal` (an optional sign, digits with at most one point, at
    /// most [`NUMBER_CHARS_MAX`] characters, no exponent), or is not finite.
    #[error(
        "{field} {text} is not a decimal number (digits, an optional sign and point, at most \
         {NUMBER_CHARS_MAX} characters)"
    )]
    NotDecimal {
        /// Which number.
        field: Field,
        /// The input, quoted and cut by [`varsel_domain::error::quoted`].
        text: String,
    },
    /// A number is outside its range: latitude -90 to 90, longitude -180 to 180, radius 0 to
    /// [`RADIUS_KM_MAX`] km. The range is checked on the exact value as written, before any
    /// rounding.
    #[error("{field} {value}{} is outside {}", unit(*field), range(*field))]
    OutOfRange {
        /// Which number.
        field: Field,
        /// The number as written (at most [`NUMBER_CHARS_MAX`] characters), or the value given.
        value: String,
    },
    /// A point is not `lat,lon`.
    #[error("point {text} is not lat,lon like 60.39,5.32")]
    NotAPoint {
        /// The input, quoted and cut.
        text: String,
    },
    /// A point of a polygon (numbered from 1) breaks a rule.
    #[error("point {index}: {error}")]
    AtPoint {
        /// The point's position in the polygon, from 1.
        index: usize,
        /// What is wrong with it: [`GeoError::NotAPoint`], [`GeoError::NotDecimal`] or
        /// [`GeoError::OutOfRange`].
        error: Box<GeoError>,
    },
    /// Fewer than [`POLYGON_POINTS_MIN`] points.
    #[error(
        "polygon has {count} points; a polygon needs at least {POLYGON_POINTS_MIN}, the first \
         repeated as the last"
    )]
    TooFewPoints {
        /// How many points the polygon has.
        count: usize,
    },
    /// More than [`POLYGON_POINTS_MAX`] points.
    #[error("polygon has more than {POLYGON_POINTS_MAX} points")]
    TooManyPoints,
    /// The first point is not repeated as the last.
    #[error("polygon is not closed: its first point must be repeated as its last")]
    NotClosed,
    /// An edge's longitudes differ by more than 180°: CAP draws it the short way round, across
    /// the antimeridian, which planar containment cannot follow.
    #[error(
        "polygon edge from point {index} to point {} crosses the antimeridian (its longitudes \
         differ by more than 180°); split it into two polygons at 180°",
        index + 1
    )]
    CrossesAntimeridian {
        /// The edge's first point, from 1.
        index: usize,
    },
    /// All the points are on one line: the polygon covers no area.
    #[error("polygon has zero area: all its points are on one line")]
    ZeroArea,
    /// A circle is not `lat,lon radius`.
    #[error("circle {text} is not a centre and a radius in km, like 60.39,5.32 10")]
    NotACircle {
        /// The input, quoted and cut.
        text: String,
    },
}

/// The result of this crate's operations.
pub type Result<T, E = GeoError> = std::result::Result<T, E>;

impl GeoError {
    /// The error for the point at `index` (from 1) of a polygon.
    pub fn at_point(index: usize, error: GeoError) -> Self {
        GeoError::AtPoint { index, error: Box::new(error) }
    }
}

fn unit(field: Field) -> &'static str {
    match field {
        Field::Latitude | Field::Longitude => "",
        Field::Radius => " km",
    }
}

fn range(field: Field) -> String {
    match field {
        Field::Latitude => "-90 to 90".into(),
        Field::Longitude => "-180 to 180".into(),
        Field::Radius => format!("0 to {RADIUS_KM_MAX} km"),
    }
}
