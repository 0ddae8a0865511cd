//! The cover of an area: the [`CellRun`]s, row by row, that hold every point the area
//! contains, each marked `inside` when the area holds all of it.
//!
//! Both covers are computed one row at a time, the row's band of latitudes closed at both
//! edges, and both err only on the safe side: a cell is left out or marked `inside` only when
//! that is certain, so a cell on the boundary may be one more than strictly needed, never one
//! less. The bounds on runs and time are in [`polygon`] and [`circle`].

pub(crate) mod circle;
pub(crate) mod polygon;

use crate::grid::CellRun;

/// Runs as they are made: ascending, not overlapping, adjacent runs of the same kind merged.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    runs: Vec<CellRun>,
}

impl Runs {
    /// Appends columns `lo..=hi` of `row`, after every run pushed so far.
    pub(crate) fn push(&mut self, row: u16, lo: u16, hi: u16, inside: bool) {
        debug_assert!(lo <= hi, "run {row}:{lo}..={hi} is empty");
        if let Some(last) = self.runs.last_mut() {
            debug_assert!(
                (last.row, last.col_hi) < (row, lo),
                "run {row}:{lo} overlaps or precedes {last:?}"
            );
            if last.row == row && last.inside == inside && last.col_hi.checked_add(1) == Some(lo) {
                last.col_hi = hi;
                return;
            }
        }
        self.runs.push(CellRun { row, col_lo: lo, col_hi: hi, inside });
    }

    pub(crate) fn into_vec(self) -> Vec<CellRun> {
        self.runs
    }
}
