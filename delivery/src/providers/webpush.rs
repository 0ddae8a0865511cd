//! Web Push (RFC 8030) to the contact's push subscription, with VAPID (RFC 8292, [`super::vapid`])
//! and `aes128gcm` payload encryption (RFC 8291, [`super::ece`]).
//!
//! Each subscription has its own endpoint URL at its browser's push service, so every message
//! is its own request; a batch is sent several at once ([`super::each`]). The payload is
//! `{"title", "body", "alert", "key"}`, and for an alert with answer options also
//! `"answer_url"` (the recipient's response link) and `"actions"` (`{"action": "answer-N",
//! "title": label}` per option, the shape `showNotification` takes), for the subscriber's
//! service worker to show as buttons and post as `option=N`; `TTL` says how long the push
//! service may hold it for an offline device, `Urgency: high` wakes the device for urgent and
//! crisis alerts.
//!
//! Answers: 201/202 accepted (the provider id is the `Location` URL); 404 and 410 mean the
//! subscription is gone: the message fails and the contact's subscription is marked invalid
//! through the [`InboundSink`], so later alerts skip it; 429 throttles; 5xx and transport
//! errors are retried (one push service's trouble is not the provider's); other 4xx fail the
//! message.
//!
//! Subscriptions come from tenants' contact data, so a contact list must not be able to make a
//! node call services on its own network: endpoints must be `https://` unless
//! `allow_http_endpoints` is set (tests), and the client connects only to addresses the
//! outbound rule admits ([`super::outbound`]: no loopback, private, link-local, CGNAT, … unless
//! the operator allows the range in `delivery.tenant_url_allowed_networks`), checked on the
//! resolved addresses at connect time. A refused endpoint fails its message for good with the
//! reason ("push endpoint host … resolves only to addresses Varsel does not call (127.0.0.1:
//! loopback); allow the range in delivery.tenant_url_allowed_networks") and is logged; it
//! does not count against the provider (the push service did nothing wrong).

use std::sync::Arc;
use std::time::Duration;

pub use varsel_config::providers::webpush::*;
use varsel_domain::model::{Channel, Priority};

use super::each::{self, One};
use super::ece::{self, Subscription};
use super::http::{Body, CallError, JsonClient, Reply};
use super::http_sms::excerpt;
use super::outbound::{AddressPolicy, IpNetwork};
use super::vapid::Vapid;
use super::{BoxFuture, InboundSink, Provider, ProviderError, SendResult};
use crate::message::{MessageContent, OutboundMessage, PushAnswers};
use varsel_config::ConfigError;

/// Wait asked of the provider set when a 429 has no `Retry-After`.
pub const THROTTLE_DEFAULT: Duration = Duration::from_secs(1);

/// What a push subscription's URL is, in the outbound rule's error messages.
pub const PURPOSE: &str = "push endpoint";

type Headers = Vec<(&'static str, String)>;

/// The Web Push provider.
#[derive(Debug)]
pub struct WebPushProvider {
    name: String,
    config: WebPushConfig,
    vapid: Vapid,
    batch_max: usize,
    client: JsonClient,
    sink: Arc<dyn InboundSink>,
}

fn urgency(p: Priority) -> &'static str {
    match p {
        Priority::Crisis | Priority::Urgent => "high",
        Priority::Routine => "normal",
    }
}

/// The JSON payload of one notification. The answer buttons are a convenience on top of the
/// text: when they would make the payload too large for a push service, they are left out (the
/// response link stays, so a tap still opens the page with every option) rather than the
/// message failing.
fn payload(
    m: &OutboundMessage,
    title: Option<&str>,
    body: Option<&str>,
    answers: Option<&PushAnswers>,
) -> Result<Vec<u8>, String> {
    let mut payload = serde_json::json!({ "title": title, "body": body, "alert": m.alert, "key": m.key });
    let encode = |p: &serde_json::Value| serde_json::to_vec(p).map_err(|e| e.to_string());
    let Some(answers) = answers else { return encode(&payload) };
    payload["answer_url"] = answers.url.clone().into();
    let without_buttons = encode(&payload)?;
    payload["actions"] = answers
        .labels
        .iter()
        .enumerate()
        .map(|(i, label)| serde_json::json!({ "action": format!("answer-{}", i + 1), "title": label }))
        .collect();
    let with_buttons = encode(&payload)?;
    if with_buttons.len() <= ece::PLAINTEXT_BYTES_MAX {
        return Ok(with_buttons);
    }
    tracing::info!(key = %m.key, bytes = with_buttons.len(), "push answer buttons left out: the payload would not fit");
    Ok(without_buttons)
}

impl WebPushProvider {
    /// A provider called `name`; reads the VAPID key. Endpoints are called only at public
    /// addresses and in the `allowed` ranges (`delivery.tenant_url_allowed_networks`). Gone
    /// subscriptions are reported to `sink`.
    pub fn new(
        name: &str,
        config: &WebPushConfig,
        batch_max: usize,
        timeout: Duration,
        allowed: Vec<IpNetwork>,
        sink: Arc<dyn InboundSink>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            name: name.to_string(),
            vapid: Vapid::load(&config.vapid_private_key_file, &config.vapid_subject)?,
            config: config.clone(),
            batch_max: batch_max.max(1),
            client: JsonClient::tenant(timeout, AddressPolicy::new(PURPOSE, allowed)),
            sink,
        })
    }

    /// The encrypted body and headers for one message, or why it cannot be sent.
    fn request(&self, m: &OutboundMessage, sub: &Subscription) -> Result<(Vec<u8>, Headers), String> {
        let MessageContent::Push { title, body, answers } = &m.content else {
            return Err(format!("{} carries push only", self.name));
        };
        let plain_ok = self.config.allow_http_endpoints && sub.endpoint.starts_with("http://");
        if !(sub.endpoint.starts_with("https://") || plain_ok) {
            return Err("the push endpoint is not an https:// URL".into());
        }
        let plaintext = payload(m, title.as_deref(), body.as_deref(), answers.as_ref())?;
        let encrypted = ece::encrypt(sub, &plaintext)?;
        let headers = vec![
            ("authorization", self.vapid.header(&sub.endpoint, varsel_domain::clock::wall_s())?),
            ("ttl", self.config.ttl_s.to_string()),
            ("urgency", urgency(m.priority).to_string()),
            ("content-encoding", "aes128gcm".to_string()),
        ];
        Ok((encrypted, headers))
    }

    async fn push(&self, m: &OutboundMessage) -> One {
        let sub = match Subscription::parse(&m.to) {
            Ok(s) => s,
            Err(e) => return Ok(SendResult::Permanent(format!("push subscription unusable: {e}"))),
        };
        let (bytes, headers) = match self.request(m, &sub) {
            Ok(r) => r,
            Err(e) => return Ok(SendResult::Permanent(e)),
        };
        let body = Body { content_type: "application/octet-stream", bytes };
        match self.client.send(hyper::Method::POST, &sub.endpoint, Some(body), &headers).await {
            Ok(reply) => self.answer(m, &reply),
            Err(CallError::Refused(refused)) => {
                tracing::warn!(provider = %self.name, key = %m.key, reason = %refused, "push endpoint refused by the outbound address rule; message failed");
                Ok(SendResult::Permanent(refused.to_string()))
            }
            Err(e @ (CallError::Timeout(_) | CallError::Lost(_))) => {
                Ok(SendResult::Ambiguous(format!("push service: {e}")))
            }
            Err(e) => Ok(SendResult::Retryable(format!("push service: {e}"))),
        }
    }

    fn answer(&self, m: &OutboundMessage, reply: &Reply) -> One {
        let why = || format!("push service answered HTTP {}: {}", reply.status, excerpt(&reply.body));
        Ok(match reply.status {
            200..=202 => SendResult::Accepted(reply.location.clone().unwrap_or_else(|| m.key.clone())),
            404 | 410 => {
                self.sink.push_gone(&m.key, &m.to);
                SendResult::Permanent(format!("push subscription gone (HTTP {})", reply.status))
            }
            429 => return Err(ProviderError::Throttled(reply.retry_after.unwrap_or(THROTTLE_DEFAULT))),
            401 | 403 => {
                tracing::warn!(provider = %self.name, status = reply.status, "a push service refused our VAPID credentials");
                SendResult::Permanent(why())
            }
            s if s >= 500 => SendResult::Retryable(why()),
            _ => SendResult::Permanent(why()),
        })
    }
}

impl Provider for WebPushProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        Channel::Push
    }

    fn batch_max(&self) -> usize {
        self.batch_max
    }

    fn send<'a>(
        &'a self,
        batch: &'a [OutboundMessage],
    ) -> BoxFuture<'a, Result<Vec<SendResult>, ProviderError>> {
        Box::pin(each::send_each(batch.iter().map(|m| self.push(m)).collect(), self.batch_max))
    }

    /// Push services are many and each subscription's own; there is no one service to probe,
    /// so a half-open circuit is tested by real traffic.
    fn health(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::inbound::EngineInbound;

    /// A subscription's public key and auth secret (RFC 8291 Appendix A).
    const KEYS: &str = r#""keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}"#;

    fn provider(dir: &std::path::Path, allowed: &[&str]) -> WebPushProvider {
        // A 32-byte P-256 private key in base64url (the value 1 repeated); it protects nothing.
        let key = dir.join("vapid.key");
        std::fs::write(&key, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE").unwrap();
        let config = WebPushConfig {
            vapid_private_key_file: key,
            vapid_subject: "mailto:ops@example.no".into(),
            ttl_s: 60,
            allow_http_endpoints: true,
        };
        let allowed = allowed.iter().map(|n| n.parse().unwrap()).collect();
        let sink = Arc::new(EngineInbound::default());
        WebPushProvider::new("webpush", &config, 4, Duration::from_secs(5), allowed, sink).unwrap()
    }

    fn message(endpoint: &str) -> OutboundMessage {
        OutboundMessage {
            key: "a1-c2-push-0".into(),
            alert: 1,
            tenant: 1,
            contact: 2,
            channel: Channel::Push,
            step: 0,
            priority: Priority::Crisis,
            to: format!(r#"{{"endpoint":"{endpoint}",{KEYS}}}"#),
            content: MessageContent::Push {
                title: Some("Varsel".into()),
                body: Some("Evakuer".into()),
                answers: None,
            },
            senders: Default::default(),
        }
    }

    /// Goal: answer buttons travel in the payload as `showNotification` actions, and when they
    /// would not fit in a push message they are left out, not the message: the text and the
    /// response link still go.
    /// Method: the same message with two short labels, then with nine 40-character labels on a
    /// body that leaves no room for them.
    #[test]
    fn buttons_that_do_not_fit_are_left_out_not_the_message() {
        let m = message("https://push.example/a");
        let answers = |labels: Vec<String>| PushAnswers { url: "https://v.example/r/abc".into(), labels };
        let small = answers(vec!["Trygg".into(), "Trenger hjelp".into()]);
        let json: serde_json::Value =
            serde_json::from_slice(&payload(&m, Some("Varsel"), Some("Er du trygg?"), Some(&small)).unwrap())
                .unwrap();
        assert_eq!(json["answer_url"], "https://v.example/r/abc");
        assert_eq!(
            json["actions"],
            serde_json::json!([{"action": "answer-1", "title": "Trygg"}, {"action": "answer-2", "title": "Trenger hjelp"}])
        );

        let long_body = "æ".repeat(1_600);
        let nine = answers((1..=9).map(|i| format!("{i}{}", "ø".repeat(39))).collect());
        let bytes = payload(&m, Some("Varsel"), Some(&long_body), Some(&nine)).unwrap();
        assert!(bytes.len() <= ece::PLAINTEXT_BYTES_MAX, "{} bytes", bytes.len());
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(json.get("actions").is_none(), "the buttons should have been left out");
        assert_eq!(
            (json["body"].as_str(), json["answer_url"].as_str()),
            (Some(long_body.as_str()), Some("https://v.example/r/abc"))
        );
    }

    /// Goal: a subscription whose endpoint is an internal address fails its message for good
    /// with the reason an operator can act on, without a provider-level error (which would
    /// count against the breaker of a push service that did nothing wrong) and without a
    /// connection; with the range allowed, the same endpoint is called.
    /// Method: endpoints on a closed local port: refused by the rule when not allowed, and a
    /// connection error (retryable) once 127.0.0.0/8 is allowed, which shows it was tried.
    #[tokio::test]
    async fn internal_endpoints_fail_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = format!("https://127.0.0.1:{closed}/push/a");
        let batch = [message(&endpoint), message("https://169.254.169.254/latest/meta-data")];
        let results = provider(dir.path(), &[]).send(&batch).await.unwrap();
        let expected = [
            "push endpoint host 127.0.0.1 is an address Varsel does not call (127.0.0.1: loopback); \
             allow the range in delivery.tenant_url_allowed_networks",
            "push endpoint host 169.254.169.254 is an address Varsel does not call (169.254.169.254: \
             link-local); allow the range in delivery.tenant_url_allowed_networks",
        ];
        assert_eq!(results, expected.map(|r| SendResult::Permanent(r.to_string())).to_vec());

        let results = provider(dir.path(), &["127.0.0.0/8"]).send(&batch[..1]).await.unwrap();
        assert!(
            matches!(&results[0], SendResult::Retryable(why) if why.contains("onnect")),
            "an allowed endpoint is called: {results:?}"
        );
    }
}
