//! The sending sampler: while the run lasts (load, faults and settle), every
//! [`SENDING_SAMPLE_MS`] it reads each node's count of messages handed over
//! (`varsel_delivery_messages_total`, every outcome) and which nodes have work (hold, or held
//! and lost, an unfinished shard of an alert being sent: [`Owners`]), and follows each site's
//! longest stretch without a hand-over while it had work ([`GapTracker`]). Started only when the scenario asks for it
//! ([`Scenario::samples_sending`](crate::scenario::Scenario::samples_sending)).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use varsel_client::AdminClient;
use varsel_proto::admin::{ShardInfo, ShardsRequest};

use super::Run;
use crate::backend::NodeInfo;
use crate::invariants::sending_gap::{GapTracker, SendingGaps};
use crate::load::{History, OpResult};
use crate::metrics::MetricsReader;

/// Interval between samples, ms: a tenth of a second is well under the bound it judges (a
/// lease, seconds), and three scrapes and one `Shards` call per tick stay cheap on two cores.
pub const SENDING_SAMPLE_MS: u64 = 100;

/// How long one `Shards` call may take before the next node is asked (a node building a
/// snapshot may be slow to read its state).
const SHARDS_TIMEOUT: Duration = Duration::from_secs(1);

/// The counter followed.
const SENT_METRIC: &str = "varsel_delivery_messages_total";

/// A running sampler.
#[derive(Debug)]
pub(super) struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<SendingGaps>,
}

impl Sampler {
    /// Starts sampling `run`'s nodes, if its scenario asks for it.
    pub(super) fn start(run: &Run<'_>) -> Option<Self> {
        if !run.scenario.samples_sending() {
            return None;
        }
        let (stop, stopped) = watch::channel(false);
        let follow = Follow {
            nodes: run.nodes.clone(),
            history: run.history.clone(),
            t0: run.t0,
            bound_ms: run.scenario.sending_gap_ms_max,
        };
        Some(Self { stop, task: tokio::spawn(follow.run(stopped)) })
    }

    /// Stops sampling and answers the figures.
    pub(super) async fn finish(self) -> SendingGaps {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the sending sampler failed");
            SendingGaps::default()
        })
    }
}

/// What the sampler follows.
#[derive(Debug)]
struct Follow {
    nodes: Vec<NodeInfo>,
    history: History,
    t0: Instant,
    bound_ms: Option<u64>,
}

impl Follow {
    async fn run(self, mut stopped: watch::Receiver<bool>) -> SendingGaps {
        let readers: Vec<(u64, Option<MetricsReader>)> = self
            .nodes
            .iter()
            .map(|n| {
                let r = MetricsReader::for_node(n);
                if let Err(e) = &r {
                    tracing::warn!(node = n.id, error = %e, "sending sampler: no metrics");
                }
                (n.id, r.ok())
            })
            .collect();
        let admins: Vec<AdminClient> = self.nodes.iter().filter_map(|n| n.admin().ok()).collect();
        let mut trackers: BTreeMap<u64, GapTracker> =
            self.nodes.iter().map(|n| (n.id, GapTracker::default())).collect();
        let mut work: BTreeMap<u64, bool> = BTreeMap::new();
        let mut owners = Owners::default();
        let mut samples = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(SENDING_SAMPLE_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
            let at_ms = self.t0.elapsed().as_millis() as u64;
            let (counts, seen) = tokio::join!(handed_over(&readers), owners.ask(&admins, &self.history));
            if let Some(seen) = seen {
                work = seen;
            }
            for (node, t) in &mut trackers {
                let count = counts.get(node).copied().flatten();
                let holds = work.get(node).copied().unwrap_or(false);
                // The raw samples, for a timeline (RUST_LOG=varsel_chaos::runner::sending=debug).
                tracing::debug!(at_ms, node, ?count, holds, "sending sample");
                t.observe(at_ms, count, holds);
            }
            samples += 1;
        }
        let sites = self.nodes.iter().map(|n| (n.id, n.site.clone())).collect();
        SendingGaps::of(&trackers, &sites, SENDING_SAMPLE_MS, samples, self.bound_ms)
    }
}

/// Each node's count of messages handed over and answered now; `None` for a node that did not
/// answer.
async fn handed_over(readers: &[(u64, Option<MetricsReader>)]) -> BTreeMap<u64, Option<u64>> {
    let reads = join_all(readers.iter().map(|(node, r)| async move {
        let Some(r) = r else { return (*node, None) };
        // The family has no series until the node's first message: an answer without it is 0.
        (*node, r.read().await.ok().map(|e| e.sum(SENT_METRIC, &[]).unwrap_or(0.0) as u64))
    }))
    .await;
    reads.into_iter().collect()
}

/// Who has had each unfinished shard of the alerts being sent: a site that held a shard has
/// work until that shard is done, whoever finishes it. So a site whose shards were taken from
/// it (its leases lapsed while it was alive) keeps its gap open until they are done, instead of
/// looking idle; a site that finished its own shards and waits for the others has none.
#[derive(Debug, Default)]
struct Owners {
    /// Alerts seen finished: not asked about again.
    finished: BTreeSet<u64>,
    /// Per unfinished shard (alert, shard), every node that has held it.
    holders: BTreeMap<(u64, u32), BTreeSet<u64>>,
}

impl Owners {
    /// Takes one alert's status and shards as a node answered them.
    fn see(&mut self, alert: u64, status: &str, shards: &[ShardInfo]) {
        if matches!(status, "Completed" | "Cancelled" | "Expired") {
            self.finished.insert(alert);
            self.holders.retain(|(a, _), _| *a != alert);
            return;
        }
        for s in shards {
            let key = (alert, s.shard);
            if s.done {
                self.holders.remove(&key);
            } else if s.owner != 0 {
                self.holders.entry(key).or_default().insert(s.owner);
            }
        }
    }

    /// The nodes that have work: each has held a shard that is not done yet.
    fn work(&self) -> BTreeMap<u64, bool> {
        self.holders.values().flatten().map(|n| (*n, true)).collect()
    }

    /// Asks the first node that answers for every alert of `history` not yet finished and takes
    /// what it says; answers which nodes have work, or `None` when no node answered.
    async fn ask(&mut self, admins: &[AdminClient], history: &History) -> Option<BTreeMap<u64, bool>> {
        let alerts: BTreeSet<u64> = history
            .ops()
            .into_iter()
            .filter_map(|o| match o.result {
                OpResult::Created(id) => Some(id),
                _ => None,
            })
            .filter(|id| !self.finished.contains(id))
            .collect();
        'nodes: for admin in admins {
            let mut answers = Vec::with_capacity(alerts.len());
            for id in &alerts {
                let mut a = admin.clone();
                let asked = tokio::time::timeout(SHARDS_TIMEOUT, a.shards(ShardsRequest { alert_id: *id }));
                let Ok(Ok(r)) = asked.await else { continue 'nodes };
                answers.push((*id, r.into_inner()));
            }
            for (id, r) in answers {
                self.see(id, &r.status, &r.shards);
            }
            return Some(self.work());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(shard: u32, owner: u64, done: bool) -> ShardInfo {
        ShardInfo { shard, owner, done, ..Default::default() }
    }

    /// Goal: a node has work while a shard it holds, or held, is unfinished; a node whose
    /// shards were taken keeps its work until they are done; a finished alert gives none.
    #[test]
    fn work_follows_every_holder_of_a_shard() {
        let mut o = Owners::default();
        o.see(1, "Active", &[shard(0, 1, false), shard(1, 2, false), shard(2, 0, false)]);
        assert_eq!(o.work(), BTreeMap::from([(1, true), (2, true)]));
        // Node 2's lease lapsed and node 1 took its shard: node 2 still has work.
        o.see(1, "Active", &[shard(0, 1, false), shard(1, 1, false), shard(2, 3, false)]);
        assert_eq!(o.work(), BTreeMap::from([(1, true), (2, true), (3, true)]));
        // Shard 1 done: node 2 has no more; node 3 is done with its own.
        o.see(1, "Active", &[shard(0, 1, false), shard(1, 1, true), shard(2, 3, true)]);
        assert_eq!(o.work(), BTreeMap::from([(1, true)]));
        o.see(1, "Completed", &[]);
        assert!(o.work().is_empty() && o.finished.contains(&1));
    }
}
