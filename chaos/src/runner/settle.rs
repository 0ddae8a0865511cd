//! The settle phase: once the faults have stopped, wait (bounded) until every accepted alert
//! has finished and the simulator has delivered every receipt and reply it still holds, so
//! the invariants judge a run that is over rather than one still in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::{Alert, AlertStatus, Consistency, GetAlertRequest};
use varsel_sim::{ReceiptRecord, ReplyRecord, SimClient};

use super::Run;
use crate::backend::NodeInfo;
use crate::load::{Op, OpResult, authed, cluster_from};

/// How long the simulator may take to deliver the callbacks it still has queued.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the cluster and the simulator hold once the run has settled.
#[derive(Debug)]
pub(super) struct Settled {
    /// The alerts read back (linearizably), by id.
    pub(super) alerts: BTreeMap<u64, Alert>,
    /// Accepted alerts that did not finish within the scenario's settle time.
    pub(super) unfinished: Vec<u64>,
    /// Seconds from the end of the faults until every alert had finished (or the wait ended).
    pub(super) settled_s: f64,
    /// Replies (acknowledgements) that a node accepted.
    pub(super) replies: Vec<ReplyRecord>,
    /// Receipts that a node accepted.
    pub(super) receipts: Vec<ReceiptRecord>,
    /// The neighbour tenant's accepted alerts read back, by id (empty without one).
    pub(super) neighbour_alerts: BTreeMap<u64, Alert>,
    /// Per alert of the run's tenant, when it was first seen finished, ms since the run's
    /// start (for the expiry check: the harness's own clock).
    pub(super) final_seen_ms: BTreeMap<u64, u64>,
}

/// The ids of the alerts clients were told were accepted: those the cluster owes delivery.
pub(super) fn accepted(ops: &[Op]) -> BTreeSet<u64> {
    ops.iter()
        .filter_map(|o| match o.result {
            OpResult::Created(id) => Some(id),
            _ => None,
        })
        .collect()
}

/// Waits for the `accepted` alerts to finish (for at most the scenario's `settle_s`), then for
/// the simulator to drain, and reads what both hold.
pub(super) async fn settle(run: &Run<'_>, accepted: &BTreeSet<u64>) -> Settled {
    let settle_started = Instant::now();
    let deadline = settle_started + Duration::from_secs(run.scenario.settle_s);
    let left = deadline.saturating_duration_since(Instant::now());
    let Finished { alerts, pending: mut unfinished, seen_ms: final_seen_ms } =
        wait_finished(&run.nodes, &run.token, accepted, left, run.t0).await;
    // The neighbour's alerts are owed delivery as much, within the same settle time.
    let mut neighbour_alerts = BTreeMap::new();
    if let Some(n) = &run.neighbour {
        let theirs = self::accepted(&n.history.ops());
        let left = deadline.saturating_duration_since(Instant::now());
        let theirs = wait_finished(&run.nodes, &n.token, &theirs, left, run.t0).await;
        neighbour_alerts = theirs.alerts;
        unfinished.extend(theirs.pending);
    }
    let settled_s = settle_started.elapsed().as_secs_f64();
    // Replies the simulator still has queued must land before acknowledgements are judged.
    drain_callbacks(&run.sim, DRAIN_TIMEOUT).await;
    let replies = run.sim.replies().await.map(|r| r.replies).unwrap_or_default();
    let receipts = run.sim.receipts().await.map(|r| r.receipts).unwrap_or_default();
    Settled { alerts, unfinished, settled_s, replies, receipts, neighbour_alerts, final_seen_ms }
}

/// What [`wait_finished`] read.
struct Finished {
    /// Every alert read, by id (finished or not).
    alerts: BTreeMap<u64, Alert>,
    /// Those that did not finish in time.
    pending: Vec<u64>,
    /// When each finished one was first seen finished, ms since the run's start.
    seen_ms: BTreeMap<u64, u64>,
}

/// Waits until every alert in `ids` has finished; returns the alerts read, those that did not
/// finish, and when each was seen finished (`t0`: the run's start).
async fn wait_finished(
    nodes: &[NodeInfo],
    token: &str,
    ids: &BTreeSet<u64>,
    within: Duration,
    t0: Instant,
) -> Finished {
    let deadline = Instant::now() + within;
    let done = [AlertStatus::Completed, AlertStatus::Cancelled, AlertStatus::Expired].map(|s| s as i32);
    let mut alerts = BTreeMap::new();
    let mut seen_ms = BTreeMap::new();
    let mut pending: Vec<u64> = ids.iter().copied().collect();
    let Ok(cluster) = cluster_from(nodes, 0) else { return Finished { alerts, pending, seen_ms } };
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for id in pending {
            let got = cluster
                .call(|ch| {
                    let req =
                        authed(token, GetAlertRequest { id, consistency: Consistency::Linearizable as i32 });
                    async move { AlertServiceClient::new(ch).get_alert(req).await }
                })
                .await;
            match got.ok().and_then(|a| a.value.into_inner().alert) {
                Some(a) if done.contains(&a.status) => {
                    seen_ms.insert(id, t0.elapsed().as_millis() as u64);
                    alerts.insert(id, a);
                }
                Some(a) => {
                    alerts.insert(id, a);
                    still.push(id);
                }
                None => still.push(id),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Finished { alerts, pending, seen_ms }
}

/// Waits (bounded) until the simulator has no receipt or reply left to deliver.
async fn drain_callbacks(sim: &SimClient, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match sim.stats().await {
            Ok(s) if s.callbacks_queued == 0 => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => {
                tracing::warn!(error = %e, "simulator stats unreadable; judging the replies it has listed");
                return;
            }
        }
    }
    tracing::warn!("the simulator still had callbacks queued after {within:?}");
}
