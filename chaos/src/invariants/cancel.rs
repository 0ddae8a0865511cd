//! Cancel is fast: after a cancel commits, no node hands a message of that alert to a provider
//! more than [`AFTER_CANCEL_MS_MAX`] later (issue 13, item 3).
//!
//! Measured per alert a `cancel` fault cancelled, from the alert's `cancelled_at_ms` (the
//! cluster's record of when the cancel committed) to the last arrival of any of its messages
//! at the simulator (`last_received_ms`, whatever the provider answered: it was handed over).
//! Both clocks are the wall clock of the machine(s) of the run; in process mode one clock.

use serde::Serialize;

use super::no_loss::AlertFigures;
use super::{Evidence, Verdict, first};

/// Name in reports.
pub const NAME: &str = "nothing handed to a provider more than 1 s after a cancel committed";

/// Issue 13's bound from a committed cancel to the last message handed over.
pub const AFTER_CANCEL_MS_MAX: u64 = 1_000;

/// What the cancels of a run measured.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CancelFigures {
    /// Alerts cancelled by the run's `cancel` faults.
    pub alerts: u64,
    /// The longest time from a cancel committing to the last message of that alert the
    /// simulator received, ms (0: none after the cancel).
    pub max_after_cancel_ms: u64,
    /// The alert it was measured on.
    pub worst_alert: Option<u64>,
    /// Alerts with a message more than [`AFTER_CANCEL_MS_MAX`] after their cancel.
    pub late: u64,
}

/// Checks it; `None` when the run cancelled nothing.
pub fn check(e: &Evidence, alerts: &[AlertFigures]) -> Option<(Verdict, CancelFigures)> {
    if e.cancelled.is_empty() {
        return None;
    }
    let mut f = CancelFigures { alerts: e.cancelled.len() as u64, ..Default::default() };
    let mut problems = Vec::new();
    for id in &e.cancelled {
        let Some(cancelled_at) = e.alerts.get(id).map(|a| a.cancelled_at_ms).filter(|at| *at > 0) else {
            problems.push(format!("alert {id}: no cancel time after the run"));
            continue;
        };
        let last = alerts.iter().find(|a| a.id == *id).map_or(0, |a| a.last_received_ms);
        let after = last.saturating_sub(cancelled_at);
        if after > f.max_after_cancel_ms || f.worst_alert.is_none() {
            (f.max_after_cancel_ms, f.worst_alert) = (f.max_after_cancel_ms.max(after), Some(*id));
        }
        if after > AFTER_CANCEL_MS_MAX {
            f.late += 1;
            problems.push(format!("alert {id}: last message {after} ms after the cancel"));
        }
    }
    let ok = problems.is_empty();
    let detail = format!(
        "{} alerts cancelled; last message at most {} ms after the cancel committed{}",
        f.alerts,
        f.max_after_cancel_ms,
        if ok { String::new() } else { format!("; {}", first(&problems, 5)) }
    );
    Some((Verdict::new(NAME, ok, detail), f))
}
