//! Inbound webhooks: delivery receipts and replies that HTTP providers send to any node.
//!
//! - `POST /inbound/v1/{provider}/receipts` — `{"receipts":[{"key","provider_id","status":
//!   "delivered"|"failed","error"}]}`
//! - `POST /inbound/v1/{provider}/replies` — `{"replies":[{"from","to","text","provider_id"}]}`
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
use sha2::Sha256;
use varsel_domain::Channel;

use crate::config::ProviderConfig;
use crate::delivery::providers::InboundSink;
use crate::error::ConfigError;

/// Largest inbound request body.
pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most items in one request.
pub const ITEMS_MAX: usize = 10_000;
/// Largest accepted difference between a request's timestamp and this node's clock.
pub const SKEW_MAX_S: u64 = 300;

/// Per provider: its secret and channel.
#[derive(Clone)]
pub struct InboundState {
    providers: Arc<HashMap<String, (Vec<u8>, Channel)>>,
    sink: Arc<dyn InboundSink>,
}

impl std::fmt::Debug for InboundState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundState").field("providers", &self.providers.keys().collect::<Vec<_>>()).finish()
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
            map.insert(p.name.clone(), (text.trim().as_bytes().to_vec(), p.channel));
        }
        Ok(Self { providers: Arc::new(map), sink })
    }
}

/// The inbound routes.
pub fn router(state: InboundState) -> Router {
    Router::new()
        .route("/inbound/v1/{provider}/receipts", post(receipts))
        .route("/inbound/v1/{provider}/replies", post(replies))
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

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Verifies and parses a request; the error is the HTTP answer.
fn accept<T: for<'de> Deserialize<'de>>(
    state: &InboundState,
    provider: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(T, Channel), (StatusCode, String)> {
    let Some((secret, channel)) = state.providers.get(provider) else {
        tracing::warn!(provider, "inbound request for a provider without an inbound secret refused");
        return Err((StatusCode::NOT_FOUND, format!("no inbound endpoint for provider {provider:?}")));
    };
    if let Err(why) = verify(secret, headers, body, now_s()) {
        tracing::warn!(provider, reason = %why, "inbound request with a bad signature refused; nothing recorded");
        return Err((StatusCode::UNAUTHORIZED, "bad signature".into()));
    }
    let parsed = serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    Ok((parsed, *channel))
}

async fn receipts(
    State(s): State<InboundState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let (r, _) = match accept::<Receipts>(&s, &provider, &headers, &body) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if r.receipts.len() > ITEMS_MAX {
        return (StatusCode::PAYLOAD_TOO_LARGE, format!("receipts: at most {ITEMS_MAX} per request"));
    }
    let n = r.receipts.len();
    for item in r.receipts {
        s.sink.receipt(&item.key, item.status == "delivered", &item.provider_id, item.error);
    }
    (StatusCode::OK, format!("{{\"accepted\":{n}}}"))
}

async fn replies(
    State(s): State<InboundState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let (r, channel) = match accept::<Replies>(&s, &provider, &headers, &body) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if r.replies.len() > ITEMS_MAX {
        return (StatusCode::PAYLOAD_TOO_LARGE, format!("replies: at most {ITEMS_MAX} per request"));
    }
    let n = r.replies.len();
    for item in r.replies {
        s.sink.reply(&item.from, &item.text, channel);
    }
    (StatusCode::OK, format!("{{\"accepted\":{n}}}"))
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
