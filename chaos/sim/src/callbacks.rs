//! Receipts and replies: the simulated providers calling the nodes back.
//!
//! Accepted messages put their receipt (and, for replying SMS recipients, their reply) into
//! a bounded queue with a due time. Every [`CALLBACK_FLUSH_INTERVAL_MS`] a flusher gathers
//! due items into requests of up to [`CALLBACK_BATCH_MAX`] for one provider, one kind and
//! one callback URL, and sends at most [`CALLBACK_CONCURRENCY_MAX`] at once, each signed
//! (see [`crate::signing`]).
//!
//! A request that fails goes, after a backoff, to the next URL: first the message's own
//! callback, then the configured `callback_urls` in turn, since any node accepts any
//! callback. After [`CALLBACK_ATTEMPTS_MAX`] attempts its items are dropped and counted,
//! as are items that find the queue full: a node that is down for long makes the simulator
//! lose callbacks visibly, never grow without bound.
//!
//! The queue has one FIFO lane per (provider, kind). Within a lane the delay is the same for
//! every item (unless changed at run time), so FIFO order is due order and taking due items
//! is a look at the lane's head.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use http_body_util::Full;
use hyper::{
    Request, Uri,
    body::Bytes,
    header::{CONTENT_TYPE, HeaderMap},
};
use serde::Serialize;
use tokio::{sync::Semaphore, sync::watch, task::JoinSet};
use tracing::{debug, warn};

use crate::{
    http::{HttpClient, chain, read_body},
    limits::{
        CALLBACK_ANSWER_BYTES_MAX, CALLBACK_ATTEMPTS_MAX, CALLBACK_BACKOFF_BASE_MS, CALLBACK_BACKOFF_MAX_MS,
        CALLBACK_BATCH_MAX, CALLBACK_CONCURRENCY_MAX, CALLBACK_FLUSH_INTERVAL_MS, CALLBACK_QUEUE_MAX,
        CALLBACK_TIMEOUT_MS,
    },
    protocol::{Receipt, Reply},
    providers::Provider,
    reports::{Counters, ReplyRecord},
    signing::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, webhook_id},
    sim::{Sim, lock},
};

/// A receipt or reply waiting to be sent.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) due: Instant,
    /// The callback base URL the message came with.
    pub(crate) callback: Option<Arc<str>>,
    pub(crate) payload: Payload,
}

#[derive(Debug)]
pub(crate) enum Payload {
    Receipt(Receipt),
    /// The key is kept for `/admin/replies`; it is not sent.
    Reply {
        key: String,
        reply: Reply,
    },
}

impl Payload {
    fn lane_offset(&self) -> usize {
        match self {
            Payload::Receipt(_) => 0,
            Payload::Reply { .. } => 1,
        }
    }
}

/// Due items for one request.
#[derive(Debug)]
struct Chunk {
    provider: usize,
    callback: Option<Arc<str>>,
    payloads: Vec<Payload>,
}

/// Gauges and counters of the callback path, for `/admin/stats`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallbackCounts {
    pub(crate) queued: u64,
    pub(crate) dropped: u64,
    pub(crate) failures: u64,
}

#[derive(Debug)]
struct Lanes {
    lanes: Vec<VecDeque<Item>>,
    len: usize,
    /// Next lane to look at, so one busy provider does not starve the others.
    cursor: usize,
}

/// The bounded queue of receipts and replies.
#[derive(Debug)]
pub(crate) struct CallbackQueue {
    lanes: Mutex<Lanes>,
    dropped: AtomicU64,
    failures: AtomicU64,
}

impl CallbackQueue {
    pub(crate) fn new(providers: usize) -> Self {
        let lanes = (0..providers * 2).map(|_| VecDeque::new()).collect();
        CallbackQueue {
            lanes: Mutex::new(Lanes { lanes, len: 0, cursor: 0 }),
            dropped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Queues a batch's items; those beyond [`CALLBACK_QUEUE_MAX`] are dropped and counted.
    pub(crate) fn push(&self, provider: &Provider, items: Vec<Item>) {
        if items.is_empty() {
            return;
        }
        let base = provider.bit.trailing_zeros() as usize * 2;
        let mut dropped = 0u64;
        let mut lanes = lock(&self.lanes);
        for item in items {
            let lane = base + item.payload.lane_offset();
            if lanes.len >= CALLBACK_QUEUE_MAX || lane >= lanes.lanes.len() {
                dropped += 1;
                continue;
            }
            lanes.lanes[lane].push_back(item);
            lanes.len += 1;
        }
        drop(lanes);
        self.drop_items(dropped);
    }

    fn drop_items(&self, count: u64) {
        if count > 0 {
            self.dropped.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Takes up to [`CALLBACK_BATCH_MAX`] due items of one lane with one callback URL.
    fn take_chunk(&self, now: Instant) -> Option<Chunk> {
        let mut guard = lock(&self.lanes);
        let lanes = &mut *guard;
        let count = lanes.lanes.len();
        for step in 0..count {
            let index = (lanes.cursor + step) % count;
            let lane = &mut lanes.lanes[index];
            let callback = match lane.front() {
                Some(head) if head.due <= now => head.callback.clone(),
                _ => continue,
            };
            let mut payloads = Vec::new();
            while payloads.len() < CALLBACK_BATCH_MAX {
                match lane.front() {
                    Some(item) if item.due <= now && item.callback == callback => {}
                    _ => break,
                }
                if let Some(item) = lane.pop_front() {
                    payloads.push(item.payload);
                }
            }
            lanes.len -= payloads.len();
            lanes.cursor = index + 1;
            return Some(Chunk { provider: index / 2, callback, payloads });
        }
        None
    }

    pub(crate) fn clear(&self) {
        let mut lanes = lock(&self.lanes);
        lanes.lanes.iter_mut().for_each(VecDeque::clear);
        lanes.len = 0;
        drop(lanes);
        self.dropped.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> CallbackCounts {
        CallbackCounts {
            queued: lock(&self.lanes).len as u64,
            dropped: self.dropped.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// The flusher: runs until `stop` changes, then abandons what is queued or in flight (a
/// stopped simulator is a provider that went away).
pub(crate) async fn run(sim: Arc<Sim>, mut stop: watch::Receiver<bool>) {
    let http = match crate::http::client_trusting(sim.callback_ca.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "callbacks cannot be sent");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(CALLBACK_CONCURRENCY_MAX));
    let mut senders = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(CALLBACK_FLUSH_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        if !flush_due(&sim, &http, &permits, &mut senders, &mut stop).await {
            break;
        }
    }
    senders.abort_all();
}

/// Sends every due chunk, waiting for a free sender before taking each so that items stay
/// in the bounded queue while the nodes are slow. Returns false when asked to stop.
async fn flush_due(
    sim: &Arc<Sim>,
    http: &HttpClient,
    permits: &Arc<Semaphore>,
    senders: &mut JoinSet<()>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        while senders.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = stop.changed() => return false,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return false,
            },
        };
        let Some(chunk) = sim.callbacks.take_chunk(Instant::now()) else { return true };
        let (sim, http) = (sim.clone(), http.clone());
        senders.spawn(async move {
            deliver(&sim, &http, chunk).await;
            drop(permit);
        });
    }
}

/// Sends one chunk, failing over between callback URLs with backoff.
async fn deliver(sim: &Sim, http: &HttpClient, chunk: Chunk) {
    let Some(provider) = sim.providers.get(chunk.provider) else { return };
    let count = chunk.payloads.len() as u64;
    let targets = targets(chunk.callback.as_deref(), &sim.callback_urls);
    if targets.is_empty() {
        sim.callbacks.drop_items(count);
        return;
    }
    let (kind, body) = encode(&chunk.payloads);
    let path = format!("/inbound/v1/{}/{kind}", provider.name);
    for attempt in 0..CALLBACK_ATTEMPTS_MAX {
        let base = targets[attempt as usize % targets.len()];
        match post_signed(http, base, &path, &sim.secret, body.clone()).await {
            Ok(()) => {
                acknowledged(sim, provider, chunk.payloads);
                return;
            }
            Err(reason) => {
                sim.callbacks.failures.fetch_add(1, Ordering::Relaxed);
                debug!(%base, %reason, attempt, "callback attempt failed");
            }
        }
        if attempt + 1 < CALLBACK_ATTEMPTS_MAX {
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
    sim.callbacks.drop_items(count);
    warn!(provider = %provider.name, count, "callbacks dropped: every attempt failed");
}

/// Where to send: the message's own callback first, then the configured ones.
fn targets<'a>(own: Option<&'a str>, configured: &'a [String]) -> Vec<&'a str> {
    let normal = |url: &str| url.trim_end_matches('/').to_owned();
    let own_normal = own.map(normal);
    own.into_iter()
        .chain(configured.iter().map(String::as_str).filter(|url| Some(normal(url)) != own_normal))
        .collect()
}

fn backoff(attempt: u32) -> Duration {
    let ms = CALLBACK_BACKOFF_BASE_MS.saturating_mul(1u64 << attempt.min(16));
    Duration::from_millis(ms.min(CALLBACK_BACKOFF_MAX_MS))
}

/// The request body and the path segment of a chunk (all of one kind, by lane).
fn encode(payloads: &[Payload]) -> (&'static str, Bytes) {
    #[derive(Serialize)]
    struct Receipts<'a> {
        receipts: Vec<&'a Receipt>,
    }
    #[derive(Serialize)]
    struct Replies<'a> {
        replies: Vec<&'a Reply>,
    }
    let encoded = match payloads.first() {
        Some(Payload::Reply { .. }) => {
            let replies = payloads
                .iter()
                .filter_map(|p| match p {
                    Payload::Reply { reply, .. } => Some(reply),
                    Payload::Receipt(_) => None,
                })
                .collect();
            ("replies", serde_json::to_vec(&Replies { replies }))
        }
        _ => {
            let receipts = payloads
                .iter()
                .filter_map(|p| match p {
                    Payload::Receipt(receipt) => Some(receipt),
                    Payload::Reply { .. } => None,
                })
                .collect();
            ("receipts", serde_json::to_vec(&Receipts { receipts }))
        }
    };
    (encoded.0, Bytes::from(encoded.1.unwrap_or_default()))
}

/// One signed POST; any answer but 2xx is a failure.
async fn post_signed(
    http: &HttpClient,
    base: &str,
    path: &str,
    secret: &[u8],
    body: Bytes,
) -> Result<(), String> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let uri: Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("{url}: only https:// (and http://) callbacks are supported"));
    }
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // The same id on every attempt of this callback (see `signing`).
    let id = webhook_id(path, &body);
    let request = Request::post(uri)
        .header(CONTENT_TYPE, "application/json")
        .header(ID_HEADER, &id)
        .header(TIMESTAMP_HEADER, timestamp)
        .header(SIGNATURE_HEADER, signature(secret, &id, timestamp, &body))
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = http.request(request).await.map_err(|e| chain(&e))?;
        let status = response.status();
        // Read the answer so the connection can be reused.
        let _ = read_body(&HeaderMap::new(), response.into_body(), CALLBACK_ANSWER_BYTES_MAX).await;
        Ok::<_, String>(status)
    };
    let timeout = Duration::from_millis(CALLBACK_TIMEOUT_MS);
    let status = tokio::time::timeout(timeout, exchange).await.map_err(|_| format!("{url}: timed out"))??;
    if !status.is_success() {
        return Err(format!("{url} answered {status}"));
    }
    Ok(())
}

/// Counts what a node acknowledged and remembers who replied.
fn acknowledged(sim: &Sim, provider: &Provider, payloads: Vec<Payload>) {
    let mut counters = Counters::default();
    let mut replies = Vec::new();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for payload in payloads {
        match payload {
            Payload::Receipt(_) => counters.receipts_sent += 1,
            Payload::Reply { key, reply } => {
                counters.replies_sent += 1;
                replies.push(ReplyRecord {
                    key,
                    provider: provider.name.to_string(),
                    from: reply.from,
                    text: reply.text,
                    provider_id: reply.provider_id,
                    acknowledged_at_ms: now_ms,
                    sent_at_ms: reply.sent_at_ms,
                });
            }
        }
    }
    provider.counters.add(&counters);
    if !replies.is_empty() {
        let mut log = lock(&sim.replies);
        replies.into_iter().for_each(|record| log.push(record));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the message's own callback is tried first, configured URLs follow without
    /// repeating it, and the backoff is bounded.
    #[test]
    fn targets_and_backoff() {
        let configured = vec!["http://a:1".to_owned(), "http://b:2/".to_owned()];
        assert_eq!(targets(Some("http://b:2"), &configured), vec!["http://b:2", "http://a:1"]);
        assert_eq!(targets(None, &configured), vec!["http://a:1", "http://b:2/"]);
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(30), Duration::from_millis(CALLBACK_BACKOFF_MAX_MS));
    }
}
