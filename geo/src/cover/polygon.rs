//! The cover of a polygon: a sweep over its rows with exact integer clipping.
//!
//! Cells are taken as the half-open rectangles the points fall in ([`crate::cell_of`]): a
//! row holds latitudes from its south edge up to its north edge, excluded (the last row
//! includes 90°), and likewise a column. In each row, every edge that reaches the row marks
//! the columns its part within the row's latitudes reaches, computed exactly on rationals:
//! those cells hold boundary points, and their runs are not `inside`. An edge lying exactly on
//! a grid line marks only the cells on its north or east side, the cells its points fall in.
//! The cells between two such stretches hold no boundary point and together are connected,
//! so each stretch lies wholly inside the ring or wholly outside it; the parity of the edges
//! crossing the row's south edge west of the stretch (the even-odd rule of
//! [`Polygon::contains`], counted exactly) decides which, and only an inside stretch is a
//! run. West of a row's first boundary cell and east of its last there is nothing: a ray from
//! a point inside leaves the ring within the row.
//!
//! # Bounds
//!
//! A row that `E` edges reach has at most `E` boundary stretches and `E - 1` stretches
//! between them, so at most `2E - 1` runs; over all rows the runs are at most twice the sum,
//! over the edges, of the rows each edge spans ([`bound`]). Computing the cover takes time in
//! proportion to that sum (times a sort per row). A county outline spans a few rows per edge,
//! so its cover is about as many runs as the outline crosses cells; the extreme, 10 000 edges
//! each running the 18 000 rows from pole to pole, would be 3.6 × 10^8: callers use
//! [`crate::Area::cover_bound`] to refuse such an area before computing it.

use crate::cover::Runs;
use crate::grid::{CELL_E7, COLS, CellRun, CoverBound, col_of, col_west_e7, row_of, row_south_e7};
use crate::limits::LON_E7_MAX;
use crate::point::Point;
use crate::polygon::Polygon;

/// An edge and the rows it reaches.
#[derive(Debug, Clone, Copy)]
struct Edge {
    a: Point,
    b: Point,
    row_lo: u16,
    row_hi: u16,
}

impl Edge {
    fn new((a, b): (Point, Point)) -> Self {
        let (south, north) = (a.lat_e7.min(b.lat_e7), a.lat_e7.max(b.lat_e7));
        Edge { a, b, row_lo: row_of(south.into()), row_hi: row_of(north.into()) }
    }

    /// The columns that the edge's part within latitudes `south..=north` reaches.
    fn cols(&self, south: i64, north: i64) -> (u16, u16) {
        let (a, b) = (self.a, self.b);
        if a.lat_e7 == b.lat_e7 {
            return (col_of(a.lon_e7.min(b.lon_e7).into()), col_of(a.lon_e7.max(b.lon_e7).into()));
        }
        let y1 = south.max(a.lat_e7.min(b.lat_e7).into());
        let y2 = north.min(a.lat_e7.max(b.lat_e7).into());
        let (c1, c2) = (col_at(lon_at(a, b, y1)), col_at(lon_at(a, b, y2)));
        (c1.min(c2), c1.max(c2))
    }

    /// The longitude, rounded down, where the edge crosses latitude `y`, counting an end on
    /// `y` as [`Polygon::contains`] does (with the edge that leaves it northwards).
    fn crossing(&self, y: i64) -> Option<i64> {
        let (a, b) = (self.a, self.b);
        let (num, den) = lon_at(a, b, y);
        // Between a's and b's longitudes, so within ±1 800 000 000.
        ((i64::from(a.lat_e7) > y) != (i64::from(b.lat_e7) > y)).then(|| num.div_euclid(den) as i64)
    }
}

/// The longitude of the line through `a` and `b` (not horizontal) at latitude `y`, as a
/// fraction with a positive denominator. Exact: the products stay below 2^66.
fn lon_at(a: Point, b: Point, y: i64) -> (i128, i128) {
    let (ax, ay) = (i128::from(a.lon_e7), i128::from(a.lat_e7));
    let (bx, by) = (i128::from(b.lon_e7), i128::from(b.lat_e7));
    let (num, den) = (ax * (by - ay) + (i128::from(y) - ay) * (bx - ax), by - ay);
    if den < 0 { (-num, -den) } else { (num, den) }
}

/// The column of the longitude `num / den` (den > 0), exactly.
fn col_at((num, den): (i128, i128)) -> u16 {
    let offset = num + i128::from(LON_E7_MAX) * den;
    // Clamped to the grid as `col_of` does, so that 180° is in the last column.
    offset.div_euclid(i128::from(CELL_E7) * den).clamp(0, i128::from(COLS) - 1) as u16
}

/// The cover of `polygon`; see the module documentation.
pub(crate) fn cover(polygon: &Polygon) -> Vec<CellRun> {
    let mut edges: Vec<Edge> = polygon.edges().map(Edge::new).collect();
    edges.sort_unstable_by_key(|e| e.row_lo);
    let mut runs = Runs::default();
    let (Some(first), Some(last)) = (edges.first(), edges.iter().map(|e| e.row_hi).max()) else {
        return runs.into_vec();
    };
    let mut active: Vec<Edge> = Vec::new();
    let mut next = 0;
    let (mut spans, mut crossings) = (Vec::new(), Vec::new());
    for row in first.row_lo..=last {
        while let Some(edge) = edges.get(next).filter(|e| e.row_lo <= row) {
            active.push(*edge);
            next += 1;
        }
        active.retain(|e| e.row_hi >= row);
        let south = row_south_e7(row);
        spans.clear();
        crossings.clear();
        for edge in &active {
            spans.push(edge.cols(south, south + i64::from(CELL_E7)));
            crossings.extend(edge.crossing(south));
        }
        spans.sort_unstable();
        crossings.sort_unstable();
        push_row(&mut runs, row, &spans, &crossings);
    }
    runs.into_vec()
}

/// Pushes one row's runs: the boundary stretches `spans` (sorted, possibly overlapping) and
/// the stretches between them that have an odd number of `crossings` (sorted longitudes of
/// the edges crossing the row's south edge) to their west.
fn push_row(runs: &mut Runs, row: u16, spans: &[(u16, u16)], crossings: &[i64]) {
    let mut spans = spans.iter().copied();
    let Some((mut lo, mut hi)) = spans.next() else { return };
    for (next_lo, next_hi) in spans {
        if next_lo <= hi.saturating_add(1) {
            hi = hi.max(next_hi);
            continue;
        }
        runs.push(row, lo, hi, false);
        let west = col_west_e7(hi + 1);
        if crossings.partition_point(|x| *x < west) % 2 == 1 {
            runs.push(row, hi + 1, next_lo - 1, true);
        }
        (lo, hi) = (next_lo, next_hi);
    }
    runs.push(row, lo, hi, false);
}

/// How many rows, runs and cells the cover of `polygon` can have; O(points).
pub(crate) fn bound(polygon: &Polygon) -> CoverBound {
    let (sw, ne) = polygon.bounds();
    let rows = u32::from(row_of(ne.lat_e7.into()) - row_of(sw.lat_e7.into())) + 1;
    let cols = u64::from(col_of(ne.lon_e7.into()) - col_of(sw.lon_e7.into())) + 1;
    let edge_rows: u64 = polygon.edges().map(Edge::new).map(|e| u64::from(e.row_hi - e.row_lo) + 1).sum();
    CoverBound { rows, runs_max: 2 * edge_rows, cells_max: u64::from(rows) * cols }
}
