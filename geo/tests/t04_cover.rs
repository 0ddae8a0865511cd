//! The grid and the covers: cells and their corners, covers that follow an area's shape
//! rather than its bounding box, runs on both sides of the antimeridian, whole rows at a
//! pole, and bounds that hold for a continent and can refuse a pathological ring.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Rng, check_cover, circle, points_near, polygon, pt};
use varsel_geo::limits::RADIUS_M_MAX;
use varsel_geo::{Area, COLS, Cell, CellRun, Circle, Polygon, ROWS, cell_of};

fn cells(runs: &[CellRun]) -> u64 {
    runs.iter().map(|r| u64::from(r.cells())).sum()
}

fn run(row: u16, col_lo: u16, col_hi: u16, inside: bool) -> CellRun {
    CellRun { row, col_lo, col_hi, inside }
}

/// Goal: a cell holds exactly the points `cell_of` puts in it, and its corners are its
/// extreme points. Method: the corners of cells in the middle and at every edge of the grid,
/// and the points 1e-7 degree beyond them.
#[test]
fn cells_and_corners() {
    for cell in
        [Cell { row: 14_991, col: 19_075 }, Cell { row: 0, col: 0 }, Cell { row: ROWS - 1, col: COLS - 1 }]
    {
        let (sw, ne) = (cell.south_west(), cell.north_east());
        assert_eq!((cell_of(sw), cell_of(ne)), (cell, cell));
        assert_eq!(ne.lat_e7 - sw.lat_e7, if cell.row == ROWS - 1 { 100_000 } else { 99_999 });
        if cell.row > 0 {
            let below = varsel_geo::Point { lat_e7: sw.lat_e7 - 1, lon_e7: sw.lon_e7 };
            assert_eq!(cell_of(below), Cell { row: cell.row - 1, col: cell.col });
        }
    }
    assert_eq!(cell_of(pt("59.99999999,10")), cell_of(pt("60,10")), "rounds to 60 first");
    assert_eq!(cell_of(pt("-90,-180")), Cell { row: 0, col: 0 });
    assert_eq!(cell_of(pt("90,180")), Cell { row: ROWS - 1, col: COLS - 1 });
}

/// Goal: a polygon's cover, run by run, for a rectangle whose edges lie exactly on grid lines
/// and between them. Method: the exact runs: the edge on a grid line marks only the cells its
/// points fall in, the cells between the edges are one inside run.
#[test]
fn rectangle_runs() {
    // Rows 14_990.5 to 14_992.5 (edges between grid lines), columns 19_072 to 19_077 (on them).
    let area = polygon("59.905,10.72 59.905,10.77 59.925,10.77 59.925,10.72 59.905,10.72");
    let expected = vec![
        run(14_990, 19_072, 19_077, false),
        run(14_991, 19_072, 19_072, false),
        run(14_991, 19_073, 19_076, true),
        run(14_991, 19_077, 19_077, false),
        run(14_992, 19_072, 19_077, false),
    ];
    assert_eq!(area.cover(), expected);
}

/// Goal: a concave cover follows the shape: the notch of a U is left out of the rows it
/// spans, and the star's cover is far smaller than its bounding box. Method: count the cells
/// against the bounding box and look for the notch's columns.
#[test]
fn concave_covers_follow_the_shape() {
    // A U 0.2° wide with a notch from latitude 60.05 up, between longitudes 10.05 and 10.15.
    let u = polygon("60,10 60,10.2 60.2,10.2 60.2,10.15 60.05,10.15 60.05,10.05 60.2,10.05 60.2,10 60,10");
    let runs = u.cover();
    let notch_row = cell_of(pt("60.1,10.1")).row;
    let notch_col = cell_of(pt("60.1,10.1")).col;
    assert!(runs.iter().any(|r| r.row == notch_row));
    assert!(
        !runs.iter().any(|r| r.holds(Cell { row: notch_row, col: notch_col })),
        "the notch is not covered"
    );
    assert!(runs.iter().filter(|r| r.row == notch_row).count() >= 4, "two arms, each edge and inside");

    let star = polygon(&common::star());
    let bound = star.cover_bound();
    let runs = star.cover();
    assert!(cells(&runs) * 2 < bound.cells_max, "{} cells of a {}-cell box", cells(&runs), bound.cells_max);
    let inside: u64 = runs.iter().filter(|r| r.inside).map(|r| u64::from(r.cells())).sum();
    assert!(
        inside * 10 > cells(&runs) * 7,
        "most of the star needs no point test: {inside} of {}",
        cells(&runs)
    );
    check_cover(&star, &runs, &points_near(&star, 20_000, &mut Rng::new(4))).unwrap();
}

/// Goal: a circle's cover is a disc of runs: at most 3 per row, most cells inside, the
/// corners of its bounding box left out. Method: the Bergen circle (25 km at 60°N).
#[test]
fn circle_cover_is_round() {
    let area = circle(common::BERGEN_25KM);
    let runs = area.cover();
    let bound = area.cover_bound();
    let rows: Vec<u16> = runs.iter().map(|r| r.row).collect();
    for row in rows.iter() {
        assert!(rows.iter().filter(|r| *r == row).count() <= 3);
    }
    assert!(cells(&runs) * 100 < bound.cells_max * 85, "{} of {}", cells(&runs), bound.cells_max);
    let inside: u64 = runs.iter().filter(|r| r.inside).map(|r| u64::from(r.cells())).sum();
    assert!(inside * 10 > cells(&runs) * 8, "{inside} of {} cells inside", cells(&runs));
    let corner = pt("60.62,5.77"); // north-east of the circle, within its bounding box
    assert!(!area.contains(corner) && common::run_of(&runs, corner).is_none());
}

/// Goal: a circle across the antimeridian is covered on both sides, in the same rows. Method:
/// the Fiji circle: its centre row has runs ending in the last column and starting in the
/// first, and the points on both sides are covered.
#[test]
fn antimeridian_cover() {
    let area = circle(common::FIJI_40KM);
    let runs = area.cover();
    let row = cell_of(pt("-16.8,179.9")).row;
    let in_row: Vec<&CellRun> = runs.iter().filter(|r| r.row == row).collect();
    assert_eq!(in_row.first().unwrap().col_lo, 0, "{in_row:?}");
    assert_eq!(in_row.last().unwrap().col_hi, COLS - 1, "{in_row:?}");
    assert!(
        in_row.first().unwrap().inside && in_row.last().unwrap().inside,
        "180° is well inside: {in_row:?}"
    );
    assert!(in_row.len() <= 4);
    check_cover(&area, &runs, &points_near(&area, 20_000, &mut Rng::new(5))).unwrap();
    let greenwich = circle(common::GREENWICH_12KM);
    let runs = greenwich.cover();
    let row = cell_of(pt("51.4779,0")).row;
    assert!(runs.iter().any(|r| r.row == row && r.inside && r.col_lo < COLS / 2 && r.col_hi >= COLS / 2));
}

/// Goal: a circle over a pole covers whole rows there, inside; one near a pole covers a
/// narrow band of columns. Method: the 20 km circle at 89.9°N, rows from the pole down; a
/// whole-Earth circle is every row, inside.
#[test]
fn polar_cover() {
    let area = circle(common::POLE_20KM);
    let runs = area.cover();
    assert_eq!(runs.last().unwrap(), &run(ROWS - 1, 0, COLS - 1, true), "the pole's row");
    let full = runs.iter().filter(|r| r.col_lo == 0 && r.col_hi == COLS - 1).count();
    assert!(full >= 5, "rows within 8.8 km of the pole go all round: {full}");
    check_cover(&area, &runs, &points_near(&area, 20_000, &mut Rng::new(6))).unwrap();

    let near = circle("89.5,0 20");
    let widest = near.cover().iter().map(|r| r.cells()).max().unwrap();
    assert!(widest < u32::from(COLS) / 4, "20 km at 89.5° spans about 42° of longitude: {widest}");

    let all = Area::from(Circle::new(pt("59.9,10.7"), RADIUS_M_MAX).unwrap());
    let runs = all.cover();
    assert_eq!(runs.len(), usize::from(ROWS));
    assert!(runs.iter().all(|r| r.inside && r.col_lo == 0 && r.col_hi == COLS - 1));
}

/// Goal: a polygon over a continent is covered in a bounded, small number of runs, and its
/// bound says so before the cover is computed. Method: a coarse Europe (35°N to 71°N, 10°W
/// to 40°E): 3 600 rows, about 3 runs each; the bound is known beforehand.
#[test]
fn continent_is_bounded() {
    let europe = polygon("35,-10 36,30 41,40 71,30 71,20 58,5 50,-6 43,-10 35,-10");
    let bound = europe.cover_bound();
    assert_eq!(bound.rows, 3_601);
    let runs = europe.cover();
    assert!(runs.len() as u64 <= bound.runs_max, "{} runs, bound {bound:?}", runs.len());
    assert!(runs.len() < 4 * 3_601, "{} runs", runs.len());
    check_cover(&europe, &runs, &points_near(&europe, 20_000, &mut Rng::new(7))).unwrap();
}

/// Goal: a pathological ring, 2 000 edges from pole to pole, announces its cost in its bound
/// so a caller can refuse it. Method: a zigzag between 89°S and 89°N; its bound's runs are in
/// the tens of millions while a county's are in the hundreds.
#[test]
fn pathological_ring_is_announced() {
    let mut ring: Vec<String> = (0..2_000)
        .map(|i| format!("{},{}", if i % 2 == 0 { -89 } else { 89 }, -100.0 + f64::from(i) * 0.1))
        .collect();
    // Back along 89.5°S, in two edges: one edge of 199.9° would be refused as crossing the
    // antimeridian.
    ring.extend(["-89.5,99.9".into(), "-89.5,0".into(), "-89.5,-100".into()]);
    ring.push(ring[0].clone());
    let zigzag = Area::from(Polygon::parse(&ring.join(" ")).unwrap());
    let bound = zigzag.cover_bound();
    assert!(bound.runs_max > 30_000_000, "{bound:?}");
    let county = polygon(common::OSLO).cover_bound();
    assert!(county.runs_max < 1_000, "{county:?}");
}
