//! Sending never stops: no site goes longer than the scenario's `sending_gap_ms_max` without
//! handing a message over while it has work (issue 14: a snapshot forced on the leader
//! mid-fan-out must not stop any site's sending).
//!
//! The harness samples every node every [`crate::runner::SENDING_SAMPLE_MS`] while the run
//! lasts (load, faults and settle): the node's `varsel_delivery_messages_total` (every
//! outcome: a message handed over and answered), and, through any node's `Shards`, whether it
//! has work: it holds an unfinished shard of an alert being sent, or held one that another node
//! took over (its leases lapsed) and that is not done yet. A site's gap is the time from the
//! sample at which its count last rose (or at which it took work) to the sample at which it rose
//! again, counted only while it has work throughout; so a gap is measured to within one sampling
//! interval, on the long side. A site that has finished its own shards and waits for the others
//! has no work and is not stopped; a site whose shards were taken from it is stopped until they
//! are done, so a pause that makes its leases lapse shows as a gap of at least the rest of the
//! work it lost.
//!
//! Limits: a shard waiting for its alert's next escalation step counts as work, so a bound
//! needs an SMS-only load (the scenario checks it); the count includes every alert's messages;
//! a site that never took its share (another claimed it first) has no work and no gap: the
//! figures show it with 0 samples with work.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Verdict;

/// Name in reports.
pub const NAME: &str = "no site stopped sending while it held work";

/// One node's sending, followed sample by sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapTracker {
    /// Start of the current stretch without a hand-over (the sample at which the count last
    /// rose, or at which the site took work), ms since the run's start; `None` without work.
    since_ms: Option<u64>,
    /// The count has risen since the site took work: a stretch without a rise now is a stop,
    /// not a start.
    sending: bool,
    last_count: Option<u64>,
    slowest_start_ms: u64,
    longest_ms: u64,
    longest_from_ms: u64,
    samples_with_work: u64,
    handed_over: u64,
    last_work_ms: Option<u64>,
}

impl GapTracker {
    /// Takes the sample at `at_ms`: the node's count (`None` if it did not answer: no rise)
    /// and whether it holds work.
    pub fn observe(&mut self, at_ms: u64, count: Option<u64>, holds_work: bool) {
        let rose = match (count, self.last_count) {
            (Some(c), Some(last)) if c > last => {
                self.handed_over += c - last;
                true
            }
            _ => false,
        };
        // A count that went down is a restarted node: it is the new base.
        if count.is_some() {
            self.last_count = count;
        }
        if !holds_work {
            (self.since_ms, self.sending) = (None, false);
            return;
        }
        self.samples_with_work += 1;
        self.last_work_ms = Some(at_ms);
        let Some(since) = self.since_ms else {
            (self.since_ms, self.sending) = (Some(at_ms), false);
            return;
        };
        let waited = at_ms.saturating_sub(since);
        if !self.sending {
            self.slowest_start_ms = self.slowest_start_ms.max(waited);
        } else if waited > self.longest_ms {
            (self.longest_ms, self.longest_from_ms) = (waited, since);
        }
        if rose {
            (self.since_ms, self.sending) = (Some(at_ms), true);
        }
    }
}

/// One site's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SiteGap {
    /// Its node.
    pub node: u64,
    /// Its site.
    pub site: String,
    /// The longest time from taking work to its first hand-over, ms (to the sample): the
    /// providers' first answers, not a stop.
    pub slowest_start_ms: u64,
    /// The longest time without a hand-over while it had work, once it was sending, ms (to
    /// the sample).
    pub longest_gap_ms: u64,
    /// When that gap began, seconds into the run.
    pub gap_from_s: f64,
    /// Samples at which it held work.
    pub samples_with_work: u64,
    /// Messages it handed over while sampled.
    pub handed_over: u64,
    /// The last sample at which it held work, seconds into the run.
    pub last_work_s: Option<f64>,
}

/// The sending figures of a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SendingGaps {
    /// Interval between samples, ms.
    pub sample_ms: u64,
    /// Samples taken.
    pub samples: u64,
    /// The scenario's bound, if it sets one.
    pub bound_ms: Option<u64>,
    /// Per site.
    pub sites: Vec<SiteGap>,
}

impl SendingGaps {
    /// The figures of `trackers` (by node id; `sites` names each node's site).
    pub fn of(
        trackers: &BTreeMap<u64, GapTracker>,
        sites: &BTreeMap<u64, String>,
        sample_ms: u64,
        samples: u64,
        bound_ms: Option<u64>,
    ) -> Self {
        let sites = trackers
            .iter()
            .map(|(node, t)| SiteGap {
                node: *node,
                site: sites.get(node).cloned().unwrap_or_default(),
                slowest_start_ms: t.slowest_start_ms,
                longest_gap_ms: t.longest_ms,
                gap_from_s: t.longest_from_ms as f64 / 1000.0,
                samples_with_work: t.samples_with_work,
                handed_over: t.handed_over,
                last_work_s: t.last_work_ms.map(|ms| ms as f64 / 1000.0),
            })
            .collect();
        Self { sample_ms, samples, bound_ms, sites }
    }

    /// Each site as `node (site): longest gap`.
    pub fn summary(&self) -> String {
        let per_site: Vec<String> = self
            .sites
            .iter()
            .map(|s| {
                format!(
                    "node {} ({}): {} ms from {:.1} s (first hand-over after {} ms), {} handed over in {} samples with work",
                    s.node,
                    s.site,
                    s.longest_gap_ms,
                    s.gap_from_s,
                    s.slowest_start_ms,
                    s.handed_over,
                    s.samples_with_work
                )
            })
            .collect();
        per_site.join("; ")
    }
}

/// Checks it; `None` when the scenario sets no bound.
pub fn check(g: &SendingGaps) -> Option<Verdict> {
    let bound = g.bound_ms?;
    let over: Vec<&SiteGap> =
        g.sites.iter().filter(|s| s.longest_gap_ms.max(s.slowest_start_ms) > bound).collect();
    let measured = g.sites.iter().any(|s| s.samples_with_work > 0);
    let ok = over.is_empty() && measured;
    let detail = if measured {
        format!(
            "longest gap per site, bound {bound} ms, sampled every {} ms ({} samples): {}{}",
            g.sample_ms,
            g.samples,
            g.summary(),
            if over.is_empty() { String::new() } else { format!("; {} sites over the bound", over.len()) }
        )
    } else {
        format!("nothing measured: no site held work in any of {} samples", g.samples)
    };
    Some(Verdict::new(NAME, ok, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a gap is the stretch without a rise while the site holds work, measured to the
    /// sample; a site without work is not stopped; a node that did not answer counts as not
    /// sending; a restarted node's lower count is a new base, not a rise.
    #[test]
    fn gaps_while_holding_work() {
        let mut t = GapTracker::default();
        t.observe(0, Some(0), false);
        t.observe(100, Some(0), true); // takes work
        t.observe(200, Some(10), true);
        t.observe(300, Some(20), true);
        for at in [400, 500, 600, 700] {
            t.observe(at, Some(20), true); // stopped
        }
        t.observe(800, None, true); // no answer
        t.observe(900, Some(30), true); // going again: the gap was 300..900
        assert_eq!((t.longest_ms, t.longest_from_ms, t.slowest_start_ms), (600, 300, 100));
        t.observe(1_000, Some(30), false); // done, waits for the others
        for at in [1_100, 3_000, 9_000] {
            t.observe(at, Some(30), false);
        }
        assert_eq!(t.longest_ms, 600, "idle without work is no gap");
        t.observe(9_100, Some(5), true); // restarted, takes work again
        t.observe(9_200, Some(7), true);
        assert_eq!(t.handed_over, 30 + 2);
        assert_eq!(t.samples_with_work, 11);
        assert_eq!(t.last_work_ms, Some(9_200));
    }

    /// Goal: the verdict holds under the bound, fails over it, and fails when nothing was
    /// measured; without a bound there is none.
    #[test]
    fn verdict_against_the_bound() {
        let mut trackers = BTreeMap::new();
        let mut t = GapTracker::default();
        for (at, c) in [(0, 0), (100, 5), (2_600, 6)] {
            t.observe(at, Some(c), true);
        }
        trackers.insert(1, t);
        let sites = BTreeMap::from([(1, "oslo".to_string())]);
        let g = SendingGaps::of(&trackers, &sites, 100, 3, Some(3_000));
        assert!(check(&g).is_some_and(|v| v.ok), "{g:?}");
        assert_eq!(g.sites[0].longest_gap_ms, 2_500);
        assert!(check(&SendingGaps { bound_ms: Some(2_000), ..g.clone() }).is_some_and(|v| !v.ok));
        assert!(check(&SendingGaps { bound_ms: None, ..g.clone() }).is_none());
        // A site that takes work and hands nothing over for longer than the bound fails too.
        let mut slow = GapTracker::default();
        for (at, c) in [(0, 0), (3_500, 1), (3_600, 2)] {
            slow.observe(at, Some(c), true);
        }
        let g = SendingGaps::of(&BTreeMap::from([(1, slow)]), &sites, 100, 3, Some(3_000));
        assert_eq!((g.sites[0].slowest_start_ms, g.sites[0].longest_gap_ms), (3_500, 100));
        assert!(check(&g).is_some_and(|v| !v.ok));
        let idle =
            SendingGaps::of(&BTreeMap::from([(1, GapTracker::default())]), &sites, 100, 9, Some(3_000));
        assert!(check(&idle).is_some_and(|v| !v.ok && v.detail.contains("nothing measured")));
    }
}
