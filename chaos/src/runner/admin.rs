//! What the harness asks the cluster's admin API during a run: the in-flight window, who
//! leads, which shards a node holds, and when the others took those over. Every call is
//! bounded in time, because the node asked may be the one just killed, stalled or cut off.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use varsel_client::AdminClient;
use varsel_proto::admin::{DeliveryStatusRequest, ShardsRequest, StatusRequest};

use super::RunError;
use crate::backend::{BackendError, NodeInfo};

/// How long to look for a leader before the fault that needs one fails the run.
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the shards a faulted node held to be taken over or finished.
const RESUME_TIMEOUT: Duration = Duration::from_secs(120);

/// An admin client of `node`, if it accepts a connection within two seconds: a node under a
/// fault may not, and the caller then asks another.
async fn admin(node: &NodeInfo) -> Option<AdminClient> {
    let a = &node.access;
    varsel_client::admin_connected(&node.api, &a.trust, &a.superadmin, Duration::from_secs(2)).await.ok()
}

/// One node's in-flight window (messages handed to providers and not yet recorded): the
/// bound on what a faulted node may send again, which the no-loss invariant allows for.
pub(super) async fn in_flight_window(nodes: &[NodeInfo]) -> u64 {
    for n in nodes {
        if let Some(mut a) = admin(n).await
            && let Ok(Ok(r)) =
                tokio::time::timeout(Duration::from_secs(5), a.delivery_status(DeliveryStatusRequest {}))
                    .await
        {
            return r.into_inner().in_flight_window;
        }
    }
    0
}

/// How far apart the nodes' applied indexes may be for the cluster to count as caught up: the
/// lease heartbeats keep coming, so a follower is often an entry or two behind.
const CAUGHT_UP_ENTRIES: u64 = 4;

/// Waits (at most `within`) until every node has applied about as much as the others and
/// counts every node as live (by their heartbeats in the log): after a large contact import a
/// follower may take seconds to apply it, and an alert created meanwhile is split without it
/// (it claims its share too late, and the others take it). Answers whether they caught up.
pub(super) async fn caught_up(nodes: &[NodeInfo], within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        let seen = futures::future::join_all(nodes.iter().map(applied_and_live)).await;
        let known: Vec<(u64, usize)> = seen.iter().flatten().copied().collect();
        let applied = || known.iter().map(|(a, _)| *a);
        if known.len() == nodes.len()
            && known.iter().all(|(_, live)| *live == nodes.len())
            && applied().max().zip(applied().min()).is_some_and(|(hi, lo)| hi - lo <= CAUGHT_UP_ENTRIES)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A node's applied index and how many nodes it counts as live; `None` if it did not answer.
async fn applied_and_live(node: &NodeInfo) -> Option<(u64, usize)> {
    let mut a = admin(node).await?;
    let wait = Duration::from_secs(2);
    let status = tokio::time::timeout(wait, a.status(StatusRequest {})).await.ok()?.ok()?.into_inner();
    let delivery = tokio::time::timeout(wait, a.delivery_status(DeliveryStatusRequest {}))
        .await
        .ok()?
        .ok()?
        .into_inner();
    Some((status.applied_index, delivery.live_nodes.len()))
}

/// The leader, as the first node that answers sees it; retried for [`LEADER_TIMEOUT`]
/// because a leader may have just been killed and the election take a moment.
pub(super) async fn leader(nodes: &[NodeInfo]) -> Result<u64, RunError> {
    let deadline = Instant::now() + LEADER_TIMEOUT;
    while Instant::now() < deadline {
        for n in nodes {
            if let Some(mut a) = admin(n).await
                && let Ok(Ok(s)) =
                    tokio::time::timeout(Duration::from_secs(2), a.status(StatusRequest {})).await
            {
                let s = s.into_inner();
                if s.has_leader {
                    return Ok(s.leader_id);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(BackendError::new("no node knows a leader within 30 s").into())
}

/// The unfinished shards `node` holds, per alert, as some other node sees them (the node
/// itself is about to be faulted, and what matters is who the others think holds them).
pub(super) async fn shards_held_by(nodes: &[NodeInfo], node: u64, alerts: &[u64]) -> BTreeMap<u64, Vec<u32>> {
    let mut held = BTreeMap::new();
    let Some(via) = nodes.iter().find(|n| n.id != node) else { return held };
    let Some(mut a) = admin(via).await else { return held };
    for id in alerts {
        let Ok(Ok(r)) =
            tokio::time::timeout(Duration::from_secs(2), a.shards(ShardsRequest { alert_id: *id })).await
        else {
            continue;
        };
        let r = r.into_inner();
        if r.status != "Active" {
            continue;
        }
        let mine: Vec<u32> =
            r.shards.iter().filter(|s| s.owner == node && !s.done).map(|s| s.shard).collect();
        if !mine.is_empty() {
            held.insert(*id, mine);
        }
    }
    held
}

/// Milliseconds until none of `held` is still held by `victim` (taken over, or finished),
/// seen through any of `nodes`; `None` if that did not happen within [`RESUME_TIMEOUT`].
/// The report's "sending resumed" figure: how long a site's loss stops its alerts.
pub(super) async fn sending_resumed(
    nodes: Vec<NodeInfo>,
    victim: u64,
    held: BTreeMap<u64, Vec<u32>>,
) -> Option<u64> {
    let started = Instant::now();
    while started.elapsed() < RESUME_TIMEOUT {
        for via in &nodes {
            let Some(mut a) = admin(via).await else { continue };
            let Some(still) = still_held(&mut a, victim, &held).await else { continue };
            if !still {
                return Some(started.elapsed().as_millis() as u64);
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// How the cluster judged `victim`'s wrong clock, polling every 100 ms for at most `within`:
/// ms until the node said its clock was out of bounds, and, if it `led`, ms until another node
/// led. The report's figures for a skewed leader: detection, then stepping down.
pub(super) async fn clock_judged(
    nodes: Vec<NodeInfo>,
    victim: u64,
    led: bool,
    within: Duration,
) -> (Option<u64>, Option<u64>) {
    let started = Instant::now();
    let (mut out_of_bounds, mut moved) = (None, None);
    let Some(node) = nodes.iter().find(|n| n.id == victim) else { return (None, None) };
    while started.elapsed() < within && (out_of_bounds.is_none() || (led && moved.is_none())) {
        let elapsed = || Some(started.elapsed().as_millis() as u64);
        if let Some(mut a) = admin(node).await
            && let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(1), a.status(StatusRequest {})).await
        {
            let s = s.into_inner();
            if out_of_bounds.is_none() && s.clock_out_of_bounds {
                out_of_bounds = elapsed();
            }
            if led && moved.is_none() && s.has_leader && s.leader_id != victim {
                moved = elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (out_of_bounds, moved)
}

/// Whether `victim` still holds any of `held` as the node behind `a` sees it; `None` if that
/// node did not answer for every alert (the caller then asks another).
async fn still_held(a: &mut AdminClient, victim: u64, held: &BTreeMap<u64, Vec<u32>>) -> Option<bool> {
    let mut still = false;
    let mut answered = true;
    for (id, shards) in held {
        match tokio::time::timeout(Duration::from_secs(2), a.shards(ShardsRequest { alert_id: *id })).await {
            Ok(Ok(r)) => {
                let r = r.into_inner();
                still |= r.status == "Active"
                    && r.shards.iter().any(|s| shards.contains(&s.shard) && s.owner == victim && !s.done);
            }
            _ => answered = false,
        }
    }
    answered.then_some(still)
}

/// Milliseconds until `victim` says its disk is full (`NodeStatus.disk_full`), polling every
/// 100 ms for at most `within`; `None` if it did not.
pub(super) async fn disk_full_seen(nodes: Vec<NodeInfo>, victim: u64, within: Duration) -> Option<u64> {
    let started = Instant::now();
    let node = nodes.iter().find(|n| n.id == victim)?;
    while started.elapsed() < within {
        if let Some(s) = status(node).await
            && s.disk_full
        {
            return Some(started.elapsed().as_millis() as u64);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Milliseconds from now until `victim` says its disk is no longer full and has applied the
/// index the leader had applied when this was called; `None` if not within
/// [`RESUME_TIMEOUT`]. The report's "caught up after freeing" figure.
pub(super) async fn disk_caught_up(nodes: Vec<NodeInfo>, victim: u64) -> Option<u64> {
    let started = Instant::now();
    let node = nodes.iter().find(|n| n.id == victim)?;
    let mut target = None;
    while started.elapsed() < RESUME_TIMEOUT {
        if target.is_none() {
            for n in nodes.iter().filter(|n| n.id != victim) {
                if let Some(s) = status(n).await
                    && s.has_leader
                    && s.leader_id == n.id
                {
                    target = Some(s.applied_index);
                    break;
                }
            }
        }
        if let Some(t) = target
            && let Some(s) = status(node).await
            && !s.disk_full
            && s.applied_index >= t
        {
            return Some(started.elapsed().as_millis() as u64);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// `node`'s status, if it answers within a second.
async fn status(node: &NodeInfo) -> Option<varsel_proto::admin::NodeStatus> {
    let mut a = admin(node).await?;
    match tokio::time::timeout(Duration::from_secs(1), a.status(StatusRequest {})).await {
        Ok(Ok(s)) => Some(s.into_inner()),
        _ => None,
    }
}
