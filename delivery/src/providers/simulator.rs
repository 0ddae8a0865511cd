//! The provider simulator (`chaos/sim`) as a provider: JSON batches over HTTP.
//!
//! Also the reference for any provider speaking the same simple batch protocol: one call per
//! batch, a result per message, the message key passed as the idempotency key.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use varsel_domain::model::{Channel, Priority};

use super::http::{CallError, JsonClient};
use super::{BoxFuture, Provider, ProviderError, SendResult};
use crate::message::{MessageContent, OutboundMessage};

/// A simulated provider named `name` on the simulator at `base_url`.
#[derive(Debug)]
pub struct SimulatorProvider {
    name: String,
    remote_name: String,
    channel: Channel,
    base_url: String,
    callback: Option<String>,
    batch_max: usize,
    client: JsonClient,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    key: &'a str,
    channel: &'static str,
    to: &'a str,
    tenant: u64,
    alert: u64,
    priority: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sms: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voice: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireResults {
    results: Vec<WireResult>,
}

#[derive(Deserialize)]
struct WireResult {
    status: String,
    #[serde(default)]
    provider_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Routine => "routine",
        Priority::Urgent => "urgent",
        Priority::Crisis => "crisis",
    }
}

impl SimulatorProvider {
    /// A provider called `name` locally and `remote_name` on the simulator.
    pub fn new(
        name: String,
        remote_name: String,
        channel: Channel,
        base_url: String,
        callback: Option<String>,
        batch_max: usize,
        timeout: Duration,
    ) -> Self {
        Self {
            name,
            remote_name,
            channel,
            base_url: base_url.trim_end_matches('/').to_string(),
            callback,
            batch_max,
            client: JsonClient::new(timeout),
        }
    }

    fn wire<'a>(&'a self, m: &'a OutboundMessage) -> WireMessage<'a> {
        let mut w = WireMessage {
            key: &m.key,
            channel: m.channel.as_str(),
            to: &m.to,
            tenant: m.tenant,
            alert: m.alert,
            priority: priority_name(m.priority),
            callback: self.callback.as_deref(),
            from: m.sender_at(&self.name),
            sms: None,
            email: None,
            voice: None,
            push: None,
        };
        match &m.content {
            MessageContent::Sms { text } => w.sms = Some(serde_json::json!({ "text": text })),
            MessageContent::Email { subject, text, html } => {
                w.email = Some(serde_json::json!({ "subject": subject, "text": text, "html": html }))
            }
            MessageContent::Voice { script, language } => {
                w.voice = Some(serde_json::json!({ "script": script, "language": language }))
            }
            MessageContent::Push { title, body, answers } => {
                w.push = Some(
                    serde_json::json!({ "title": title, "body": body, "subscription": m.to, "answers": answers }),
                )
            }
        }
        w
    }

    async fn post(&self, batch: &[OutboundMessage]) -> Result<Vec<SendResult>, ProviderError> {
        let body = serde_json::json!({ "messages": batch.iter().map(|m| self.wire(m)).collect::<Vec<_>>() });
        let bytes = serde_json::to_vec(&body).map_err(|e| ProviderError::Rejected(e.to_string()))?;
        let url = format!("{}/v1/providers/{}/messages", self.base_url, self.remote_name);
        let reply = self.client.call(hyper::Method::POST, &url, Some(bytes), &[]).await.map_err(transport)?;
        match reply.status {
            200 => {
                let parsed: WireResults = serde_json::from_slice(&reply.body)
                    .map_err(|e| ProviderError::Unavailable(format!("unreadable reply: {e}")))?;
                Ok(parsed.results.into_iter().map(result).collect())
            }
            429 => Err(ProviderError::Throttled(reply.retry_after.unwrap_or(Duration::from_secs(1)))),
            s if s >= 500 => Err(ProviderError::Unavailable(format!("HTTP {s}"))),
            s => Err(ProviderError::Rejected(format!("HTTP {s}: {}", String::from_utf8_lossy(&reply.body)))),
        }
    }
}

fn transport(e: CallError) -> ProviderError {
    match e {
        // The request went out and no answer came: the provider may hold the messages.
        CallError::Timeout(_) | CallError::Lost(_) => ProviderError::Ambiguous(e.to_string()),
        _ => ProviderError::Unavailable(e.to_string()),
    }
}

fn result(r: WireResult) -> SendResult {
    match r.status.as_str() {
        "accepted" => SendResult::Accepted(r.provider_id.unwrap_or_default()),
        "permanent" => SendResult::Permanent(r.error.unwrap_or_else(|| "rejected".into())),
        _ => SendResult::Retryable(r.error.unwrap_or_else(|| r.status.clone())),
    }
}

impl Provider for SimulatorProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        self.channel
    }

    fn batch_max(&self) -> usize {
        self.batch_max
    }

    fn send<'a>(
        &'a self,
        batch: &'a [OutboundMessage],
    ) -> BoxFuture<'a, Result<Vec<SendResult>, ProviderError>> {
        Box::pin(self.post(batch))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move {
            let url = format!("{}/v1/providers/{}/health", self.base_url, self.remote_name);
            let reply = self.client.call(hyper::Method::GET, &url, None, &[]).await.map_err(transport)?;
            if reply.status == 200 {
                Ok(())
            } else {
                Err(ProviderError::Unavailable(format!("HTTP {}", reply.status)))
            }
        })
    }
}
