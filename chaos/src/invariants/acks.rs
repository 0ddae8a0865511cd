//! Which alert each acknowledgement went to, and when.
//!
//! An SMS reply carries only the sender's number and when it was sent; the cluster matches it
//! to the newest open alert that reached that number and was created before the reply was
//! sent. This module repeats that matching from the outside: for every reply a node accepted
//! (with the time the simulator saw it accepted), the alert it acknowledged is the highest id
//! among the accepted alerts to the same group created before the reply was sent and not
//! finished when it was accepted.

use std::collections::{BTreeMap, HashMap};

use super::{Evidence, alert_and_contact};

/// A node accepts a reply before it records it: the receipts actor batches acknowledgements
/// for up to 200 ms and then commits them (normally well under a second). A reply accepted
/// this long before a step is certainly recorded by then, unless a site fault was in force.
pub const RECORD_SLACK_MS: u64 = 3_000;

/// The earliest accepted acknowledgement of each (alert, contact), ms since the Unix epoch.
pub fn attributed(e: &Evidence) -> HashMap<(u64, u64), u64> {
    let groups = e.groups();
    let mut by_group: HashMap<&str, Vec<u64>> = HashMap::new();
    for (id, g) in &groups {
        by_group.entry(g.as_str()).or_default().push(*id);
    }
    let mut out: HashMap<(u64, u64), u64> = HashMap::new();
    for r in &e.replies {
        let Some((replied_to, contact)) = alert_and_contact(&r.key) else { continue };
        let Some(group) = groups.get(&replied_to) else { continue };
        let at = r.acknowledged_at_ms;
        let matched = by_group
            .get(group.as_str())
            .into_iter()
            .flatten()
            .filter_map(|id| e.alerts.get(id).map(|a| (*id, a)))
            .filter(|(_, a)| a.created_at_ms <= r.sent_at_ms.min(at))
            .filter(|(_, a)| a.completed_at_ms == 0 || a.completed_at_ms > at)
            .map(|(id, _)| id)
            .max();
        if let Some(alert) = matched {
            let t = out.entry((alert, contact)).or_insert(at);
            *t = (*t).min(at);
        }
    }
    out
}

/// When the voice step of `alert` was due, ms since the Unix epoch.
pub fn step_due(e: &Evidence, alert: u64) -> Option<u64> {
    let a = e.alerts.get(&alert)?;
    let start = if a.send_at_ms > 0 { a.send_at_ms } else { a.created_at_ms };
    Some(start + u64::from(e.escalate_after_s) * 1000)
}

/// Whether an acknowledgement accepted at `at` was certainly recorded before `due`: early
/// enough, and no site fault (which can lose a node's unrecorded batch) near it.
pub fn certainly_recorded_before(e: &Evidence, at: u64, due: u64) -> bool {
    at + RECORD_SLACK_MS < due
        && !e.fault_windows.iter().any(|(from, to)| at + 1_000 >= *from && at <= *to + 1_000)
}

/// The SMS keys in a listing of one alert's keys, each with its contact id.
pub fn sms_recipients(keys: &BTreeMap<String, varsel_sim::KeyInfo>) -> Vec<(String, u64)> {
    keys.keys()
        .filter(|k| k.ends_with("-sms-0"))
        .filter_map(|k| alert_and_contact(k).map(|(_, c)| (k.clone(), c)))
        .collect()
}
