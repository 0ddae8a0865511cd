//! [`Area`]: what an alert targets, a polygon or a circle, with one containment test and one
//! cover for both.
//!
//! ```
//! use varsel_geo::{Area, Circle, Point, cell_of};
//!
//! let area = Area::from(Circle::parse("60.3975,5.3240 1.5").unwrap());
//! let p = Point::parse("60.3990,5.3300").unwrap();
//! assert!(area.contains(p));
//! let runs = area.cover();
//! assert!(runs.iter().any(|run| run.holds(cell_of(p))));
//! let bound = area.cover_bound();
//! assert!(runs.len() as u64 <= bound.runs_max);
//! assert!(runs.iter().map(|run| u64::from(run.cells())).sum::<u64>() <= bound.cells_max);
//! ```

use serde::{Deserialize, Serialize};

use crate::circle::Circle;
use crate::cover;
use crate::grid::{CellRun, CoverBound};
use crate::point::Point;
use crate::polygon::Polygon;

/// The area an alert targets: everyone registered inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Area {
    /// A polygon: planar, boundary included, even-odd rule ([`Polygon`]).
    Polygon(Polygon),
    /// A circle: haversine distance on the mean Earth sphere, boundary included ([`Circle`]).
    Circle(Circle),
}

impl From<Polygon> for Area {
    fn from(polygon: Polygon) -> Self {
        Area::Polygon(polygon)
    }
}

impl From<Circle> for Area {
    fn from(circle: Circle) -> Self {
        Area::Circle(circle)
    }
}

impl Area {
    /// Whether the area contains `p`, its boundary included.
    pub fn contains(&self, p: Point) -> bool {
        match self {
            Area::Polygon(polygon) => polygon.contains(p),
            Area::Circle(circle) => circle.contains(p),
        }
    }

    /// The runs of grid cells that hold every point the area contains, ascending by row and
    /// column, not overlapping. A run marked `inside` holds only points the area contains;
    /// the points of the other runs must be tested with [`Area::contains`]. Per row the runs
    /// follow the area's shape, not its bounding box. At most
    /// [`cover_bound`](Area::cover_bound)`().runs_max` runs.
    pub fn cover(&self) -> Vec<CellRun> {
        match self {
            Area::Polygon(polygon) => cover::polygon::cover(polygon),
            Area::Circle(circle) => cover::circle::cover(circle),
        }
    }

    /// Bounds on the cover's rows, runs and cells, computed without it (O(points) for a
    /// polygon, O(1) for a circle), so that a caller can refuse an area that would cost too
    /// much to resolve. A polygon's cover has at most 2 runs per row for each edge crossing
    /// the row; a circle's at most 4 per row, 72 000 in all.
    pub fn cover_bound(&self) -> CoverBound {
        match self {
            Area::Polygon(polygon) => cover::polygon::bound(polygon),
            Area::Circle(circle) => cover::circle::bound(circle),
        }
    }
}
