//! What providers hand to the engine: delivery receipts, replies and acknowledgements that
//! arrive on their own connections or webhooks, and whether they were recorded.

use varsel_domain::model::Channel;

use super::BoxFuture;

/// A reply from a recipient, as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyIn {
    /// The phone number it came from (E.164).
    pub from: String,
    /// The number or short code it was sent to, if the provider says: with
    /// `delivery.reply_routes` it names the tenant the reply is for.
    pub to: Option<String>,
    /// The provider that received it.
    pub provider: String,
    /// Its text.
    pub text: String,
    /// The channel (SMS, or voice for a keypad press).
    pub channel: Channel,
    /// When the recipient sent it, if the provider says: it is then matched only to alerts
    /// created before it.
    pub sent_at_ms: Option<u64>,
    /// The provider's id for the reply, if it gives one: a copy with the same id is kept once.
    pub id: Option<String>,
    /// The message it answers, if the provider says: our message key, or the provider's id
    /// for our message (as in its receipt). Attributes the reply without doubt.
    pub in_reply_to: Option<String>,
}

/// One thing a provider reported, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundItem {
    /// A delivery receipt for the message with `key`.
    Receipt {
        /// The message key.
        key: String,
        /// Delivered (true) or undeliverable.
        delivered: bool,
        /// The provider's message id.
        provider_id: String,
        /// Why undeliverable.
        error: Option<String>,
    },
    /// A reply from a recipient.
    Reply(ReplyIn),
    /// An acknowledgement by the recipient of the message with `key` (a voice keypad press).
    Ack {
        /// The message key.
        key: String,
        /// The channel it came on.
        channel: Channel,
    },
    /// A keypad digit 1-9 pressed by the recipient of the message with `key`: an answer on an
    /// alert with answer options; on one without, an acknowledgement when `ack`.
    Keypad {
        /// The message key.
        key: String,
        /// The digit.
        digit: u8,
        /// The digit is one the provider's configuration says acknowledges.
        ack: bool,
    },
}

/// Why inbound items were not recorded: the provider must send them again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundRefused {
    /// Too many items are waiting to be written: back-pressure.
    #[error("too many receipts and replies waiting; send again later")]
    Busy,
    /// The write did not commit (no quorum, timeout) or the engine is not running.
    #[error("not recorded: {0}")]
    NotRecorded(String),
}

/// Where providers hand what arrives on their own connections: delivery receipts matched to
/// a message key, and replies from recipients (an SMPP `deliver_sm`, a voice keypad press).
/// The engine forwards both to its receipts actor, which writes them to the log.
pub trait InboundSink: Send + Sync + std::fmt::Debug {
    /// A delivery receipt for the message with this key.
    fn receipt(&self, key: &str, delivered: bool, provider_id: &str, error: Option<String>);
    /// A reply from a recipient.
    fn reply(&self, reply: ReplyIn);
    /// An acknowledgement of the alert of the message with this key by its recipient (a
    /// keypad press in a voice call). Sinks of providers that cannot receive one need not
    /// implement it; the default drops it with a log line.
    fn ack(&self, key: &str, channel: Channel) {
        tracing::warn!(key, channel = %channel, "acknowledgement dropped: this sink does not take them");
    }
    /// The push subscription `subscription` of the message with this key is gone (the push
    /// service answered 404 or 410): later alerts must skip it. Default: dropped with a log line.
    fn push_gone(&self, key: &str, subscription: &str) {
        let _ = subscription;
        tracing::warn!(key, "push subscription gone, but this sink does not record it");
    }
    /// Records `items` and resolves once their effect is committed, or with why not: a
    /// webhook or `deliver_sm` is answered with success only then, so the provider sends again
    /// whatever was not recorded. The default hands them to the methods above and resolves at
    /// once (sinks that record nothing durable: tests, benchmarks).
    fn record(&self, items: Vec<InboundItem>) -> BoxFuture<'_, Result<(), InboundRefused>> {
        for item in items {
            match item {
                InboundItem::Receipt { key, delivered, provider_id, error } => {
                    self.receipt(&key, delivered, &provider_id, error)
                }
                InboundItem::Reply(r) => self.reply(r),
                InboundItem::Ack { key, channel } => self.ack(&key, channel),
                // Such sinks record nothing durable; an acknowledging digit still counts.
                InboundItem::Keypad { key, ack: true, .. } => self.ack(&key, Channel::Voice),
                InboundItem::Keypad { .. } => {}
            }
        }
        Box::pin(async { Ok(()) })
    }
}
