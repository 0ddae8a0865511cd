//! The node's own metrics: Raft, storage, process and trace export.
//!
//! Raft gauges, storage and process figures are read when scraped, so a scrape sees the state of
//! that moment. Transitions (a new term, a new leader) are counted by [`follow_raft`], which
//! watches openraft's metrics channel. Every name is listed, with what to alert on, in
//! `docs/operations/monitoring.md`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use openraft::RaftMetrics;
use tokio::sync::watch;
use varsel_raft_store::{NodeId, VarselNode};

use super::{Counter, Gauge, GaugeVec, Metrics};
use crate::health::role_name;
use crate::replica::Replica;
use crate::telemetry::export::STATS;

/// Shortest time between two looks at Raft's metrics for transitions. Raft publishes them on
/// every turn of its loop, thousands of times a second under load; looking at most this often
/// bounds the cost. The watch channel keeps the latest value, so a transition is missed only when
/// another follows it within this time (two elections in 50 ms count as one).
pub const RAFT_METRICS_MIN_INTERVAL: Duration = Duration::from_millis(50);

/// Raft roles, each a series of `varsel_raft_state`.
const ROLES: [&str; 5] = ["leader", "follower", "candidate", "learner", "shutdown"];

/// The Raft gauges of one node, set from openraft's metrics at every scrape.
#[derive(Debug, Clone)]
struct RaftGauges {
    term: Gauge,
    is_leader: Gauge,
    leader_id: Gauge,
    state: GaugeVec,
    last_log_index: Gauge,
    applied_index: Gauge,
    snapshot_index: Gauge,
    purged_index: Gauge,
    commit_index: GaugeVec,
    replication_lag: GaugeVec,
    quorum_ack_age: GaugeVec,
    voters: Gauge,
    learners: Gauge,
}

/// The Raft transition counters, kept by [`follow_raft`].
#[derive(Debug, Clone)]
pub struct RaftTransitions {
    elections: Counter,
    leader_changes: Counter,
}

/// Registers the Raft families of `replica` in `m`: the gauges are refreshed at every scrape; the
/// returned counters are for [`follow_raft`].
pub fn register_raft(m: &Metrics, replica: &Arc<Replica>) -> RaftTransitions {
    let gauges = RaftGauges::register(m);
    let r = replica.clone();
    let offset = m.gauge(
        "varsel_clock_offset_ms",
        "This node's wall clock minus the log's clock as it tells it (latest applied leader stamp plus monotonic time since), ms.",
    );
    let skew = m.gauge(
        "varsel_clock_skew_ms",
        "This node's wall clock minus the median of the cluster's wall clocks (probed over the Raft port), ms; 0 while too few peers answered to tell.",
    );
    let apply_wait = m.gauge(
        "varsel_raft_apply_wait_max_ms",
        "Longest time applying committed entries waited for the apply gate since the node started, ms (snapshot builds hold it only to start their point-in-time cut; installations hold it throughout).",
    );
    let disk_free = m.gauge(
        "varsel_disk_free_bytes",
        "Bytes free on the data directory's filesystem at the last check (every 500 ms).",
    );
    let disk_full = m.gauge(
        "varsel_disk_full",
        "1 while the data disk has less than storage.min_free_bytes free: the node refuses client writes, takes no log entries, sends nothing and is unready.",
    );
    let out_of_bounds = m.gauge(
        "varsel_clock_out_of_bounds",
        "1 when |varsel_clock_skew_ms| is above raft.max_clock_skew_ms (the node is unready and stands for no election), else 0.",
    );
    // The leader-only families are cleared and refilled here; scrapes are serialised by the
    // registry, so no scrape sees them half-done.
    m.on_scrape(move || {
        gauges.update(&r.raft.metrics().borrow().clone());
        offset.set(r.clock_offset_ms() as f64);
        apply_wait.set(r.state.longest_apply_wait_ms() as f64);
        disk_free.set(r.disk.free_bytes() as f64);
        disk_full.set(if r.disk.is_full() { 1.0 } else { 0.0 });
        let clock = r.clocks.last();
        skew.set(clock.map_or(0.0, |j| j.skew_ms as f64));
        out_of_bounds.set(if clock.is_some_and(|j| j.out_of_bounds) { 1.0 } else { 0.0 });
    });
    RaftTransitions {
        elections: m.counter(
            "varsel_raft_elections_total",
            "New terms this node has entered since it started (each is an election somewhere in the cluster).",
        ),
        leader_changes: m.counter(
            "varsel_raft_leader_changes_total",
            "Times the leader this node knows of changed to another node (the first one after start included).",
        ),
    }
}

impl RaftGauges {
    fn register(m: &Metrics) -> Self {
        Self {
            term: m.gauge("varsel_raft_term", "Current Raft term of this node."),
            is_leader: m.gauge("varsel_raft_is_leader", "1 when this node is the Raft leader, else 0."),
            leader_id: m.gauge("varsel_raft_leader_id", "Id of the leader this node knows of; 0 when none."),
            state: m.gauge_vec(
                "varsel_raft_state",
                "1 for this node's current Raft role, 0 for the others.",
                &["state"],
            ),
            last_log_index: m
                .gauge("varsel_raft_last_log_index", "Index of the last entry in this node's log."),
            applied_index: m
                .gauge("varsel_raft_applied_index", "Index of the last entry applied to the state machine."),
            snapshot_index: m
                .gauge("varsel_raft_snapshot_index", "Last log index included in the latest snapshot."),
            purged_index: m
                .gauge("varsel_raft_purged_index", "Last log index purged from the log (inclusive)."),
            commit_index: m.gauge_vec(
                "varsel_raft_commit_index",
                "Highest index stored by a majority of voters. Exported by the leader only.",
                &[],
            ),
            replication_lag: m.gauge_vec(
                "varsel_raft_replication_lag_entries",
                "Entries the follower is behind the leader's log. Exported by the leader only.",
                &["follower"],
            ),
            quorum_ack_age: m.gauge_vec(
                "varsel_raft_quorum_ack_age_seconds",
                "Time since a quorum last acknowledged this leader. Exported by the leader only.",
                &[],
            ),
            voters: m
                .gauge("varsel_raft_membership_voters", "Voting members in the membership this node knows."),
            learners: m.gauge(
                "varsel_raft_membership_learners",
                "Non-voting members in the membership this node knows.",
            ),
        }
    }

    fn update(&self, m: &RaftMetrics<NodeId, VarselNode>) {
        let role = role_name(m.state);
        self.term.set_u64(m.current_term);
        self.is_leader.set(if m.current_leader == Some(m.id) { 1.0 } else { 0.0 });
        self.leader_id.set_u64(m.current_leader.unwrap_or(0));
        for r in ROLES {
            self.state.with(&[r]).set(if r == role { 1.0 } else { 0.0 });
        }
        let last = m.last_log_index.unwrap_or(0);
        self.last_log_index.set_u64(last);
        self.applied_index.set_u64(m.last_applied.map_or(0, |l| l.index));
        self.snapshot_index.set_u64(m.snapshot.map_or(0, |l| l.index));
        self.purged_index.set_u64(m.purged.map_or(0, |l| l.index));
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        self.voters.set_u64(voters.len() as u64);
        self.learners.set_u64(membership.learner_ids().count() as u64);
        self.leader_figures(m, &voters, last);
    }
    /// Commit index, replication lag and quorum age, on the leader only.
    fn leader_figures(&self, m: &RaftMetrics<NodeId, VarselNode>, voters: &BTreeSet<NodeId>, last: u64) {
        let Some(replication) = m.replication.as_ref().filter(|_| m.current_leader == Some(m.id)) else {
            self.commit_index.clear();
            self.replication_lag.clear();
            self.quorum_ack_age.clear();
            return;
        };
        let mut matched: Vec<u64> = replication
            .iter()
            .filter(|(id, _)| voters.contains(id))
            .map(|(_, l)| l.map_or(0, |l| l.index))
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(c) = matched.get(voters.len() / 2) {
            self.commit_index.with(&[]).set_u64(*c);
        }
        self.replication_lag.clear();
        for (id, matched) in replication.iter().filter(|(id, _)| **id != m.id) {
            let lag = last.saturating_sub(matched.map_or(0, |l| l.index));
            self.replication_lag.with(&[&id.to_string()]).set_u64(lag);
        }
        match m.millis_since_quorum_ack {
            Some(ms) => self.quorum_ack_age.with(&[]).set(ms as f64 / 1000.0),
            None => self.quorum_ack_age.clear(),
        }
    }
}

/// What [`follow_raft`] remembers between updates to count transitions.
#[derive(Debug, Default)]
struct Seen {
    term: Option<u64>,
    leader: Option<NodeId>,
}

impl RaftTransitions {
    fn count(&self, m: &RaftMetrics<NodeId, VarselNode>, seen: &mut Seen) {
        if let Some(prev) = seen.term
            && m.current_term > prev
        {
            self.elections.inc_by(m.current_term - prev);
        }
        seen.term = Some(m.current_term);
        if let Some(l) = m.current_leader
            && seen.leader != Some(l)
        {
            self.leader_changes.inc();
            seen.leader = Some(l);
        }
    }
}

/// Counts Raft's transitions (new terms, new leaders) until `stop` turns true or Raft stops.
pub async fn follow_raft(
    replica: Arc<Replica>,
    transitions: RaftTransitions,
    mut stop: watch::Receiver<bool>,
) {
    let mut rx = replica.raft.metrics();
    let mut seen = Seen::default();
    loop {
        let m = rx.borrow_and_update().clone();
        transitions.count(&m, &mut seen);
        tokio::time::sleep(RAFT_METRICS_MIN_INTERVAL).await;
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Registers the figures read at scrape time: node identity, storage, process, trace export.
pub fn register_scraped(m: &Metrics, replica: &Arc<Replica>) {
    let info =
        m.gauge_vec("varsel_node_info", "Always 1; labels name this node.", &["node_id", "site", "version"]);
    info.with(&[&replica.id.to_string(), &replica.config.site, env!("CARGO_PKG_VERSION")]).set(1.0);
    let started = varsel_domain::clock::wall_ms() as f64 / 1000.0;
    m.gauge("varsel_node_start_time_seconds", "When this node started, in seconds since the Unix epoch.")
        .set(started);

    let storage = m.gauge(
        "varsel_storage_size_bytes",
        "Bytes the store (sled, holding the state, and the Raft log's segment files) occupies on disk.",
    );
    let r = replica.clone();
    m.on_scrape(move || storage.set_u64(r.storage_bytes()));

    let expiry = m.gauge(
        "varsel_tls_certificate_expiry_timestamp_seconds",
        "When the node certificate in use stops being valid, in seconds since the Unix epoch (absent without TLS).",
    );
    let r = replica.clone();
    m.on_scrape(move || {
        if let Some(not_after) = r.tls.not_after_s() {
            expiry.set(not_after as f64);
        }
    });

    let rss = m.gauge("process_resident_memory_bytes", "Resident memory of the node process.");
    let vms = m.gauge("process_virtual_memory_bytes", "Virtual memory of the node process.");
    let fds = m.gauge("process_open_fds", "Open file descriptors (files, sockets) of the node process.");
    m.on_scrape(move || {
        if let Some((rss_bytes, vm_bytes)) = process_memory() {
            rss.set_u64(rss_bytes);
            vms.set_u64(vm_bytes);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            fds.set_u64(dir.count() as u64);
        }
    });
    register_export(m);
}

fn register_export(m: &Metrics) {
    let exported = m.counter("varsel_otel_spans_exported_total", "Spans the OTLP collector accepted.");
    let dropped = m.counter_vec(
        "varsel_otel_spans_dropped_total",
        "Spans dropped: queue_full (export not keeping up or collector down) or export_failed.",
        &["reason"],
    );
    let failures =
        m.counter("varsel_otel_export_failures_total", "OTLP export calls that failed or timed out.");
    let queued = m.gauge("varsel_otel_queue_spans", "Spans waiting for export.");
    let capacity =
        m.gauge("varsel_otel_queue_capacity_spans", "Bound of the span export queue (0: not exporting).");
    let (full, failed) = (dropped.with(&["queue_full"]), dropped.with(&["export_failed"]));
    m.on_scrape(move || {
        exported.observe_total(STATS.exported.load(Ordering::Relaxed));
        full.observe_total(STATS.dropped_queue_full.load(Ordering::Relaxed));
        failed.observe_total(STATS.dropped_export_failed.load(Ordering::Relaxed));
        failures.observe_total(STATS.export_failures.load(Ordering::Relaxed));
        queued.set_u64(STATS.queued.load(Ordering::Relaxed));
        capacity.set_u64(STATS.queue_capacity.load(Ordering::Relaxed));
    });
}

/// (resident, virtual) bytes from `/proc/self/status`; `None` where there is no procfs.
pub fn process_memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((kib("VmRSS:")? * 1024, kib("VmSize:")? * 1024))
}
