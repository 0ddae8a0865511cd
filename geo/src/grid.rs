//! The grid of the spatial index: fixed cells of 0.01° × 0.01°, and the runs of cells an
//! area covers.
//!
//! # Why 0.01°
//!
//! A cell is [`CELL_E7`] = 0.01° on each side: 1.11 km north to south, and east to west
//! 1.11 km × cos(latitude) (556 m at Bergen and Oslo, 380 m at Tromsø). That gives
//! [`ROWS`] = 18 000 rows and [`COLS`] = 36 000 columns, both within `u16`, so a cell is a
//! 4-byte key; 0.01° is the finest decimal step for which the columns fit (0.005° would need
//! 72 000). Finer cells would not pay anyway: resolving an area costs one index seek per run
//! and one exact test per contact in a cell on the area's edge, and runs grow with the rows
//! an area spans. Coarser cells (0.1°, 11 km) would put a whole town's contacts on the edge
//! of a town-sized alert and test each of them. At 0.01° the edge is a band about 1 km
//! wide, and a city alert is a few dozen runs.
//!
//! Cell edges are multiples of 100 000 in 1e-7 degree, so [`cell_of`] is exact integer
//! division. A row holds the latitudes from its south edge up to, not including, its north
//! edge, and a column likewise from west to east; the last row also holds 90° and the last
//! column 180°. Longitudes -180° and 180° are one meridian but fall in the first and the last
//! column: a cover that reaches the antimeridian includes both.
//!
//! ```
//! use varsel_geo::{Cell, Point, cell_of};
//!
//! let oslo = Point::parse("59.9139,10.7522").unwrap();
//! assert_eq!(cell_of(oslo), Cell { row: 14_991, col: 19_075 });
//! assert_eq!(cell_of(Point::parse("90,180").unwrap()), Cell { row: 17_999, col: 35_999 });
//! assert_eq!(cell_of(Point::parse("-90,-180").unwrap()), Cell { row: 0, col: 0 });
//! ```

use serde::{Deserialize, Serialize};

use crate::limits::{LAT_E7_MAX, LON_E7_MAX};
use crate::point::Point;

/// The side of a cell in 1e-7 degree: 0.01°.
pub const CELL_E7: i32 = 100_000;
/// Rows of cells from -90° to 90°.
pub const ROWS: u16 = (2 * LAT_E7_MAX as i64 / CELL_E7 as i64) as u16;
/// Columns of cells from -180° to 180°.
pub const COLS: u16 = (2 * LON_E7_MAX as i64 / CELL_E7 as i64) as u16;

/// A cell of the grid: row 0 starts at -90°, column 0 at -180°.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cell {
    /// The row, 0 to [`ROWS`] - 1, south to north.
    pub row: u16,
    /// The column, 0 to [`COLS`] - 1, west to east.
    pub col: u16,
}

/// The cell a point falls in. A point out of range falls in the nearest cell.
pub fn cell_of(p: Point) -> Cell {
    Cell { row: row_of(p.lat_e7.into()), col: col_of(p.lon_e7.into()) }
}

/// The row of a latitude in 1e-7 degree, clamped to the grid.
pub(crate) fn row_of(lat_e7: i64) -> u16 {
    index_of(lat_e7 + i64::from(LAT_E7_MAX), ROWS)
}

/// The column of a longitude in 1e-7 degree, clamped to the grid.
pub(crate) fn col_of(lon_e7: i64) -> u16 {
    index_of(lon_e7 + i64::from(LON_E7_MAX), COLS)
}

fn index_of(offset_e7: i64, count: u16) -> u16 {
    let index = offset_e7.div_euclid(CELL_E7.into()).clamp(0, i64::from(count) - 1);
    index as u16
}

/// The south edge of `row` in 1e-7 degree.
pub(crate) fn row_south_e7(row: u16) -> i64 {
    i64::from(row) * i64::from(CELL_E7) - i64::from(LAT_E7_MAX)
}

/// The west edge of `col` in 1e-7 degree.
pub(crate) fn col_west_e7(col: u16) -> i64 {
    i64::from(col) * i64::from(CELL_E7) - i64::from(LON_E7_MAX)
}

impl Cell {
    /// The cell's south-west corner, the smallest point in it.
    pub fn south_west(self) -> Point {
        // Within ±900 000 000 and ±1 800 000 000 for any row and column of the grid.
        let lat = row_south_e7(self.row.min(ROWS - 1)) as i32;
        let lon = col_west_e7(self.col.min(COLS - 1)) as i32;
        Point { lat_e7: lat, lon_e7: lon }
    }

    /// The cell's north-east corner, the largest point in it: 1e-7 degree short of the next
    /// row and column, or 90° and 180° in the last ones.
    pub fn north_east(self) -> Point {
        let sw = self.south_west();
        let lat = if self.row >= ROWS - 1 { LAT_E7_MAX } else { sw.lat_e7 + CELL_E7 - 1 };
        let lon = if self.col >= COLS - 1 { LON_E7_MAX } else { sw.lon_e7 + CELL_E7 - 1 };
        Point { lat_e7: lat, lon_e7: lon }
    }
}

/// Consecutive cells of one row, `col_lo` to `col_hi` inclusive, that an area covers.
///
/// `inside` is true only when every point of every cell of the run is in the area, so the
/// caller may take those points without testing them; otherwise the area's boundary passes
/// through or near the run and each point must be tested with [`crate::Area::contains`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellRun {
    /// The row.
    pub row: u16,
    /// The first column.
    pub col_lo: u16,
    /// The last column, at least `col_lo`.
    pub col_hi: u16,
    /// Whether the area contains every point of these cells.
    pub inside: bool,
}

impl CellRun {
    /// The number of cells in the run.
    pub fn cells(&self) -> u32 {
        u32::from(self.col_hi.saturating_sub(self.col_lo)) + 1
    }

    /// Whether `cell` is one of the run's cells.
    pub fn holds(&self, cell: Cell) -> bool {
        cell.row == self.row && (self.col_lo..=self.col_hi).contains(&cell.col)
    }
}

/// How much work an area's cover can be, known before it is computed
/// ([`crate::Area::cover_bound`]), so that a caller can refuse an area too large to resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CoverBound {
    /// Rows the cover spans, at most [`ROWS`].
    pub rows: u32,
    /// At most this many runs; computing the cover takes time in proportion to it.
    pub runs_max: u64,
    /// At most this many cells in the runs: the cells of the area's bounding box.
    pub cells_max: u64,
}
