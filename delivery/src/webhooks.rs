//! Outbound webhooks: signing (Standard Webhooks) and the worker that delivers the replicated
//! outbox (see `varsel_raft_store::webhooks`).
//!
//! # Who delivers
//!
//! The leader, alone. Webhook traffic is a handful of events per alert (not one per
//! recipient), so one node suffices; the leader is the one node every other node agrees on
//! without leases of its own, and its result entries are local writes. When it dies the next
//! leader's worker finds the same outbox and sends what was not recorded as delivered: at least
//! once, duplicates carry the same `webhook-id`.
//!
//! # A round
//!
//! Every [`TICK`] the worker reads the due entries ([`due`](varsel_raft_store::state_machine::webhooks::due):
//! per endpoint and alert only the oldest, so an alert's events go out in order), starts a call
//! for each that is not already in flight (at most [`IN_FLIGHT_MAX`]), and proposes the results
//! of the calls that finished as one `WebhookResults` entry. An entry leaves the in-flight set
//! only once its result was written (or the write failed, and then it is sent again).
//!
//! # Signature
//!
//! `webhook-signature: v1,<base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))>`,
//! the key being the base64-decoded part of the secret after `whsec_`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use tokio::task::JoinSet;
use varsel_domain::model::TenantId;
use varsel_observe::metrics::{CounterVec, Histogram, Metrics};
use varsel_raft_store::Request;
use varsel_raft_store::delivery::DeliveryCommand;
use varsel_raft_store::state_machine::webhooks as wh;
use varsel_raft_store::webhooks::{
    DueEntry, EventRef, RESULTS_PER_ENTRY_MAX, SECRET_BYTES, SECRET_PREFIX, WebhookId, WebhookResult,
};

use crate::providers::http::{CallError, JsonClient};
use crate::providers::outbound::{AddressPolicy, IpNetwork};
use crate::replica::Replica;

/// How often the worker looks for due entries and writes results.
pub const TICK: Duration = Duration::from_millis(100);

/// Calls in flight at once; bounds the sockets and memory the worker holds.
pub const IN_FLIGHT_MAX: usize = 32;

/// Entries of one endpoint read per round (the oldest; ordering makes later ones wait anyway).
pub const SCAN_PER_WEBHOOK: usize = 256;

/// The longest a call may take, connect to last byte of the answer; a slow receiver is a failed
/// attempt, retried later.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Delays before the 2nd, 3rd, ... attempt of one event. Eight attempts span about 63 minutes,
/// after which the endpoint is disabled (`DISABLE_AFTER_FAILURES`, counted per endpoint).
pub const RETRY_SCHEDULE_MS: [u64; 7] = [5_000, 30_000, 120_000, 300_000, 600_000, 900_000, 1_800_000];

/// A new signing secret: `whsec_` + base64 of [`SECRET_BYTES`] random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Why a payload could not be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    /// The secret is not `whsec_` + base64.
    #[error("secret: must be {SECRET_PREFIX} followed by base64")]
    Secret,
}

/// The `webhook-signature` header value for `id`, `timestamp_s` and `body`.
///
/// ```
/// let sig = varsel_delivery::webhooks::sign(
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
///     br#"{"test": 2432232314}"#,
/// ).unwrap();
/// assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// ```
pub fn sign(secret: &str, id: &str, timestamp_s: u64, body: &[u8]) -> Result<String, SignError> {
    let key = secret.strip_prefix(SECRET_PREFIX).ok_or(SignError::Secret)?;
    let key = base64::engine::general_purpose::STANDARD.decode(key).map_err(|_| SignError::Secret)?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|_| SignError::Secret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(tag)))
}

/// The delay before the attempt after `attempts` failed ones.
pub fn retry_delay_ms(attempts: u32) -> u64 {
    let i = (attempts.max(1) - 1) as usize;
    RETRY_SCHEDULE_MS[i.min(RETRY_SCHEDULE_MS.len() - 1)]
}

/// How the worker is set up.
#[derive(Debug, Clone, Default)]
pub struct WorkerConfig {
    /// Plain http to loopback allowed (`testing.webhooks_allow_http_loopback`): loopback is
    /// then also an address the worker may call.
    pub allow_http_loopback: bool,
    /// A fixed retry delay instead of [`RETRY_SCHEDULE_MS`] (`testing.webhook_retry_ms`; 0: the
    /// schedule).
    pub retry_ms: u64,
}

#[derive(Debug, Clone)]
struct WorkerMetrics {
    attempts: CounterVec,
    disabled: CounterVec,
    lag: Histogram,
}

impl WorkerMetrics {
    fn new(m: &Metrics) -> Self {
        Self {
            attempts: m.counter_vec(
                "varsel_webhook_attempts_total",
                "Webhook delivery attempts by outcome (delivered, failed).",
                &["outcome"],
            ),
            disabled: m.counter_vec(
                "varsel_webhook_disabled_total",
                "Webhook endpoints this node saw disabled for failing.",
                &["tenant"],
            ),
            lag: m.histogram(
                "varsel_webhook_lag_seconds",
                "From an event (log time) to its delivery being answered 2xx.",
                &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0],
            ),
        }
    }
}

type Key = (TenantId, WebhookId, EventRef);

/// Starts the worker; it runs until `stop` turns true.
pub fn spawn(
    replica: Arc<dyn Replica>,
    config: WorkerConfig,
    metrics: &Metrics,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let metrics = WorkerMetrics::new(metrics);
    let allowed: Vec<IpNetwork> = if config.allow_http_loopback {
        ["127.0.0.0/8", "::1/128"].iter().filter_map(|n| n.parse().ok()).collect()
    } else {
        Vec::new()
    };
    let client = JsonClient::tenant(CALL_TIMEOUT, AddressPolicy::new("webhook endpoint", allowed));
    tokio::spawn(async move {
        let mut w = Worker {
            replica,
            config,
            client,
            metrics,
            in_flight: HashSet::new(),
            calls: JoinSet::new(),
            ready: Vec::new(),
            tasks: std::collections::HashMap::new(),
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A finished call starts a round at once: the next event of its alert waits for
            // this result to be written, so waiting for the tick would add to every link of
            // the chain.
            tokio::select! {
                _ = tick.tick() => {}
                Some(done) = w.calls.join_next(), if !w.calls.is_empty() => w.ready.push(done),
                _ = stop.changed() => {
                    if *stop.borrow() { break; }
                    continue;
                }
            }
            w.round().await;
        }
    })
}

struct Worker {
    replica: Arc<dyn Replica>,
    config: WorkerConfig,
    client: JsonClient,
    metrics: WorkerMetrics,
    in_flight: HashSet<Key>,
    calls: JoinSet<CallDone>,
    /// Calls that finished and whose results are not written yet.
    ready: Vec<Result<CallDone, tokio::task::JoinError>>,
    /// The entry of each running call task, to free it if the task fails.
    tasks: std::collections::HashMap<tokio::task::Id, Key>,
}

type CallDone = (Key, WebhookResult, Option<u64>);

impl Worker {
    async fn round(&mut self) {
        self.record_finished().await;
        if !self.replica.is_leader() || self.in_flight.len() >= IN_FLIGHT_MAX {
            return;
        }
        let now = self.replica.log_clock().now_ms();
        let due = {
            let txn = self.replica.state().read_txn();
            wh::due(&txn, now, IN_FLIGHT_MAX * 2, SCAN_PER_WEBHOOK)
        };
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "webhook outbox could not be read; trying again");
                return;
            }
        };
        for d in due {
            let key = (d.tenant, d.webhook, d.event);
            if self.in_flight.len() >= IN_FLIGHT_MAX || self.in_flight.contains(&key) {
                continue;
            }
            let Some(call) = self.prepare(&d) else { continue };
            self.in_flight.insert(key);
            let client = self.client.clone();
            let retry_ms = self.config.retry_ms;
            let task = self.calls.spawn(async move {
                let (result, event_at_ms) = call.send(&client, &d, retry_ms).await;
                (key, result, event_at_ms)
            });
            self.tasks.insert(task.id(), key);
        }
    }

    fn prepare(&self, d: &DueEntry) -> Option<Call> {
        let txn = self.replica.state().read_txn();
        let hook = wh::get(&txn, d.tenant, d.webhook).ok().flatten()?;
        let event = wh::event(&txn, d.event).ok().flatten()?;
        Some(Call { url: hook.url, secret: hook.secret, body: event.body, event_at_ms: event.at_ms })
    }

    /// Writes the results of the calls that finished, in one entry.
    async fn record_finished(&mut self) {
        while self.ready.len() < RESULTS_PER_ENTRY_MAX {
            match self.calls.try_join_next() {
                Some(r) => self.ready.push(r),
                None => break,
            }
        }
        let mut done = Vec::new();
        for r in self.ready.drain(..) {
            match r {
                Ok(r) => done.push(r),
                Err(e) => {
                    // Its entry is sent again next round rather than held in flight forever.
                    tracing::warn!(error = %e, "a webhook call task failed");
                    if let Some(key) = self.tasks.remove(&e.id()) {
                        self.in_flight.remove(&key);
                    }
                }
            }
        }
        if done.is_empty() {
            return;
        }
        let items: Vec<WebhookResult> = done.iter().map(|(_, r, _)| r.clone()).collect();
        let request =
            Request::Delivery(Box::new(DeliveryCommand::WebhookResults { node: self.replica.id(), items }));
        let written = self.replica.write(request).await;
        let now = self.replica.log_clock().now_ms();
        match written {
            Ok(_) => {
                for (_, r, event_at_ms) in &done {
                    self.observe(r, *event_at_ms, now);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, n = done.len(), "webhook results not recorded; sending again")
            }
        }
        for (key, _, _) in &done {
            self.in_flight.remove(key);
        }
        self.tasks.retain(|_, key| self.in_flight.contains(key));
        self.report_disabled(&done);
    }

    fn observe(&self, r: &WebhookResult, event_at_ms: Option<u64>, now_ms: u64) {
        let outcome = if r.ok { "delivered" } else { "failed" };
        self.metrics.attempts.with(&[outcome]).inc();
        if let (true, Some(at)) = (r.ok, event_at_ms) {
            self.metrics.lag.observe(now_ms.saturating_sub(at) as f64 / 1000.0);
        }
    }

    /// Logs (and counts) endpoints that the results just disabled.
    fn report_disabled(&self, done: &[(Key, WebhookResult, Option<u64>)]) {
        let txn = self.replica.state().read_txn();
        let mut seen = HashSet::new();
        for ((tenant, webhook, _), r, _) in done {
            if r.ok || !seen.insert((*tenant, *webhook)) {
                continue;
            }
            let Ok(Some(hook)) = wh::get(&txn, *tenant, *webhook) else { continue };
            if let Some(d) = &hook.disabled
                && d.at_ms + 60_000 > self.replica.log_clock().now_ms()
                && hook.consecutive_failures == varsel_raft_store::webhooks::DISABLE_AFTER_FAILURES
            {
                tracing::warn!(tenant, webhook, url = %hook.url, reason = %d.reason, "webhook endpoint disabled");
                self.metrics.disabled.with(&[&tenant.to_string()]).inc();
            }
        }
    }
}

struct Call {
    url: String,
    secret: String,
    body: String,
    event_at_ms: u64,
}

impl Call {
    async fn send(self, client: &JsonClient, d: &DueEntry, retry_ms: u64) -> (WebhookResult, Option<u64>) {
        let id = d.event.msg_id();
        let ts = varsel_domain::clock::wall_ms() / 1000;
        let started = Instant::now();
        let outcome = match sign(&self.secret, &id, ts, self.body.as_bytes()) {
            Ok(sig) => {
                let headers =
                    [("webhook-id", id), ("webhook-timestamp", ts.to_string()), ("webhook-signature", sig)];
                let r =
                    client.call(hyper::Method::POST, &self.url, Some(self.body.into_bytes()), &headers).await;
                match r {
                    Ok(reply) if (200..300).contains(&reply.status) => Ok(reply.status),
                    Ok(reply) => Err((reply.status, format!("status {}", reply.status))),
                    Err(e) => Err((0, call_error(&e))),
                }
            }
            Err(e) => Err((0, e.to_string())),
        };
        let (ok, status, error) = match outcome {
            Ok(s) => (true, s, String::new()),
            Err((s, e)) => (false, s, e),
        };
        let retry_in_ms = if retry_ms > 0 { retry_ms } else { retry_delay_ms(d.entry.attempts + 1) };
        let result = WebhookResult {
            tenant: d.tenant,
            webhook: d.webhook,
            event: d.event,
            status,
            ok,
            error,
            duration_ms: started.elapsed().as_millis() as u64,
            retry_in_ms,
        };
        (result, Some(self.event_at_ms))
    }
}

fn call_error(e: &CallError) -> String {
    match e {
        CallError::Timeout(t) => format!("no answer within {} s", t.as_secs()),
        other => other.to_string(),
    }
}

/// Circuit changes waiting to be proposed; a full queue drops the change (logged): a flapping
/// provider must not flood the log.
pub const CIRCUIT_QUEUE_MAX: usize = 64;

/// Provider events for the engine: metrics as before, plus each circuit that opens or closes
/// proposed as a `Circuit` entry (the `provider.circuit_open` / `_closed` webhook events). Only
/// changes of what was last proposed for a provider are sent, so a half-open circuit that fails
/// its probe again is not a second opening.
#[derive(Debug)]
pub struct CircuitReporter {
    inner: Arc<dyn crate::providers::ProviderEvents>,
    tx: tokio::sync::mpsc::Sender<(String, String, bool)>,
    reported: std::sync::Mutex<std::collections::HashMap<(String, String), bool>>,
}

impl CircuitReporter {
    /// Wraps `inner`; the changes are written through `replica` by a task of their own.
    pub fn start(inner: Arc<dyn crate::providers::ProviderEvents>, replica: Arc<dyn Replica>) -> Arc<Self> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String, bool)>(CIRCUIT_QUEUE_MAX);
        tokio::spawn(async move {
            while let Some((channel, provider, open)) = rx.recv().await {
                let node = replica.id();
                let cmd = DeliveryCommand::Circuit { node, channel, provider, open };
                if let Err(e) = replica.write(Request::Delivery(Box::new(cmd))).await {
                    tracing::warn!(error = %e, "a circuit change could not be recorded for webhooks");
                }
            }
        });
        Arc::new(Self { inner, tx, reported: Default::default() })
    }

    fn report(&self, channel: varsel_domain::Channel, provider: &str, open: bool) {
        let key = (channel.as_str().to_string(), provider.to_string());
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let before = reported.get(&key).copied().unwrap_or(false);
        if before == open {
            return;
        }
        reported.insert(key.clone(), open);
        if self.tx.try_send((key.0, key.1, open)).is_err() {
            tracing::warn!(provider, open, "circuit change queue full; the webhook event is dropped");
        }
    }
}

impl crate::providers::ProviderEvents for CircuitReporter {
    fn circuit_opened(&self, channel: varsel_domain::Channel, provider: &str) {
        self.inner.circuit_opened(channel, provider);
        self.report(channel, provider, true);
    }

    fn circuit_closed(&self, channel: varsel_domain::Channel, provider: &str) {
        self.inner.circuit_closed(channel, provider);
        self.report(channel, provider, false);
    }

    fn failover(&self, channel: varsel_domain::Channel, from: &str, to: &str) {
        self.inner.failover(channel, from, to);
    }

    fn possible_duplicates(&self, channel: varsel_domain::Channel, provider: &str, n: usize) {
        self.inner.possible_duplicates(channel, provider, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the schedule's delays grow and stay at the last one.
    #[test]
    fn retry_delays_follow_the_schedule() {
        assert_eq!(retry_delay_ms(1), 5_000);
        assert_eq!(retry_delay_ms(7), 1_800_000);
        assert_eq!(retry_delay_ms(50), 1_800_000);
        let total: u64 = RETRY_SCHEDULE_MS.iter().sum();
        assert!((3_600_000..4_000_000).contains(&total), "{total}");
    }

    /// Goal: a secret that is not `whsec_` + base64 is refused, never signed with.
    #[test]
    fn a_bad_secret_is_refused() {
        assert_eq!(sign("nope", "m", 1, b"{}"), Err(SignError::Secret));
        assert_eq!(sign("whsec_***", "m", 1, b"{}"), Err(SignError::Secret));
        assert!(new_secret().starts_with(SECRET_PREFIX));
        assert!(sign(&new_secret(), "m", 1, b"{}").is_ok());
    }
}
