//! Receipts and replies: the simulated providers calling the nodes back.
//!
//! Accepted messages put their receipt (and, for replying SMS recipients, their reply) into
//! a bounded queue with a due time. Every [`CALLBACK_FLUSH_INTERVAL_MS`] a flusher gathers
//! due items into requests of up to [`crate::limits::CALLBACK_BATCH_MAX`] for one provider,
//! one kind and one callback URL, and sends at most [`CALLBACK_CONCURRENCY_MAX`] at once, each
//! signed (see [`crate::signing`]).
//!
//! A request that fails goes, after a backoff, to the next URL: first the message's own
//! callback, then the configured `callback_urls` in turn, since any node accepts any
//! callback. After [`CALLBACK_ATTEMPTS_MAX`] attempts its items are dropped and counted,
//! as are items that find the queue full: a node that is down for long makes the simulator
//! lose callbacks visibly, never grow without bound.
//!
//! With the provider's `redeliver_callbacks` on, items whose every attempt failed are queued
//! again instead (see [`queue`]) for up to [`CALLBACK_REDELIVERIES_MAX`] more rounds, and
//! `duplicate_callback_rate` re-sends some acknowledged ones, as real providers do. Per kind,
//! items sent, acknowledged, redelivered and given up are counted.

mod queue;

pub(crate) use queue::{CallbackQueue, Item, Payload};
use queue::{Chunk, Kind};

use std::{
    sync::{Arc, atomic::Ordering},
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
        CALLBACK_CONCURRENCY_MAX, CALLBACK_FLUSH_INTERVAL_MS, CALLBACK_REDELIVERIES_MAX, CALLBACK_TIMEOUT_MS,
    },
    protocol::{Receipt, ReceiptStatus, Reply},
    providers::Provider,
    reports::{Counters, ReceiptRecord, ReplyRecord},
    seeded::{Purpose, draw, key_hash, unit},
    signing::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, webhook_id},
    sim::{Sim, lock},
};

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

/// Sends one chunk, failing over between callback URLs with backoff; then counts it
/// acknowledged, or queues it again, or gives it up.
async fn deliver(sim: &Sim, http: &HttpClient, chunk: Chunk) {
    let Some(provider) = sim.providers.get(chunk.provider) else { return };
    let count = chunk.items.len() as u64;
    let targets = targets(chunk.callback.as_deref(), &sim.callback_urls);
    if targets.is_empty() {
        sim.callbacks.give_up(chunk.kind, count);
        return;
    }
    let (kind, body) = encode(&chunk.items);
    let path = format!("/inbound/v1/{}/{kind}", provider.name);
    for attempt in 0..CALLBACK_ATTEMPTS_MAX {
        let base = targets[attempt as usize % targets.len()];
        sim.callbacks.sent(chunk.kind, count);
        match post_signed(http, base, &path, &sim.secret, body.clone()).await {
            Ok(()) => {
                acknowledged(sim, chunk.provider, provider, chunk.kind, chunk.items);
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
    redeliver_or_give_up(sim, chunk.provider, provider, chunk.kind, chunk.items);
}

/// After a failed round: queues the items again when the provider redelivers and they have
/// rounds left, gives up the others (one log line per chunk, never per item).
fn redeliver_or_give_up(sim: &Sim, index: usize, provider: &Provider, kind: Kind, items: Vec<Item>) {
    let redeliver = provider.settings().redeliver_callbacks;
    let (mut again, mut lost) = (Vec::new(), 0u64);
    for mut item in items {
        if redeliver && item.round < CALLBACK_REDELIVERIES_MAX {
            item.round += 1;
            again.push(item);
        } else {
            lost += 1;
        }
    }
    if lost > 0 {
        sim.callbacks.give_up(kind, lost);
        warn!(provider = %provider.name, count = lost, "callbacks given up: every attempt failed");
    }
    sim.callbacks.redeliver(index, again);
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
fn encode(items: &[Item]) -> (&'static str, Bytes) {
    let payloads = items.iter().map(|item| &item.payload);
    #[derive(Serialize)]
    struct Receipts<'a> {
        receipts: Vec<&'a Receipt>,
    }
    #[derive(Serialize)]
    struct Replies<'a> {
        replies: Vec<&'a Reply>,
    }
    let encoded = match items.first().map(|item| &item.payload) {
        Some(Payload::Reply { .. }) => {
            let replies = payloads
                .filter_map(|p| match p {
                    Payload::Reply { reply, .. } => Some(reply),
                    Payload::Receipt(_) => None,
                })
                .collect();
            ("replies", serde_json::to_vec(&Replies { replies }))
        }
        _ => {
            let receipts = payloads
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

/// Counts what a node acknowledged, remembers who replied (first acknowledgements only: a
/// deliberate copy is the same reply again), and queues the copies `duplicate_callback_rate`
/// asks for.
fn acknowledged(sim: &Sim, index: usize, provider: &Provider, kind: Kind, items: Vec<Item>) {
    sim.callbacks.acknowledged(kind, items.len() as u64);
    let rate = provider.settings().duplicate_callback_rate;
    let mut counters = Counters::default();
    let mut replies = Vec::new();
    let mut receipts = Vec::new();
    let mut copies = Vec::new();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    for item in items {
        if item.copy {
            continue;
        }
        if rate > 0.0
            && unit(draw(sim.seed, Purpose::DuplicateCallback, key_hash(item.payload.key()), kind as u64))
                < rate
        {
            let payload = item.payload.clone();
            copies.push(Item { copy: true, ..Item::new(Instant::now(), item.callback.clone(), payload) });
        }
        match item.payload {
            Payload::Receipt(receipt) => {
                counters.receipts_sent += 1;
                receipts.push(ReceiptRecord {
                    key: receipt.key,
                    provider: provider.name.to_string(),
                    delivered: receipt.status == ReceiptStatus::Delivered,
                    acknowledged_at_ms: now_ms,
                });
            }
            Payload::Reply { key, reply } => {
                counters.replies_sent += 1;
                replies.push(ReplyRecord {
                    id: reply.id,
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
    if !receipts.is_empty() {
        let mut log = lock(&sim.receipts);
        receipts.into_iter().for_each(|record| log.push(record));
    }
    sim.callbacks.redeliver(index, copies);
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
