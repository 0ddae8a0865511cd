//! The cover of a circle: per row, the longitudes the spherical cap reaches in the row's band.
//!
//! A circle of radius r is a cap of angular radius δ = r / R. At latitude φ it spans the
//! longitudes within Λ(φ) of the centre's, where cos Λ = (cos δ - sin φ sin φc) / (cos φ cos
//! φc) (computed in its haversine form); Λ = 180° when the cap goes round the pole at that
//! latitude. Λ rises and falls at most once over the cap's latitudes, turning where sin φ =
//! sin φc / cos δ (the latitude where the cap touches its two bounding meridians; for a cap
//! larger than a hemisphere, where it is narrowest), so its largest and smallest values over
//! a band are at the band's edges or at that latitude. A row's runs are then:
//!
//! - the columns within the largest Λ of the cap grown by [`MARGIN_M`]: every point the
//!   circle contains, whatever the rounding;
//! - `inside`, the columns wholly within the smallest Λ of the cap shrunk by [`MARGIN_M`],
//!   when the band lies within that cap's latitudes: every point there is at least a metre
//!   inside, far beyond the rounding of [`crate::circle::distance_m`].
//!
//! Longitudes past ±180° wrap to the other side, so a circle across the antimeridian gives
//! runs at both ends of a row, and one that reaches a pole gives whole rows.
//!
//! # Bounds
//!
//! At most 4 runs per row (a boundary and an inside run at each end of a wrapped row), so at
//! most 4 × 18 000 = 72 000 runs for any circle, and the time is one row's arithmetic per row.

use std::f64::consts::{FRAC_PI_2, PI};

use crate::circle::Circle;
use crate::cover::Runs;
use crate::grid::{CELL_E7, COLS, CellRun, CoverBound, ROWS, row_south_e7};
use crate::limits::{E7_PER_DEGREE, EARTH_RADIUS_M};

/// Metres added to the radius for the columns a circle may reach and taken from it for the
/// columns it holds whole. Far above the rounding of an `f64` haversine (below a micrometre;
/// 0.2 m for points almost antipodal, where `asin` loses half its digits) and of the formulas
/// here, and small enough that it adds a boundary cell only where the circle passes within a
/// metre of a cell's edge.
const MARGIN_M: f64 = 1.0;
/// Radians added to the largest half-width and taken from the smallest, for the rounding of
/// `asin` and of degrees to columns: 6 mm at the equator.
const SLACK_RAD: f64 = 1e-9;
/// Grid cells per degree.
const CELLS_PER_DEGREE: f64 = 100.0;

/// The circle as a spherical cap: centre latitude and angular radius, in radians.
#[derive(Debug, Clone, Copy)]
struct Cap {
    lat: f64,
    delta: f64,
}

impl Cap {
    fn new(circle: &Circle, margin_m: f64) -> Self {
        let lat = circle.center.lat_degrees().clamp(-90.0, 90.0).to_radians();
        Cap { lat, delta: (f64::from(circle.radius_m) + margin_m) / EARTH_RADIUS_M }
    }

    /// The whole sphere: every point is within δ.
    fn is_sphere(&self) -> bool {
        self.delta >= PI
    }

    /// The latitudes the cap reaches; infinite on the side of a pole it contains.
    fn lat_range(&self) -> (f64, f64) {
        let south = self.lat - self.delta;
        let north = self.lat + self.delta;
        let south = if south <= -FRAC_PI_2 { f64::NEG_INFINITY } else { south };
        let north = if north >= FRAC_PI_2 { f64::INFINITY } else { north };
        (south, north)
    }

    /// Λ(φ) for a latitude within the cap's; NaN only if the formula is 0 / 0. The haversine
    /// form, sin²(Λ/2) = (sin²(δ/2) - sin²((φ - φc)/2)) / (cos φ cos φc), keeps its precision
    /// for small circles, where the cosine form loses half the digits.
    fn half_width_at(&self, phi: f64) -> f64 {
        let (s_delta, s_lat) = ((self.delta / 2.0).sin(), ((phi - self.lat) / 2.0).sin());
        let q = (s_delta * s_delta - s_lat * s_lat) / (phi.cos() * self.lat.cos());
        if q >= 1.0 {
            PI
        } else if q <= 0.0 {
            0.0
        } else {
            2.0 * q.sqrt().asin() // NaN stays NaN.
        }
    }

    /// The smallest and largest Λ over latitudes `south..=north` (within the cap's):
    /// conservatively 0 and π if the formula fails.
    fn extremes(&self, south: f64, north: f64) -> (f64, f64) {
        let turning = (self.lat.sin() / self.delta.cos()).asin();
        let mut values = [self.half_width_at(south), self.half_width_at(north), f64::NAN];
        let mut count = 2;
        if south < turning && turning < north {
            values[2] = self.half_width_at(turning);
            count = 3;
        }
        let values = &values[..count];
        if values.iter().any(|v| v.is_nan()) {
            return (0.0, PI);
        }
        let min = values.iter().copied().fold(PI, f64::min);
        let max = values.iter().copied().fold(0.0, f64::max);
        (min, max)
    }

    /// The largest half-width over the band, or `None` if the cap does not reach it.
    fn reach(&self, south: f64, north: f64) -> Option<f64> {
        if self.is_sphere() {
            return Some(PI);
        }
        let (lo, hi) = self.lat_range();
        if north < lo || south > hi {
            return None;
        }
        Some(self.extremes(south.max(lo), north.min(hi)).1 + SLACK_RAD)
    }

    /// The smallest half-width over the band, or `None` unless the whole band is within the
    /// cap's latitudes.
    fn hold(&self, south: f64, north: f64) -> Option<f64> {
        if self.is_sphere() {
            return Some(PI);
        }
        let (lo, hi) = self.lat_range();
        if self.delta <= 0.0 || south < lo || north > hi {
            return None;
        }
        // A whole parallel (π, from no `asin`) stays whole, or a row around a pole would keep a
        // seam of boundary cells on the far meridian.
        let min = self.extremes(south, north).0;
        let width = if min >= PI { PI } else { min - SLACK_RAD };
        (width > 0.0).then_some(width)
    }
}

/// The band of `row` in radians, south and north edges, each the same `f64` that
/// [`crate::circle::distance_m`] works with for a point on that edge.
fn band(row: u16) -> (f64, f64) {
    let radians = |lat_e7: i64| (lat_e7 as f64 / f64::from(E7_PER_DEGREE)).to_radians();
    let south = row_south_e7(row);
    (radians(south), radians(south + i64::from(CELL_E7)))
}

/// The row of a latitude in degrees, clamped.
fn row_at(lat: f64) -> u16 {
    ((lat + 90.0) * CELLS_PER_DEGREE).floor().clamp(0.0, f64::from(ROWS - 1)) as u16
}

/// The cover of `circle`; see the module documentation.
pub(crate) fn cover(circle: &Circle) -> Vec<CellRun> {
    let outer = Cap::new(circle, MARGIN_M);
    let inner = Cap::new(circle, -MARGIN_M);
    let lon = circle.center.lon_degrees();
    let mut runs = Runs::default();
    let (rows_lo, rows_hi) = rows(&outer);
    for row in rows_lo..=rows_hi {
        let (south, north) = band(row);
        let Some(reach) = outer.reach(south, north) else { continue };
        let hold = inner.hold(south, north);
        push_row(&mut runs, row, lon, reach, hold);
    }
    runs.into_vec()
}

/// The first and last rows the cap reaches.
fn rows(cap: &Cap) -> (u16, u16) {
    if cap.is_sphere() {
        return (0, ROWS - 1);
    }
    let (south, north) = cap.lat_range();
    (row_at(south.to_degrees()), row_at(north.to_degrees()))
}

/// Pushes a row's runs: the columns within `reach` of longitude `lon`, those wholly within
/// `hold` marked inside.
fn push_row(runs: &mut Runs, row: u16, lon: f64, reach: f64, hold: Option<f64>) {
    let held = hold.map(|w| cols(lon, w, Cols::Within)).unwrap_or_default();
    for (lo, hi) in cols(lon, reach, Cols::Reached) {
        let mut at = lo;
        for &(held_lo, held_hi) in &held {
            let (held_lo, held_hi) = (held_lo.max(at), held_hi.min(hi));
            if held_lo > held_hi {
                continue;
            }
            if at < held_lo {
                runs.push(row, at, held_lo - 1, false);
            }
            runs.push(row, held_lo, held_hi, true);
            at = held_hi + 1;
        }
        if at <= hi {
            runs.push(row, at, hi, false);
        }
    }
}

/// Which columns [`cols`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cols {
    /// Every column with a point in the interval.
    Reached,
    /// The columns wholly within the interval.
    Within,
}

/// The columns of the longitudes within `half_width` radians of `lon` degrees, wrapped at
/// ±180°: at most two stretches, sorted, disjoint and not adjacent.
fn cols(lon: f64, half_width: f64, which: Cols) -> Vec<(u16, u16)> {
    if half_width >= PI {
        return vec![(0, COLS - 1)];
    }
    let w = half_width.to_degrees();
    let (west, east) = (lon - w, lon + w);
    let mut pieces = vec![(west.max(-180.0), east.min(180.0))];
    if west <= -180.0 {
        pieces.push((west + 360.0, 180.0));
    }
    if east >= 180.0 {
        pieces.push((-180.0, east - 360.0));
    }
    let mut stretches: Vec<(u16, u16)> =
        pieces.into_iter().filter_map(|(w, e)| stretch(w, e, which)).collect();
    stretches.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(stretches.len());
    for (lo, hi) in stretches {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// The columns of longitudes `west..=east` (degrees), reached or wholly within.
fn stretch(west: f64, east: f64, which: Cols) -> Option<(u16, u16)> {
    let col = |lon: f64| (lon + 180.0) * CELLS_PER_DEGREE;
    let (lo, hi) = match which {
        Cols::Reached => (col(west).floor(), col(east).floor()),
        Cols::Within => (col(west).ceil(), col(east).floor() - 1.0),
    };
    // The clamps keep 180° in the last column.
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return None;
    }
    let last = f64::from(COLS - 1);
    Some((lo.clamp(0.0, last) as u16, hi.clamp(0.0, last) as u16))
}

/// How many rows, runs and cells the cover of `circle` can have; O(1).
pub(crate) fn bound(circle: &Circle) -> CoverBound {
    let cap = Cap::new(circle, MARGIN_M);
    let (lo, hi) = rows(&cap);
    let rows = u32::from(hi - lo) + 1;
    let (south, north) = cap.lat_range();
    let spread = (cap.delta.sin() / cap.lat.cos()).asin().to_degrees();
    let cols = if cap.is_sphere() || south.is_infinite() || north.is_infinite() || spread.is_nan() {
        u64::from(COLS)
    } else {
        ((2.0 * spread * CELLS_PER_DEGREE).ceil() as u64 + 3).min(u64::from(COLS))
    };
    CoverBound { rows, runs_max: 4 * u64::from(rows), cells_max: u64::from(rows) * cols }
}
