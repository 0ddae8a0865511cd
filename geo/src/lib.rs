//! Alert areas, with no I/O: WGS 84 points, polygons and circles read from CAP 1.2 text,
//! whether an area contains a point, and which cells of a fixed grid it covers, so that the
//! recipients of an area alert can be found through a spatial index.
//!
//! Recipients are resolved inside the Raft state machine, on every node, so the answers must
//! be the same everywhere: coordinates are integers in 1e-7 degree ([`Point`]), text becomes
//! integers without floating point, and polygon containment is exact integer arithmetic.
//! Only the circle's great-circle distance uses `f64`; see [`circle`] for why that is the
//! same on every node. Nothing panics on any input, and every bound is a named constant
//! ([`limits`]).
//!
//! # Layout
//!
//! - [`error`]: [`GeoError`], one variant per rule, and the crate `Result`.
//! - [`limits`]: points per polygon, the largest radius, digits per number, the Earth's radius.
//! - [`text`]: the one reader of CAP's point, polygon and circle syntax, also used by
//!   `varsel-cap`; it hands back exact decimals.
//! - [`point`]: [`Point`], a position in 1e-7 degree.
//! - [`polygon`]: [`Polygon`], one ring, planar, even-odd, boundary included, exact.
//! - [`circle`]: [`Circle`] and [`distance_m`], haversine on the mean Earth sphere.
//! - [`area`]: [`Area`], either of them: [`Area::contains`], [`Area::cover`],
//!   [`Area::cover_bound`].
//! - [`grid`]: the 0.01° grid ([`cell_of`], [`Cell`], [`CellRun`]) and why that size.
//! - `cover`: the covers, a row sweep for polygons and the spherical cap's width per row for
//!   circles, with their bounds.
//!
//! # Example
//!
//! ```
//! use varsel_geo::{Area, Point, Polygon, cell_of};
//!
//! // Oslo sentrum, as a CAP polygon.
//! let ring = "59.905,10.72 59.905,10.77 59.925,10.77 59.925,10.72 59.905,10.72";
//! let area = Area::from(Polygon::parse(ring)?);
//! let contact = Point::parse("59.9139,10.7522")?;
//! assert!(area.contains(contact));
//! assert!(area.contains(Point::parse("59.905,10.75")?)); // on the southern edge
//!
//! // The index is scanned run by run; points in an `inside` run need no test.
//! let runs = area.cover();
//! let run = runs.iter().find(|run| run.holds(cell_of(contact))).unwrap();
//! assert!(run.inside);
//! assert_eq!(runs.len(), 5); // one run on each edge row, three in the row between
//!
//! let err = Polygon::parse("59.9,10.7 59.9,10.8 59.9,10.9 59.9,10.7").unwrap_err();
//! assert_eq!(err.to_string(), "polygon has zero area: all its points are on one line");
//! # Ok::<(), varsel_geo::GeoError>(())
//! ```

// Every public item is documented: this crate is the reference for area alerts.
#![warn(missing_docs)]

pub mod area;
pub mod circle;
mod cover;
pub mod error;
pub mod grid;
pub mod limits;
pub mod point;
pub mod polygon;
pub mod text;

pub use area::Area;
pub use circle::{Circle, distance_m};
pub use error::{Field, GeoError, Result};
pub use grid::{CELL_E7, COLS, Cell, CellRun, CoverBound, ROWS, cell_of};
pub use point::Point;
pub use polygon::Polygon;
