//! `[providers.voice_http]`: text-to-speech voice calls through a provider's HTTP API. The
//! provider itself is `varsel_delivery::providers::voice`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use varsel_domain::Channel;

use super::mapping;
use crate::check::check_url;
use crate::error::ConfigError;

/// `[providers.voice_http]`. Every field is documented in `docs/reference/configuration.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceHttpConfig {
    /// Where call requests are POSTed.
    pub url: String,
    /// The header that carries the credential.
    #[serde(default = "default_auth_header")]
    pub auth_header: String,
    /// File holding the credential header's value; absent: no header.
    #[serde(default)]
    pub auth_file: Option<PathBuf>,
    /// The number calls come from (E.164), put at `request.caller_id`; absent: the provider's.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Base URL the provider calls back (`http(s)://host:port`); absent: `delivery.callback_url`.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Our language tags to the provider's voices, e.g. `{ nb = "nb-NO" }`; others pass as they are.
    #[serde(default)]
    pub languages: BTreeMap<String, String>,
    /// Fixed values put in every call request, by path.
    #[serde(default)]
    pub static_fields: BTreeMap<String, Value>,
    /// Where our values go in a call request.
    #[serde(default)]
    pub request: VoiceRequestMap,
    /// The provider's call id in its answer.
    #[serde(default = "default_response_id")]
    pub response_id: String,
    /// Where the call's outcome is in a callback.
    #[serde(default)]
    pub callback: VoiceCallbackMap,
    /// Keypad digits that acknowledge the alert.
    #[serde(default = "default_ack_digits")]
    pub ack_digits: Vec<String>,
    /// URL whose 2xx answer to a GET means the provider is up; absent: real traffic decides.
    #[serde(default)]
    pub health_url: Option<String>,
}

fn default_auth_header() -> String {
    "Authorization".into()
}
fn default_response_id() -> String {
    "id".into()
}
fn default_ack_digits() -> Vec<String> {
    vec!["1".into()]
}
fn s(v: &str) -> String {
    v.to_string()
}

/// Paths of our values in a call request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoiceRequestMap {
    /// The number to call.
    pub to: String,
    /// The text to speak.
    pub script: String,
    /// Its language (after `languages`).
    pub language: String,
    /// The message key.
    pub reference: String,
    /// The callback URL.
    pub callback: String,
    /// The calling number (only written when `caller_id` is set).
    pub caller_id: String,
}

impl Default for VoiceRequestMap {
    fn default() -> Self {
        Self {
            to: s("to"),
            script: s("script"),
            language: s("language"),
            reference: s("reference"),
            callback: s("callback_url"),
            caller_id: s("from"),
        }
    }
}

/// The layout of call-status callbacks posted to `/inbound/v1/{provider}/voice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoiceCallbackMap {
    /// The array of events (or a single event object); empty: the body itself.
    pub items: String,
    /// Our message key.
    pub reference: String,
    /// The provider's call id.
    pub id: String,
    /// The call status.
    pub status: String,
    /// The keypad digits pressed.
    pub digits: String,
    /// Status values that mean answered (delivered).
    pub answered: Vec<String>,
    /// Status values that mean nobody answered.
    pub no_answer: Vec<String>,
    /// Status values that mean the line was busy.
    pub busy: Vec<String>,
    /// Status values that mean the call failed. Other values (`ringing`, …) are ignored.
    pub failed: Vec<String>,
}

impl Default for VoiceCallbackMap {
    fn default() -> Self {
        Self {
            items: String::new(),
            reference: s("reference"),
            id: s("call_id"),
            status: s("status"),
            digits: s("digits"),
            answered: ["answered", "completed"].map(s).to_vec(),
            no_answer: ["no-answer", "no_answer", "noanswer"].map(s).to_vec(),
            busy: vec![s("busy")],
            failed: ["failed", "canceled", "cancelled", "rejected"].map(s).to_vec(),
        }
    }
}

impl VoiceHttpConfig {
    /// Checks the URLs and paths; `field` is `providers[i].voice_http`.
    pub fn validate(&self, field: &str, channel: Channel) -> Result<(), ConfigError> {
        let f = |name: &str| format!("{field}.{name}");
        if channel != Channel::Voice {
            let rule = format!("carries voice calls only; the provider's channel is {channel}");
            return Err(ConfigError::invalid(field, rule));
        }
        check_url(&f("url"), &self.url)?;
        for (name, url) in [("callback_url", &self.callback_url), ("health_url", &self.health_url)] {
            if let Some(u) = url {
                check_url(&f(name), u)?;
            }
        }
        if http::HeaderName::from_bytes(self.auth_header.as_bytes()).is_err() {
            let rule = format!("is not a valid header name: {:?}", self.auth_header);
            return Err(ConfigError::invalid(f("auth_header"), rule));
        }
        let r = &self.request;
        for (name, path) in [
            ("to", &r.to),
            ("script", &r.script),
            ("language", &r.language),
            ("reference", &r.reference),
            ("callback", &r.callback),
            ("caller_id", &r.caller_id),
        ] {
            mapping::check(&f(&format!("request.{name}")), path, false)?;
        }
        for path in self.static_fields.keys() {
            mapping::check(&f("static_fields"), path, false)?;
        }
        mapping::check(&f("response_id"), &self.response_id, false)?;
        let c = &self.callback;
        mapping::check(&f("callback.items"), &c.items, true)?;
        for (name, path) in
            [("reference", &c.reference), ("id", &c.id), ("status", &c.status), ("digits", &c.digits)]
        {
            mapping::check(&f(&format!("callback.{name}")), path, false)?;
        }
        Ok(())
    }
}
