//! The `snapshot` fault: an operator forces a snapshot (`ClusterAdmin.Snapshot`, what
//! `varsel cluster snapshot` calls) on the leader, on one node, or on every node one after the
//! other, the leader first. Each call is timed and its answer kept for the report. The calls
//! run in a task of their own, so the fault schedule goes on while a snapshot is built.

use std::time::{Duration, Instant};

use varsel_proto::admin::SnapshotRequest;

use super::{Run, RunError, admin};
use crate::backend::NodeInfo;
use crate::report::SnapshotCall;
use crate::scenario::Target;

/// How long one call may take: the node's own bound on building a snapshot
/// (`SNAPSHOT_TIMEOUT`, 120 s, in `node/src/replica/admin.rs`) plus time to answer.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(130);

/// The nodes `target` names, in the order they are asked: `all` is the leader and then the
/// others by id; any other target is one node, chosen as for a site fault.
pub(super) async fn order(run: &Run<'_>, target: &Target, pick: u64) -> Result<Vec<u64>, RunError> {
    match target {
        Target::All => {
            let leader = admin::leader(&run.nodes).await?;
            let others = run.nodes.iter().map(|n| n.id).filter(|id| *id != leader);
            Ok(std::iter::once(leader).chain(others).collect())
        }
        Target::Leader => Ok(vec![admin::leader(&run.nodes).await?]),
        other => {
            let recent =
                super::faults::recent_alerts(&run.history, run.t0, run.scenario.load.escalate_after_s);
            Ok(vec![super::faults::choose(&run.nodes, other, pick, &recent).await?])
        }
    }
}

/// Asks each of `nodes` for a snapshot, one after the other; answers every call and when the
/// last one ended (seconds since `t0`, the run's start).
pub(super) async fn force_each(nodes: Vec<NodeInfo>, t0: Instant) -> (Vec<SnapshotCall>, f64) {
    let mut calls = Vec::with_capacity(nodes.len());
    for node in &nodes {
        let call = force_one(node, t0).await;
        tracing::info!(node = call.node, took_ms = call.took_ms, index = ?call.snapshot_index, error = ?call.error, "snapshot forced");
        calls.push(call);
    }
    (calls, t0.elapsed().as_secs_f64())
}

/// One `Snapshot` call on `node`, timed.
async fn force_one(node: &NodeInfo, t0: Instant) -> SnapshotCall {
    let at_s = t0.elapsed().as_secs_f64();
    let started = Instant::now();
    let answer = async {
        let mut a = node.admin().map_err(|e| e.to_string())?;
        a.snapshot(SnapshotRequest {})
            .await
            .map(|r| r.into_inner().snapshot_index)
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
    };
    let result = match tokio::time::timeout(CALL_TIMEOUT, answer).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
    };
    let took_ms = started.elapsed().as_millis() as u64;
    let (snapshot_index, error) = match result {
        Ok(index) => (Some(index), None),
        Err(e) => (None, Some(e)),
    };
    SnapshotCall { node: node.id, at_s, took_ms, snapshot_index, error }
}
