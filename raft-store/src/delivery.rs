//! Delivery commands as they travel in the log, and their answers.
//!
//! Nodes propose these themselves (over the internal Raft port); no tenant credential is
//! involved. They carry the work of sending:
//!
//! - [`DeliveryCommand::Heartbeat`]: a node says it is alive, renews the shard leases it holds
//!   and asks for more. Leases expire by the **log's** clock ([`LEASE_MS`] after the entry that
//!   granted or renewed them), never by one node's clock.
//! - [`DeliveryCommand::Record`]: outcomes of a contiguous range of a shard's recipients, with
//!   the fencing epoch of the lease they were sent under. A record from a node whose lease was
//!   taken over is refused (fenced), so a stalled node that wakes up cannot move a shard's
//!   cursor. The leader logs it as [`DeliveryCommand::RecordPacked`] (the outcomes packed) once
//!   every member reads that.
//! - receipts, acknowledgements, replies ([`crate::replies`]), expiry and release.
//! - [`DeliveryCommand::PushGone`]: a push service answered that a subscription no longer
//!   exists (404/410); the contact's subscription is marked invalid so later alerts skip it.

use serde::{Deserialize, Serialize};
use varsel_domain::model::{AlertId, Channel, ContactId};

use crate::types::NodeId;

/// How long a lease lasts after the entry that granted or renewed it, by the log's clock, unless
/// the heartbeat asks for another length (`delivery.lease_ms`). It must outlast a Raft
/// election, or survivors lose their leases while the cluster elects a new leader and send
/// their in-flight windows again.
pub const LEASE_MS: u64 = 2_500;

/// Shortest and longest lease a heartbeat may ask for.
pub const LEASE_MS_RANGE: std::ops::RangeInclusive<u64> = 500..=60_000;

/// Margin a lease holder keeps for clock skew between sites: it stops sending this long before
/// the lease would end by its own clock. Sites are expected to run NTP (skew of milliseconds).
pub const CLOCK_SKEW_MARGIN_MS: u64 = 250;

/// A node is counted as live while its last heartbeat is this many leases old (log clock).
pub const NODE_LIVE_LEASES: u64 = 3;

/// Most outcomes in one record command (about 60 bytes each without a failure reason).
pub const RECORD_OUTCOMES_MAX: usize = 8_000;

/// Most encoded bytes of the outcomes in one record command: a quarter of the 1 MiB a log
/// entry may hold, so a batch of long failures never reaches the entry limit.
pub const RECORD_BYTES_MAX: usize = 256 * 1024;

/// Longest failure reason kept in an outcome, in bytes (longer ones are cut at a character
/// boundary and end with `…`). Reasons may carry a provider's error text, which a provider or
/// a tenant-supplied endpoint chooses.
pub const REASON_BYTES_MAX: usize = 200;

/// Longest provider message id kept in an outcome, in bytes (cut like reasons).
pub const PROVIDER_ID_BYTES_MAX: usize = 128;

/// `text` cut to at most `max` bytes at a character boundary, ending with `…` when cut.
pub fn bounded_text(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(MARK);
    text
}

/// A shard of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShardRef {
    /// The alert.
    pub alert: AlertId,
    /// The shard's number in the alert's plan.
    pub shard: u32,
}

/// A lease on a shard: the shard and the fencing epoch it was granted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseRef {
    /// The shard.
    pub shard: ShardRef,
    /// Incremented every time the shard changes hands.
    pub epoch: u64,
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutcomeResult {
    /// A provider accepted it.
    Sent {
        /// The provider's id for it (to match delivery receipts).
        provider_id: String,
    },
    /// No provider would take it; final.
    Failed {
        /// Why (no secrets, no message body).
        reason: String,
    },
}

/// The outcome of one message of a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Position in the shard's range (member sequence number or direct-contact index).
    pub pos: u64,
    /// The recipient.
    pub contact: ContactId,
    /// The channel.
    pub channel: Channel,
    /// Sent or failed.
    pub result: OutcomeResult,
    /// Name of the provider that took (or last refused) it.
    pub provider: String,
    /// When it was handed over (ms, sender's clock; for reports only).
    pub at_ms: u64,
}

impl Outcome {
    /// The outcome with its reason and provider id cut to [`REASON_BYTES_MAX`] and
    /// [`PROVIDER_ID_BYTES_MAX`].
    pub fn bounded(mut self) -> Self {
        self.result = match self.result {
            OutcomeResult::Sent { provider_id } => {
                OutcomeResult::Sent { provider_id: bounded_text(provider_id, PROVIDER_ID_BYTES_MAX) }
            }
            OutcomeResult::Failed { reason } => {
                OutcomeResult::Failed { reason: bounded_text(reason, REASON_BYTES_MAX) }
            }
        };
        self.provider = bounded_text(self.provider, PROVIDER_ID_BYTES_MAX);
        self
    }

    /// The outcome with its reason and provider id cut to 32 bytes each: for the rare range
    /// whose outcomes do not fit a log entry even when bounded.
    pub fn compact(self) -> Self {
        let mut o = self.bounded();
        o.result = match o.result {
            OutcomeResult::Sent { provider_id } => {
                OutcomeResult::Sent { provider_id: bounded_text(provider_id, 32) }
            }
            OutcomeResult::Failed { reason } => OutcomeResult::Failed { reason: bounded_text(reason, 32) },
        };
        o.provider = bounded_text(o.provider, 32);
        o
    }

    /// About how many bytes it takes in a record command (for batching; the exact figure is
    /// [`ShardProgress::encoded_len`]).
    pub fn size_estimate(&self) -> usize {
        let text = match &self.result {
            OutcomeResult::Sent { provider_id } => provider_id.len(),
            OutcomeResult::Failed { reason } => reason.len(),
        };
        32 + self.provider.len() + text
    }
}

/// Progress on a contiguous range of one shard, for one channel of one escalation step, with
/// its outcomes as `O`: [`ShardProgress`] (plain, as nodes propose it) or [`PackedProgress`]
/// (packed, as a leader logs it). Both encode their fields in this order.
///
/// Each channel of a step has its own cursor, so a channel whose providers are all down holds
/// up only itself: the other channels of the step go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeProgress<O> {
    /// The lease it was done under.
    pub lease: LeaseRef,
    /// The escalation step.
    pub step: u8,
    /// The channel (one of the step's).
    pub channel: Channel,
    /// First position of the range; must equal the channel's recorded cursor.
    pub from: u64,
    /// One past the last position; the new cursor.
    pub to: u64,
    /// Distinct recipients in the range (counted by the first channel of step 0 only).
    pub recipients: u32,
    /// Messages sent or failed.
    pub outcomes: O,
    /// Messages not sent on purpose, per channel: opted out, no address, acknowledged, a
    /// duplicate of another target, or no longer a contact.
    pub skipped: Vec<(Channel, u32)>,
}

/// A range's progress with its outcomes plain.
pub type ShardProgress = RangeProgress<Vec<Outcome>>;

/// A range's progress with its outcomes packed as the state machine stores them
/// (`state_machine::delivery::packed::encode`, format version byte first; empty when there are
/// none): what a leader puts in the log in place of a [`DeliveryCommand::Record`], once every
/// member reads [`crate::types::LOG_FEATURE_PACKED_RECORD`]. An outcome takes about a third of
/// the bytes in the log, and each node stores the packed bytes as they came instead of
/// encoding them again.
pub type PackedProgress = RangeProgress<Vec<u8>>;

impl ShardProgress {
    /// Its encoded size in a log entry, in bytes.
    pub fn encoded_len(&self) -> usize {
        crate::format::encoded_len("shard progress", self).unwrap_or(usize::MAX)
    }

    /// The same progress with its outcomes packed.
    pub fn packed(&self) -> Result<PackedProgress, crate::error::EngineError> {
        let outcomes = if self.outcomes.is_empty() {
            Vec::new()
        } else {
            crate::state_machine::delivery::packed::encode(&self.outcomes)?
        };
        Ok(self.with_outcomes(outcomes))
    }
}

impl<O> RangeProgress<O> {
    /// The same range, lease and counts with `outcomes` in place of its own.
    pub fn with_outcomes<P>(&self, outcomes: P) -> RangeProgress<P> {
        RangeProgress {
            lease: self.lease,
            step: self.step,
            channel: self.channel,
            from: self.from,
            to: self.to,
            recipients: self.recipients,
            outcomes,
            skipped: self.skipped.clone(),
        }
    }
}

/// A delivery receipt matched to its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptItem {
    /// The alert.
    pub alert: AlertId,
    /// The recipient.
    pub contact: ContactId,
    /// The channel.
    pub channel: Channel,
    /// True when delivered, false when the network reported it undeliverable.
    pub delivered: bool,
    /// The provider's message id.
    pub provider_id: String,
    /// The reason when undeliverable.
    pub error: Option<String>,
}

/// A push subscription a push service reported gone, for the contact of one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushGoneItem {
    /// The alert whose message was refused (its tenant owns the contact).
    pub alert: AlertId,
    /// The contact.
    pub contact: ContactId,
    /// The subscription the message went to. Only this subscription is marked invalid: if the
    /// contact has since been given a new one, the new one is kept.
    pub subscription: String,
}

/// Commands of the delivery engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeliveryCommand {
    /// Liveness, lease renewal and lease requests of one node.
    Heartbeat {
        /// The node.
        node: NodeId,
        /// Leases to renew.
        renew: Vec<LeaseRef>,
        /// Shards it would like (unowned or expired ones are granted).
        acquire: Vec<ShardRef>,
        /// Length of the leases granted or renewed (clamped to [`LEASE_MS_RANGE`]).
        lease_ms: u64,
    },
    /// Outcomes of ranges of shards held by `node`.
    Record {
        /// The node.
        node: NodeId,
        /// The ranges.
        items: Vec<ShardProgress>,
    },
    /// Gives leases back (site drain, shutdown).
    Release {
        /// The node.
        node: NodeId,
        /// The leases.
        leases: Vec<LeaseRef>,
    },
    /// Delivery receipts.
    Receipts {
        /// The receipts.
        items: Vec<ReceiptItem>,
    },
    /// Acknowledgements from recipients (replies, keypad presses).
    Acks {
        /// (alert, contact, channel).
        items: Vec<(AlertId, ContactId, Option<Channel>)>,
    },
    /// Ends an alert whose expiry passed (by the log's clock).
    Expire {
        /// The alert.
        alert: AlertId,
    },
    /// Push subscriptions that push services reported gone.
    PushGone {
        /// The subscriptions.
        items: Vec<PushGoneItem>,
    },
    /// Recipients' replies, each kept (once) and, when it acknowledges its alert, acknowledging
    /// it. Appended last so that entries written before it decode unchanged.
    Replies {
        /// The replies (at most [`crate::replies::REPLIES_PER_ENTRY_MAX`]).
        items: Vec<crate::replies::ReplyItem>,
    },
    /// Removes at most `budget` records of finished alerts whose retention passed, by the
    /// log's clock (see `state_machine::retention`). Proposed by the leader while any is due.
    Purge {
        /// Most records removed by this entry (clamped to [`PURGE_BUDGET_MAX`]).
        budget: u32,
    },
    /// Results of webhook delivery attempts (see [`crate::webhooks`]).
    WebhookResults {
        /// The node that tried.
        node: NodeId,
        /// One per attempt (at most [`crate::webhooks::RESULTS_PER_ENTRY_MAX`]).
        items: Vec<crate::webhooks::WebhookResult>,
    },
    /// A node's circuit to a provider opened or closed (a webhook event).
    Circuit {
        /// The node.
        node: NodeId,
        /// The provider's channel.
        channel: String,
        /// The provider.
        provider: String,
        /// Opened (or closed).
        open: bool,
    },
    /// Recipients' choices among alerts' answer options: keypad presses and the response
    /// page (SMS replies choose through [`DeliveryCommand::Replies`]). See
    /// `state_machine::domain::answers`.
    Answers {
        /// The answers (at most [`crate::state_machine::domain::answers::ANSWERS_PER_ENTRY_MAX`]).
        items: Vec<crate::state_machine::domain::answers::AnswerItem>,
    },
    /// [`DeliveryCommand::Record`] with each range's outcomes packed ([`PackedProgress`]),
    /// applied exactly as the record it was made from. Nodes propose `Record`; a leader turns
    /// it into this once every member reads [`crate::types::LOG_FEATURE_PACKED_RECORD`].
    RecordPacked {
        /// The node.
        node: NodeId,
        /// The ranges.
        items: Vec<PackedProgress>,
    },
}

impl DeliveryCommand {
    /// A [`DeliveryCommand::Record`] as a [`DeliveryCommand::RecordPacked`]; `None` for any
    /// other command.
    pub fn packed_record(&self) -> Option<Result<DeliveryCommand, crate::error::EngineError>> {
        let DeliveryCommand::Record { node, items } = self else { return None };
        Some(
            items
                .iter()
                .map(ShardProgress::packed)
                .collect::<Result<_, _>>()
                .map(|items| DeliveryCommand::RecordPacked { node: *node, items }),
        )
    }
}

/// The most records one `Purge` entry removes, whatever it asks.
pub const PURGE_BUDGET_MAX: u32 = 10_000;

impl DeliveryCommand {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryCommand::Heartbeat { .. } => "delivery.heartbeat",
            DeliveryCommand::Record { .. } | DeliveryCommand::RecordPacked { .. } => "delivery.record",
            DeliveryCommand::Release { .. } => "delivery.release",
            DeliveryCommand::Receipts { .. } => "delivery.receipts",
            DeliveryCommand::Acks { .. } => "delivery.acks",
            DeliveryCommand::Expire { .. } => "delivery.expire",
            DeliveryCommand::PushGone { .. } => "delivery.push_gone",
            DeliveryCommand::Replies { .. } => "delivery.replies",
            DeliveryCommand::Purge { .. } => "delivery.purge",
            DeliveryCommand::WebhookResults { .. } => "delivery.webhook_results",
            DeliveryCommand::Circuit { .. } => "delivery.circuit",
            DeliveryCommand::Answers { .. } => "delivery.answers",
        }
    }
}

/// A lease as granted or renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Granted {
    /// The lease.
    pub lease: LeaseRef,
    /// When it ends (lease clock, ms).
    pub expires_ms: u64,
}

/// What applying a delivery command answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryReply {
    /// Answer to a heartbeat.
    Leases {
        /// Newly granted.
        granted: Vec<Granted>,
        /// Renewed.
        renewed: Vec<Granted>,
        /// No longer held (taken over, finished, or alert gone).
        lost: Vec<LeaseRef>,
        /// The lease clock of the entry.
        now_ms: u64,
    },
    /// Answer to a record: which items were accepted; the others were fenced.
    Recorded {
        /// One flag per item, in order.
        accepted: Vec<bool>,
    },
    /// Done; nothing to report.
    Done,
    /// Answer to a purge: records removed, and whether more was due than it removed.
    Purged {
        /// Records removed.
        records: u64,
        /// More is due.
        more: bool,
    },
    /// Answer to [`DeliveryCommand::Answers`]: one outcome per item, in order.
    Answered {
        /// The outcomes.
        outcomes: Vec<crate::state_machine::domain::answers::AnswerOutcome>,
    },
}

/// The state of one shard.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShardState {
    /// The node holding the lease, if any.
    pub owner: Option<NodeId>,
    /// The fencing epoch of the current (or last) lease.
    pub epoch: u64,
    /// When the lease ends (lease clock).
    pub expires_ms: u64,
    /// The escalation step being worked on.
    pub step: u8,
    /// Next position to process in that step, per channel of the step (in the step's order);
    /// empty until the first lease sets them.
    pub cursors: Vec<u64>,
    /// Every step is done.
    pub done: bool,
}

/// A receipt as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReceipt {
    /// Delivered or not.
    pub delivered: bool,
    /// When it was recorded (log clock).
    pub at_ms: u64,
    /// The provider's message id.
    pub provider_id: String,
    /// Reason when undeliverable.
    pub error: Option<String>,
}

pub use varsel_domain::message_key::{message_key, parse_message_key};

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: texts are cut to their bound at a character boundary, marked, and left alone
    /// when within it.
    #[test]
    fn bounded_text_cuts_at_a_character_boundary() {
        assert_eq!(bounded_text("kort".into(), 10), "kort");
        let long = "ø".repeat(300);
        let cut = bounded_text(long, REASON_BYTES_MAX);
        assert!(cut.len() <= REASON_BYTES_MAX && cut.ends_with('…'), "{}", cut.len());
        assert!(cut.starts_with("øø"));
        let outcome = Outcome {
            pos: 1,
            contact: 2,
            channel: Channel::Sms,
            result: OutcomeResult::Failed { reason: "x".repeat(5_000) },
            provider: "p".repeat(500),
            at_ms: 3,
        }
        .bounded();
        assert!(outcome.provider.len() <= PROVIDER_ID_BYTES_MAX);
        assert!(outcome.size_estimate() <= 32 + PROVIDER_ID_BYTES_MAX + REASON_BYTES_MAX);
    }
}
