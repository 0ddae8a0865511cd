//! The bounds on an area, each derived from what real alert areas hold, and the constants of
//! the Earth model.
//!
//! The CAP reader (`varsel-cap`) re-exports the text bounds ([`POLYGON_POINTS_MAX`],
//! [`NUMBER_CHARS_MAX`]), so a CAP document and an area given to Varsel directly are held to
//! the same limits.

/// Fewest points in a polygon: a triangle and the first point repeated to close it.
pub const POLYGON_POINTS_MIN: usize = 4;
/// Most points in one polygon: a detailed coastline or county outline has a few thousand.
pub const POLYGON_POINTS_MAX: usize = 10_000;
/// Most characters in a number (a coordinate or radius): 40 holds any coordinate at far more
/// precision than GPS has.
pub const NUMBER_CHARS_MAX: usize = 40;
/// Largest circle radius in km: half the Earth's circumference at the equator (20 037.5 km)
/// rounded up; a larger circle covers the whole Earth and is a mistake.
pub const RADIUS_KM_MAX: u32 = 20_038;
/// [`RADIUS_KM_MAX`] in metres, the unit a [`crate::Circle`] keeps its radius in.
pub const RADIUS_M_MAX: u32 = RADIUS_KM_MAX * 1_000;
/// The mean radius of the Earth in metres (IUGG: R₁ = (2a + b) / 3 of WGS 84), the sphere on
/// which circle distances are measured; the same value as geopy's and geographiclib's
/// `EARTH_RADIUS` (6371.0088 km).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Units of a coordinate per degree: coordinates are integers in 1e-7 degree (about 1.1 cm of
/// latitude), the precision of a GPS fix written with 7 decimals.
pub const E7_PER_DEGREE: i32 = 10_000_000;
/// The largest latitude, 90°, in 1e-7 degree.
pub const LAT_E7_MAX: i32 = 90 * E7_PER_DEGREE;
/// The largest longitude, 180°, in 1e-7 degree.
pub const LON_E7_MAX: i32 = 180 * E7_PER_DEGREE;
