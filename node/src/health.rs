//! Readiness: whether this node should be sent client traffic now.
//!
//! A node is **ready** when all of these hold, as far as it knows:
//!
//! 1. Raft is running;
//! 2. the cluster is initialised (a membership has been committed);
//! 3. this node is a member of it (voter or learner);
//! 4. a leader is known;
//! 5. if this node is the leader: a quorum acknowledged it within the leader lease
//!    (`raft.election_timeout_max_ms`): a leader cut off from the other sites keeps its role in
//!    openraft, but the followers elect another once the lease is over, so it must not count as
//!    ready;
//! 6. it has applied its log up to [`READY_MAX_APPLY_LAG_ENTRIES`] entries from the end;
//! 7. its data disk is not full (`storage.min_free_bytes`, see [`crate::disk`]);
//! 8. its wall clock is within `raft.max_clock_skew_ms` of the cluster's median (see
//!    [`crate::raft::clock`]; unknown counts as within).
//!
//! Rule 6 is measured against this node's own log, the best it knows of the leader's commit
//! index (openraft 0.9 does not expose a follower's commit index). A follower catching up after a
//! long absence receives the log in batches and may count as ready between two of them; the
//! leader's `varsel_raft_replication_lag_entries{follower}` shows the true distance.
//!
//! The same rule drives `/readyz` and the gRPC health service: [`follow_readiness`] marks the
//! overall service (`""`) and `varsel.kv.v1.Kv` NOT_SERVING while the node is not ready.
//! `ClusterAdmin` stays SERVING: operators must be able to reach a node that is not ready, if
//! only to initialise the cluster.

use std::sync::Arc;
use std::time::Duration;

use openraft::{RaftMetrics, ServerState};
use serde::Serialize;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use varsel_proto::kv::kv_server::KvServer;
use varsel_raft_store::{NodeId, VarselNode};

use crate::api::kv::KvService;
use crate::metrics::Gauge;
use crate::raft::clock::Judgement;
use crate::replica::Replica;

/// Most log entries a ready node may have left to apply: a fraction of a second of writes at the
/// rates we measure, so readiness does not flap under load, yet far less than a node that is
/// catching up has outstanding.
pub const READY_MAX_APPLY_LAG_ENTRIES: u64 = 1_000;

/// How often [`follow_readiness`] re-evaluates the rule.
pub const READINESS_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The outcome of the readiness rule, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// Whether the node is ready.
    pub ready: bool,
    /// Why not (empty when ready).
    pub reason: String,
    /// This node.
    pub node_id: NodeId,
    /// Its Raft role.
    pub role: &'static str,
    /// The leader it knows of.
    pub leader_id: Option<NodeId>,
    /// Its current term.
    pub term: u64,
    /// Last index in its log.
    pub last_log_index: u64,
    /// Last index it applied.
    pub applied_index: u64,
}

/// Applies the readiness rule to a snapshot of Raft's metrics. `lease` is the leader lease.
pub fn evaluate(m: &RaftMetrics<NodeId, VarselNode>, lease: Duration) -> Readiness {
    let last_log_index = m.last_log_index.unwrap_or(0);
    let applied_index = m.last_applied.map_or(0, |l| l.index);
    let membership = m.membership_config.membership();
    let lag = last_log_index.saturating_sub(applied_index);
    let reason = if let Err(e) = &m.running_state {
        format!("raft has stopped: {e}")
    } else if m.membership_config.log_id().is_none() {
        "the cluster is not initialised (run `varsel cluster init`)".to_string()
    } else if membership.get_node(&m.id).is_none() {
        format!("node {} is not a member of the cluster", m.id)
    } else if m.current_leader.is_none() {
        "no leader is known: an election is running or no quorum of sites is reachable".to_string()
    } else if m.current_leader == Some(m.id)
        && m.millis_since_quorum_ack.is_none_or(|ms| u128::from(ms) > lease.as_millis())
    {
        format!(
            "this leader has no quorum acknowledgement within the lease of {} ms (last: {})",
            lease.as_millis(),
            m.millis_since_quorum_ack.map_or("never".to_string(), |ms| format!("{ms} ms ago"))
        )
    } else if lag > READY_MAX_APPLY_LAG_ENTRIES {
        format!("{lag} log entries not applied yet (at most {READY_MAX_APPLY_LAG_ENTRIES} allowed)")
    } else {
        String::new()
    };
    Readiness {
        ready: reason.is_empty(),
        reason,
        node_id: m.id,
        role: role_name(m.state),
        leader_id: m.current_leader,
        term: m.current_term,
        last_log_index,
        applied_index,
    }
}

/// The readiness of `replica` now.
pub fn readiness(replica: &Replica) -> Readiness {
    let lease = Duration::from_millis(replica.config.raft.election_timeout_max_ms);
    let mut r = evaluate(&replica.raft.metrics().borrow(), lease);
    if let Some(reason) = replica.disk.refusal(replica.id).filter(|_| r.ready) {
        r.ready = false;
        r.reason = reason;
    }
    with_clock(r, replica.clocks.last(), replica.clocks.max_skew_ms())
}

/// `r`, made unready when this node's clock is out of bounds against the cluster's median (a
/// node with a wrong clock shows wrong times to the people it serves, and should not be sent
/// work by a load balancer).
pub fn with_clock(mut r: Readiness, clock: Option<Judgement>, max_skew_ms: u64) -> Readiness {
    if let Some(j) = clock.filter(|j| j.out_of_bounds && r.ready) {
        r.ready = false;
        r.reason = format!(
            "this node's wall clock is {} ms from the median of the cluster's clocks (at most {max_skew_ms} ms \
             allowed, raft.max_clock_skew_ms): fix its time source (NTP)",
            j.skew_ms
        );
    }
    r
}

/// Raft role as shown to operators.
pub fn role_name(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

/// Keeps the gRPC health statuses and `varsel_node_ready` in step with the readiness rule until
/// `stop` turns true; logs every change with its reason.
pub async fn follow_readiness(
    replica: Arc<Replica>,
    reporter: HealthReporter,
    ready_gauge: Gauge,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(READINESS_POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<bool> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let r = readiness(&replica);
        ready_gauge.set(if r.ready { 1.0 } else { 0.0 });
        if last == Some(r.ready) {
            continue;
        }
        last = Some(r.ready);
        let status = if r.ready { ServingStatus::Serving } else { ServingStatus::NotServing };
        reporter.set_service_status("", status).await;
        if r.ready {
            reporter.set_serving::<KvServer<KvService>>().await;
            tracing::info!(role = r.role, leader = ?r.leader_id, "node is ready");
        } else {
            reporter.set_not_serving::<KvServer<KvService>>().await;
            tracing::warn!(reason = %r.reason, "node is not ready");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership};

    use super::*;

    const LEASE: Duration = Duration::from_millis(800);

    fn node() -> VarselNode {
        VarselNode { site: "s".into(), api_addr: "a:1".into(), raft_addr: "a:2".into() }
    }

    /// Metrics of node 1 in an initialised three-node cluster led by node 2, fully applied.
    fn healthy_follower() -> RaftMetrics<NodeId, VarselNode> {
        let mut m = RaftMetrics::new_initial(1);
        let nodes: BTreeMap<NodeId, VarselNode> = (1..=3).map(|i| (i, node())).collect();
        let membership = Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes);
        let log_id = LogId::new(CommittedLeaderId::new(1, 2), 1);
        m.membership_config = Arc::new(StoredMembership::new(Some(log_id), membership));
        m.current_leader = Some(2);
        m.current_term = 1;
        m.last_log_index = Some(10);
        m.last_applied = Some(LogId::new(CommittedLeaderId::new(1, 2), 10));
        m
    }

    /// Goal: each rule, broken alone, makes the node not ready with a reason naming it.
    #[test]
    fn each_rule_is_checked() {
        assert!(evaluate(&healthy_follower(), LEASE).ready);
        let skewed = Judgement { skew_ms: -90_000, out_of_bounds: true };
        let r = with_clock(evaluate(&healthy_follower(), LEASE), Some(skewed), 1_000);
        assert!(!r.ready && r.reason.contains("-90000 ms from the median"), "{r:?}");
        let fine = Judgement { skew_ms: 900, out_of_bounds: false };
        assert!(with_clock(evaluate(&healthy_follower(), LEASE), Some(fine), 1_000).ready);
        assert!(
            with_clock(evaluate(&healthy_follower(), LEASE), None, 1_000).ready,
            "unknown is not unready"
        );

        let mut m = healthy_follower();
        m.membership_config = Arc::new(StoredMembership::default());
        assert!(evaluate(&m, LEASE).reason.contains("not initialised"));

        let mut m = healthy_follower();
        m.id = 9;
        assert!(evaluate(&m, LEASE).reason.contains("not a member"));

        let mut m = healthy_follower();
        m.current_leader = None;
        assert!(evaluate(&m, LEASE).reason.contains("no leader"));

        let mut m = healthy_follower();
        m.last_log_index = Some(10 + READY_MAX_APPLY_LAG_ENTRIES + 1);
        assert!(evaluate(&m, LEASE).reason.contains("not applied"));
        m.last_log_index = Some(10 + READY_MAX_APPLY_LAG_ENTRIES);
        assert!(evaluate(&m, LEASE).ready, "the bound itself is allowed");
    }

    /// Goal: a leader is ready only while a quorum acknowledged it within the lease.
    #[test]
    fn leader_needs_a_recent_quorum() {
        let mut m = healthy_follower();
        m.id = 2;
        m.state = ServerState::Leader;
        m.millis_since_quorum_ack = Some(50);
        assert!(evaluate(&m, LEASE).ready);
        m.millis_since_quorum_ack = Some(801);
        assert!(evaluate(&m, LEASE).reason.contains("no quorum acknowledgement"));
        m.millis_since_quorum_ack = None;
        assert!(evaluate(&m, LEASE).reason.contains("never"));
    }
}
