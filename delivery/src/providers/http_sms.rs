//! SMS through a provider's HTTP JSON API, described by configuration rather than code.
//!
//! [`HttpSmsConfig`] says where to POST, which header carries the credential, and where each
//! value goes in the provider's JSON (field mapping, see [`super::mapping`]). In `batch` mode
//! one request carries up to `batch_max` messages in an array and the answer has one result per
//! message, in order; in `single` mode each message is its own request (several at once, see
//! [`super::each`]). The message key goes in as the provider's client reference, so a provider
//! that honours it never delivers a retry twice.
//!
//! Answers: 2xx with per-message results (accepted, or an error code that configuration classes
//! as permanent or retryable); 429 throttles (Retry-After); 401 and 403 reject the call
//! (credentials); 5xx, timeouts and connection errors make the provider unavailable (fail over).
//!
//! Receipts and replies come back through the signed webhook (`node/src/inbound/mod.rs`) in the
//! provider's own layout, read with [`SmsReceiptMap`] and [`SmsReplyMap`].

use std::time::Duration;

use serde_json::{Map, Value, json};
pub use varsel_config::providers::http_sms::*;
use varsel_domain::model::Channel;

use super::each::{self, One};
use super::http::{AuthHeader, CallError, JsonClient, Reply};
use super::mapping::{self, InboundReceipt, InboundReply, get_text, one_of};
use super::{BoxFuture, Provider, ProviderError, SendResult};
use crate::message::{MessageContent, OutboundMessage};
use varsel_config::ConfigError;

/// Wait asked of the provider set when a 429 has no `Retry-After`.
pub const THROTTLE_DEFAULT: Duration = Duration::from_secs(1);

/// Longest part of a provider's error body kept in a failure reason.
pub const REASON_BYTES_MAX: usize = 200;

/// The HTTP SMS provider.
#[derive(Debug)]
pub struct HttpSmsProvider {
    name: String,
    config: HttpSmsConfig,
    auth: Option<AuthHeader>,
    batch_max: usize,
    client: JsonClient,
}

impl HttpSmsProvider {
    /// A provider called `name`; reads the credential file.
    pub fn new(
        name: &str,
        config: &HttpSmsConfig,
        batch_max: usize,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            name: name.to_string(),
            auth: AuthHeader::load(&config.auth_header, config.auth_file.as_deref())?,
            config: config.clone(),
            batch_max: batch_max.max(1),
            client: JsonClient::new(timeout),
        })
    }

    /// One message as the provider's JSON.
    fn message(&self, m: &OutboundMessage) -> Result<Value, SendResult> {
        let MessageContent::Sms { text } = &m.content else {
            return Err(SendResult::Permanent(format!("{} carries SMS only", self.name)));
        };
        let (c, r) = (&self.config, &self.config.request);
        let mut v = Value::Object(Map::new());
        for (path, value) in &c.static_fields {
            mapping::set(&mut v, path, value.clone());
        }
        let to = if c.number_without_plus { m.to.trim_start_matches('+') } else { m.to.as_str() };
        mapping::set(&mut v, &r.to, json!(to));
        mapping::set(&mut v, &r.text, json!(text));
        mapping::set(&mut v, &r.reference, json!(m.key));
        // The tenant's own number at this provider (`delivery.reply_routes`), so replies come
        // back routed to it; else the provider's configured sender.
        if let Some(sender) = m.sender_at(&self.name).or(c.sender.as_deref()) {
            mapping::set(&mut v, &r.sender, json!(sender));
        }
        Ok(v)
    }

    async fn post(&self, body: &Value) -> Result<Reply, ProviderError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ProviderError::Rejected(e.to_string()))?;
        let headers: Vec<(&str, String)> = self.auth.iter().map(AuthHeader::header).collect();
        self.client
            .call(hyper::Method::POST, &self.config.url, Some(bytes), &headers)
            .await
            .map_err(transport)
    }

    /// `batch` mode: one request for the whole batch.
    async fn send_batch(&self, batch: &[OutboundMessage]) -> Result<Vec<SendResult>, ProviderError> {
        let mut out: Vec<Option<SendResult>> = vec![None; batch.len()];
        let mut items = Vec::new();
        let mut sent = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            match self.message(m) {
                Ok(v) => {
                    items.push(v);
                    sent.push(i);
                }
                Err(refused) => out[i] = Some(refused),
            }
        }
        if !items.is_empty() {
            let mut body = Value::Object(Map::new());
            mapping::set(&mut body, &self.config.request.messages, Value::Array(items));
            let reply = self.post(&body).await?;
            let results = self.batch_results(&reply, sent.len())?;
            for (i, r) in sent.into_iter().zip(results) {
                out[i] = Some(r);
            }
        }
        Ok(out.into_iter().map(|r| r.unwrap_or_else(|| SendResult::Retryable("no result".into()))).collect())
    }

    fn batch_results(&self, reply: &Reply, n: usize) -> Result<Vec<SendResult>, ProviderError> {
        if let Some(e) = call_failure(reply) {
            return Err(e);
        }
        if !(200..300).contains(&reply.status) {
            let r = self.http_error(reply);
            return Ok(vec![r; n]);
        }
        // An unreadable 2xx answer may still mean accepted: retry on the same provider, whose
        // idempotency key keeps the retry from being delivered twice.
        let unreadable =
            |why: String| Ok(vec![SendResult::Retryable(format!("unreadable answer: {why}")); n]);
        let parsed: Value = match serde_json::from_slice(&reply.body) {
            Ok(v) => v,
            Err(e) => return unreadable(e.to_string()),
        };
        let path = self.config.response.results.as_deref().unwrap_or("results");
        match mapping::items(&parsed, path) {
            Ok(items) if items.len() == n => Ok(items.into_iter().map(|item| self.result(item)).collect()),
            Ok(items) => unreadable(format!("{} results for {n} messages", items.len())),
            Err(why) => unreadable(why),
        }
    }

    /// `single` mode: one request for one message.
    async fn send_one(&self, m: &OutboundMessage) -> One {
        let body = match self.message(m) {
            Ok(v) => v,
            Err(refused) => return Ok(refused),
        };
        let reply = self.post(&body).await?;
        if let Some(e) = call_failure(&reply) {
            return Err(e);
        }
        if !(200..300).contains(&reply.status) {
            return Ok(self.http_error(&reply));
        }
        let parsed: Option<Value> = serde_json::from_slice(&reply.body).ok();
        let path = self.config.response.results.as_deref().unwrap_or("");
        let item =
            parsed.as_ref().and_then(|v| mapping::items(v, path).ok()).and_then(|i| i.first().copied());
        Ok(match item {
            Some(item) => self.result(item),
            // An empty 2xx answer (202 without a body) is an acceptance when no status is expected.
            None if self.config.response.status.is_none() => SendResult::Accepted(String::new()),
            None => SendResult::Retryable("unreadable answer".into()),
        })
    }

    /// One message's result object.
    fn result(&self, item: &Value) -> SendResult {
        let p = &self.config.response;
        let id = get_text(item, &p.id).unwrap_or_default();
        let status = p.status.as_deref().and_then(|path| get_text(item, path));
        let error = get_text(item, &p.error).filter(|e| !e.is_empty());
        match (status, error) {
            (Some(s), _) if one_of(&s, &p.accepted) => SendResult::Accepted(id),
            (None, None) => SendResult::Accepted(id),
            (status, error) => {
                let code = error.or(status).unwrap_or_default();
                self.classify(&code, self.config.unknown_errors)
            }
        }
    }

    fn classify(&self, code: &str, unknown: ErrorClass) -> SendResult {
        let reason = format!("{}: {code}", self.name);
        if one_of(code, &self.config.permanent_errors) {
            SendResult::Permanent(reason)
        } else if one_of(code, &self.config.retryable_errors) {
            SendResult::Retryable(reason)
        } else {
            match unknown {
                ErrorClass::Permanent => SendResult::Permanent(reason),
                ErrorClass::Retryable => SendResult::Retryable(reason),
            }
        }
    }

    /// A 4xx other than 401, 403 and 429: the message is wrong unless its error code is on the
    /// retryable list.
    fn http_error(&self, reply: &Reply) -> SendResult {
        let parsed: Option<Value> = serde_json::from_slice(&reply.body).ok();
        match parsed.as_ref().and_then(|v| get_text(v, &self.config.response.error)) {
            Some(code) => self.classify(&code, ErrorClass::Permanent),
            None => SendResult::Permanent(format!(
                "{}: HTTP {}: {}",
                self.name,
                reply.status,
                excerpt(&reply.body)
            )),
        }
    }
}

/// The answers that concern the call, not a message: throttling, credentials, outage.
pub fn call_failure(reply: &Reply) -> Option<ProviderError> {
    match reply.status {
        429 => Some(ProviderError::Throttled(reply.retry_after.unwrap_or(THROTTLE_DEFAULT))),
        401 | 403 => Some(ProviderError::Rejected(format!("HTTP {}: credentials refused", reply.status))),
        s if s >= 500 => Some(ProviderError::Unavailable(format!("HTTP {s}"))),
        _ => None,
    }
}

/// The start of a body, as text, for a failure reason.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(REASON_BYTES_MAX)]);
    text.trim().to_string()
}

/// A transport failure: the provider is unreachable or too slow.
pub fn transport(e: CallError) -> ProviderError {
    match e {
        // The request went out and no answer came: the provider may hold the messages.
        CallError::Timeout(_) | CallError::Lost(_) => ProviderError::Ambiguous(e.to_string()),
        _ => ProviderError::Unavailable(e.to_string()),
    }
}

impl Provider for HttpSmsProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn batch_max(&self) -> usize {
        self.batch_max
    }

    fn send<'a>(
        &'a self,
        batch: &'a [OutboundMessage],
    ) -> BoxFuture<'a, Result<Vec<SendResult>, ProviderError>> {
        match self.config.mode {
            SmsMode::Batch => Box::pin(self.send_batch(batch)),
            SmsMode::Single => {
                Box::pin(each::send_each(batch.iter().map(|m| self.send_one(m)).collect(), self.batch_max))
            }
        }
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(health(&self.client, self.config.health_url.as_deref(), self.auth.as_ref()))
    }
}

/// GETs `url` (when configured): healthy on a 2xx answer.
pub async fn health(
    client: &JsonClient,
    url: Option<&str>,
    auth: Option<&AuthHeader>,
) -> Result<(), ProviderError> {
    let Some(url) = url else { return Ok(()) };
    let headers: Vec<(&str, String)> = auth.iter().map(|a| a.header()).collect();
    let reply = client.call(hyper::Method::GET, url, None, &headers).await.map_err(transport)?;
    if (200..300).contains(&reply.status) {
        Ok(())
    } else {
        Err(ProviderError::Unavailable(format!("health check: HTTP {}", reply.status)))
    }
}

/// Reads delivery receipts in the provider's layout. Receipts whose status is neither
/// delivered nor failed (e.g. `buffered`) and those without a reference are left out.
pub fn parse_receipts(map: &SmsReceiptMap, body: &Value) -> Result<Vec<InboundReceipt>, String> {
    let mut out = Vec::new();
    for item in mapping::items(body, &map.items)? {
        let (Some(key), Some(status)) = (get_text(item, &map.reference), get_text(item, &map.status)) else {
            continue;
        };
        let delivered = one_of(&status, &map.delivered);
        if !delivered && !one_of(&status, &map.failed) {
            continue;
        }
        let error = if delivered { None } else { Some(get_text(item, &map.error).unwrap_or(status)) };
        out.push(InboundReceipt {
            key,
            delivered,
            provider_id: get_text(item, &map.id).unwrap_or_default(),
            error,
        });
    }
    Ok(out)
}

/// Reads replies in the provider's layout; items without a number or text are left out.
pub fn parse_replies(map: &SmsReplyMap, body: &Value) -> Result<Vec<InboundReply>, String> {
    Ok(mapping::items(body, &map.items)?
        .into_iter()
        .filter_map(|item| {
            let from = get_text(item, &map.from)?;
            Some(InboundReply {
                from: mapping::e164(&from),
                text: get_text(item, &map.text)?,
                to: map.to.as_deref().and_then(|path| get_text(item, path)),
                sent_at_ms: None,
                id: map.id.as_deref().and_then(|path| get_text(item, path)),
                in_reply_to: map.in_reply_to.as_deref().and_then(|path| get_text(item, path)),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests;
