//! Inbound webhooks: delivery receipts, replies and call results that HTTP providers send to
//! any node.
//!
//! - `POST /inbound/v1/{provider}/receipts` — `{"receipts":[{"key","provider_id","status":
//!   "delivered"|"failed","error"}]}`, or the provider's own layout when its configuration maps
//!   it (`[providers.http_sms.receipts]`);
//! - `POST /inbound/v1/{provider}/replies` — `{"replies":[{"from","to","text","id",
//!   "provider_id","sent_at_ms"}]}` (`id`: the provider's id for the reply; `provider_id`: its
//!   id for the message replied to), or the provider's own layout
//!   (`[providers.http_sms.replies]`);
//! - `POST /inbound/v1/{provider}/voice` — call results of a voice provider
//!   (`[providers.voice_http.callback]`): answered becomes a delivery receipt, no answer, busy
//!   and failed an undeliverable one, an acknowledging keypad digit acknowledges the alert.
//!
//! # Signatures
//!
//! Every request is signed by the provider with the secret configured for it
//! (`providers[].inbound_secret_file`), see [`verify`]: `X-Varsel-Webhook-Id` (the webhook's
//! id), `X-Varsel-Timestamp` (Unix seconds) and `X-Varsel-Signature: sha256=<hex
//! HMAC-SHA256(secret, id + "." + timestamp + "." + body)>`. A request with a missing or bad
//! id, a missing or wrong signature, or a timestamp more than [`SKEW_MAX_S`] away, is refused
//! with 401 and logged; nothing of it is recorded.
//!
//! # Replays
//!
//! Signed inbound webhooks carry an id that is remembered for the signature window, so a
//! replay does nothing. A provider gives each webhook its own id and sends the same id on
//! every retry of it. The node remembers every `(provider, id)` it accepted for
//! [`replay::REMEMBER_S`] (the window on both sides of its clock; after that the timestamp
//! refuses a copy); a request whose id it already accepted is answered 200 with
//! `{"accepted":0,"replay":true}`, records nothing, is logged at debug and counted in
//! `varsel_inbound_replays_total{provider}`. The memory holds at most [`replay::IDS_MAX`] ids
//! (about 61 MB when full); when it is full a new id is answered 503 with `Retry-After` and
//! counted in `varsel_inbound_replay_memory_full_total{provider}`, so the provider sends it
//! again later; an id is never forgotten early to make room. An id is remembered only once
//! the body has been read: a request refused for its body (400, 413) may be sent again.
//!
//! The memory is per node: a copy sent to another node within the window is applied there
//! again. That is harmless for what the state machine records by message
//! (`raft-store/src/state_machine/delivery/mod.rs`): a receipt is stored once per (alert,
//! contact, channel) and a later one for the same message is skipped without counting, and an
//! acknowledgement (a voice keypad press, carrying the message key) is stored once per (alert,
//! contact) and a repeat answers "already". A reply is kept once per its provider id (or, without
//! one, per sender, `sent_at_ms` and text): a copy applied on another node is skipped whole,
//! acknowledgement included, even if the receiving node would have placed it with another
//! alert. Only a reply with neither an id nor `sent_at_ms` is kept again, and may then
//! acknowledge another alert of the same person; pointing a provider at one node per site
//! name, and the short window, keep that narrow.
//!
//! Accepted items go to the delivery engine's receipts actor, which writes them to the log; a
//! reply that arrives at any node reaches the alert. The webhook is answered 200 only once they
//! are committed; otherwise 503 with `Retry-After` (counted in
//! `varsel_inbound_unrecorded_total{provider}`), and its id is forgotten so that the
//! provider's next copy is applied. A node cut off from the others therefore answers 503
//! rather than accepting what it cannot record.

pub mod body;
pub mod replay;
pub mod verify;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use varsel_config::ConfigError;
use varsel_config::{ProviderConfig, ProviderKind};
use varsel_delivery::providers::voice::CallOutcome;
use varsel_delivery::providers::{InboundItem, InboundSink, ReplyIn};
use varsel_domain::Channel;

use crate::metrics::{CounterVec, Metrics};
use body::BodyError;
pub use body::{Format, ITEMS_MAX, Items, Kind};
use replay::{Remembered, ReplayMemory};
pub use verify::{SKEW_MAX_S, verify};

/// Largest inbound request body.
pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;

/// One provider's inbound endpoint.
#[derive(Clone)]
struct Endpoint {
    secret: Vec<u8>,
    channel: Channel,
    format: Format,
}

/// The replay counters.
#[derive(Debug, Clone)]
struct ReplayMetrics {
    replays: CounterVec,
    full: CounterVec,
    unrecorded: CounterVec,
}

impl ReplayMetrics {
    fn register(m: &Metrics, memory: &Arc<Mutex<ReplayMemory>>) -> Self {
        let remembered = m.gauge(
            "varsel_inbound_webhook_ids",
            "Webhook ids this node remembers to recognise replays (bounded; see docs/reference/configuration.md).",
        );
        let memory = memory.clone();
        m.on_scrape(move || remembered.set(lock(&memory).len() as f64));
        Self {
            replays: m.counter_vec(
                "varsel_inbound_replays_total",
                "Signed webhooks whose id this node had already accepted: answered 200, nothing recorded.",
                &["provider"],
            ),
            full: m.counter_vec(
                "varsel_inbound_replay_memory_full_total",
                "Signed webhooks answered 503 because the memory of webhook ids was full.",
                &["provider"],
            ),
            unrecorded: m.counter_vec(
                "varsel_inbound_unrecorded_total",
                "Signed webhooks answered 503 because their items were not committed (no quorum, \
                 too many waiting): the provider sends them again.",
                &["provider"],
            ),
        }
    }
}

/// Per provider: its secret, channel and layout; the memory of accepted webhook ids.
#[derive(Clone)]
pub struct InboundState {
    providers: Arc<HashMap<String, Endpoint>>,
    sink: Arc<dyn InboundSink>,
    memory: Arc<Mutex<ReplayMemory>>,
    metrics: ReplayMetrics,
}

impl std::fmt::Debug for InboundState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundState").field("providers", &self.providers.keys().collect::<Vec<_>>()).finish()
    }
}

fn lock(memory: &Mutex<ReplayMemory>) -> std::sync::MutexGuard<'_, ReplayMemory> {
    // Nothing between a lock and its release can leave the memory half-changed.
    memory.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// Reads the secret of every provider that has one; registers the replay metrics in
    /// `metrics`.
    pub fn load(
        providers: &[ProviderConfig],
        sink: Arc<dyn InboundSink>,
        metrics: &Metrics,
    ) -> Result<Self, ConfigError> {
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
        let memory = Arc::new(Mutex::new(ReplayMemory::default()));
        let metrics = ReplayMetrics::register(metrics, &memory);
        Ok(Self { providers: Arc::new(map), sink, memory, metrics })
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

async fn receipts(
    State(s): State<InboundState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, &provider, Kind::Receipts, &headers, &body, varsel_domain::clock::wall_s()).await
}

async fn replies(
    State(s): State<InboundState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, &provider, Kind::Replies, &headers, &body, varsel_domain::clock::wall_s()).await
}

/// A voice provider's call results: answered is delivered; no answer, busy and failed are
/// undeliverable; an acknowledging digit acknowledges the alert for that recipient.
async fn voice_calls(
    State(s): State<InboundState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, &provider, Kind::Voice, &headers, &body, varsel_domain::clock::wall_s()).await
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, body.into()).into_response()
}

/// One webhook, checked in order: a provider with a secret (404), the signature, id and
/// timestamp (401), the body (400, 404, 413), the id not accepted before (200 and nothing
/// recorded) and room to remember it (503); then its items are recorded, and only once they
/// are committed is it answered 200. Not recorded (no quorum, too many waiting): 503 with
/// `Retry-After`, and its id is forgotten so the provider's next copy is taken.
async fn handle(
    s: &InboundState,
    provider: &str,
    kind: Kind,
    headers: &HeaderMap,
    body: &[u8],
    now_s: u64,
) -> Response {
    let Some(endpoint) = s.providers.get(provider) else {
        tracing::warn!(provider, "inbound request for a provider without an inbound secret refused");
        return text(StatusCode::NOT_FOUND, format!("no inbound endpoint for provider {provider:?}"));
    };
    let signed = match verify(&endpoint.secret, headers, body, now_s) {
        Ok(signed) => signed,
        Err(why) => {
            tracing::warn!(provider, reason = %why, "inbound request with a bad signature refused; nothing recorded");
            return text(StatusCode::UNAUTHORIZED, "bad signature");
        }
    };
    let items = match body::parse(&endpoint.format, kind, body) {
        Ok(items) => items,
        Err(e) => return refused_body(provider, e),
    };
    match lock(&s.memory).remember(provider, &signed.id, now_s) {
        Remembered::Fresh => {}
        Remembered::Replay => {
            tracing::debug!(provider, id = %signed.id, "webhook already accepted; replay ignored");
            s.metrics.replays.with(&[provider]).inc();
            return text(StatusCode::OK, "{\"accepted\":0,\"replay\":true}");
        }
        Remembered::Full { retry_after_s } => {
            tracing::warn!(provider, retry_after_s, "webhook id memory full; webhook refused for now (503)");
            s.metrics.full.with(&[provider]).inc();
            let retry = [(header::RETRY_AFTER, retry_after_s.to_string())];
            return (StatusCode::SERVICE_UNAVAILABLE, retry, "webhook id memory full; retry later")
                .into_response();
        }
    }
    let n = items.len();
    match s.sink.record(to_record(provider, endpoint.channel, items)).await {
        Ok(()) => text(StatusCode::OK, format!("{{\"accepted\":{n}}}")),
        Err(e) => {
            lock(&s.memory).forget(provider, &signed.id);
            tracing::warn!(provider, error = %e, "webhook not recorded; answered 503 so the provider sends it again");
            s.metrics.unrecorded.with(&[provider]).inc();
            let retry = [(header::RETRY_AFTER, "1".to_string())];
            (StatusCode::SERVICE_UNAVAILABLE, retry, format!("not recorded: {e}; send it again"))
                .into_response()
        }
    }
}

fn refused_body(provider: &str, e: BodyError) -> Response {
    let status = match e {
        BodyError::Invalid(_) => StatusCode::BAD_REQUEST,
        BodyError::TooMany(_) => StatusCode::PAYLOAD_TOO_LARGE,
        BodyError::NotVoice => StatusCode::NOT_FOUND,
    };
    match e {
        BodyError::NotVoice => text(status, format!("provider {provider:?} is not a voice provider")),
        e => text(status, e.to_string()),
    }
}

/// What a webhook's items are to the delivery engine.
fn to_record(provider: &str, channel: Channel, items: Items) -> Vec<InboundItem> {
    match items {
        Items::Receipts(receipts) => receipts
            .into_iter()
            .map(|r| InboundItem::Receipt {
                key: r.key,
                delivered: r.delivered,
                provider_id: r.provider_id,
                error: r.error,
            })
            .collect(),
        Items::Replies(replies) => replies
            .into_iter()
            .map(|r| {
                InboundItem::Reply(ReplyIn {
                    from: r.from,
                    to: r.to,
                    provider: provider.to_string(),
                    text: r.text,
                    channel,
                    sent_at_ms: r.sent_at_ms,
                    id: r.id,
                    in_reply_to: r.in_reply_to,
                })
            })
            .collect(),
        Items::Calls(events) => {
            let mut out = Vec::new();
            for e in events {
                // A digit 1-9 may be an answer option; the state machine decides (and
                // acknowledges instead, on an alert without options, when the digit does).
                match e.digit {
                    Some(digit) => out.push(InboundItem::Keypad { key: e.key.clone(), digit, ack: e.ack }),
                    None if e.ack => {
                        out.push(InboundItem::Ack { key: e.key.clone(), channel: Channel::Voice })
                    }
                    None => {}
                }
                let (delivered, error) = match e.outcome {
                    Some(CallOutcome::Answered) => (true, None),
                    Some(CallOutcome::Undelivered(why)) => (false, Some(why)),
                    None => continue,
                };
                out.push(InboundItem::Receipt { key: e.key, delivered, provider_id: e.call_id, error });
            }
            out
        }
    }
}
