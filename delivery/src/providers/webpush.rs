//! Web Push (RFC 8030) to the contact's push subscription, with VAPID (RFC 8292, [`super::vapid`])
//! and `aes128gcm` payload encryption (RFC 8291, [`super::ece`]).
//!
//! Each subscription has its own endpoint URL at its browser's push service, so every message
//! is its own request; a batch is sent several at once ([`super::each`]). The payload is
//! `{"title", "body", "alert", "key"}`; `TTL` says how long the push service may hold it for an
//! offline device, `Urgency: high` wakes the device for urgent and crisis alerts.
//!
//! Answers: 201/202 accepted (the provider id is the `Location` URL); 404 and 410 mean the
//! subscription is gone: the message fails and the contact's subscription is marked invalid
//! through the [`InboundSink`], so later alerts skip it; 429 throttles; 5xx and transport
//! errors are retried (one push service's trouble is not the provider's); other 4xx fail the
//! message.
//!
//! Subscriptions come from tenants' contact data, so endpoints must be `https://` unless
//! `allow_http_endpoints` is set (tests): a contact list cannot make a node call plain-HTTP
//! services on its own network.

use std::sync::Arc;
use std::time::Duration;

pub use varsel_config::providers::webpush::*;
use varsel_domain::model::{Channel, Priority};

use super::each::{self, One};
use super::ece::{self, Subscription};
use super::http::{Body, JsonClient, Reply};
use super::http_sms::excerpt;
use super::vapid::Vapid;
use super::{BoxFuture, InboundSink, Provider, ProviderError, SendResult};
use crate::message::{MessageContent, OutboundMessage};
use varsel_config::ConfigError;

/// Wait asked of the provider set when a 429 has no `Retry-After`.
pub const THROTTLE_DEFAULT: Duration = Duration::from_secs(1);

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

impl WebPushProvider {
    /// A provider called `name`; reads the VAPID key. Gone subscriptions are reported to `sink`.
    pub fn new(
        name: &str,
        config: &WebPushConfig,
        batch_max: usize,
        timeout: Duration,
        sink: Arc<dyn InboundSink>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            name: name.to_string(),
            vapid: Vapid::load(&config.vapid_private_key_file, &config.vapid_subject)?,
            config: config.clone(),
            batch_max: batch_max.max(1),
            client: JsonClient::new(timeout),
            sink,
        })
    }

    /// The encrypted body and headers for one message, or why it cannot be sent.
    fn request(&self, m: &OutboundMessage, sub: &Subscription) -> Result<(Vec<u8>, Headers), String> {
        let MessageContent::Push { title, body } = &m.content else {
            return Err(format!("{} carries push only", self.name));
        };
        let plain_ok = self.config.allow_http_endpoints && sub.endpoint.starts_with("http://");
        if !(sub.endpoint.starts_with("https://") || plain_ok) {
            return Err("the push endpoint is not an https:// URL".into());
        }
        let payload = serde_json::json!({ "title": title, "body": body, "alert": m.alert, "key": m.key });
        let plaintext = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
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
