//! The judging phase: gathers the evidence of a run (what clients were told, what the cluster
//! holds, what the simulator received) and asks every invariant for its verdict.

use std::collections::BTreeSet;

use super::Run;
use super::settle::Settled;
use crate::invariants::cancel::CancelFigures;
use crate::invariants::expired_early::ExpiryFigures;
use crate::invariants::handset::Handsets;
use crate::invariants::late_handover::LateHandoverFigures;
use crate::invariants::no_loss::Messages;
use crate::invariants::replies::ReplyFigures;
use crate::invariants::sending_gap::SendingGaps;
use crate::invariants::{self, Evidence, FaultWindow, Tenant, Verdict};
use crate::load::{Op, OpKind};
use crate::report::FaultRecord;
use crate::scenario::FaultKind;

/// The invariants' verdicts, and the figures the checks made on the way.
#[derive(Debug)]
pub(super) struct Judged {
    pub(super) verdicts: Vec<Verdict>,
    pub(super) messages: Messages,
    pub(super) handsets: Handsets,
    pub(super) cancel: Option<CancelFigures>,
    pub(super) replies: ReplyFigures,
    pub(super) expiry: ExpiryFigures,
    pub(super) late_handovers: LateHandoverFigures,
}

/// Notes in the record of each fault that hit a node (a site fault, a wrong clock, a snapshot)
/// how long the first write after it took: the report's measure of how long it stopped new
/// alerts.
pub(super) fn note_next_writes(records: &mut [FaultRecord], ops: &[Op]) {
    for r in records {
        if r.skipped.is_none() && r.node.is_some() {
            r.next_write_ms = next_write_after(ops, r.at_s);
        }
    }
}

/// From `at_s` to the return of the first successful create invoked at or after it, ms.
fn next_write_after(ops: &[Op], at_s: f64) -> Option<u64> {
    let at = (at_s * 1000.0) as u64;
    ops.iter()
        .filter(|o| matches!(o.kind, OpKind::Create { .. }) && o.ok() && o.invoked_ms >= at)
        .map(|o| o.returned_ms - at)
        .min()
}

/// What the invariants look at. The site faults' windows are given in Unix ms, the clock of
/// the alerts and the simulator's records, so the checks can tell what happened near a fault.
/// `late_at_end`: each node's late hand-over counter read after the settle phase.
pub(super) fn evidence(
    run: &Run<'_>,
    ops: Vec<Op>,
    records: &[FaultRecord],
    faulted_s: f64,
    settled: Settled,
    late_at_end: Vec<(u64, Result<u64, String>)>,
) -> Evidence {
    let site_faults = || records.iter().filter(|r| r.hit_site());
    let unix = |s: f64| run.t0_unix_ms + (s * 1000.0) as u64;
    Evidence {
        ops,
        alerts: settled.alerts,
        nodes: run.nodes.clone(),
        token: run.token.clone(),
        sim: run.sim.clone(),
        replies: settled.replies,
        receipts: settled.receipts,
        neighbour: run
            .neighbour
            .as_ref()
            .map(|n| Tenant { token: n.token.clone(), alerts: settled.neighbour_alerts }),
        recipients: run.scenario.load.recipients as u64,
        escalate_after_s: run.scenario.load.escalate_after_s,
        window_per_node: run.in_flight_window,
        site_faults: site_faults().count() as u64,
        fault_windows: site_faults()
            .map(|r| (unix(r.at_s), unix(r.undone_at_s.unwrap_or(faulted_s))))
            .collect(),
        faults: records
            .iter()
            .filter(|r| r.skipped.is_none())
            .filter_map(|r| {
                let kind = FaultKind::from_name(&r.kind)?;
                let (from_ms, to_ms) = (unix(r.at_s), unix(r.undone_at_s.unwrap_or(faulted_s)));
                Some(FaultWindow { kind, from_ms, to_ms })
            })
            .collect(),
        cancelled: records.iter().flat_map(|r| r.alerts.iter().copied()).collect(),
        keys_ignored: run.scenario.sim.keys_ignored(),
        provider_timeouts: run.scenario.sim.provider_timeouts(),
        final_seen_ms: settled.final_seen_ms,
        late_at_end,
        late_before_kills: records
            .iter()
            .filter(|r| {
                r.hit_site()
                    && matches!(
                        FaultKind::from_name(&r.kind),
                        Some(FaultKind::KillSite | FaultKind::KillLeader)
                    )
            })
            .filter_map(|r| Some((r.node?, r.late_handovers_before)))
            .collect(),
    }
}

/// The first verdict: every accepted alert finished within the settle time. The other
/// invariants judge finished alerts; an unfinished one is a failure of its own.
pub(super) fn all_finished(
    accepted: &BTreeSet<u64>,
    unfinished: &[u64],
    settled_s: f64,
    settle_s: u64,
) -> Verdict {
    Verdict::new(
        "every accepted alert finished",
        unfinished.is_empty(),
        if unfinished.is_empty() {
            format!("{} alerts finished {settled_s:.1} s after the faults stopped", accepted.len())
        } else {
            format!(
                "{} of {} not finished within {} s: {}",
                unfinished.len(),
                accepted.len(),
                settle_s,
                invariants::first(unfinished, 5)
            )
        },
    )
}

/// `finished` followed by every invariant's verdict on `evidence`, in the report's order
/// (`sending`: the sampled sending figures, when the run sampled them).
pub(super) async fn verdicts(
    evidence: &Evidence,
    finished: Verdict,
    sending: Option<&SendingGaps>,
) -> Judged {
    let mut verdicts = vec![finished];
    verdicts.push(invariants::accepted_exist::check(evidence).await);
    let (loss, messages) = invariants::no_loss::check(evidence).await;
    verdicts.push(loss);
    let (handset, handsets) = invariants::handset::check(evidence, &messages.per_alert);
    verdicts.push(handset);
    let cancel = invariants::cancel::check(evidence, &messages.per_alert).map(|(verdict, figures)| {
        verdicts.push(verdict);
        figures
    });
    verdicts.push(invariants::no_message_after_ack::check(evidence).await);
    let (expired, expiry) = invariants::expired_early::check(evidence);
    verdicts.push(expired);
    let (late, late_handovers) = invariants::late_handover::check(evidence);
    verdicts.push(late);
    verdicts.extend(sending.and_then(invariants::sending_gap::check));
    let (kept, replies) = invariants::replies::check(evidence).await;
    verdicts.extend(kept);
    verdicts.push(invariants::linearizable::check(evidence).await);
    verdicts.push(invariants::converged::check(evidence).await);
    Judged { verdicts, messages, handsets, cancel, replies, expiry, late_handovers }
}
