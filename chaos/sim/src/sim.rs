//! The simulator's shared state: the providers, the recorder, the callback queue and the
//! logs of acknowledged replies and receipts, behind one `Arc` that every connection and the callback flusher hold.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{
    callbacks::CallbackQueue,
    config::SimConfig,
    inbox::Inbox,
    limits::{RECEIPTS_RECORDED_MAX, REPLIES_RECORDED_MAX},
    providers::Provider,
    recorder::Recorder,
    reports::{Counters, ReceiptRecord, ReceiptsListing, RepliesListing, ReplyRecord, Stats},
};

/// Locks a mutex even if a holder panicked: every structure here stays consistent between
/// statements, and a simulator that stops answering would fail tests for the wrong reason.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Callbacks of one kind a node acknowledged, the first `max` of them (the count is not
/// capped).
#[derive(Debug)]
pub(crate) struct CallbackLog<T> {
    records: Vec<T>,
    total: u64,
    max: usize,
}

impl<T: Clone> CallbackLog<T> {
    pub(crate) fn new(max: usize) -> Self {
        Self { records: Vec::new(), total: 0, max }
    }

    pub(crate) fn push(&mut self, record: T) {
        self.total += 1;
        if self.records.len() < self.max {
            self.records.push(record);
        }
    }

    /// The first `limit` records, how many there were in all, and whether some are left out.
    fn listing(&self, limit: usize) -> (Vec<T>, u64, bool) {
        let records: Vec<T> = self.records.iter().take(limit).cloned().collect();
        let truncated = (records.len() as u64) < self.total;
        (records, self.total, truncated)
    }
}

impl CallbackLog<ReplyRecord> {
    pub(crate) fn replies(&self, limit: usize) -> RepliesListing {
        let (replies, total, truncated) = self.listing(limit);
        RepliesListing { replies, total, truncated }
    }
}

impl CallbackLog<ReceiptRecord> {
    pub(crate) fn receipts(&self, limit: usize) -> ReceiptsListing {
        let (receipts, total, truncated) = self.listing(limit);
        ReceiptsListing { receipts, total, truncated }
    }
}

/// Everything a running simulator holds.
#[derive(Debug)]
pub(crate) struct Sim {
    pub(crate) seed: u64,
    pub(crate) secret: Vec<u8>,
    pub(crate) callback_urls: Vec<String>,
    /// The CA that `https://` callbacks are verified against.
    pub(crate) callback_ca: Option<Vec<u8>>,
    pub(crate) providers: Vec<Provider>,
    /// One lock, taken once per batch: on two cores a sharded table would buy nothing.
    pub(crate) recorder: Mutex<Recorder>,
    pub(crate) callbacks: CallbackQueue,
    pub(crate) replies: Mutex<CallbackLog<ReplyRecord>>,
    pub(crate) receipts: Mutex<CallbackLog<ReceiptRecord>>,
    /// What recipients received (the first `inbox_max` deliveries); one lock per batch.
    pub(crate) inbox: Mutex<Inbox>,
    keys_recorded_max: usize,
    inbox_max: usize,
}

impl Sim {
    /// Builds the state of a validated configuration.
    pub(crate) fn new(config: &SimConfig, secret: Vec<u8>, callback_ca: Option<Vec<u8>>) -> Self {
        let providers: Vec<Provider> =
            config.providers.iter().enumerate().map(|(i, p)| Provider::new(i, p)).collect();
        Sim {
            seed: config.seed,
            secret,
            callback_urls: config.callback_urls.clone(),
            callback_ca,
            callbacks: CallbackQueue::new(providers.len()),
            providers,
            recorder: Mutex::new(Recorder::new(config.keys_recorded_max)),
            replies: Mutex::new(CallbackLog::new(REPLIES_RECORDED_MAX)),
            receipts: Mutex::new(CallbackLog::new(RECEIPTS_RECORDED_MAX)),
            inbox: Mutex::new(Inbox::new(config.inbox_max)),
            keys_recorded_max: config.keys_recorded_max,
            inbox_max: config.inbox_max,
        }
    }

    pub(crate) fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| &*p.name == name)
    }

    pub(crate) fn provider_names(&self) -> Vec<Arc<str>> {
        self.providers.iter().map(|p| p.name.clone()).collect()
    }

    /// Forgets every message, counter, queued callback and reply, and restores each
    /// provider's configured behaviour.
    pub(crate) fn reset(&self) {
        *lock(&self.recorder) = Recorder::new(self.keys_recorded_max);
        for provider in &self.providers {
            provider.reset();
        }
        self.callbacks.clear();
        *lock(&self.replies) = CallbackLog::new(REPLIES_RECORDED_MAX);
        *lock(&self.receipts) = CallbackLog::new(RECEIPTS_RECORDED_MAX);
        *lock(&self.inbox) = Inbox::new(self.inbox_max);
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut totals = Counters::default();
        let mut providers = std::collections::BTreeMap::new();
        for provider in &self.providers {
            let stats = provider.stats();
            totals.add(&stats.counters);
            providers.insert(provider.name.to_string(), stats);
        }
        let (distinct_keys, keys_not_listed, alerts_untracked, handsets_untracked) = {
            let recorder = lock(&self.recorder);
            let r = &recorder;
            (r.distinct_keys(), r.keys_not_listed(), r.alerts_untracked(), r.handsets_untracked())
        };
        let callbacks = self.callbacks.counts();
        Stats {
            seed: self.seed,
            providers,
            totals,
            distinct_keys,
            keys_not_listed,
            alerts_untracked,
            callbacks_queued: callbacks.queued,
            callbacks_dropped: callbacks.dropped,
            callback_failures: callbacks.failures,
            receipts: callbacks.receipts,
            replies: callbacks.replies,
            handsets_untracked,
        }
    }
}
