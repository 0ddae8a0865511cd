//! Reading a webhook's body: Varsel's own layout, an HTTP SMS provider's mapped layouts, a voice
//! provider's call results. Pure functions of the bytes, so the property tests can feed them
//! anything.

use serde::Deserialize;
use serde_json::Value;
use varsel_delivery::providers::http_sms::{self, SmsReceiptMap, SmsReplyMap};
use varsel_delivery::providers::mapping::{InboundReceipt, InboundReply};
use varsel_delivery::providers::voice::{self, VoiceCallbackMap, VoiceEvent};

/// Most items in one request.
pub const ITEMS_MAX: usize = 10_000;

/// How a provider's webhooks are laid out.
#[derive(Debug, Clone)]
pub enum Format {
    /// Varsel's own layout (the simulator, providers that adopt it).
    Varsel,
    /// A generic HTTP SMS provider: its own layouts where configured, else Varsel's.
    HttpSms {
        /// Its receipts' layout, if not Varsel's.
        receipts: Option<SmsReceiptMap>,
        /// Its replies' layout, if not Varsel's.
        replies: Option<SmsReplyMap>,
    },
    /// A voice provider's call results.
    Voice {
        /// Their layout.
        map: VoiceCallbackMap,
        /// Keypad entries that acknowledge.
        ack_digits: Vec<String>,
    },
}

/// Which endpoint a webhook came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/receipts`.
    Receipts,
    /// `/replies`.
    Replies,
    /// `/voice`.
    Voice,
}

/// What a webhook carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Items {
    /// Delivery receipts.
    Receipts(Vec<InboundReceipt>),
    /// Replies from recipients.
    Replies(Vec<InboundReply>),
    /// Call results.
    Calls(Vec<VoiceEvent>),
}

impl Items {
    /// How many.
    pub fn len(&self) -> usize {
        match self {
            Items::Receipts(v) => v.len(),
            Items::Replies(v) => v.len(),
            Items::Calls(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON, or not in the provider's layout (400).
    #[error("body: {0}")]
    Invalid(String),
    /// More than [`ITEMS_MAX`] items (413).
    #[error("{0}: at most {ITEMS_MAX} per request")]
    TooMany(&'static str),
    /// Call results for a provider that makes no calls (404).
    #[error("the provider is not a voice provider")]
    NotVoice,
}

#[derive(Deserialize)]
struct Receipts {
    receipts: Vec<ReceiptItem>,
}

#[derive(Deserialize)]
struct ReceiptItem {
    key: String,
    #[serde(default)]
    provider_id: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Replies {
    replies: Vec<ReplyItem>,
}

#[derive(Deserialize)]
struct ReplyItem {
    from: String,
    text: String,
    /// The number or short code it was sent to (optional; see `delivery.reply_routes`).
    #[serde(default)]
    to: Option<String>,
    /// When the recipient sent it, ms since the Unix epoch (optional): a reply is then never
    /// matched to an alert created after it was written.
    #[serde(default)]
    sent_at_ms: Option<u64>,
    /// The provider's id for the reply (optional): a copy with the same id is kept once.
    #[serde(default)]
    id: Option<String>,
    /// The provider id of the message replied to (optional): attributes the reply exactly.
    #[serde(default)]
    provider_id: Option<String>,
}

fn invalid(e: impl std::fmt::Display) -> BodyError {
    BodyError::Invalid(e.to_string())
}

/// Reads the body of a webhook to endpoint `kind` of a provider whose layout is `format`.
pub fn parse(format: &Format, kind: Kind, body: &[u8]) -> Result<Items, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(invalid)?;
    let items = match kind {
        Kind::Receipts => Items::Receipts(receipts(format, value)?),
        Kind::Replies => Items::Replies(replies(format, value)?),
        Kind::Voice => Items::Calls(calls(format, &value)?),
    };
    if items.len() > ITEMS_MAX {
        return Err(BodyError::TooMany(match kind {
            Kind::Receipts => "receipts",
            Kind::Replies => "replies",
            Kind::Voice => "call events",
        }));
    }
    Ok(items)
}

fn receipts(format: &Format, body: Value) -> Result<Vec<InboundReceipt>, BodyError> {
    if let Format::HttpSms { receipts: Some(map), .. } = format {
        return http_sms::parse_receipts(map, &body).map_err(invalid);
    }
    let r: Receipts = serde_json::from_value(body).map_err(invalid)?;
    Ok(r.receipts
        .into_iter()
        .map(|i| InboundReceipt {
            delivered: i.status == "delivered",
            key: i.key,
            provider_id: i.provider_id,
            error: i.error,
        })
        .collect())
}

fn replies(format: &Format, body: Value) -> Result<Vec<InboundReply>, BodyError> {
    if let Format::HttpSms { replies: Some(map), .. } = format {
        return http_sms::parse_replies(map, &body).map_err(invalid);
    }
    let r: Replies = serde_json::from_value(body).map_err(invalid)?;
    Ok(r.replies
        .into_iter()
        .map(|i| InboundReply {
            from: i.from,
            text: i.text,
            to: i.to.filter(|t| !t.is_empty()),
            sent_at_ms: i.sent_at_ms.filter(|t| *t > 0),
            id: i.id.filter(|t| !t.is_empty()),
            in_reply_to: i.provider_id.filter(|t| !t.is_empty()),
        })
        .collect())
}

fn calls(format: &Format, body: &Value) -> Result<Vec<VoiceEvent>, BodyError> {
    let Format::Voice { map, ack_digits } = format else { return Err(BodyError::NotVoice) };
    voice::parse_callback(map, ack_digits, body).map_err(invalid)
}
