//! One simulated provider at run time: its current behaviour (changeable through the admin
//! API), its throughput cap and its counters.
//!
//! Counters are atomics added to once per batch, and the behaviour is an `Arc` swapped
//! whole, so a batch reads one consistent set of settings without holding a lock.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use crate::{
    config::{Channel, ProviderConfig, ProviderSettings},
    reports::{Counters, ProviderStats},
    seeded::{Purpose, draw, key_hash},
    sim::lock,
};

/// Atomic twins of [`Counters`].
#[derive(Debug, Default)]
pub(crate) struct AtomicCounters {
    pub(crate) received: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) rejected_retryable: AtomicU64,
    pub(crate) rejected_permanent: AtomicU64,
    pub(crate) duplicate_suppressed: AtomicU64,
    pub(crate) duplicate_delivered: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) batches_unavailable: AtomicU64,
    pub(crate) batches_throttled: AtomicU64,
    pub(crate) receipts_sent: AtomicU64,
    pub(crate) replies_sent: AtomicU64,
    pub(crate) throttled_mid_batch: AtomicU64,
    pub(crate) batches_unanswered: AtomicU64,
    pub(crate) messages_unanswered: AtomicU64,
}

impl AtomicCounters {
    /// Adds a batch's tally.
    pub(crate) fn add(&self, c: &Counters) {
        let add = |a: &AtomicU64, n: u64| {
            if n > 0 {
                a.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&self.received, c.received);
        add(&self.accepted, c.accepted);
        add(&self.rejected_retryable, c.rejected_retryable);
        add(&self.rejected_permanent, c.rejected_permanent);
        add(&self.duplicate_suppressed, c.duplicate_suppressed);
        add(&self.duplicate_delivered, c.duplicate_delivered);
        add(&self.batches, c.batches);
        add(&self.batches_unavailable, c.batches_unavailable);
        add(&self.batches_throttled, c.batches_throttled);
        add(&self.receipts_sent, c.receipts_sent);
        add(&self.replies_sent, c.replies_sent);
        add(&self.throttled_mid_batch, c.throttled_mid_batch);
        add(&self.batches_unanswered, c.batches_unanswered);
        add(&self.messages_unanswered, c.messages_unanswered);
    }

    fn snapshot(&self) -> Counters {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            received: get(&self.received),
            accepted: get(&self.accepted),
            rejected_retryable: get(&self.rejected_retryable),
            rejected_permanent: get(&self.rejected_permanent),
            duplicate_suppressed: get(&self.duplicate_suppressed),
            duplicate_delivered: get(&self.duplicate_delivered),
            batches: get(&self.batches),
            batches_unavailable: get(&self.batches_unavailable),
            batches_throttled: get(&self.batches_throttled),
            receipts_sent: get(&self.receipts_sent),
            replies_sent: get(&self.replies_sent),
            throttled_mid_batch: get(&self.throttled_mid_batch),
            batches_unanswered: get(&self.batches_unanswered),
            messages_unanswered: get(&self.messages_unanswered),
        }
    }

    fn reset(&self) {
        let seen = self.snapshot();
        // Subtract what was read rather than storing 0, so that increments racing with a
        // reset are not lost (they belong to batches after it).
        let sub = |a: &AtomicU64, n: u64| a.fetch_sub(n, Ordering::Relaxed);
        sub(&self.received, seen.received);
        sub(&self.accepted, seen.accepted);
        sub(&self.rejected_retryable, seen.rejected_retryable);
        sub(&self.rejected_permanent, seen.rejected_permanent);
        sub(&self.duplicate_suppressed, seen.duplicate_suppressed);
        sub(&self.duplicate_delivered, seen.duplicate_delivered);
        sub(&self.batches, seen.batches);
        sub(&self.batches_unavailable, seen.batches_unavailable);
        sub(&self.batches_throttled, seen.batches_throttled);
        sub(&self.receipts_sent, seen.receipts_sent);
        sub(&self.replies_sent, seen.replies_sent);
        sub(&self.throttled_mid_batch, seen.throttled_mid_batch);
        sub(&self.batches_unanswered, seen.batches_unanswered);
        sub(&self.messages_unanswered, seen.messages_unanswered);
    }
}

/// A token bucket holding up to one second of `rate_per_second`. It may go into debt: a
/// batch larger than what is left is admitted once the bucket holds at least
/// min(batch, capacity), so batches larger than the rate still pass, and the long-run rate
/// is the configured one.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

/// A simulated provider.
#[derive(Debug)]
pub(crate) struct Provider {
    /// `1 << index`: its bit in key records.
    pub(crate) bit: u8,
    pub(crate) name: Arc<str>,
    pub(crate) channel: Channel,
    /// Mixed into its draws so two providers fail different messages.
    pub(crate) salt: u64,
    initial: ProviderConfig,
    settings: Mutex<Arc<ProviderConfig>>,
    bucket: Mutex<TokenBucket>,
    pub(crate) counters: AtomicCounters,
    batch_seq: AtomicU64,
}

impl Provider {
    pub(crate) fn new(index: usize, config: &ProviderConfig) -> Self {
        Provider {
            bit: 1u8 << index,
            name: config.name.as_str().into(),
            channel: config.channel,
            salt: key_hash(&config.name),
            initial: config.clone(),
            settings: Mutex::new(Arc::new(config.clone())),
            bucket: Mutex::new(TokenBucket {
                tokens: config.rate_per_second as f64,
                refilled: Instant::now(),
            }),
            counters: AtomicCounters::default(),
            batch_seq: AtomicU64::new(0),
        }
    }

    /// The behaviour in force.
    pub(crate) fn settings(&self) -> Arc<ProviderConfig> {
        lock(&self.settings).clone()
    }

    /// Applies an admin change; the error names the field at fault.
    pub(crate) fn apply(&self, change: &ProviderSettings) -> Result<Arc<ProviderConfig>, String> {
        let mut settings = lock(&self.settings);
        let updated = settings.with(change);
        updated.validate("body")?;
        if updated.rate_per_second != settings.rate_per_second {
            self.refill_full(updated.rate_per_second);
        }
        *settings = Arc::new(updated);
        Ok(settings.clone())
    }

    /// Back to the configured behaviour, zero counters and a full bucket.
    pub(crate) fn reset(&self) {
        *lock(&self.settings) = Arc::new(self.initial.clone());
        self.refill_full(self.initial.rate_per_second);
        self.counters.reset();
        self.batch_seq.store(0, Ordering::Relaxed);
    }

    fn refill_full(&self, rate_per_second: u64) {
        *lock(&self.bucket) = TokenBucket { tokens: rate_per_second as f64, refilled: Instant::now() };
    }

    /// Admits a batch of `n` messages under `rate_per_second` (0 = unlimited), or says in how
    /// many whole seconds to retry.
    pub(crate) fn admit(&self, n: usize, rate_per_second: u64, now: Instant) -> Result<(), u64> {
        if rate_per_second == 0 {
            return Ok(());
        }
        let rate = rate_per_second as f64;
        let mut bucket = lock(&self.bucket);
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.refilled = now;
        let needed = (n as f64).min(rate);
        if bucket.tokens >= needed {
            bucket.tokens -= n as f64;
            return Ok(());
        }
        let wait_s = ((needed - bucket.tokens) / rate).ceil();
        Err((wait_s as u64).max(1))
    }

    /// Sequence number of the next answered batch (drives latency jitter).
    pub(crate) fn next_batch(&self) -> u64 {
        self.batch_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The provider id of delivery `ordinal` of a key (0 for the first at this provider,
    /// which an idempotent repeat gets again). Derived, not stored, so that repeating it
    /// costs no memory per key; a number, so that it is made under the recorder lock
    /// without allocating and formatted ([`Provider::format_id`]) after.
    pub(crate) fn provider_id(&self, seed: u64, hash: u64, ordinal: u64) -> u64 {
        draw(seed, Purpose::ProviderId, self.salt ^ hash, ordinal)
    }

    /// The text form of a provider id: `{name}-{16 hex digits}`.
    pub(crate) fn format_id(&self, id: u64) -> String {
        format!("{}-{id:016x}", self.name)
    }

    pub(crate) fn stats(&self) -> ProviderStats {
        ProviderStats { counters: self.counters.snapshot(), outage: self.settings().outage }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Goal: the cap admits one second's worth, then asks to retry, then refills; batches
    /// larger than the rate still pass on a full bucket.
    #[test]
    fn token_bucket() {
        let config = ProviderConfig { rate_per_second: 100, ..ProviderConfig::new("p", Channel::Sms) };
        let provider = Provider::new(0, &config);
        let start = Instant::now();
        assert_eq!(provider.admit(100, 100, start), Ok(()));
        assert_eq!(provider.admit(10, 100, start), Err(1));
        assert_eq!(provider.admit(10, 100, start + Duration::from_millis(200)), Ok(()));
        assert_eq!(provider.admit(500, 100, start + Duration::from_secs(10)), Ok(()));
        assert_eq!(provider.admit(1, 100, start + Duration::from_secs(10)), Err(5));
    }
}
