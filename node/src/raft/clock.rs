//! The cluster's time: each node probes the others' wall clocks over the Raft port, takes the
//! median, and judges its own clock by it.
//!
//! - **Skew**: a node's wall clock minus the median of the cluster's (its own and those of
//!   the voters it heard within [`FRESH`]). Known only when a majority of the voters was heard
//!   and a majority agrees with the median within `raft.max_clock_skew_ms`; one wrong clock
//!   out of three cannot move the median, two disagreeing clocks out of two heard tell nothing.
//! - **Out of bounds**: a known skew beyond the bound. The node says so on `/readyz`, in
//!   `varsel_clock_skew_ms` and in `varsel cluster status`; it stands for no election; a leader
//!   hands leadership to a voter whose clock agrees after [`STEP_DOWN_ROUNDS`] rounds.
//! - **Stamps** ([`ClockWatch::stamp`]): the leader stamps entries with its log clock (the latest
//!   applied stamp plus its monotonic time since) and its lease clock. Its wall clock is used
//!   only through the median: when the median is ahead of the log's time by more than a
//!   quarter of the bound (a cluster that was stopped, monotonic drift), the log's time steps
//!   forward to it; the lease time never steps. So no single wrong clock, leader or not,
//!   moves the log's time, and a new leader whose clock is behind does not freeze it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use varsel_delivery::engine::LogClock;
use varsel_domain::clock::wall_ms;
use varsel_proto::raft::ClockRequest;
use varsel_raft_store::NodeId;

use crate::replica::Replica;

/// How often a node probes the others.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// A probe that takes longer than this is dropped (its round trip makes it useless).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// A peer's clock counts for the median while its last answer is at most this old.
pub const FRESH: Duration = Duration::from_secs(5);
/// Rounds in a row a leader's clock must be out of bounds before it hands leadership over.
pub const STEP_DOWN_ROUNDS: u32 = 2;

/// What this node knows of the others' clocks.
#[derive(Debug)]
pub struct ClockWatch {
    max_skew_ms: u64,
    /// Per peer: its wall clock (ms) at the moment (our monotonic clock) it was read. Its wall
    /// clock now is carried forward by our monotonic clock, not compared with our wall clock
    /// at the time: a jump of our own clock shows at once, not one probe round later.
    peers: Mutex<BTreeMap<NodeId, (i64, Instant)>>,
    /// The last judgement, for metrics and status: skew (ms) and whether it is known.
    skew_ms: AtomicI64,
    known: AtomicBool,
    rounds_out: AtomicU32,
}

/// The cluster's time as one node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    /// This node's wall clock minus the cluster's median, ms.
    pub skew_ms: i64,
    /// Beyond `raft.max_clock_skew_ms`.
    pub out_of_bounds: bool,
}

impl ClockWatch {
    /// A watch with the bound `max_skew_ms` and no peer heard yet.
    pub fn new(max_skew_ms: u64) -> Self {
        Self {
            max_skew_ms,
            peers: Mutex::default(),
            skew_ms: AtomicI64::new(0),
            known: AtomicBool::new(false),
            rounds_out: AtomicU32::new(0),
        }
    }

    /// The bound, ms.
    pub fn max_skew_ms(&self) -> u64 {
        self.max_skew_ms
    }

    /// Records that `peer`'s wall clock read `wall_ms` at `at` (our monotonic clock).
    pub fn record(&self, peer: NodeId, wall_ms: i64, at: Instant) {
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).insert(peer, (wall_ms, at));
    }

    /// Per fresh peer among `voters` (not `me`): its wall clock now minus ours, ms.
    fn offsets(&self, voters: &BTreeSet<NodeId>, me: NodeId) -> Vec<(NodeId, i64)> {
        let mine = wall_ms() as i64;
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .iter()
            .filter(|(id, (_, at))| **id != me && voters.contains(id) && at.elapsed() <= FRESH)
            .map(|(id, (wall, at))| (*id, wall + at.elapsed().as_millis() as i64 - mine))
            .collect()
    }

    /// The median of the cluster's wall clocks minus ours (ms), when it can be told: `me` and
    /// the voters heard within [`FRESH`] make a majority of `voters`, and a majority of
    /// `voters` lies within the bound of the median.
    pub fn median_offset_ms(&self, voters: &BTreeSet<NodeId>, me: NodeId) -> Option<i64> {
        let mut values: Vec<i64> = vec![0];
        values.extend(self.offsets(voters, me).into_iter().map(|(_, o)| o));
        median_of_majority(values, voters.len(), self.max_skew_ms)
    }

    /// Judges this node's clock now and keeps the judgement for [`ClockWatch::last`].
    pub fn judge(&self, voters: &BTreeSet<NodeId>, me: NodeId) -> Option<Judgement> {
        let judgement = self
            .median_offset_ms(voters, me)
            .map(|m| Judgement { skew_ms: -m, out_of_bounds: m.unsigned_abs() > self.max_skew_ms });
        self.skew_ms.store(judgement.map_or(0, |j| j.skew_ms), Ordering::Relaxed);
        self.known.store(judgement.is_some(), Ordering::Relaxed);
        let out = judgement.is_some_and(|j| j.out_of_bounds);
        if out {
            self.rounds_out.fetch_add(1, Ordering::Relaxed);
        } else {
            self.rounds_out.store(0, Ordering::Relaxed);
        }
        judgement
    }

    /// The last judgement ([`ClockWatch::judge`]), `None` when it could not be told.
    pub fn last(&self) -> Option<Judgement> {
        self.known.load(Ordering::Relaxed).then(|| {
            let skew_ms = self.skew_ms.load(Ordering::Relaxed);
            Judgement { skew_ms, out_of_bounds: skew_ms.unsigned_abs() > self.max_skew_ms }
        })
    }

    /// Rounds in a row the clock was out of bounds.
    pub fn rounds_out(&self) -> u32 {
        self.rounds_out.load(Ordering::Relaxed)
    }

    /// The stamps a leader gives an entry: (log's time, lease time), ms. See the module doc.
    pub fn stamp(&self, log: &LogClock, voters: &BTreeSet<NodeId>, me: NodeId) -> (u64, u64) {
        let (log_now, lease_now) = (log.now_ms(), log.lease_now_ms());
        if log.applied_ms() == 0 {
            // A new cluster: nothing stamped yet, so the first stamp is this node's clock (the
            // median follows as soon as the others are heard).
            return (wall_ms(), lease_now);
        }
        let issued = match self.median_offset_ms(voters, me) {
            Some(m) => {
                let median = (wall_ms() as i64).saturating_add(m).max(0) as u64;
                if median > log_now.saturating_add(self.max_skew_ms / 4) { median } else { log_now }
            }
            None => log_now,
        };
        (issued, lease_now)
    }
}

/// The median of `values` when at least a majority of `voters` values are given and at least
/// that many lie within `bound` of it.
fn median_of_majority(mut values: Vec<i64>, voters: usize, bound: u64) -> Option<i64> {
    let majority = voters / 2 + 1;
    if values.len() < majority {
        return None;
    }
    values.sort_unstable();
    let median = values[values.len() / 2];
    let agree = values.iter().filter(|v| v.abs_diff(median) <= bound).count();
    (agree >= majority).then_some(median)
}

/// Probes every other member once, concurrently; records what answered.
async fn probe_round(replica: &Replica) {
    let m = replica.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let others: Vec<(NodeId, String)> = membership
        .nodes()
        .filter(|(id, _)| **id != replica.id && !replica.faults.blocks_to(**id))
        .map(|(id, n)| (*id, n.raft_addr.clone()))
        .collect();
    let probes = others.into_iter().map(|(id, addr)| async move {
        let Ok(mut client) = replica.peers.raft_client(&addr) else { return };
        let mut req = tonic::Request::new(ClockRequest {});
        req.set_timeout(PROBE_TIMEOUT);
        let sent = Instant::now();
        if let Ok(Ok(reply)) = tokio::time::timeout(PROBE_TIMEOUT, client.clock(req)).await {
            // The peer read its clock about half-way through the round trip.
            let read_at = sent + sent.elapsed() / 2;
            replica.clocks.record(id, reply.into_inner().wall_ms as i64, read_at);
        }
    });
    futures::future::join_all(probes).await;
}

/// Probes the others every [`PROBE_INTERVAL`] for as long as the node runs; keeps a node out of
/// bounds from standing for election and makes a leader out of bounds hand leadership over.
/// Ends when `stop` turns true.
pub fn spawn_probes(
    replica: Arc<Replica>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let handing = Arc::new(AtomicBool::new(false));
        let mut detected: Option<Instant> = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            probe_round(&replica).await;
            let voters = replica.voter_ids();
            let Some(j) = replica.clocks.judge(&voters, replica.id) else { continue };
            if !j.out_of_bounds {
                detected = None;
                continue;
            }
            let since = *detected.get_or_insert_with(Instant::now);
            tracing::warn!(
                skew_ms = j.skew_ms,
                max_skew_ms = replica.clocks.max_skew_ms(),
                "this node's wall clock is out of bounds against the cluster's median"
            );
            // Renewed every round while out of bounds; ends by itself once the clock agrees.
            replica.suppress_elections(PROBE_INTERVAL * 3);
            if replica.is_leader()
                && replica.clocks.rounds_out() >= STEP_DOWN_ROUNDS
                && !handing.swap(true, Ordering::AcqRel)
            {
                let to = agreeing_voter(&replica, &voters);
                let (replica, handing) = (Arc::clone(&replica), Arc::clone(&handing));
                tokio::spawn(async move {
                    step_down(&replica, to, since).await;
                    handing.store(false, Ordering::Release);
                });
            }
        }
    })
}

/// A voter other than this node whose clock lies within the bound of the median, the one
/// nearest to it first.
fn agreeing_voter(replica: &Replica, voters: &BTreeSet<NodeId>) -> Option<NodeId> {
    let median = replica.clocks.median_offset_ms(voters, replica.id)?;
    replica
        .clocks
        .offsets(voters, replica.id)
        .into_iter()
        .map(|(v, o)| (v, o.abs_diff(median)))
        .filter(|(_, d)| *d <= replica.clocks.max_skew_ms())
        .min_by_key(|(v, d)| (*d, *v))
        .map(|(v, _)| v)
}

async fn step_down(replica: &Arc<Replica>, to: Option<NodeId>, detected: Instant) {
    let Some(to) = to else {
        tracing::warn!("this leader's clock is out of bounds, but no voter's clock agrees with the median");
        return;
    };
    match replica.transfer_leader(to).await {
        Ok((leader, term)) => tracing::warn!(
            to = leader,
            term,
            after_ms = detected.elapsed().as_millis() as u64,
            "this leader's wall clock is out of bounds: leadership handed over"
        ),
        Err(e) => {
            tracing::warn!(to, error = %e, "this leader's wall clock is out of bounds; handing over failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the median needs a majority heard and a majority agreeing; one wrong clock of
    /// three does not move it; two clocks that disagree tell nothing.
    #[test]
    fn the_median_of_a_majority() {
        assert_eq!(median_of_majority(vec![0, -90_000, -90_010], 3, 1_000), Some(-90_000));
        assert_eq!(median_of_majority(vec![0, 5, 90_000], 3, 1_000), Some(5));
        assert_eq!(median_of_majority(vec![0, 90_000], 3, 1_000), None, "two disagreeing clocks of three");
        assert_eq!(median_of_majority(vec![0, 300], 3, 1_000), Some(300));
        assert_eq!(median_of_majority(vec![0], 3, 1_000), None, "not a majority heard");
        assert_eq!(median_of_majority(vec![0], 1, 1_000), Some(0), "a single voter");
        assert_eq!(median_of_majority(vec![0, -5_000, 5_000], 3, 1_000), None, "no two agree");
    }

    /// Goal: a node judges itself by the others; a lone wrong clock is out of bounds, and
    /// peers not heard recently or not voters do not count.
    #[test]
    fn judging_a_clock() {
        let voters: BTreeSet<NodeId> = [1, 2, 3].into();
        let w = ClockWatch::new(1_000);
        assert_eq!(w.judge(&voters, 1), None, "nobody heard");
        let (now, wall) = (Instant::now(), wall_ms() as i64);
        w.record(2, wall - 90_000, now);
        w.record(3, wall - 90_050, now);
        w.record(7, wall, now);
        let j = w.judge(&voters, 1).expect("two of three heard");
        assert!(j.out_of_bounds && (89_000..=91_000).contains(&j.skew_ms), "{j:?}");
        assert_eq!(w.rounds_out(), 1);
        w.record(2, wall + 200, now);
        w.record(3, wall - 300, now);
        assert_eq!(w.judge(&voters, 1), Some(Judgement { skew_ms: 0, out_of_bounds: false }));
        assert_eq!(w.rounds_out(), 0);
        // Heard long ago: does not count.
        let long_ago = Instant::now().checked_sub(FRESH * 2).expect("the machine has run 10 s");
        w.record(2, wall, long_ago);
        w.record(3, wall, long_ago);
        assert_eq!(w.judge(&voters, 1), None);
    }
}
