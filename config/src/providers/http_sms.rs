//! `[providers.http_sms]`: SMS through a provider's HTTP JSON API, described by configuration
//! rather than code (where to POST, which header carries the credential, and where each value
//! goes in the provider's JSON). The provider itself is `varsel_delivery::providers::http_sms`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use varsel_domain::Channel;

use super::mapping;
use crate::check::check_url;
use crate::error::ConfigError;

/// `[providers.http_sms]`: a generic HTTP JSON SMS provider. Every field is documented in
/// `docs/reference/configuration.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSmsConfig {
    /// Where messages are POSTed (`https://…`; `http://` for tests and local gateways).
    pub url: String,
    /// The header that carries the credential.
    #[serde(default = "default_auth_header")]
    pub auth_header: String,
    /// File holding the credential header's value (e.g. `Bearer abc…`); absent: no header.
    #[serde(default)]
    pub auth_file: Option<PathBuf>,
    /// `batch` (several messages per request) or `single` (one per request).
    #[serde(default)]
    pub mode: SmsMode,
    /// Sender id (alphanumeric) or number put at `request.sender`; absent: the provider's default.
    #[serde(default)]
    pub sender: Option<String>,
    /// Send numbers without the leading `+` (some APIs want digits only).
    #[serde(default)]
    pub number_without_plus: bool,
    /// Fixed values put in every message, by path (e.g. `{ "type" = "text" }`).
    #[serde(default)]
    pub static_fields: BTreeMap<String, Value>,
    /// Where our values go in a request.
    #[serde(default)]
    pub request: SmsRequestMap,
    /// Where the provider's answers are in a response.
    #[serde(default)]
    pub response: SmsResponseMap,
    /// Error codes that fail a message for good (matched without regard to case).
    #[serde(default)]
    pub permanent_errors: Vec<String>,
    /// Error codes worth retrying.
    #[serde(default)]
    pub retryable_errors: Vec<String>,
    /// What an error code on neither list means in a 2xx answer.
    #[serde(default)]
    pub unknown_errors: ErrorClass,
    /// URL whose 2xx answer to a GET means the provider is up; absent: probes always pass and
    /// real traffic decides.
    #[serde(default)]
    pub health_url: Option<String>,
    /// The layout of its delivery receipts; absent: Varsel's own (`node/src/inbound/mod.rs`).
    #[serde(default)]
    pub receipts: Option<SmsReceiptMap>,
    /// The layout of its replies; absent: Varsel's own.
    #[serde(default)]
    pub replies: Option<SmsReplyMap>,
}

fn default_auth_header() -> String {
    "Authorization".into()
}

/// Messages per request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsMode {
    /// Up to `batch_max` messages in one request, in an array.
    #[default]
    Batch,
    /// One message per request.
    Single,
}

/// What an error code means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// Try again (later, within the retry budget).
    #[default]
    Retryable,
    /// Fail the message.
    Permanent,
}

fn s(v: &str) -> String {
    v.to_string()
}

/// Paths of our values in a request message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsRequestMap {
    /// The recipient's number.
    pub to: String,
    /// The text.
    pub text: String,
    /// The message key (the provider's client reference / idempotency key).
    pub reference: String,
    /// The sender id (only written when `sender` is set).
    pub sender: String,
    /// `batch` mode: the array of messages in the request body.
    pub messages: String,
}

impl Default for SmsRequestMap {
    fn default() -> Self {
        Self {
            to: s("to"),
            text: s("text"),
            reference: s("reference"),
            sender: s("from"),
            messages: s("messages"),
        }
    }
}

/// Paths of the provider's answers in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsResponseMap {
    /// The per-message results: in `batch` mode an array (one per message, in order); in
    /// `single` mode the result object (the empty path: the body itself; an array's first).
    pub results: Option<String>,
    /// The provider's message id in a result.
    pub id: String,
    /// A status in a result; absent: a result without an error is accepted.
    pub status: Option<String>,
    /// Status values that mean accepted.
    pub accepted: Vec<String>,
    /// An error code in a result (or in a 4xx body).
    pub error: String,
}

impl Default for SmsResponseMap {
    fn default() -> Self {
        Self { results: None, id: s("id"), status: None, accepted: vec![s("accepted")], error: s("error") }
    }
}

/// The layout of delivery receipts posted to `/inbound/v1/{provider}/receipts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsReceiptMap {
    /// The array of receipts (or a single receipt object); empty: the body itself.
    pub items: String,
    /// Our message key (the client reference we sent).
    pub reference: String,
    /// The provider's message id.
    pub id: String,
    /// The delivery status.
    pub status: String,
    /// Status values that mean delivered.
    pub delivered: Vec<String>,
    /// Status values that mean undeliverable. Other values (e.g. `buffered`) are ignored.
    pub failed: Vec<String>,
    /// The error code or text of an undeliverable message.
    pub error: String,
}

impl Default for SmsReceiptMap {
    fn default() -> Self {
        Self {
            items: String::new(),
            reference: s("reference"),
            id: s("id"),
            status: s("status"),
            delivered: vec![s("delivered")],
            failed: ["failed", "undeliverable", "rejected", "expired"].map(s).to_vec(),
            error: s("error"),
        }
    }
}

/// The layout of replies posted to `/inbound/v1/{provider}/replies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsReplyMap {
    /// The array of replies (or a single reply object); empty: the body itself.
    pub items: String,
    /// The sender's number (digits alone get a `+`).
    pub from: String,
    /// The text.
    pub text: String,
    /// The number or short code the reply was sent to (optional; with
    /// `delivery.reply_routes` it names the tenant the reply is for).
    pub to: Option<String>,
    /// The provider's id for the reply (optional): a reply sent again with the same id is kept
    /// once.
    pub id: Option<String>,
    /// The message the reply answers, as the provider names it (optional): our key (the client
    /// reference we sent) or the provider's id for our message. Attributes the reply exactly.
    pub in_reply_to: Option<String>,
}

impl Default for SmsReplyMap {
    fn default() -> Self {
        Self { items: String::new(), from: s("from"), text: s("text"), to: None, id: None, in_reply_to: None }
    }
}

impl HttpSmsConfig {
    /// Checks the URLs and paths; `field` is `providers[i].http_sms`.
    pub fn validate(&self, field: &str, channel: Channel) -> Result<(), ConfigError> {
        let f = |name: &str| format!("{field}.{name}");
        if channel != Channel::Sms {
            let rule = format!("carries SMS only; the provider's channel is {channel}");
            return Err(ConfigError::invalid(field, rule));
        }
        check_url(&f("url"), &self.url)?;
        if let Some(u) = &self.health_url {
            check_url(&f("health_url"), u)?;
        }
        if http::HeaderName::from_bytes(self.auth_header.as_bytes()).is_err() {
            let rule = format!("is not a valid header name: {:?}", self.auth_header);
            return Err(ConfigError::invalid(f("auth_header"), rule));
        }
        let r = &self.request;
        for (name, path) in
            [("to", &r.to), ("text", &r.text), ("reference", &r.reference), ("sender", &r.sender)]
        {
            mapping::check(&f(&format!("request.{name}")), path, false)?;
        }
        mapping::check(&f("request.messages"), &r.messages, false)?;
        for path in self.static_fields.keys() {
            mapping::check(&f("static_fields"), path, false)?;
        }
        let p = &self.response;
        mapping::check(&f("response.id"), &p.id, false)?;
        mapping::check(&f("response.error"), &p.error, false)?;
        if let Some(path) = &p.results {
            mapping::check(&f("response.results"), path, true)?;
        }
        if let Some(path) = &p.status {
            mapping::check(&f("response.status"), path, false)?;
        }
        if let Some(m) = &self.receipts {
            mapping::check(&f("receipts.items"), &m.items, true)?;
            for (name, path) in [("reference", &m.reference), ("id", &m.id), ("status", &m.status)] {
                mapping::check(&f(&format!("receipts.{name}")), path, false)?;
            }
        }
        if let Some(m) = &self.replies {
            mapping::check(&f("replies.items"), &m.items, true)?;
            mapping::check(&f("replies.from"), &m.from, false)?;
            mapping::check(&f("replies.text"), &m.text, false)?;
            for (name, path) in [("to", &m.to), ("id", &m.id), ("in_reply_to", &m.in_reply_to)] {
                if let Some(path) = path {
                    mapping::check(&f(&format!("replies.{name}")), path, false)?;
                }
            }
        }
        Ok(())
    }
}
