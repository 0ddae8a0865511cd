//! No alert expired early: an alert of the run may end `Expired` only once its lifetime (its
//! `expires_at_ms` minus its `created_at_ms`, as the API returns it) has really passed.
//!
//! "Really" is judged by the harness's own monotonic clock, which no fault touches: from the
//! earliest moment the alert can have been accepted (the invocation of the first create with
//! its idempotency key) to the moment the harness saw it expired (the settle phase's read),
//! with [`TOLERANCE_MS`] to spare. Both ends err on the alert's side, so a failure is a real
//! early expiry: a node that took a wrong wall clock (a forward jump, a skewed leader) for the
//! log's time. Process-mode alerts live 24 h by default, so any expiry within a run is early.

use std::collections::BTreeMap;

use serde::Serialize;
use varsel_proto::api::AlertStatus;

use super::{Evidence, Verdict, first};
use crate::load::OpKind;

/// Name in reports.
pub const NAME: &str = "no alert expired early";

/// Slack between the harness's clock and the cluster's: the reads that saw an alert finished
/// come every 500 ms, and a lease or a step is judged to the log's clock, which may run a
/// little apart from the harness's.
pub const TOLERANCE_MS: u64 = 2_000;

/// What the check saw.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ExpiryFigures {
    /// Accepted alerts read back after the run.
    pub alerts: u64,
    /// Of those, ended `Expired`.
    pub expired: u64,
    /// Of those, before their lifetime had passed by the harness's clock.
    pub expired_early: u64,
    /// The shortest lifetime (expires minus created) among the alerts, ms.
    pub shortest_lifetime_ms: Option<u64>,
}

/// Checks it.
pub fn check(e: &Evidence) -> (Verdict, ExpiryFigures) {
    let accepted_at = first_invocations(e);
    let mut f = ExpiryFigures::default();
    let mut offenders = Vec::new();
    for (id, key) in e.accepted() {
        let Some(alert) = e.alerts.get(&id) else { continue };
        f.alerts += 1;
        let lifetime_ms = alert.expires_at_ms.saturating_sub(alert.created_at_ms);
        f.shortest_lifetime_ms = Some(f.shortest_lifetime_ms.map_or(lifetime_ms, |s| s.min(lifetime_ms)));
        if alert.status != AlertStatus::Expired as i32 {
            continue;
        }
        f.expired += 1;
        let from = accepted_at.get(key.as_str()).copied().unwrap_or(0);
        // The settle phase notes when it saw each alert finished; without that time the alert
        // gets the benefit of the doubt.
        let seen = e.final_seen_ms.get(&id).copied().unwrap_or(u64::MAX);
        if let Some(lived_ms) = early(lifetime_ms, from, seen) {
            f.expired_early += 1;
            offenders.push(format!(
                "alert {id} expired after at most {lived_ms} ms of a {lifetime_ms} ms lifetime"
            ));
        }
    }
    let ok = offenders.is_empty();
    let detail = format!(
        "{} alerts, {} expired, {} early (shortest lifetime {}){}",
        f.alerts,
        f.expired,
        f.expired_early,
        f.shortest_lifetime_ms.map_or_else(|| "-".into(), |ms| format!("{ms} ms")),
        if ok { String::new() } else { format!(": {}", first(&offenders, 5)) }
    );
    (Verdict::new(NAME, ok, detail), f)
}

/// How long the alert can have lived at most (ms) if it expired early: accepted no earlier than
/// `accepted_ms` and seen expired at `seen_ms` (both on the harness's clock), and that is less
/// than its `lifetime_ms` by more than [`TOLERANCE_MS`]. `None` when the expiry was due.
fn early(lifetime_ms: u64, accepted_ms: u64, seen_ms: u64) -> Option<u64> {
    let lived_ms = seen_ms.saturating_sub(accepted_ms);
    (lived_ms.saturating_add(TOLERANCE_MS) < lifetime_ms).then_some(lived_ms)
}

/// Per idempotency key, when the first create with it was invoked (ms since the run's start):
/// the earliest the alert can have been accepted.
fn first_invocations(e: &Evidence) -> BTreeMap<&str, u64> {
    let mut at: BTreeMap<&str, u64> = BTreeMap::new();
    for op in &e.ops {
        if let OpKind::Create { key, .. } = &op.kind {
            let t = at.entry(key.as_str()).or_insert(op.invoked_ms);
            *t = (*t).min(op.invoked_ms);
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: an expiry is early only when the harness's clock says the lifetime had not
    /// passed, with the tolerance on the alert's side. Method: a 24 h alert seen expired a
    /// minute after its create (a forward clock jump), and a 10 s alert seen at 9 s and 7 s.
    #[test]
    fn early_by_the_harness_clock() {
        let day = 86_400_000;
        assert_eq!(early(day, 5_000, 65_000), Some(60_000));
        assert_eq!(early(day, 5_000, 5_000 + day), None);
        assert_eq!(early(10_000, 0, 9_000), None, "within the tolerance");
        assert_eq!(early(10_000, 0, 7_000), Some(7_000));
        assert_eq!(early(10_000, 3_000, u64::MAX), None, "never seen: benefit of the doubt");
    }
}
