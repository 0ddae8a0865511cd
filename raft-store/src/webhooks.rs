//! Outbound webhooks as they are replicated: subscriptions, events, the outbox, attempts.
//!
//! A tenant's admin subscribes an endpoint to kinds of events ([`EventKind`]). When such a
//! thing happens, the state machine, applying the entry that made it happen, writes one
//! [`WebhookEvent`] (its payload rendered there, so every node holds the same bytes) and one
//! [`OutboxEntry`] per enabled subscription whose list names the kind. Any node can therefore
//! deliver, and a node that dies mid-delivery loses nothing: the entry stays in the outbox until
//! a [`DeliveryCommand::WebhookResults`](crate::delivery::DeliveryCommand::WebhookResults)
//! saying it was answered 2xx is applied.
//!
//! The secret is replicated in the clear, like the provider credentials the nodes must hold to
//! send: every node must be able to sign. It is shown to the tenant once, at creation.
//!
//! Event ids are `msg_<log index>_<n>` (n: the event's place among those of its entry), the
//! same on every node, used as the `webhook-id` header so receivers can drop duplicates.

use serde::{Deserialize, Serialize};
use varsel_domain::model::{AlertId, TenantId};

/// Subscriptions a tenant may hold: each receives every event it subscribes to, so the bound
/// bounds the outbox entries one event makes.
pub const WEBHOOKS_PER_TENANT_MAX: usize = 20;

/// Outbox entries (undelivered event copies) a tenant may have. An endpoint that is down for an
/// hour during a large alert sees a few hundred events (a handful per alert, one per
/// acknowledgement); 10,000 leaves room for a hundred times that. When full, the oldest entry
/// of a *disabled* endpoint of the tenant is dropped to make room; when there is none, the new
/// event is not queued for that endpoint. Either way the endpoint's `dropped` count grows.
pub const OUTBOX_PER_TENANT_MAX: u64 = 10_000;

/// Consecutive failed attempts (across the endpoint's events) after which an endpoint is
/// disabled. With the node's default retry schedule (see the delivery worker) one event's
/// eight attempts span about an hour: long enough to ride out a restart or a failover of the
/// receiver, short enough that a crisis team learns within the hour that its integration is
/// dead (Standard Webhooks' reference retries for five days, which is longer than most crises).
pub const DISABLE_AFTER_FAILURES: u32 = 8;

/// Attempts kept per endpoint for `ListWebhookDeliveries`; older ones are removed as new ones
/// are written.
pub const ATTEMPTS_KEPT_PER_WEBHOOK: u64 = 200;

/// Longest retry delay the log accepts from a worker, ms (a larger one is cut to this).
pub const RETRY_DELAY_MAX_MS: u64 = 60 * 60 * 1000;

/// Longest URL, bytes.
pub const URL_BYTES_MAX: usize = 2_048;

/// Longest description, bytes.
pub const DESCRIPTION_BYTES_MAX: usize = 200;

/// Longest error text kept with an attempt, bytes.
pub const ERROR_BYTES_MAX: usize = 200;

/// Results one [`crate::delivery::DeliveryCommand::WebhookResults`] may carry.
pub const RESULTS_PER_ENTRY_MAX: usize = 256;

/// Prefix of a signing secret (Standard Webhooks).
pub const SECRET_PREFIX: &str = "whsec_";

/// Bytes of randomness in a new secret (the spec asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// A webhook's id.
pub type WebhookId = u64;

/// Kinds of events an endpoint can subscribe to. New kinds are appended (postcard encodes
/// variants by position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// An alert was accepted.
    AlertCreated,
    /// The first shard of an alert began a step of its escalation policy (step 0: sending
    /// began).
    StepStarted,
    /// Every step ran on every shard.
    AlertCompleted,
    /// An operator cancelled the alert.
    AlertCancelled,
    /// Its expiry passed before it completed.
    AlertExpired,
    /// A recipient acknowledged.
    Acknowledged,
    /// A reply could not be attributed to an alert.
    ReplyUnmatched,
    /// A node's circuit to a provider opened.
    CircuitOpen,
    /// A node's circuit to a provider closed again.
    CircuitClosed,
}

impl EventKind {
    /// Every kind, in order.
    pub const ALL: [EventKind; 9] = [
        EventKind::AlertCreated,
        EventKind::StepStarted,
        EventKind::AlertCompleted,
        EventKind::AlertCancelled,
        EventKind::AlertExpired,
        EventKind::Acknowledged,
        EventKind::ReplyUnmatched,
        EventKind::CircuitOpen,
        EventKind::CircuitClosed,
    ];

    /// The `type` of the payload, e.g. `alert.completed`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AlertCreated => "alert.created",
            EventKind::StepStarted => "alert.step_started",
            EventKind::AlertCompleted => "alert.completed",
            EventKind::AlertCancelled => "alert.cancelled",
            EventKind::AlertExpired => "alert.expired",
            EventKind::Acknowledged => "alert.acknowledged",
            EventKind::ReplyUnmatched => "reply.unmatched",
            EventKind::CircuitOpen => "provider.circuit_open",
            EventKind::CircuitClosed => "provider.circuit_closed",
        }
    }

    /// The kind named `s` (see [`EventKind::as_str`]).
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Where events are POSTed.
    pub url: String,
    /// What it receives (sorted, no duplicates).
    pub events: Vec<EventKind>,
    /// The signing secret, `whsec_` + base64.
    pub secret: String,
    /// Plain http to a loopback address is allowed (set by an admin at creation).
    pub allow_insecure: bool,
    /// Free text.
    pub description: String,
    /// When it was created (log clock).
    pub created_at_ms: u64,
    /// Why it is disabled; `None` while enabled.
    pub disabled: Option<Disabled>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Attempts recorded so far (the sequence of the attempts table).
    pub attempts: u64,
    /// Events delivered (2xx).
    pub delivered: u64,
    /// Events not queued or dropped from the outbox because it was full.
    pub dropped: u64,
}

/// Why and when an endpoint was disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    /// When (log clock).
    pub at_ms: u64,
    /// Why, for people.
    pub reason: String,
}

/// An event, stored once and shared by the outbox entries that refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Its kind.
    pub kind: EventKind,
    /// The alert it is about (events of one alert are delivered in order).
    pub alert: Option<AlertId>,
    /// When it happened (log clock).
    pub at_ms: u64,
    /// The JSON body sent, `{"type", "timestamp", "data"}`.
    pub body: String,
    /// Outbox entries still referring to it; the event is removed at zero.
    pub pending: u32,
}

/// Identifies an event: the log index of the entry that made it and its place there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventRef {
    /// The log index.
    pub index: u64,
    /// The event's place among those of its entry.
    pub n: u32,
}

impl EventRef {
    /// The `webhook-id` of the event.
    pub fn msg_id(self) -> String {
        format!("msg_{}_{}", self.index, self.n)
    }
}

/// One event waiting for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The alert it is about (copied from the event, for ordering without reading it).
    pub alert: Option<AlertId>,
    /// Attempts so far.
    pub attempts: u32,
    /// Not before this time (log clock, ms).
    pub next_at_ms: u64,
}

/// What one delivery attempt gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The event.
    pub event: EventRef,
    /// Its kind.
    pub kind: EventKind,
    /// When the event happened (log clock).
    pub event_at_ms: u64,
    /// When the result was recorded (log clock).
    pub at_ms: u64,
    /// The node that tried.
    pub node: u64,
    /// HTTP status, 0 when there was no answer.
    pub status: u16,
    /// Whether it counts as delivered (2xx).
    pub ok: bool,
    /// What went wrong, bounded.
    pub error: String,
    /// How long the call took, ms.
    pub duration_ms: u64,
    /// The attempt's number for this event (1 for the first).
    pub attempt: u32,
}

/// A worker's report on one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookResult {
    /// The tenant.
    pub tenant: TenantId,
    /// The endpoint.
    pub webhook: WebhookId,
    /// The event.
    pub event: EventRef,
    /// HTTP status, 0 when there was no answer.
    pub status: u16,
    /// Answered 2xx.
    pub ok: bool,
    /// What went wrong.
    pub error: String,
    /// How long the call took, ms.
    pub duration_ms: u64,
    /// When to try again if it failed, ms after the entry is applied (at most
    /// [`RETRY_DELAY_MAX_MS`]).
    pub retry_in_ms: u64,
}

/// An outbox entry that is due, as the worker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    /// The tenant.
    pub tenant: TenantId,
    /// The endpoint.
    pub webhook: WebhookId,
    /// The event.
    pub event: EventRef,
    /// The entry.
    pub entry: OutboxEntry,
}
