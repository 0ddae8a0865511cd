//! Bounds on what one CAP document may hold, so that a hostile or broken document costs a
//! bounded amount of memory and time.
//!
//! The document's size is checked before anything is parsed, the number of XML nodes while
//! it is parsed (the tree never grows past [`XML_NODES_MAX`]), and each repeated element as
//! it is read. CAP 1.2 itself sets no limits; each value below is derived from what real
//! alerts hold, with a wide margin.

/// Most bytes in a CAP document: 1 MiB. The largest real alerts (a national weather warning
/// in a dozen languages with hundreds of county geocodes and detailed polygons) are around
/// 100 KB; a resource larger than the rest of the alert belongs behind `uri`, not inline in
/// `derefUri`.
pub const DOCUMENT_BYTES_MAX: usize = 1024 * 1024;
/// Most XML nodes (elements, texts, comments) in a document, enforced by the XML reader:
/// bounds the tree at a few MB even for a 1 MiB document made only of tiny elements.
pub const XML_NODES_MAX: u32 = 100_000;
/// Most `info` blocks in one alert: one per language and event; 32 leaves room for every
/// language Varsel holds content in (16) twice over.
pub const INFOS_MAX: usize = 32;
/// Most `area` blocks in one `info`.
pub const AREAS_MAX: usize = 128;
/// Most `polygon` elements in one `area`.
pub const POLYGONS_MAX: usize = 64;
/// Most `circle` elements in one `area`.
pub const CIRCLES_MAX: usize = 64;
/// Most `geocode` elements in one `area`: US county warnings list a few hundred codes.
pub const GEOCODES_MAX: usize = 1024;
/// Most points in one polygon, from `varsel-geo`, so that a CAP polygon and an area given to
/// Varsel directly are held to the same limit.
pub use varsel_geo::limits::POLYGON_POINTS_MAX;
/// Most points in all the polygons of a document together: 100 000 points are 1.6 MB as
/// `f64` pairs.
pub const DOCUMENT_POINTS_MAX: usize = 100_000;
/// Most `code` elements in `alert`.
pub const CODES_MAX: usize = 64;
/// Most triples in `references`: a long-running incident is updated a few dozen times.
pub const REFERENCES_MAX: usize = 256;
/// Most `category` elements in one `info`: there are 12 categories.
pub const CATEGORIES_MAX: usize = 12;
/// Most `responseType` elements in one `info`: there are 9 response types.
pub const RESPONSE_TYPES_MAX: usize = 9;
/// Most `eventCode` elements in one `info`.
pub const EVENT_CODES_MAX: usize = 64;
/// Most `parameter` elements in one `info`.
pub const PARAMETERS_MAX: usize = 256;
/// Most `resource` elements in one `info`.
pub const RESOURCES_MAX: usize = 32;
/// Most characters in a number (a coordinate, radius, altitude or ceiling), from `varsel-geo`,
/// whose reader reads CAP's coordinates.
pub use varsel_geo::limits::NUMBER_CHARS_MAX;
