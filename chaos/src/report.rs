//! The report of one run: JSON for machines, a table for people.

use std::fmt::Write as _;

use serde::Serialize;

use crate::invariants::Verdict;
use crate::invariants::cancel::CancelFigures;
use crate::invariants::expired_early::ExpiryFigures;
use crate::invariants::handset::Handsets;
use crate::invariants::late_handover::LateHandoverFigures;
use crate::invariants::no_loss::Messages;
use crate::invariants::replies::ReplyFigures;
use crate::invariants::sending_gap::SendingGaps;

/// One injected (or skipped) fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// Kind, as in the scenario file.
    pub kind: String,
    /// The node it hit, if a site fault.
    pub node: Option<u64>,
    /// Extra: the provider, the latency.
    pub detail: String,
    /// Seconds into the run it was injected.
    pub at_s: f64,
    /// Seconds into the run it was undone.
    pub undone_at_s: Option<f64>,
    /// Why it was not injected, if it was not.
    pub skipped: Option<String>,
    /// From the fault to the first write that was invoked after it and committed, ms.
    pub next_write_ms: Option<u64>,
    /// From the fault until no shard of an alert being sent was held by the node hit, ms.
    /// `None`: the node held none, or it was not a site fault.
    pub sending_resumed_ms: Option<u64>,
    /// Shards of alerts being sent that the node held when hit.
    pub shards_held: u32,
    /// `cancel`: the alerts it cancelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<u64>,
    /// `snapshot`: each call, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<SnapshotCall>,
    /// A kill: the victim's `varsel_delivery_late_handovers_total` read just before (it
    /// restarts at 0); `None` when not a kill or the victim did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_handovers_before: Option<u64>,
    /// A wrong clock: from the fault until the node said its clock was out of bounds
    /// (`NodeStatus.clock_out_of_bounds`), ms; `None` if it did not while the fault lasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_bounds_ms: Option<u64>,
    /// A wrong clock on the leader: from the fault until another node led, ms; `None` if the
    /// node did not lead or leadership did not move while the fault lasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_moved_ms: Option<u64>,
    /// `disk_full`: from the fault until the node said its disk was full
    /// (`NodeStatus.disk_full`), ms; `None` if it did not while the fault lasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_full_ms: Option<u64>,
    /// `disk_full`: from freeing the disk until the node said it was no longer full and had
    /// applied what the leader had applied when it was freed, ms; `None` if not within
    /// two minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caught_up_ms: Option<u64>,
}

impl FaultRecord {
    /// A record of a fault of `kind` at `at_s`, nothing measured yet.
    pub fn new(kind: &str, at_s: f64) -> Self {
        Self {
            kind: kind.into(),
            node: None,
            detail: String::new(),
            at_s,
            undone_at_s: None,
            skipped: None,
            next_write_ms: None,
            sending_resumed_ms: None,
            shards_held: 0,
            alerts: Vec::new(),
            snapshots: Vec::new(),
            late_handovers_before: None,
            out_of_bounds_ms: None,
            leader_moved_ms: None,
            disk_full_ms: None,
            caught_up_ms: None,
        }
    }

    /// Whether it took a site away (injected, of a kind that does).
    pub fn hit_site(&self) -> bool {
        self.skipped.is_none()
            && self.node.is_some()
            && crate::scenario::FaultKind::from_name(&self.kind).is_some_and(|k| k.hits_site())
    }
}

/// One call of a `snapshot` fault: `ClusterAdmin.Snapshot` on one node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotCall {
    /// The node asked.
    pub node: u64,
    /// Seconds into the run it was asked.
    pub at_s: f64,
    /// How long the call took to answer (or to fail), ms.
    pub took_ms: u64,
    /// The log index of the snapshot built, when it answered.
    pub snapshot_index: Option<u64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Client requests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Requests {
    /// Operations (creates and reads).
    pub total: u64,
    /// Answered successfully (possibly after retries on other nodes).
    pub succeeded: u64,
    /// Succeeded only after one or more attempts on some node failed.
    pub succeeded_after_retry: u64,
    /// Not answered within the client deadline (outcome unknown).
    pub failed: u64,
    /// Attempts on a node that failed, in all.
    pub failed_attempts: u64,
    /// Alerts accepted (distinct).
    pub alerts_accepted: u64,
    /// succeeded / total, %.
    pub availability_pct: f64,
}

/// Median and maximum of a set of durations, ms.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Spread {
    /// How many.
    pub n: usize,
    /// Median.
    pub median_ms: Option<u64>,
    /// Maximum.
    pub max_ms: Option<u64>,
}

impl Spread {
    /// Of these values.
    pub fn of(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        Self { n: v.len(), median_ms: v.get(v.len() / 2).copied(), max_ms: v.last().copied() }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// `processes` or `compose`.
    pub mode: String,
    /// The seed.
    pub seed: u64,
    /// The command that replays this run.
    pub replay: String,
    /// Seconds of load and faults.
    pub duration_s: f64,
    /// Seconds until every accepted alert finished after the faults stopped.
    pub settled_s: f64,
    /// Faults.
    pub faults: Vec<FaultRecord>,
    /// Client requests.
    pub requests: Requests,
    /// Time to the next committed write after a site fault.
    pub next_write: Spread,
    /// Time until the hit node's shards were sending again on others.
    pub sending_resumed: Spread,
    /// Messages.
    pub messages: Messages,
    /// What the handsets showed, per kind of fault the alerts ran during.
    pub handsets: Handsets,
    /// From each cancel to the last message handed over, when the run cancelled alerts.
    pub cancel: Option<CancelFigures>,
    /// Replies and receipts: answered, kept, lost, twice, placed with the wrong tenant.
    pub replies: ReplyFigures,
    /// Alerts that ended expired, and whether their lifetime had passed.
    pub expiry: ExpiryFigures,
    /// Provider calls that began after their lease's deadline, per node.
    pub late_handovers: LateHandoverFigures,
    /// The longest time each site went without handing a message over while it held work,
    /// when the run sampled it (a `snapshot` fault or a `sending_gap_ms_max`).
    pub sending: Option<SendingGaps>,
    /// The invariants.
    pub invariants: Vec<Verdict>,
    /// Whether every invariant held.
    pub passed: bool,
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v} ms"))
}

impl Report {
    /// A table for people.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "chaos run: {} ({} mode), seed {}, {:.0} s of faults, settled in {:.1} s",
            self.scenario, self.mode, self.seed, self.duration_s, self.settled_s
        );
        let _ = writeln!(s, "replay: {}", self.replay);
        let _ = writeln!(s, "\nfaults:");
        let _ = writeln!(
            s,
            "  {:>7}  {:<15} {:>4}  {:>7}  {:>11}  {:>15}  note",
            "at", "kind", "node", "undone", "next write", "sending resumed"
        );
        for f in &self.faults {
            let mut note = match &f.skipped {
                Some(why) => format!("skipped: {why}"),
                None if f.shards_held > 0 => format!("held {} shards {}", f.shards_held, f.detail),
                None => f.detail.clone(),
            };
            if let Some(t) = f.out_of_bounds_ms {
                note.push_str(&format!("; out of bounds after {t} ms"));
            }
            if let Some(t) = f.leader_moved_ms {
                note.push_str(&format!("; leadership moved after {t} ms"));
            }
            if let Some(t) = f.disk_full_ms {
                note.push_str(&format!("; said full after {t} ms"));
            }
            if let Some(t) = f.caught_up_ms {
                note.push_str(&format!("; caught up {t} ms after freeing"));
            }
            let _ = writeln!(
                s,
                "  {:>6.1}s  {:<15} {:>4}  {:>7}  {:>11}  {:>15}  {note}",
                f.at_s,
                f.kind,
                f.node.map_or_else(|| "-".into(), |n| n.to_string()),
                f.undone_at_s.map_or_else(|| "-".into(), |u| format!("{u:.1}s")),
                ms(f.next_write_ms),
                ms(f.sending_resumed_ms),
            );
            for c in &f.snapshots {
                let _ = writeln!(
                    s,
                    "  {:>6.1}s    snapshot of node {} took {} ms: {}",
                    c.at_s,
                    c.node,
                    c.took_ms,
                    match (&c.error, c.snapshot_index) {
                        (Some(e), _) => format!("failed: {e}"),
                        (None, i) => format!("index {}", i.unwrap_or(0)),
                    }
                );
            }
        }
        let r = &self.requests;
        let _ = writeln!(
            s,
            "\nrequests: {} ({} ok, {} ok after a retry, {} failed; {} failed attempts); alerts accepted: {}",
            r.total, r.succeeded, r.succeeded_after_retry, r.failed, r.failed_attempts, r.alerts_accepted
        );
        let _ = writeln!(s, "API availability: {:.2} %", r.availability_pct);
        let _ = writeln!(
            s,
            "next committed write after a site fault: median {}, max {} (n={})",
            ms(self.next_write.median_ms),
            ms(self.next_write.max_ms),
            self.next_write.n
        );
        let _ = writeln!(
            s,
            "sending resumed on survivors: median {}, max {} (n={})",
            ms(self.sending_resumed.median_ms),
            ms(self.sending_resumed.max_ms),
            self.sending_resumed.n
        );
        let m = &self.messages;
        let _ = writeln!(
            s,
            "messages: {} required, {} lost, {} re-sent (bound {}), {} delivered twice",
            m.required, m.lost, m.resent, m.resent_bound, m.delivered_twice
        );
        self.handset_table(&mut s);
        let r = &self.replies;
        let _ = writeln!(
            s,
            "replies: {} answered, {} lost, {} kept twice, {} with the wrong tenant ({} by reference, {} by route, {} as the latest alert, {} unmatched); receipts: {} answered, {} lost; callbacks: {} sent, {} in failed requests, {} given up",
            r.answered,
            r.lost,
            r.twice,
            r.wrong_tenant,
            r.by_reference,
            r.by_route,
            r.by_latest,
            r.unmatched,
            r.receipts_answered,
            r.receipts_lost,
            r.callbacks_sent,
            r.callbacks_failed,
            r.callbacks_given_up
        );
        self.clock_table(&mut s);
        let _ = writeln!(s, "\ninvariants:");
        for v in &self.invariants {
            let _ = writeln!(s, "  [{}] {}: {}", if v.ok { " ok " } else { "FAIL" }, v.name, v.detail);
        }
        let _ = writeln!(s, "\n{}", if self.passed { "PASSED" } else { "FAILED" });
        s
    }
}

impl Report {
    /// Expiry, late hand-overs and sending gaps: what the clock and snapshot faults are judged
    /// on.
    fn clock_table(&self, s: &mut String) {
        let x = &self.expiry;
        let _ = writeln!(
            s,
            "expiry: {} alerts, {} expired, {} early (shortest lifetime {})",
            x.alerts,
            x.expired,
            x.expired_early,
            ms(x.shortest_lifetime_ms)
        );
        let l = &self.late_handovers;
        let per_node: Vec<String> = l
            .nodes
            .iter()
            .map(|n| {
                let end = n.at_end.map_or_else(|| "unread".into(), |v| v.to_string());
                format!("node {} {end} (+{} before kills)", n.node, n.before_kills)
            })
            .collect();
        let _ = writeln!(
            s,
            "provider calls begun after their lease's deadline: {} ({}; {} kills read just before, {} not)",
            l.total,
            per_node.join(", "),
            l.kills_sampled,
            l.kills_unsampled
        );
        if let Some(g) = &self.sending {
            let _ = writeln!(
                s,
                "longest time a site handed nothing over while it held work (sampled every {} ms, {} samples{}):",
                g.sample_ms,
                g.samples,
                g.bound_ms.map_or_else(String::new, |b| format!(", bound {b} ms"))
            );
            for site in &g.sites {
                let _ = writeln!(
                    s,
                    "  node {} ({}): {} ms from {:.1} s; first hand-over after at most {} ms; {} handed over; {} samples with work",
                    site.node,
                    site.site,
                    site.longest_gap_ms,
                    site.gap_from_s,
                    site.slowest_start_ms,
                    site.handed_over,
                    site.samples_with_work
                );
            }
        }
    }

    /// The handset figures per fault kind, and the cancel measurement.
    fn handset_table(&self, s: &mut String) {
        let h = &self.handsets;
        let yes = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(
            s,
            "\nhandsets (what recipients saw, whatever the keys; keys ignored: {}, provider timeouts: {}):",
            yes(h.keys_ignored),
            yes(h.provider_timeouts)
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>7} {:>9} {:>11} {:>12} {:>16} {:>19} {:>17}",
            "alerts during",
            "alerts",
            "messages",
            "duplicates",
            "per million",
            "after a timeout",
            "others per million",
            "orphan fragments"
        );
        for r in &h.rows {
            let _ = writeln!(
                s,
                "  {:<18} {:>7} {:>9} {:>11} {:>12} {:>16} {:>19} {:>17}",
                r.during,
                r.alerts,
                r.messages,
                r.handset_duplicates,
                r.duplicates_per_million,
                r.after_provider_timeout,
                r.others_per_million,
                r.orphan_fragments
            );
        }
        if let Some(c) = &self.cancel {
            let _ = writeln!(
                s,
                "cancel: {} alerts cancelled; last message handed to a provider {} ms after the cancel committed (max{}), {} over 1 s",
                c.alerts,
                c.max_after_cancel_ms,
                c.worst_alert.map_or_else(String::new, |a| format!(", alert {a}")),
                c.late
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: the median and max of a spread, and none of an empty one.
    #[test]
    fn spread() {
        let s = Spread::of(vec![300, 100, 200, 900]);
        assert_eq!((s.n, s.median_ms, s.max_ms), (4, Some(300), Some(900)));
        let e = Spread::of(Vec::new());
        assert_eq!((e.median_ms, e.max_ms), (None, None));
    }
}
