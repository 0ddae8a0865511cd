//! The provider wire protocol: message batches and their results, and the receipts and
//! replies the simulator posts back to the nodes. The node's provider client is written
//! against exactly these shapes; see the crate documentation for the endpoints.
//!
//! Strings are `Cow` so the server decodes a 4 MiB batch without copying the strings that
//! carry no escapes; the client builds owned ones.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::config::Channel;

/// The body of `POST /v1/providers/{provider}/messages`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubmitRequest<'a> {
    /// At most [`crate::limits::BATCH_MESSAGES_MAX`].
    #[serde(borrow)]
    pub messages: Vec<Message<'a>>,
}

/// One message. Only the object of the message's own channel is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message<'a> {
    /// Idempotency key, `a{alert}-c{contact}-{channel}-{step}`.
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    /// Channel; must be the provider's.
    pub channel: Channel,
    /// Phone number (E.164), e-mail address or push endpoint.
    #[serde(borrow)]
    pub to: Cow<'a, str>,
    /// Tenant id.
    pub tenant: u64,
    /// Alert id; `/admin/counts` groups by it.
    pub alert: u64,
    /// `crisis` or `routine`; recorded by real providers, ignored here.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Cow<'a, str>>,
    /// Base URL of the node that sent it, for receipts and replies.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Cow<'a, str>>,
    /// The number, short code or sender name it is sent from; replies go to it. Absent: the
    /// provider's own sender name.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub from: Option<Cow<'a, str>>,
    /// SMS content.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsContent<'a>>,
    /// E-mail content.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailContent<'a>>,
    /// Voice content.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub voice: Option<VoiceContent<'a>>,
    /// Push content.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushContent<'a>>,
    /// One segment of a concatenated (multipart) SMS, sent on its own; absent for a whole
    /// message. The handset shows the message once every part of one `reference` arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
}

/// Which segment of a concatenated SMS a message is (the UDH concatenation header of
/// 3GPP TS 23.040 §9.2.3.24.1): parts with the same `reference` to the same number make one
/// message on the handset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Concatenation reference, the same in every part of one message (8 or 16 bits on the
    /// air).
    pub reference: u16,
    /// This part's number, 1 to `total`.
    pub index: u8,
    /// Parts in the message, 1 to [`crate::limits::PARTS_MAX`].
    pub total: u8,
}

/// SMS content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsContent<'a> {
    /// The text.
    #[serde(borrow)]
    pub text: Cow<'a, str>,
}

/// E-mail content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailContent<'a> {
    #[serde(borrow)]
    pub subject: Cow<'a, str>,
    #[serde(borrow)]
    pub text: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub html: Option<Cow<'a, str>>,
}

/// Voice content: a script read by text-to-speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceContent<'a> {
    #[serde(borrow)]
    pub script: Cow<'a, str>,
    #[serde(borrow)]
    pub language: Cow<'a, str>,
}

/// Push content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushContent<'a> {
    #[serde(borrow)]
    pub title: Cow<'a, str>,
    #[serde(borrow)]
    pub body: Cow<'a, str>,
    /// The subscription (e.g. a Web Push subscription as JSON text).
    #[serde(borrow)]
    pub subscription: Cow<'a, str>,
}

impl Message<'static> {
    /// A message to contact `contact` of `alert` with the key the node would give it and
    /// placeholder content for its channel. For tests and load generators.
    pub fn sample(alert: u64, contact: u64, channel: Channel, step: u32) -> Self {
        let text = |s: &str| Cow::Owned(s.to_owned());
        let mut message = Message {
            key: Cow::Owned(format!("a{alert}-c{contact}-{channel}-{step}")),
            channel,
            to: Cow::Owned(format!("+47{:08}", 40_000_000 + contact % 60_000_000)),
            tenant: 1,
            alert,
            priority: Some(text("crisis")),
            callback: None,
            from: None,
            sms: None,
            email: None,
            voice: None,
            push: None,
            part: None,
        };
        match channel {
            Channel::Sms => message.sms = Some(SmsContent { text: text("Evacuate now.") }),
            Channel::Email => {
                message.to = Cow::Owned(format!("c{contact}@example.org"));
                let (subject, body) = (text("Alert"), text("Evacuate now."));
                message.email = Some(EmailContent { subject, text: body, html: None });
            }
            Channel::Voice => {
                message.voice = Some(VoiceContent { script: text("Evacuate now."), language: text("nb") })
            }
            Channel::Push => {
                let (title, body, subscription) = (text("Alert"), text("Evacuate now."), text("{}"));
                message.push = Some(PushContent { title, body, subscription });
            }
        }
        message
    }
}

/// The 200 answer to a batch: one result per message, in the same order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitResponse<'a> {
    /// The results.
    #[serde(borrow)]
    pub results: Vec<MessageResult<'a>>,
}

/// The provider's verdict on one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageResult<'a> {
    /// The message's key.
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    /// Accepted, or rejected retryable / permanent.
    pub status: ResultStatus,
    /// The provider's id for an accepted message; the same for an idempotent repeat.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Cow<'a, str>>,
    /// Why it was rejected.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub error: Option<Cow<'a, str>>,
}

impl MessageResult<'_> {
    /// The same result owning its strings.
    pub fn into_owned(self) -> MessageResult<'static> {
        let own = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        MessageResult {
            key: own(self.key),
            status: self.status,
            provider_id: self.provider_id.map(own),
            error: self.error.map(own),
        }
    }
}

/// Status of one message in a batch answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    /// Taken for delivery (or already taken, when idempotency is honoured).
    Accepted,
    /// Not taken; sending it again later may work.
    Retryable,
    /// Not taken and never will be (bad number, wrong channel, missing content).
    Permanent,
}

/// The body of any error answer (400, 404, 413, 429, 503).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, naming the field when a field is at fault.
    pub error: String,
}

/// Body of `POST {callback}/inbound/v1/{provider}/receipts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiptBatch {
    /// At most [`crate::limits::CALLBACK_BATCH_MAX`].
    pub receipts: Vec<Receipt>,
}

/// A delivery receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The message's idempotency key.
    pub key: String,
    /// The id the provider answered with.
    pub provider_id: String,
    /// Final status.
    pub status: ReceiptStatus,
    /// Why it failed; `null` when delivered.
    pub error: Option<String>,
}

/// Final status in a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    /// Reached the handset / mailbox / device.
    Delivered,
    /// Could not be delivered.
    Failed,
}

/// Body of `POST {callback}/inbound/v1/{provider}/replies`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyBatch {
    /// At most [`crate::limits::CALLBACK_BATCH_MAX`].
    pub replies: Vec<Reply>,
}

/// A recipient's reply to an SMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The provider's id for the reply itself (a copy sent again carries the same id).
    #[serde(default)]
    pub id: String,
    /// The recipient's number (the message's `to`).
    pub from: String,
    /// The sender name the message went out under.
    pub to: String,
    /// What the recipient wrote.
    pub text: String,
    /// The provider id of the message replied to.
    pub provider_id: String,
    /// When the recipient sent the reply, ms since the Unix epoch (the callback may arrive
    /// much later, and more than once).
    #[serde(default)]
    pub sent_at_ms: u64,
}
