//! Inbound webhooks: delivery receipts, replies and call results that HTTP providers send to
//! any node.
//!
//! - `POST /inbound/v1/{provider}/receipts` — `{"receipts":[{"key","provider_id","status":
//!   "delivered"|"failed","error"}]}`, or the provider's own layout when its configuration maps
//!   it (`[providers.http_sms.receipts]`);
//! - `POST /inbound/v1/{provider}/replies` — `{"replies":[{"from","to","text","provider_id","sent_at_ms"}]}`,
//!   or the provider's own layout (`[providers.http_sms.replies]`);
//! - `POST /inbound/v1/{provider}/voice` — call results of a voice provider
//!   (`[providers.voice_http.callback]`): answered becomes a delivery receipt, no answer, busy
//!   and failed an undeliverable one, an acknowledging keypad digit acknowledges the alert.
//!
//! Every request is signed by the provider with the secret configured for it
//! (`providers[].inbound_secret_file`): header `X-Varsel-Timestamp` (Unix seconds) and
//! `X-Varsel-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. A request
//! with a missing or wrong signature, or a timestamp more than [`SKEW_MAX_S`] away, is refused
//! with 401 and logged; nothing of it is recorded. Accepted items go to the delivery engine's
//! receipts actor, which writes them to the log; a reply that arrives at any node reaches the
//! alert.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use varsel_domain::Channel;

use varsel_config::ConfigError;
use varsel_config::{ProviderConfig, ProviderKind};
use varsel_delivery::providers::InboundSink;
use varsel_delivery::providers::http_sms::{self, SmsReceiptMap, SmsReplyMap};
use varsel_delivery::providers::mapping::{InboundReceipt, InboundReply};
use varsel_delivery::providers::voice::{self, CallOutcome, VoiceCallbackMap};

/// Largest inbound request body.
pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most items in one request.
pub const ITEMS_MAX: usize = 10_000;
/// Largest accepted difference between a request's timestamp and this node's clock.
pub const SKEW_MAX_S: u64 = 300;

/// How a provider's webhooks are laid out.
#[derive(Debug, Clone)]
enum Format {
    /// Varsel's own layout (the simulator, providers that adopt it).
    Varsel,
    /// A generic HTTP SMS provider: its own layouts where configured, else Varsel's.
    HttpSms { receipts: Option<SmsReceiptMap>, replies: Option<SmsReplyMap> },
    /// A voice provider's call results.
    Voice { map: VoiceCallbackMap, ack_digits: Vec<String> },
}

/// One provider's inbound endpoint.
#[derive(Clone)]
struct Endpoint {
    secret: Vec<u8>,
    channel: Channel,
    format: Format,
}

/// Per provider: its secret, channel and layout.
#[derive(Clone)]
pub struct InboundState {
    providers: Arc<HashMap<String, Endpoint>>,
    sink: Arc<dyn InboundSink>,
}

impl std::fmt::Debug for InboundState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundState").field("providers", &self.providers.keys().collect::<Vec<_>>()).finish()
    }
}

fn format_of(p: &ProviderConfig) -> Format {
    match &p.kind {
        ProviderKind::HttpSms(c) => {
            Format::HttpSms { receipts: c.receipts.clone(), replies: c.replies.clone() }
        }
        ProviderKind::VoiceHttp(c) => {
            Format::Voice { map: c.callback.clone(), ack_digits: c.ack_digits.clone() }
        }
        _ => Format::Varsel,
    }
}

impl InboundState {
    /// Reads the secret of every provider that has one.
    pub fn load(providers: &[ProviderConfig], sink: Arc<dyn InboundSink>) -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for p in providers {
            let Some(path) = &p.inbound_secret_file else { continue };
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::Read { path: path.clone(), source: e })?;
            let endpoint = Endpoint {
                secret: text.trim().as_bytes().to_vec(),
                channel: p.channel,
                format: format_of(p),
            };
            map.insert(p.name.clone(), endpoint);
        }
        Ok(Self { providers: Arc::new(map), sink })
    }
}

/// The inbound routes.
pub fn router(state: InboundState) -> Router {
    Router::new()
        .route("/inbound/v1/{provider}/receipts", post(receipts))
        .route("/inbound/v1/{provider}/replies", post(replies))
        .route("/inbound/v1/{provider}/voice", post(voice_calls))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
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
    /// When the recipient sent it, ms since the Unix epoch (optional): a reply is then never
    /// matched to an alert created after it was written.
    #[serde(default)]
    sent_at_ms: Option<u64>,
}

/// Checks the request's signature; the error is the reason, for the log.
pub fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8], now_s: u64) -> Result<(), String> {
    let header =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| format!("{name} missing"));
    let ts = header("x-varsel-timestamp")?;
    let ts_n: u64 = ts.parse().map_err(|_| "x-varsel-timestamp is not a number".to_string())?;
    if ts_n.abs_diff(now_s) > SKEW_MAX_S {
        return Err(format!("timestamp {ts_n} is more than {SKEW_MAX_S} s from now"));
    }
    let sig = header("x-varsel-signature")?;
    let hex_sig = sig.strip_prefix("sha256=").ok_or("x-varsel-signature must start with sha256=")?;
    let given = hex::decode(hex_sig).map_err(|_| "x-varsel-signature is not hex".to_string())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| e.to_string())?;
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| "signature does not match".to_string())
}

type Answer = (StatusCode, String);

/// Verifies a request and reads its JSON; the error is the HTTP answer.
fn accept(
    state: &InboundState,
    provider: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Value, Endpoint), Answer> {
    let Some(endpoint) = state.providers.get(provider) else {
        tracing::warn!(provider, "inbound request for a provider without an inbound secret refused");
        return Err((StatusCode::NOT_FOUND, format!("no inbound endpoint for provider {provider:?}")));
    };
    if let Err(why) = verify(&endpoint.secret, headers, body, varsel_domain::clock::wall_s()) {
        tracing::warn!(provider, reason = %why, "inbound request with a bad signature refused; nothing recorded");
        return Err((StatusCode::UNAUTHORIZED, "bad signature".into()));
    }
    let parsed = serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    Ok((parsed, endpoint.clone()))
}

fn bad_body(e: impl std::fmt::Display) -> Answer {
    (StatusCode::BAD_REQUEST, format!("body: {e}"))
}

fn too_many(n: usize, what: &str) -> Result<(), Answer> {
    if n > ITEMS_MAX {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("{what}: at most {ITEMS_MAX} per request")));
    }
    Ok(())
}

fn accepted(n: usize) -> Answer {
    (StatusCode::OK, format!("{{\"accepted\":{n}}}"))
}

fn read_receipts(format: &Format, body: Value) -> Result<Vec<InboundReceipt>, Answer> {
    if let Format::HttpSms { receipts: Some(map), .. } = format {
        return http_sms::parse_receipts(map, &body).map_err(bad_body);
    }
    let r: Receipts = serde_json::from_value(body).map_err(bad_body)?;
    too_many(r.receipts.len(), "receipts")?;
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

fn read_replies(format: &Format, body: Value) -> Result<Vec<InboundReply>, Answer> {
    if let Format::HttpSms { replies: Some(map), .. } = format {
        return http_sms::parse_replies(map, &body).map_err(bad_body);
    }
    let r: Replies = serde_json::from_value(body).map_err(bad_body)?;
    too_many(r.replies.len(), "replies")?;
    Ok(r.replies
        .into_iter()
        .map(|i| InboundReply { from: i.from, text: i.text, sent_at_ms: i.sent_at_ms.filter(|t| *t > 0) })
        .collect())
}

async fn receipts(
    State(s): State<InboundState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let result = accept(&s, &provider, &headers, &body).and_then(|(v, ep)| read_receipts(&ep.format, v));
    let items = match result {
        Ok(items) => items,
        Err(e) => return e,
    };
    if let Err(e) = too_many(items.len(), "receipts") {
        return e;
    }
    for item in &items {
        s.sink.receipt(&item.key, item.delivered, &item.provider_id, item.error.clone());
    }
    accepted(items.len())
}

async fn replies(
    State(s): State<InboundState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let result = accept(&s, &provider, &headers, &body)
        .and_then(|(v, ep)| Ok((read_replies(&ep.format, v)?, ep.channel)));
    let (items, channel) = match result {
        Ok(x) => x,
        Err(e) => return e,
    };
    if let Err(e) = too_many(items.len(), "replies") {
        return e;
    }
    for item in &items {
        s.sink.reply(&item.from, &item.text, channel, item.sent_at_ms);
    }
    accepted(items.len())
}

/// A voice provider's call results: answered is delivered; no answer, busy and failed are
/// undeliverable; an acknowledging digit acknowledges the alert for that recipient.
async fn voice_calls(
    State(s): State<InboundState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let (value, ep) = match accept(&s, &provider, &headers, &body) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Format::Voice { map, ack_digits } = &ep.format else {
        return (StatusCode::NOT_FOUND, format!("provider {provider:?} is not a voice provider"));
    };
    let events = match voice::parse_callback(map, ack_digits, &value) {
        Ok(e) => e,
        Err(e) => return bad_body(e),
    };
    if let Err(e) = too_many(events.len(), "call events") {
        return e;
    }
    for e in &events {
        if e.ack {
            s.sink.ack(&e.key, Channel::Voice);
        }
        match &e.outcome {
            Some(CallOutcome::Answered) => s.sink.receipt(&e.key, true, &e.call_id, None),
            Some(CallOutcome::Undelivered(why)) => {
                s.sink.receipt(&e.key, false, &e.call_id, Some(why.clone()))
            }
            None => {}
        }
    }
    accepted(events.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &[u8], ts: u64, body: &[u8]) -> HeaderMap {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(format!("{ts}.").as_bytes());
        mac.update(body);
        let mut h = HeaderMap::new();
        h.insert("x-varsel-timestamp", ts.to_string().parse().expect("ascii"));
        h.insert(
            "x-varsel-signature",
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())).parse().expect("ascii"),
        );
        h
    }

    /// Goal: only a correctly signed, fresh request passes.
    #[test]
    fn signatures() {
        let body = br#"{"receipts":[]}"#;
        assert!(verify(b"s3cret", &signed(b"s3cret", 1000, body), body, 1000).is_ok());
        assert!(verify(b"other", &signed(b"s3cret", 1000, body), body, 1000).is_err(), "wrong secret");
        assert!(verify(b"s3cret", &signed(b"s3cret", 1000, body), b"{}", 1000).is_err(), "changed body");
        assert!(
            verify(b"s3cret", &signed(b"s3cret", 1000, body), body, 1000 + SKEW_MAX_S + 1).is_err(),
            "stale"
        );
        assert!(verify(b"s3cret", &HeaderMap::new(), body, 1000).is_err(), "unsigned");
    }
}
