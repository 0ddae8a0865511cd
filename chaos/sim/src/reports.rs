//! The answers of the admin API, shared by the server and [`crate::SimClient`].
//!
//! Counting rules, which tests rely on:
//! - `received` counts every message of every batch that got a 200 answer;
//!   `received = accepted + rejected_retryable + rejected_permanent`.
//! - `accepted` counts every `accepted` result, including idempotent repeats;
//!   `duplicate_suppressed` and `duplicate_delivered` are parts of it. Messages handed to a
//!   recipient ("deliveries") are `accepted - duplicate_suppressed`.
//! - Whole-batch refusals (503, 429) count in `batches_unavailable` / `batches_throttled`
//!   and nowhere else; 400 and 413 count nowhere.
//! - A batch throttled part-way is answered 200: its refused messages count in
//!   `rejected_retryable` and also in `throttled_mid_batch`.
//! - A batch taken and then not answered in time (`timeout_after_accept_rate`) counts like an
//!   answered one (its messages were recorded and delivered) and also in
//!   `batches_unanswered`, its messages in `messages_unanswered`.
//! - Handset figures (`handsets`, `handset_messages`, `handset_duplicates`,
//!   `orphan_fragments`) count what recipients see, whatever the keys: see `crate::handset`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Channel;

/// Message counters of one provider, or summed over all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub received: u64,
    pub accepted: u64,
    pub rejected_retryable: u64,
    pub rejected_permanent: u64,
    /// Repeats of a key this provider had accepted, answered with the same provider id.
    pub duplicate_suppressed: u64,
    /// Repeats of a key this provider had accepted, delivered again (idempotency off).
    pub duplicate_delivered: u64,
    /// Batches answered 200.
    pub batches: u64,
    /// Batches answered 503 (outage).
    pub batches_unavailable: u64,
    /// Batches answered 429 (over `rate_per_second`).
    pub batches_throttled: u64,
    /// Receipts a node acknowledged.
    pub receipts_sent: u64,
    /// Replies a node acknowledged.
    pub replies_sent: u64,
    /// Messages answered `retryable` because their batch was throttled part-way.
    #[serde(default)]
    pub throttled_mid_batch: u64,
    /// Batches recorded and delivered, then not answered in time.
    #[serde(default)]
    pub batches_unanswered: u64,
    /// The messages of those batches: on the handsets, though the client saw a failure.
    #[serde(default)]
    pub messages_unanswered: u64,
}

impl Counters {
    /// Adds `other` field by field.
    pub fn add(&mut self, other: &Counters) {
        self.received += other.received;
        self.accepted += other.accepted;
        self.rejected_retryable += other.rejected_retryable;
        self.rejected_permanent += other.rejected_permanent;
        self.duplicate_suppressed += other.duplicate_suppressed;
        self.duplicate_delivered += other.duplicate_delivered;
        self.batches += other.batches;
        self.batches_unavailable += other.batches_unavailable;
        self.batches_throttled += other.batches_throttled;
        self.receipts_sent += other.receipts_sent;
        self.replies_sent += other.replies_sent;
        self.throttled_mid_batch += other.throttled_mid_batch;
        self.batches_unanswered += other.batches_unanswered;
        self.messages_unanswered += other.messages_unanswered;
    }
}

/// One provider in `GET /admin/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProviderStats {
    /// Its counters.
    #[serde(flatten)]
    pub counters: Counters,
    /// Whether it is in an outage now.
    pub outage: bool,
}

/// `GET /admin/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The seed in force.
    pub seed: u64,
    /// Per provider, by name.
    pub providers: BTreeMap<String, ProviderStats>,
    /// Summed over the providers.
    pub totals: Counters,
    /// Distinct keys received by any provider.
    pub distinct_keys: u64,
    /// Distinct keys beyond `keys_recorded_max`: counted but not listed by `/admin/keys`.
    pub keys_not_listed: u64,
    /// Arrivals for alerts beyond [`crate::limits::ALERTS_TRACKED_MAX`]: not in
    /// `/admin/counts`.
    pub alerts_untracked: u64,
    /// Receipts and replies waiting to be sent.
    pub callbacks_queued: u64,
    /// Receipts and replies given up: queue full, no callback URL, or every attempt failed.
    pub callbacks_dropped: u64,
    /// Failed callback request attempts (each may be retried).
    pub callback_failures: u64,
    /// Receipts: sent, acknowledged, redelivered, given up.
    #[serde(default)]
    pub receipts: CallbackStats,
    /// Replies: sent, acknowledged, redelivered, given up.
    #[serde(default)]
    pub replies: CallbackStats,
    /// Deliveries not in the handset figures because a handset table was full
    /// ([`crate::limits::HANDSETS_MAX`], [`crate::limits::PARTIAL_MESSAGES_MAX`]).
    #[serde(default)]
    pub handsets_untracked: u64,
}

/// The callbacks of one kind (receipts or replies), counted per item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackStats {
    /// Items put in a request, once per attempt (a retried request counts again).
    pub sent: u64,
    /// Items in a request a node answered 2xx (a deliberate duplicate counts again).
    pub acknowledged: u64,
    /// Items queued for another send: a redelivery round after every attempt failed
    /// (`redeliver_callbacks`), or a duplicate of an acknowledged one
    /// (`duplicate_callback_rate`).
    pub redelivered: u64,
    /// Items given up: queue full, no callback URL, or every attempt and redelivery failed.
    /// Receipts and replies together make `callbacks_dropped`.
    pub given_up: u64,
}

impl Stats {
    /// The stats of `provider`, zero when there is no such provider.
    pub fn provider(&self, provider: &str) -> ProviderStats {
        self.providers
            .get(provider)
            .copied()
            .unwrap_or(ProviderStats { counters: Counters::default(), outage: false })
    }
}

/// One key in `GET /admin/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Times it arrived, at any provider, whatever the answer.
    pub count: u32,
    /// Times it was handed to a recipient (`count` less rejections and suppressed repeats).
    pub delivered: u32,
    /// Providers it arrived at, in configuration order.
    pub providers: Vec<String>,
}

/// `GET /admin/keys?prefix=..&limit=..`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeysListing {
    /// Keys starting with the prefix, in order, at most `limit`.
    pub keys: BTreeMap<String, KeyInfo>,
    /// More keys matched than `limit`.
    pub truncated: bool,
    /// Distinct keys not kept for listing (beyond `keys_recorded_max`): when non-zero the
    /// listing may miss keys; use `/admin/counts`, which is exact.
    pub keys_not_listed: u64,
}

/// Exact counts for one (alert, channel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCounts {
    /// Distinct keys received.
    pub distinct_keys: u64,
    /// Arrivals; `receives - distinct_keys` is the number of repeats.
    pub receives: u64,
    /// Keys that arrived more than once.
    pub keys_received_more_than_once: u64,
    /// Distinct keys handed to a recipient at least once.
    pub delivered_keys: u64,
    /// Deliveries; `deliveries - delivered_keys` is the number of duplicate messages a
    /// recipient got.
    pub deliveries: u64,
    /// Keys delivered more than once (recipients who got the message twice or more).
    pub keys_delivered_more_than_once: u64,
    /// Handsets (addresses) that show at least one complete message of this alert and
    /// channel, whatever the keys.
    #[serde(default)]
    pub handsets: u64,
    /// Complete messages the handsets show (a multipart message once all its parts arrived).
    #[serde(default)]
    pub handset_messages: u64,
    /// Copies beyond the first on a handset: `handset_messages - handsets`. Counts what keys
    /// hide: another provider taking the same key, a provider ignoring keys, a new key.
    #[serde(default)]
    pub handset_duplicates: u64,
    /// Of those, copies of a message an earlier copy of which the provider took without
    /// answering (`timeout_after_accept_rate`): a client that cannot tell whether it was
    /// taken sends it again, and without a key the handset shows it twice.
    #[serde(default)]
    pub handset_duplicates_after_unanswered: u64,
    /// Parts of multipart messages whose other parts have not arrived (now): pieces of a
    /// message on a handset.
    #[serde(default)]
    pub orphan_fragments: u64,
    /// First arrival of a message of this alert and channel at any provider, ms since the
    /// Unix epoch (0: none).
    #[serde(default)]
    pub first_received_ms: u64,
    /// Last arrival (whatever the answer): the last message a node handed to a provider.
    #[serde(default)]
    pub last_received_ms: u64,
}

/// `GET /admin/counts?alert=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertCounts {
    /// The alert asked for.
    pub alert: u64,
    /// Per channel that received anything for it.
    pub channels: BTreeMap<Channel, ChannelCounts>,
    /// Summed over the channels: copies beyond the first per recipient and channel.
    #[serde(default)]
    pub handset_duplicates: u64,
    /// Summed over the channels: of those, copies after an unanswered acceptance.
    #[serde(default)]
    pub handset_duplicates_after_unanswered: u64,
    /// Summed over the channels: fragments of messages that never completed (so far).
    #[serde(default)]
    pub orphan_fragments: u64,
    /// The latest `last_received_ms` of the channels (0: nothing arrived).
    #[serde(default)]
    pub last_received_ms: u64,
}

impl AlertCounts {
    /// The counts of `alert` with their totals.
    pub fn new(alert: u64, channels: BTreeMap<Channel, ChannelCounts>) -> Self {
        let sum = |f: fn(&ChannelCounts) -> u64| channels.values().map(f).sum();
        AlertCounts {
            alert,
            handset_duplicates: sum(|c| c.handset_duplicates),
            handset_duplicates_after_unanswered: sum(|c| c.handset_duplicates_after_unanswered),
            orphan_fragments: sum(|c| c.orphan_fragments),
            last_received_ms: channels.values().map(|c| c.last_received_ms).max().unwrap_or(0),
            channels,
        }
    }

    /// The counts of `channel`, zero when nothing arrived on it.
    pub fn channel(&self, channel: Channel) -> ChannelCounts {
        self.channels.get(&channel).copied().unwrap_or_default()
    }
}

/// One reply in `GET /admin/replies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyRecord {
    /// The provider's id for the reply.
    #[serde(default)]
    pub id: String,
    /// Key of the message replied to.
    pub key: String,
    /// Provider that delivered it.
    pub provider: String,
    /// The recipient's number.
    pub from: String,
    /// What was replied.
    pub text: String,
    /// The provider id of the message.
    pub provider_id: String,
    /// When a node acknowledged the reply (accepted its webhook), in ms since the Unix epoch:
    /// from then on the acknowledgement is recorded in the cluster.
    #[serde(default)]
    pub acknowledged_at_ms: u64,
    /// When the recipient sent it, ms since the Unix epoch.
    #[serde(default)]
    pub sent_at_ms: u64,
}

/// `GET /admin/replies?limit=..`: replies a node acknowledged, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepliesListing {
    /// At most `limit` and [`crate::limits::REPLIES_RECORDED_MAX`].
    pub replies: Vec<ReplyRecord>,
    /// Replies acknowledged in all, listed or not.
    pub total: u64,
    /// Fewer are listed than were acknowledged.
    pub truncated: bool,
}

/// One receipt in `GET /admin/receipts`: a node answered it with success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// Key of the message it reports on.
    pub key: String,
    /// Provider that sent it.
    pub provider: String,
    /// Delivered, or failed.
    pub delivered: bool,
    /// When a node acknowledged it, ms since the Unix epoch.
    pub acknowledged_at_ms: u64,
}

/// `GET /admin/receipts?limit=..`: receipts a node acknowledged, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsListing {
    /// At most `limit` and [`crate::limits::RECEIPTS_RECORDED_MAX`].
    pub receipts: Vec<ReceiptRecord>,
    /// Receipts acknowledged in all, listed or not.
    pub total: u64,
    /// Fewer are listed than were acknowledged.
    pub truncated: bool,
}

/// One delivery in `GET /admin/inbox`: what a recipient's handset, mailbox or device got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxMessage {
    /// When the provider took the message, ms since the Unix epoch (the simulator's clock).
    pub at_ms: u64,
    /// The provider that delivered it.
    pub provider: String,
    /// The message's idempotency key.
    pub key: String,
    /// The tenant.
    pub tenant: u64,
    /// The alert.
    pub alert: u64,
    /// The channel.
    pub channel: Channel,
    /// Phone number, e-mail address or push endpoint.
    pub to: String,
    /// The SMS text, the e-mail's plain text (its HTML when it has none), the voice script,
    /// or the push body.
    pub text: String,
    /// The e-mail subject or the push title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The language a voice script is to be spoken in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// `GET /admin/inbox?alert=N&to=..&limit=..`: deliveries kept, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxListing {
    /// The kept deliveries that match, at most `limit`.
    pub messages: Vec<InboxMessage>,
    /// Deliveries in all, kept or not, of any alert.
    pub total: u64,
    /// Deliveries not kept because the inbox was full (`inbox_max`): when non-zero, a
    /// listing may miss some.
    pub not_kept: u64,
}
