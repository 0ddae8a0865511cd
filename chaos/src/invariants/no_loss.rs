//! No loss: every recipient of every accepted alert got each required message at least once.
//! Required: the SMS for everyone; the voice call for everyone who had not acknowledged this
//! alert (a reply accepted by a node and matched to it, see [`super::acks`]) when the voice
//! step was due. Duplicates (a message received
//! again) are counted; they must stay inside the in-flight window of the nodes a fault hit.
//! A cancelled alert owes nothing after its cancel, so it is not judged for loss.
//!
//! On the way it reads, per alert, what the handsets show (copies and orphan fragments,
//! whatever the keys) and when the last message arrived: the figures the handset and cancel
//! checks judge ([`AlertFigures`]), so the simulator is asked once per alert.

use serde::Serialize;
use varsel_proto::api::AlertStatus;
use varsel_sim::{AlertCounts, Channel};

use super::{Evidence, Verdict, first};

/// Name in reports.
pub const NAME: &str = "no message lost; duplicates inside the in-flight window";

/// Message counts over all accepted alerts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Messages {
    /// Messages required (SMS to every recipient, voice to those who had not acknowledged).
    pub required: u64,
    /// Required messages the simulator never received.
    pub lost: u64,
    /// Receptions beyond the first of a message (sent again after a fault).
    pub resent: u64,
    /// Messages delivered to the recipient more than once (the provider did not suppress).
    pub delivered_twice: u64,
    /// The bound on `resent`: the in-flight window times the site faults (at least one).
    pub resent_bound: u64,
    /// Messages on the handsets (the first copy per recipient and channel), whatever the keys.
    pub handset_messages: u64,
    /// Copies beyond the first on a handset (a recipient who got the message twice, whatever
    /// the keys).
    pub handset_duplicates: u64,
    /// Parts of multipart messages that never completed.
    pub orphan_fragments: u64,
    /// Per accepted alert, for the handset and cancel checks.
    #[serde(skip)]
    pub per_alert: Vec<AlertFigures>,
}

/// What the simulator saw of one alert, over its channels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertFigures {
    /// The alert.
    pub id: u64,
    /// Messages on handsets (first copies).
    pub messages: u64,
    /// Copies beyond the first.
    pub duplicates: u64,
    /// Of those, copies of a message a provider took without answering (a provider timeout
    /// after accepting, the scenario's `[sim]`).
    pub after_unanswered: u64,
    /// Orphan fragments.
    pub orphans: u64,
    /// First and last arrival at a provider, ms since the Unix epoch (0: none).
    pub first_received_ms: u64,
    /// See `first_received_ms`.
    pub last_received_ms: u64,
}

impl AlertFigures {
    fn of(counts: &AlertCounts) -> Self {
        let channels = counts.channels.values();
        AlertFigures {
            id: counts.alert,
            messages: channels.clone().map(|c| c.handsets).sum(),
            duplicates: counts.handset_duplicates,
            after_unanswered: counts.handset_duplicates_after_unanswered,
            orphans: counts.orphan_fragments,
            first_received_ms: channels
                .filter(|c| c.first_received_ms > 0)
                .map(|c| c.first_received_ms)
                .min()
                .unwrap_or(0),
            last_received_ms: counts.last_received_ms,
        }
    }
}

/// Checks it; returns the verdict and the counts.
pub async fn check(e: &Evidence) -> (Verdict, Messages) {
    let mut m = Messages::default();
    let mut problems = Vec::new();
    let acked = super::acks::attributed(e);
    for id in e.accepted().keys() {
        let counts = match e.sim.counts(*id).await {
            Ok(c) => c,
            Err(err) => {
                problems.push(format!("alert {id}: simulator counts: {err}"));
                continue;
            }
        };
        for ch in [Channel::Sms, Channel::Voice] {
            let c = counts.channel(ch);
            m.resent += c.receives.saturating_sub(c.distinct_keys);
            m.delivered_twice += c.keys_delivered_more_than_once;
        }
        let figures = AlertFigures::of(&counts);
        (m.handset_messages, m.handset_duplicates) =
            (m.handset_messages + figures.messages, m.handset_duplicates + figures.duplicates);
        m.orphan_fragments += figures.orphans;
        m.per_alert.push(figures);
        if e.alerts.get(id).is_some_and(|a| a.status == AlertStatus::Cancelled as i32) {
            continue;
        }
        let sms = counts.channel(Channel::Sms);
        m.required += e.recipients;
        if sms.distinct_keys < e.recipients {
            m.lost += e.recipients - sms.distinct_keys;
            problems.push(format!("alert {id}: {} of {} SMS received", sms.distinct_keys, e.recipients));
        }
        if e.escalate_after_s == 0 {
            continue;
        }
        let Some(due) = super::acks::step_due(e, *id) else {
            problems.push(format!("alert {id}: not readable after the run"));
            continue;
        };
        let listing = match e.sim.keys_limited(&format!("a{id}-"), 1_000_000).await {
            Ok(l) if !l.truncated => l,
            Ok(_) => {
                problems.push(format!("alert {id}: the simulator's key listing is truncated"));
                continue;
            }
            Err(err) => {
                problems.push(format!("alert {id}: simulator keys: {err}"));
                continue;
            }
        };
        for (key, contact) in super::acks::sms_recipients(&listing.keys) {
            // Acknowledged before the step: the call is not owed (and must not be made, which
            // the next invariant checks). Acknowledged after the step began but before the
            // call was placed (a reply a provider sent again after a fault, committed late; a
            // shard taken over late): the engine rightly skips it, so a missing call is not a
            // loss then either; a call that was placed is counted as owed.
            let voice = key.replace("-sms-0", "-voice-1");
            let called = listing.keys.contains_key(&voice);
            match acked.get(&(*id, contact)) {
                Some(at) if *at < due => continue,
                Some(_) if !called => continue,
                _ => {}
            }
            // The cluster kept this recipient's acknowledging reply: the engine rightly skipped
            // the call. The simulator dates a reply by its last answered copy, so a reply
            // committed by an attempt whose answer was lost (a write forwarded while leadership
            // moved) looks acknowledged only after the alert ended.
            if !called && acked_in_cluster(e, *id, contact).await {
                continue;
            }
            m.required += 1;
            if !called {
                m.lost += 1;
                problems.push(format!("{voice}: no voice call though never acknowledged"));
            }
        }
    }
    m.resent_bound = e.window_per_node * e.site_faults.max(1);
    let ok = problems.is_empty() && m.lost == 0 && m.resent <= m.resent_bound;
    let detail = if ok {
        format!(
            "{} required messages all received; {} re-sent (bound {}), {} delivered twice",
            m.required, m.resent, m.resent_bound, m.delivered_twice
        )
    } else {
        format!(
            "{} lost of {} required; {} re-sent (bound {}); {}",
            m.lost,
            m.required,
            m.resent,
            m.resent_bound,
            first(&problems, 5)
        )
    };
    (Verdict::new(NAME, ok, detail), m)
}

/// Whether the cluster keeps an acknowledging reply of `contact` to `alert` (read linearizably
/// with the run's token): only asked for a call that is missing, so rarely.
async fn acked_in_cluster(e: &Evidence, alert: u64, contact: u64) -> bool {
    let Ok(cluster) = crate::load::cluster_from(&e.nodes, 0) else { return false };
    match super::replies::list(&cluster, &e.token, alert, false).await {
        Ok(replies) => replies.iter().any(|r| r.contact_id == contact && r.acknowledges),
        Err(err) => {
            tracing::warn!(alert, error = ?err, "the kept replies could not be read; the call is counted as lost");
            false
        }
    }
}
