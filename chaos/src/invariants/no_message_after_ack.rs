//! No message after a recipient's acknowledgement was recorded: a recipient whose reply was
//! recorded for an alert before its voice step was due gets no voice call for it.
//!
//! The simulator knows when a node accepted a reply; the cluster records it shortly after
//! (see [`super::acks::RECORD_SLACK_MS`]). Replies accepted within that slack of the step, or
//! near a site fault (a killed node loses the acknowledgements it accepted but had not yet
//! committed; the recipient then gets one call more, the safe side), are not judged.

use varsel_domain::Channel;
use varsel_domain::message_key::message_key;

use super::{Evidence, Verdict, first};

/// Name in reports.
pub const NAME: &str = "no message after an acknowledgement";

/// Checks it.
pub async fn check(e: &Evidence) -> Verdict {
    if e.escalate_after_s == 0 {
        return Verdict::new(NAME, true, "no escalation step in this scenario: nothing to check");
    }
    let acked = super::acks::attributed(e);
    let mut by_alert: std::collections::BTreeMap<u64, Vec<(u64, u64)>> = std::collections::BTreeMap::new();
    for ((alert, contact), at) in &acked {
        by_alert.entry(*alert).or_default().push((*contact, *at));
    }
    let (mut judged, mut unjudged, mut offenders, mut problems) = (0u64, 0u64, Vec::new(), Vec::new());
    for (id, acks) in by_alert {
        let Some(due) = super::acks::step_due(e, id) else {
            problems.push(format!("alert {id}: not readable after the run"));
            continue;
        };
        let listing = match e.sim.keys_limited(&format!("a{id}-"), 1_000_000).await {
            Ok(l) => l,
            Err(err) => {
                problems.push(format!("alert {id}: simulator keys: {err}"));
                continue;
            }
        };
        for (contact, at) in acks {
            if !super::acks::certainly_recorded_before(e, at, due) {
                unjudged += 1;
                continue;
            }
            judged += 1;
            let voice = message_key(id, contact, Channel::Voice, 1);
            if listing.keys.contains_key(&voice) {
                offenders.push(format!("{voice} called; acknowledged {} ms before the step", due - at));
            }
        }
    }
    if !offenders.is_empty() || !problems.is_empty() {
        return Verdict::new(
            NAME,
            false,
            format!(
                "{} called after acknowledging: {} {}",
                offenders.len(),
                first(&offenders, 5),
                first(&problems, 3)
            ),
        );
    }
    Verdict::new(
        NAME,
        true,
        format!(
            "{judged} acknowledgements recorded before the voice step, none called ({unjudged} too close to the step or a fault to judge)"
        ),
    )
}
