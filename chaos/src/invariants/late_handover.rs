//! No message handed over after its lease deadline: every node's
//! `varsel_delivery_late_handovers_total` is 0 at the end of the run.
//!
//! The counter is the delivery engine's audit of its own fence: as each provider call begins,
//! the node reads its monotonic clock and the shard lease's local deadline again, apart from
//! the fence's decision, and counts a call that begins after the deadline
//! (`delivery/src/actors/fence.rs`). So a fence that lets a call through too late shows here,
//! even where no duplicate reached a handset.
//!
//! A killed node restarts with its counters at 0, so the harness reads the victim's counter
//! just before each kill (`FaultRecord::late_handovers_before`) and adds it. The limit: a call
//! that begins in the instant between that read and the SIGKILL is not seen (and a kill whose
//! victim did not answer the read is counted as unsampled in the figures).

use serde::Serialize;

use super::{Evidence, Verdict, first};
use crate::backend::NodeInfo;
use crate::metrics::MetricsReader;

/// Name in reports.
pub const NAME: &str = "no message handed over after its lease deadline";

/// The nodes' counter.
pub const METRIC: &str = "varsel_delivery_late_handovers_total";

/// One node's count.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct NodeLate {
    /// The node.
    pub node: u64,
    /// Its counter at the end of the run (since its last start); `None` when unreadable.
    pub at_end: Option<u64>,
    /// The sum of its counter read just before each time it was killed.
    pub before_kills: u64,
    /// Why the end read failed, when it did.
    pub error: Option<String>,
}

/// What the check read.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LateHandoverFigures {
    /// Provider calls that began after their lease's deadline, over all nodes and lives.
    pub total: u64,
    /// Per node.
    pub nodes: Vec<NodeLate>,
    /// Kills whose victim's counter was read just before.
    pub kills_sampled: u64,
    /// Kills whose victim did not answer that read (what it counted is unknown).
    pub kills_unsampled: u64,
}

/// Reads `node`'s counter now; an error when the node does not answer or does not export it.
pub async fn read(node: &NodeInfo) -> Result<u64, String> {
    let scrape = MetricsReader::for_node(node)?.read().await?;
    scrape
        .sum(METRIC, &[])
        .map(|v| v as u64)
        .ok_or_else(|| format!("node {} does not export {METRIC} (a varsel older than the check?)", node.id))
}

/// Checks it.
pub fn check(e: &Evidence) -> (Verdict, LateHandoverFigures) {
    let mut f = LateHandoverFigures::default();
    f.kills_sampled = e.late_before_kills.iter().filter(|(_, v)| v.is_some()).count() as u64;
    f.kills_unsampled = e.late_before_kills.len() as u64 - f.kills_sampled;
    let mut problems = Vec::new();
    for (node, at_end) in &e.late_at_end {
        let before_kills: u64 =
            e.late_before_kills.iter().filter(|(n, _)| n == node).filter_map(|(_, v)| *v).sum();
        let (at_end, error) = match at_end {
            Ok(v) => (Some(*v), None),
            Err(why) => {
                problems.push(format!("node {node}: {why}"));
                (None, Some(why.clone()))
            }
        };
        let late = at_end.unwrap_or(0) + before_kills;
        if late > 0 {
            problems.push(format!("node {node}: {late} provider calls began after their lease's deadline"));
        }
        f.total += late;
        f.nodes.push(NodeLate { node: *node, at_end, before_kills, error });
    }
    let ok = problems.is_empty();
    let per_node: Vec<String> = f
        .nodes
        .iter()
        .map(|n| {
            format!(
                "{}: {}",
                n.node,
                n.at_end.map_or_else(|| "?".into(), |v| (v + n.before_kills).to_string())
            )
        })
        .collect();
    let detail = format!(
        "{} provider calls began after their lease's deadline (per node {}; {} kills read just before, {} not){}",
        f.total,
        per_node.join(", "),
        f.kills_sampled,
        f.kills_unsampled,
        if ok { String::new() } else { format!(": {}", first(&problems, 5)) }
    );
    (Verdict::new(NAME, ok, detail), f)
}
