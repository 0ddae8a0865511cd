//! Text-to-speech calls through a provider's HTTP API.
//!
//! Each message is one call request (several at once, [`super::each`]) carrying the number, the
//! script, its language, the message key as the provider's reference, and a callback URL: the
//! node's `delivery.callback_url` (or the provider's own `callback_url`, e.g. a name that
//! reaches every node) + `/inbound/v1/{provider}/voice`. Field names follow the provider's
//! layout ([`VoiceRequestMap`]).
//!
//! The provider calls back, signed like every webhook (`node/src/inbound/mod.rs`), when the call
//! ends: answered, no answer, busy or failed, and the keypad digits pressed. An answered call
//! is a delivery receipt; no answer, busy and failed are undeliverable receipts with that
//! reason; a digit in `ack_digits` ("press 1") acknowledges the alert for that recipient, which
//! stops escalation for them. [`parse_callback`] reads callbacks ([`VoiceCallbackMap`]).

use std::time::Duration;

use serde_json::{Map, Value, json};
pub use varsel_config::providers::voice_http::*;
use varsel_domain::model::Channel;

use super::each::{self, One};
use super::http::{AuthHeader, JsonClient};
use super::http_sms::{call_failure, excerpt, health, transport};
use super::mapping::{self, get_text, one_of};
use super::{BoxFuture, Provider, ProviderError, SendResult};
use crate::message::{MessageContent, OutboundMessage};
use varsel_config::ConfigError;

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
    /// The one digit 1-9 the recipient pressed, if that is what they pressed: an answer option
    /// on an alert that has them.
    pub digit: Option<u8>,
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
        let digit = match digits.trim().as_bytes() {
            [d @ b'1'..=b'9'] => Some(d - b'0'),
            _ => None,
        };
        out.push(VoiceEvent {
            key,
            call_id: get_text(item, &map.id).unwrap_or_default(),
            outcome,
            ack,
            digit,
        });
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
        let digits = vec!["1".to_string()];
        let body = json!([
            {"reference": "a1-c2-voice-0", "status": "completed", "digits": "1", "call_id": "c-1"},
            {"reference": "a1-c3-voice-0", "status": "no-answer"},
            {"reference": "a1-c4-voice-0", "status": "ringing", "digits": "12"},
            {"status": "busy"}
        ]);
        let events = parse_callback(&map, &digits, &body).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!((events[0].outcome.clone(), events[0].ack), (Some(CallOutcome::Answered), true));
        // One digit 1-9 may be an answer option; "12" is none.
        assert_eq!((events[0].digit, events[1].digit, events[2].digit), (Some(1), None, None));
        assert_eq!(events[0].call_id, "c-1");
        assert_eq!(events[1].outcome, Some(CallOutcome::Undelivered("no answer".into())));
        assert_eq!((events[2].outcome.clone(), events[2].ack), (None, false));
    }
}
