//! Text-to-speech calls through a provider's HTTP API.
//!
//! Each message is one call request (several at once, [`super::each`]) carrying the number, the
//! script, its language, the message key as the provider's reference, and a callback URL: the
//! node's `delivery.callback_url` (or the provider's own `callback_url`, e.g. a name that
//! reaches every node) + `/inbound/v1/{provider}/voice`. Field names follow the provider's
//! layout ([`VoiceRequestMap`]).
//!
//! The provider calls back, signed like every webhook (`node/src/inbound.rs`), when the call
//! ends: answered, no answer, busy or failed, and the keypad digits pressed. An answered call
//! is a delivery receipt; no answer, busy and failed are undeliverable receipts with that
//! reason; a digit in `ack_digits` ("press 1") acknowledges the alert for that recipient, which
//! stops escalation for them. [`parse_callback`] reads callbacks ([`VoiceCallbackMap`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use varsel_domain::model::Channel;

use super::each::{self, One};
use super::http::{AuthHeader, JsonClient};
use super::http_sms::{call_failure, check_url, excerpt, health, transport};
use super::mapping::{self, get_text, one_of};
use super::{BoxFuture, Provider, ProviderError, SendResult};
use crate::delivery::message::{MessageContent, OutboundMessage};
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
            return Err(ConfigError::Invalid { field: field.to_string(), rule });
        }
        check_url(&f("url"), &self.url)?;
        for (name, url) in [("callback_url", &self.callback_url), ("health_url", &self.health_url)] {
            if let Some(u) = url {
                check_url(&f(name), u)?;
            }
        }
        if http::HeaderName::from_bytes(self.auth_header.as_bytes()).is_err() {
            let rule = format!("is not a valid header name: {:?}", self.auth_header);
            return Err(ConfigError::Invalid { field: f("auth_header"), rule });
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

/// The voice provider.
#[derive(Debug)]
pub struct VoiceProvider {
    name: String,
    config: VoiceHttpConfig,
    auth: Option<AuthHeader>,
    callback: String,
    batch_max: usize,
    client: JsonClient,
}

impl VoiceProvider {
    /// A provider called `name`, called back at `callback_base` (`http://host:port`); reads the
    /// credential file.
    pub fn new(
        name: &str,
        config: &VoiceHttpConfig,
        callback_base: &str,
        batch_max: usize,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            name: name.to_string(),
            auth: AuthHeader::load(&config.auth_header, config.auth_file.as_deref())?,
            callback: format!("{}/inbound/v1/{name}/voice", callback_base.trim_end_matches('/')),
            config: config.clone(),
            batch_max: batch_max.max(1),
            client: JsonClient::new(timeout),
        })
    }

    fn request(&self, m: &OutboundMessage) -> Option<Value> {
        let MessageContent::Voice { script, language } = &m.content else { return None };
        let (c, r) = (&self.config, &self.config.request);
        let mut v = Value::Object(Map::new());
        for (path, value) in &c.static_fields {
            mapping::set(&mut v, path, value.clone());
        }
        let language = c.languages.get(language).unwrap_or(language);
        mapping::set(&mut v, &r.to, json!(m.to));
        mapping::set(&mut v, &r.script, json!(script));
        mapping::set(&mut v, &r.language, json!(language));
        mapping::set(&mut v, &r.reference, json!(m.key));
        mapping::set(&mut v, &r.callback, json!(self.callback));
        if let Some(caller) = &c.caller_id {
            mapping::set(&mut v, &r.caller_id, json!(caller));
        }
        Some(v)
    }

    async fn call(&self, m: &OutboundMessage) -> One {
        let Some(body) = self.request(m) else {
            return Ok(SendResult::Permanent(format!("{} carries voice calls only", self.name)));
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| ProviderError::Rejected(e.to_string()))?;
        let headers: Vec<(&str, String)> = self.auth.iter().map(AuthHeader::header).collect();
        let reply = self
            .client
            .call(hyper::Method::POST, &self.config.url, Some(bytes), &headers)
            .await
            .map_err(transport)?;
        if let Some(e) = call_failure(&reply) {
            return Err(e);
        }
        if !(200..300).contains(&reply.status) {
            let why = format!("{}: HTTP {}: {}", self.name, reply.status, excerpt(&reply.body));
            return Ok(SendResult::Permanent(why));
        }
        let parsed: Option<Value> = serde_json::from_slice(&reply.body).ok();
        let id = parsed.as_ref().and_then(|v| get_text(v, &self.config.response_id));
        Ok(SendResult::Accepted(id.unwrap_or_default()))
    }
}

impl Provider for VoiceProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        Channel::Voice
    }

    fn batch_max(&self) -> usize {
        self.batch_max
    }

    fn send<'a>(
        &'a self,
        batch: &'a [OutboundMessage],
    ) -> BoxFuture<'a, Result<Vec<SendResult>, ProviderError>> {
        Box::pin(each::send_each(batch.iter().map(|m| self.call(m)).collect(), self.batch_max))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(health(&self.client, self.config.health_url.as_deref(), self.auth.as_ref()))
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Someone answered: delivered.
    Answered,
    /// Undeliverable, with the reason ("no answer", "busy", "failed: …").
    Undelivered(String),
}

/// One call event from a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceEvent {
    /// The message key.
    pub key: String,
    /// The provider's call id.
    pub call_id: String,
    /// How the call ended, when the event says so.
    pub outcome: Option<CallOutcome>,
    /// The recipient pressed an acknowledging digit.
    pub ack: bool,
}

/// Reads call events in the provider's layout; events without a reference are left out.
pub fn parse_callback(
    map: &VoiceCallbackMap,
    ack_digits: &[String],
    body: &Value,
) -> Result<Vec<VoiceEvent>, String> {
    let mut out = Vec::new();
    for item in mapping::items(body, &map.items)? {
        let Some(key) = get_text(item, &map.reference) else { continue };
        let status = get_text(item, &map.status).unwrap_or_default();
        let outcome = if one_of(&status, &map.answered) {
            Some(CallOutcome::Answered)
        } else if one_of(&status, &map.no_answer) {
            Some(CallOutcome::Undelivered("no answer".into()))
        } else if one_of(&status, &map.busy) {
            Some(CallOutcome::Undelivered("busy".into()))
        } else if one_of(&status, &map.failed) {
            Some(CallOutcome::Undelivered(format!("call failed: {status}")))
        } else {
            None
        };
        let digits = get_text(item, &map.digits).unwrap_or_default();
        let ack = ack_digits.iter().any(|d| !d.is_empty() && digits.trim() == d.as_str());
        out.push(VoiceEvent { key, call_id: get_text(item, &map.id).unwrap_or_default(), outcome, ack });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Goal: callbacks in the default layout become outcomes and acknowledgements; unknown
    /// statuses and events without a reference are left out of the outcome.
    #[test]
    fn callbacks() {
        let map = VoiceCallbackMap::default();
        let digits = default_ack_digits();
        let body = json!([
            {"reference": "a1-c2-voice-0", "status": "completed", "digits": "1", "call_id": "c-1"},
            {"reference": "a1-c3-voice-0", "status": "no-answer"},
            {"reference": "a1-c4-voice-0", "status": "ringing", "digits": "12"},
            {"status": "busy"}
        ]);
        let events = parse_callback(&map, &digits, &body).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!((events[0].outcome.clone(), events[0].ack), (Some(CallOutcome::Answered), true));
        assert_eq!(events[0].call_id, "c-1");
        assert_eq!(events[1].outcome, Some(CallOutcome::Undelivered("no answer".into())));
        assert_eq!((events[2].outcome.clone(), events[2].ack), (None, false));
    }
}
