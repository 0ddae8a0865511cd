//! Providers: the subcontractors that carry messages, with failover between them.
//!
//! A [`Provider`] sends a batch of messages of one channel. A [`ProviderSet`] holds every
//! provider of a channel in order of preference (primary first, then alternative
//! subcontractors), each with a throughput limit (token bucket), a concurrency window and a
//! circuit breaker, and runs [`ProviderSet::deliver`]:
//!
//! - each batch goes to the most preferred provider whose circuit is closed (or half-open
//!   for a probe);
//! - a provider-level failure (unreachable, outage, timeout) sends the batch straight to the
//!   next provider and counts against the first one's breaker; three in a row open it, so
//!   traffic moves to the alternative within seconds; a background health probe and half-open
//!   probes bring it back when it heals;
//! - a message the provider reports as temporarily failed is retried with exponential backoff
//!   and jitter, up to [`RetryPolicy`]'s bounds; a permanent rejection fails only that
//!   message;
//! - throttling slows down (waits `Retry-After`) without failing anything.
//!
//! # Kinds
//!
//! - [`simulator`]: the provider simulator (tests, benchmarks, `varsel dev`).
//! - [`http_sms`]: any JSON HTTP SMS API, described by a field mapping ([`mapping`]).
//! - [`voice_http`](voice): text-to-speech calls over HTTP, with signed call-result callbacks.
//! - [`webpush`]: Web Push with [`ece`] (RFC 8291) encryption and [`vapid`] (RFC 8292).
//!
//! Shared by the HTTP kinds: [`http`] (a pooled HTTP/1.1 + TLS client, a credential header),
//! [`outbound`] (the addresses a node calls for URLs that tenants supply) and [`each`] (one
//! request per message, several at once, settled without re-sending answered messages).

pub mod breaker;
pub mod bucket;
pub mod build;
pub mod each;
pub mod ece;
pub mod http;
pub mod http_sms;
pub mod mapping;
pub mod outbound;
pub mod simulator;
pub mod sink;
pub mod smpp;
pub mod smtp;
pub mod vapid;
pub mod voice;
pub mod webpush;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use varsel_domain::clock::wall_ms;
use varsel_domain::model::Channel;

use crate::message::OutboundMessage;
use breaker::{Breaker, BreakerState};
use bucket::TokenBucket;
pub use build::build_providers;
pub use sink::{InboundItem, InboundRefused, InboundSink, ReplyIn};

/// How often a sender worker looks again for provider capacity.
pub const CAPACITY_POLL: Duration = Duration::from_millis(5);

/// A boxed future, so providers of different kinds fit one list.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The answer for one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// Accepted, with the provider's id for the message.
    Accepted(String),
    /// Failed for now; may succeed later or elsewhere.
    Retryable(String),
    /// No answer came for it (a timeout, a broken connection): the provider may have taken it.
    /// It is tried again like a retryable one, and every later attempt counts as a possible
    /// duplicate (`varsel_delivery_possible_duplicates_total`).
    Ambiguous(String),
    /// Refused for good (bad number, message too long …).
    Permanent(String),
}

/// A failure of a whole call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Unreachable or in an outage: try another provider. The provider did not take the
    /// messages.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request went out but no answer came (a timeout after sending): the provider may have
    /// taken the messages. Treated as [`ProviderError::Unavailable`], and any later attempt at
    /// these messages is counted as a possible duplicate.
    #[error("no answer: {0}")]
    Ambiguous(String),
    /// Over its throughput: wait this long, then try again.
    #[error("throttled for {0:?}")]
    Throttled(Duration),
    /// The provider refuses the whole batch for good (misconfiguration, credentials).
    #[error("rejected: {0}")]
    Rejected(String),
}

/// A subcontractor for one channel.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Its configured name.
    fn name(&self) -> &str;
    /// Its channel.
    fn channel(&self) -> Channel;
    /// Most messages per call.
    fn batch_max(&self) -> usize;
    /// Sends a batch; on success, one result per message in order.
    fn send<'a>(
        &'a self,
        batch: &'a [OutboundMessage],
    ) -> BoxFuture<'a, Result<Vec<SendResult>, ProviderError>>;
    /// Checks the provider is reachable and working.
    fn health(&self) -> BoxFuture<'_, Result<(), ProviderError>>;
}

/// What a queued batch checks before every provider call and every retry: whether its
/// messages may still be handed over (the shard's lease is held and unexpired by this node's
/// clock, the alert is not cancelled or finished).
pub trait SendFence: Send + Sync + std::fmt::Debug {
    /// `Err(why)` once the messages must not be handed over any more.
    fn check(&self) -> Result<(), String>;

    /// Told as a provider call begins, after [`SendFence::check`] let it through: an audit of
    /// the fence, measured apart from its decision (a lease fence counts a call that begins
    /// after its lease's deadline in `varsel_delivery_late_handovers_total`). Default: nothing.
    fn call_begins(&self) {}
}

/// A fence that never closes (tests, and callers with no lease).
#[derive(Debug)]
pub struct Unfenced;

impl SendFence for Unfenced {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Bounds on retrying one message.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per message, over all providers.
    pub attempts_max: u32,
    /// Time from the first attempt after which a message is failed.
    pub budget: Duration,
    /// First backoff.
    pub backoff_min: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts_max: 12,
            budget: Duration::from_secs(120),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `n` (from 1), with ±25 % jitter.
    pub fn backoff(&self, n: u32) -> Duration {
        let base = self.backoff_min.saturating_mul(1u32 << n.min(16)).min(self.backoff_max);
        let jitter = rand::random_range(0.75..1.25);
        base.mul_f64(jitter)
    }
}

/// What finally happened to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    /// Accepted by `provider` with its id.
    Sent {
        /// Provider name.
        provider: String,
        /// Provider's message id.
        provider_id: String,
    },
    /// Not sent; `provider` is the last one tried (or empty).
    Failed {
        /// Provider name.
        provider: String,
        /// Why.
        reason: String,
    },
    /// Not handed over because the batch's fence closed (lease lost or expired, alert
    /// cancelled): not an outcome. Whoever holds the shard next sends it, or nobody if the alert
    /// ended.
    Dropped {
        /// Why.
        reason: String,
    },
}

/// A provider with its limits and breaker.
#[derive(Debug)]
pub struct Slot {
    provider: Arc<dyn Provider>,
    bucket: TokenBucket,
    window: Semaphore,
    breaker: Mutex<Breaker>,
}

impl Slot {
    /// Wraps a provider with a throughput limit and a concurrency window.
    pub fn new(provider: Arc<dyn Provider>, rate_per_second: u32, concurrency: usize) -> Self {
        Self {
            provider,
            bucket: TokenBucket::new(rate_per_second),
            window: Semaphore::new(concurrency.max(1)),
            breaker: Mutex::new(Breaker::default()),
        }
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        self.provider.name()
    }

    /// The breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.lock().unwrap_or_else(|p| p.into_inner()).state()
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut Breaker) -> R) -> R {
        f(&mut self.breaker.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Observes provider events (metrics, logs).
pub trait ProviderEvents: Send + Sync + std::fmt::Debug {
    /// A circuit opened: traffic moves to the next provider.
    fn circuit_opened(&self, channel: Channel, provider: &str);
    /// A circuit that was open closed again (a call through it succeeded).
    fn circuit_closed(&self, _channel: Channel, _provider: &str) {}
    /// A batch went to a provider other than the most preferred one.
    fn failover(&self, channel: Channel, from: &str, to: &str);
    /// `n` messages are being tried again after `provider` gave no answer to a call that may
    /// have taken them: each may reach its recipient twice.
    fn possible_duplicates(&self, channel: Channel, provider: &str, n: usize);
}

/// Events go nowhere.
#[derive(Debug)]
pub struct NoEvents;

impl ProviderEvents for NoEvents {
    fn circuit_opened(&self, _: Channel, _: &str) {}
    fn failover(&self, _: Channel, _: &str, _: &str) {}
    fn possible_duplicates(&self, _: Channel, _: &str, _: usize) {}
}

/// Every provider of one channel.
#[derive(Debug)]
pub struct ProviderSet {
    channel: Channel,
    slots: Vec<Slot>,
    retry: RetryPolicy,
    events: Arc<dyn ProviderEvents>,
    admission: tokio::sync::Mutex<()>,
}

/// Tokens a sender worker already took from a provider's bucket for the job it is about to
/// send, so the first call to that provider does not take them again.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prepaid {
    slot: Option<usize>,
    tokens: usize,
}

/// A message waiting for its next attempt.
struct Pending {
    index: usize,
    attempts: u32,
    last_provider: String,
    last_error: String,
    /// The provider that last gave no answer for it (it may hold the message).
    ambiguous: Option<String>,
}

/// Why a call to a provider did not give results.
enum CallFailed {
    Provider(ProviderError),
    /// The fence closed before the call: nothing was handed over.
    Fenced(String),
}

impl ProviderSet {
    /// A set of `slots` in order of preference.
    pub fn new(
        channel: Channel,
        slots: Vec<Slot>,
        retry: RetryPolicy,
        events: Arc<dyn ProviderEvents>,
    ) -> Self {
        Self { channel, slots, retry, events, admission: tokio::sync::Mutex::new(()) }
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The slots, most preferred first.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// Largest batch the most preferred provider takes.
    pub fn batch_max(&self) -> usize {
        self.slots.first().map_or(1, |s| s.provider.batch_max().max(1))
    }

    /// The most preferred provider that may take a call now, skipping `avoid`.
    fn pick(&self, avoid: &[usize]) -> Option<usize> {
        (0..self.slots.len())
            .find(|i| !avoid.contains(i) && self.slots[*i].with_breaker(Breaker::try_acquire))
    }

    /// Delivers `messages` (all of this channel), retrying and failing over; returns what
    /// finally happened to each, in order, with the time it was handed over (ms).
    pub async fn deliver(&self, messages: &[OutboundMessage]) -> Vec<(Final, u64)> {
        self.deliver_prepaid(messages, Prepaid::default(), &Unfenced).await
    }

    /// [`ProviderSet::deliver`] for a job whose tokens were taken by [`ProviderSet::admit`],
    /// behind `fence`: it is checked right before every provider call (after waiting for rate
    /// and concurrency), so retries and queued batches stop once it closes; messages not handed
    /// over by then come back as [`Final::Dropped`].
    pub async fn deliver_prepaid(
        &self,
        messages: &[OutboundMessage],
        mut prepaid: Prepaid,
        fence: &dyn SendFence,
    ) -> Vec<(Final, u64)> {
        let mut done: Vec<Option<(Final, u64)>> = vec![None; messages.len()];
        if self.slots.is_empty() {
            let f = Final::Failed {
                provider: String::new(),
                reason: format!("no provider configured for {}", self.channel),
            };
            return messages.iter().map(|_| (f.clone(), wall_ms())).collect();
        }
        let started = Instant::now();
        let mut pending: Vec<Pending> = (0..messages.len())
            .map(|index| Pending {
                index,
                attempts: 0,
                last_provider: String::new(),
                last_error: String::new(),
                ambiguous: None,
            })
            .collect();
        let mut round = 0u32;
        while !pending.is_empty() {
            pending = self.round(messages, pending, &mut done, &mut prepaid, fence).await;
            if pending.is_empty() {
                break;
            }
            round += 1;
            let out_of_budget = started.elapsed() >= self.retry.budget;
            let (give_up, keep): (Vec<Pending>, Vec<Pending>) =
                pending.into_iter().partition(|p| out_of_budget || p.attempts >= self.retry.attempts_max);
            for p in give_up {
                let reason = format!("gave up after {} attempts: {}", p.attempts, p.last_error);
                done[p.index] = Some((Final::Failed { provider: p.last_provider, reason }, wall_ms()));
            }
            pending = keep;
            if !pending.is_empty() {
                tokio::time::sleep(self.retry.backoff(round)).await;
            }
        }
        done.into_iter()
            .map(|d| {
                d.unwrap_or((Final::Failed { provider: String::new(), reason: "lost".into() }, wall_ms()))
            })
            .collect()
    }

    /// One pass over the pending messages: every one gets one attempt (on some provider) or
    /// is found to have no provider available. Returns those still pending.
    async fn round(
        &self,
        messages: &[OutboundMessage],
        pending: Vec<Pending>,
        done: &mut [Option<(Final, u64)>],
        prepaid: &mut Prepaid,
        fence: &dyn SendFence,
    ) -> Vec<Pending> {
        let mut still = Vec::new();
        let mut queue = pending;
        while !queue.is_empty() {
            let take = queue.len().min(self.batch_max());
            let batch: Vec<Pending> = queue.drain(..take).collect();
            still.extend(self.attempt(messages, batch, done, prepaid, fence).await);
        }
        still
    }

    /// Sends one batch, failing over between providers on provider-level failures.
    async fn attempt(
        &self,
        messages: &[OutboundMessage],
        mut batch: Vec<Pending>,
        done: &mut [Option<(Final, u64)>],
        prepaid: &mut Prepaid,
        fence: &dyn SendFence,
    ) -> Vec<Pending> {
        let mut avoid = Vec::new();
        loop {
            let Some(i) = self.pick(&avoid) else {
                for p in &mut batch {
                    p.attempts += 1;
                    if p.last_error.is_empty() {
                        p.last_error = format!("every {} provider is unavailable", self.channel);
                    }
                }
                return batch;
            };
            if let Some(first) = avoid.first() {
                self.events.failover(self.channel, self.slots[*first].name(), self.slots[i].name());
            }
            let slot = &self.slots[i];
            let msgs: Vec<OutboundMessage> = batch.iter().map(|p| messages[p.index].clone()).collect();
            let paid = if prepaid.slot == Some(i) { msgs.len().min(prepaid.tokens) } else { 0 };
            prepaid.tokens -= paid;
            let error = match self.call(slot, &msgs, paid, fence, &batch).await {
                Ok(results) => return self.settle(slot, batch, results, done),
                Err(CallFailed::Fenced(reason)) => {
                    for p in batch {
                        done[p.index] = Some((Final::Dropped { reason: reason.clone() }, wall_ms()));
                    }
                    return Vec::new();
                }
                Err(CallFailed::Provider(e)) => e,
            };
            match error {
                ProviderError::Throttled(wait) => {
                    // Not an outcome: the same provider is asked again after the wait.
                    self.succeeded(slot);
                    tokio::time::sleep(wait.min(self.retry.backoff_max)).await;
                }
                ProviderError::Rejected(reason) => {
                    self.succeeded(slot);
                    for p in batch {
                        done[p.index] = Some((
                            Final::Failed { provider: slot.name().into(), reason: reason.clone() },
                            wall_ms(),
                        ));
                    }
                    return Vec::new();
                }
                ProviderError::Unavailable(ref e) | ProviderError::Ambiguous(ref e) => {
                    if slot.with_breaker(Breaker::failure) {
                        tracing::warn!(channel = %self.channel, provider = slot.name(), error = %e, "circuit opened");
                        self.events.circuit_opened(self.channel, slot.name());
                    }
                    let ambiguous = matches!(error, ProviderError::Ambiguous(_));
                    for p in &mut batch {
                        p.last_provider = slot.name().into();
                        p.last_error = e.clone();
                        if ambiguous {
                            p.ambiguous = Some(slot.name().into());
                        }
                    }
                    avoid.push(i);
                }
            }
        }
    }

    /// Counts the messages of `batch` that a provider may already hold (it gave no answer for
    /// them before): each new attempt at them may reach the recipient a second time.
    fn note_possible_duplicates(&self, batch: &[Pending]) {
        let mut by_provider: Vec<(&str, usize)> = Vec::new();
        for p in batch {
            let Some(name) = p.ambiguous.as_deref() else { continue };
            match by_provider.iter_mut().find(|(n, _)| *n == name) {
                Some((_, c)) => *c += 1,
                None => by_provider.push((name, 1)),
            }
        }
        for (name, n) in by_provider {
            self.events.possible_duplicates(self.channel, name, n);
        }
    }

    /// One call to `slot`'s provider, once its rate and concurrency allow and the fence is
    /// still open.
    async fn call(
        &self,
        slot: &Slot,
        msgs: &[OutboundMessage],
        paid: usize,
        fence: &dyn SendFence,
        batch: &[Pending],
    ) -> Result<Vec<SendResult>, CallFailed> {
        slot.bucket.take(msgs.len() - paid).await;
        let _permit = slot
            .window
            .acquire()
            .await
            .map_err(|_| CallFailed::Provider(ProviderError::Unavailable("closed".into())))?;
        fence.check().map_err(CallFailed::Fenced)?;
        self.note_possible_duplicates(batch);
        fence.call_begins();
        let results = slot.provider.send(msgs).await.map_err(CallFailed::Provider)?;
        if results.len() != msgs.len() {
            return Err(CallFailed::Provider(ProviderError::Unavailable(format!(
                "answered {} results for {} messages",
                results.len(),
                msgs.len()
            ))));
        }
        Ok(results)
    }

    fn settle(
        &self,
        slot: &Slot,
        batch: Vec<Pending>,
        results: Vec<SendResult>,
        done: &mut [Option<(Final, u64)>],
    ) -> Vec<Pending> {
        self.succeeded(slot);
        let mut retry = Vec::new();
        for (mut p, r) in batch.into_iter().zip(results) {
            p.attempts += 1;
            p.last_provider = slot.name().into();
            match r {
                SendResult::Accepted(id) => {
                    done[p.index] =
                        Some((Final::Sent { provider: slot.name().into(), provider_id: id }, wall_ms()))
                }
                SendResult::Permanent(reason) => {
                    done[p.index] = Some((Final::Failed { provider: slot.name().into(), reason }, wall_ms()))
                }
                SendResult::Retryable(e) => {
                    p.last_error = e;
                    retry.push(p);
                }
                SendResult::Ambiguous(e) => {
                    p.last_error = e;
                    p.ambiguous = Some(slot.name().into());
                    retry.push(p);
                }
            }
        }
        retry
    }

    /// Takes the next job for this channel in order of urgency, once the most preferred usable
    /// provider can take it. One worker at a time waits here: it waits for tokens and a free
    /// concurrency slot, then takes the most urgent job **at that moment** and pays its tokens.
    /// So a crisis batch is never stuck behind routine batches that workers took early and
    /// hold while waiting for a rate limit.
    pub async fn admit<J>(&self, pop: impl Future<Output = J>, size: impl Fn(&J) -> usize) -> (J, Prepaid) {
        let _turn = self.admission.lock().await;
        let usable = self.slots.iter().position(|s| s.breaker_state() != BreakerState::Open);
        if let Some(i) = usable {
            let slot = &self.slots[i];
            while !(slot.bucket.has(self.batch_max()) && slot.window.available_permits() > 0) {
                tokio::time::sleep(CAPACITY_POLL).await;
            }
        }
        let job = pop.await;
        let Some(i) = usable else { return (job, Prepaid::default()) };
        let n = size(&job);
        self.slots[i].bucket.take(n).await;
        (job, Prepaid { slot: Some(i), tokens: n })
    }

    /// A call to `slot` succeeded: its breaker closes, and a circuit that was open is reported
    /// closed.
    fn succeeded(&self, slot: &Slot) {
        if slot.with_breaker(Breaker::success_closing) {
            tracing::info!(channel = %self.channel, provider = slot.name(), "circuit closed");
            self.events.circuit_closed(self.channel, slot.name());
        }
    }

    /// Probes every open circuit's provider once; a healthy one may be tried again at once.
    pub async fn probe_open(&self) {
        for slot in &self.slots {
            if slot.breaker_state() == BreakerState::Open && slot.provider.health().await.is_ok() {
                slot.with_breaker(Breaker::probe_ok);
            }
        }
    }
}

#[cfg(test)]
mod tests;
