//! Shared fixtures for the geo tests: the areas checked everywhere, a seeded generator of
//! points around them, and the check that a cover is sound and well-formed.
#![allow(dead_code, clippy::unwrap_used)]

pub mod python;

use varsel_geo::{Area, COLS, CellRun, Circle, Point, Polygon, ROWS, cell_of, distance_m};

/// A concave polygon around Oslo: the city from Lysaker to Alnabru with the inner Oslofjord
/// cut out of its south side as a notch, so points in the notch are outside and the notch's
/// reflex vertices are inside corners. Some coordinates use all 7 decimals.
pub const OSLO: &str = "59.98,10.60 59.98,10.95 59.85,10.95 59.85,10.8000001 59.9127461,10.7461903 \
                        59.91,10.72 59.8512345,10.70 59.85,10.60 59.98,10.60";
/// A thin sliver: 1.5° long and at most 0.0001° (11 m) wide, nearly along a parallel.
pub const SLIVER: &str = "60.0,5.0 60.0001,6.5 60.0000001,6.5 60.0,5.0";
/// A circle of 25 km around Bergen, at 60°N.
pub const BERGEN_25KM: &str = "60.3975,5.3240 25";
/// A circle at 89.9°N whose 20 km reach over the North Pole (11.1 km away).
pub const POLE_20KM: &str = "89.9,30.0 20";
/// A circle of 12 km around the Greenwich observatory, across the prime meridian.
pub const GREENWICH_12KM: &str = "51.4779,-0.0015 12";
/// A circle of 40 km across the antimeridian, between Vanua Levu and Taveuni (Fiji).
pub const FIJI_40KM: &str = "-16.8,179.9 40";

/// A five-pointed star around (60°N, 10°E): outer radius 0.5°, inner 0.2°, as CAP text with 7
/// decimals, its vertices rounded to 1e-5 degree so that its slanted edges pass through many
/// points of the 1e-7 grid, to be tested exactly on the boundary.
pub fn star() -> String {
    let mut points: Vec<String> = (0..10)
        .map(|i| {
            let angle = std::f64::consts::PI / 5.0 * f64::from(i);
            let r = if i % 2 == 0 { 0.5 } else { 0.2 };
            let e5 = |deg: f64| (deg * 1e5).round() / 1e5;
            let p = Point::from_degrees(e5(60.0 + r * angle.cos()), e5(10.0 + r * angle.sin())).unwrap();
            text7(p)
        })
        .collect();
    points.push(points[0].clone());
    points.join(" ")
}

pub fn polygon(text: &str) -> Area {
    Area::from(Polygon::parse(text).unwrap())
}

pub fn circle(text: &str) -> Area {
    Area::from(Circle::parse(text).unwrap())
}

/// A point from CAP text.
pub fn pt(text: &str) -> Point {
    Point::parse(text).unwrap()
}

/// A point as `lat,lon` with exactly 7 decimals each, as the independent checks read it.
pub fn text7(p: Point) -> String {
    format!("{},{}", e7(p.lat_e7), e7(p.lon_e7))
}

fn e7(v: i32) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let m = v.unsigned_abs();
    format!("{sign}{}.{:07}", m / 10_000_000, m % 10_000_000)
}

/// SplitMix64: a small generator whose sequence never changes, so a seed reproduces a run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A point, clamping the latitude and wrapping the longitude into range.
pub fn wrapped(lat_e7: i64, lon_e7: i64) -> Point {
    let lat = lat_e7.clamp(-900_000_000, 900_000_000);
    let lon = (lon_e7 + 1_800_000_000).rem_euclid(3_600_000_000) - 1_800_000_000;
    Point::new(lat as i32, lon as i32).unwrap()
}

/// `count` points for a polygon: every vertex, a sixth exactly on an edge (the points of the
/// 1e-7 grid on it), a sixth within 2e-7 degree of an edge, the rest uniform in its bounding
/// box grown by a tenth.
pub fn points_near_polygon(polygon: &Polygon, count: usize, rng: &mut Rng) -> Vec<Point> {
    let (sw, ne) = polygon.bounds();
    let (h, w) = (i64::from(ne.lat_e7 - sw.lat_e7), i64::from(ne.lon_e7 - sw.lon_e7));
    let mut out: Vec<Point> = polygon.points().to_vec();
    let edges: Vec<(Point, Point)> = polygon.edges().collect();
    while out.len() < count {
        if out.len().is_multiple_of(6) {
            let (a, b) = edges[rng.range(0, edges.len() as i64 - 1) as usize];
            let (d_lat, d_lon) = (i64::from(b.lat_e7 - a.lat_e7), i64::from(b.lon_e7 - a.lon_e7));
            let g = gcd(d_lat.unsigned_abs(), d_lon.unsigned_abs()).max(1) as i64;
            let k = rng.range(0, g);
            out.push(wrapped(i64::from(a.lat_e7) + d_lat / g * k, i64::from(a.lon_e7) + d_lon / g * k));
        } else if out.len() % 6 == 3 {
            let (a, b) = edges[rng.range(0, edges.len() as i64 - 1) as usize];
            let t = rng.unit();
            let lerp = |u: i32, v: i32| f64::from(u) + t * (f64::from(v) - f64::from(u));
            let (lat, lon) =
                (lerp(a.lat_e7, b.lat_e7).round() as i64, lerp(a.lon_e7, b.lon_e7).round() as i64);
            out.push(wrapped(lat + rng.range(-2, 2), lon + rng.range(-2, 2)));
        } else {
            let lat = rng.range(i64::from(sw.lat_e7) - h / 10, i64::from(ne.lat_e7) + h / 10);
            let lon = rng.range(i64::from(sw.lon_e7) - w / 10, i64::from(ne.lon_e7) + w / 10);
            out.push(wrapped(lat, lon));
        }
    }
    out
}

/// The point `distance_m` from `from` on the initial bearing `bearing` (radians), on the
/// same sphere as [`distance_m`], rounded to 1e-7 degree.
pub fn destination(from: Point, bearing: f64, distance_m: f64) -> Point {
    let delta = distance_m / varsel_geo::limits::EARTH_RADIUS_M;
    let (lat1, lon1) = (from.lat_degrees().to_radians(), from.lon_degrees().to_radians());
    let lat2 = (lat1.sin() * delta.cos() + lat1.cos() * delta.sin() * bearing.cos()).asin();
    let lon2 = lon1 + (bearing.sin() * delta.sin() * lat1.cos()).atan2(delta.cos() - lat1.sin() * lat2.sin());
    let e7 = |rad: f64| (rad.to_degrees() * 1e7).round() as i64;
    wrapped(e7(lat2), e7(lon2))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `count` points for a circle: half within 40 m of its edge on random bearings, the rest
/// uniform in the latitudes it reaches (and 0.1° beyond) and in longitudes around it (every
/// longitude if it is wide or near a pole).
pub fn points_near_circle(circle: &Circle, count: usize, rng: &mut Rng) -> Vec<Point> {
    let r = f64::from(circle.radius_m);
    let reach_deg = (r / varsel_geo::limits::EARTH_RADIUS_M).to_degrees() + 0.1;
    let c = circle.center;
    let (lat_lo, lat_hi) = (c.lat_degrees() - reach_deg, c.lat_degrees() + reach_deg);
    let cos = lat_lo.abs().max(lat_hi.abs()).min(90.0).to_radians().cos();
    let lon_reach = if cos < 0.05 || reach_deg / cos >= 180.0 { 180.0 } else { reach_deg / cos };
    let mut out = vec![c];
    while out.len() < count {
        if out.len().is_multiple_of(2) {
            let d = (r + (rng.unit() - 0.5) * 80.0).max(0.0);
            out.push(destination(c, rng.unit() * std::f64::consts::TAU, d));
        } else {
            let lat = lat_lo + rng.unit() * (lat_hi - lat_lo);
            let lon = c.lon_degrees() + (rng.unit() * 2.0 - 1.0) * lon_reach;
            out.push(wrapped((lat * 1e7).round() as i64, (lon * 1e7).round() as i64));
        }
    }
    out
}

/// Points near any area.
pub fn points_near(area: &Area, count: usize, rng: &mut Rng) -> Vec<Point> {
    match area {
        Area::Polygon(p) => points_near_polygon(p, count, rng),
        Area::Circle(c) => points_near_circle(c, count, rng),
    }
}

/// The run holding `p`'s cell, if any (runs sorted by row and column).
pub fn run_of(runs: &[CellRun], p: Point) -> Option<&CellRun> {
    let cell = cell_of(p);
    let i = runs.partition_point(|r| (r.row, r.col_hi) < (cell.row, cell.col));
    runs.get(i).filter(|r| r.holds(cell))
}

/// Checks that `runs` is a sound cover of `area` for `points`, well-formed, and within the
/// area's bound: every contained point's cell is in a run, every point in an inside run is
/// contained, and so are the corners of every inside run's end cells.
pub fn check_cover(area: &Area, runs: &[CellRun], points: &[Point]) -> Result<(), String> {
    for pair in runs.windows(2) {
        if (pair[0].row, pair[0].col_hi) >= (pair[1].row, pair[1].col_lo) {
            return Err(format!("runs out of order or overlapping: {:?} then {:?}", pair[0], pair[1]));
        }
    }
    for run in runs {
        if run.col_lo > run.col_hi || run.col_hi >= COLS || run.row >= ROWS {
            return Err(format!("run out of the grid: {run:?}"));
        }
    }
    let bound = area.cover_bound();
    let cells: u64 = runs.iter().map(|r| u64::from(r.cells())).sum();
    let rows = runs.first().map_or(0, |f| u32::from(runs[runs.len() - 1].row - f.row) + 1);
    if runs.len() as u64 > bound.runs_max || cells > bound.cells_max || rows > bound.rows {
        return Err(format!("{} runs, {cells} cells, {rows} rows exceed {bound:?}", runs.len()));
    }
    for &p in points {
        let run = run_of(runs, p);
        if area.contains(p) && run.is_none() {
            return Err(format!("{} is contained but its cell {:?} is in no run", text7(p), cell_of(p)));
        }
        if run.is_some_and(|r| r.inside) && !area.contains(p) {
            return Err(format!("{} is in an inside run {run:?} but not contained", text7(p)));
        }
    }
    for run in runs.iter().filter(|r| r.inside) {
        for col in [run.col_lo, run.col_hi] {
            let cell = varsel_geo::Cell { row: run.row, col };
            let (sw, ne) = (cell.south_west(), cell.north_east());
            let corners = [
                sw,
                ne,
                Point { lat_e7: sw.lat_e7, lon_e7: ne.lon_e7 },
                Point { lat_e7: ne.lat_e7, lon_e7: sw.lon_e7 },
            ];
            if let Some(p) = corners.iter().find(|p| !area.contains(**p)) {
                return Err(format!("corner {} of inside run {run:?} is not contained", text7(*p)));
            }
        }
    }
    Ok(())
}

/// The haversine distance, for messages.
pub fn metres(a: Point, b: Point) -> f64 {
    distance_m(a, b)
}
