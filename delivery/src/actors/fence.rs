//! The fence at the send: what every queued batch of a shard worker checks before each provider
//! call and each retry.
//!
//! A batch may be handed to a provider only while all of these hold:
//!
//! - the worker that queued it still runs under its lease (it closes the fence when it stops,
//!   when it learns the lease was lost, and when it winds down after a cancel);
//! - the lease is unexpired by this node's monotonic clock (`valid_until`, renewed by the
//!   scheduler's heartbeats): a node that was stalled or cut off stops at its own deadline,
//!   which falls `CLOCK_SKEW_MARGIN_MS` before anyone else may take the shard over;
//! - the alert is neither cancelled nor finished in this node's applied state, so a cancel
//!   stops queued and retrying messages as soon as this node applies it.
//!
//! A batch stopped by the fence is answered with [`Final::Dropped`](crate::providers::Final)
//! for the messages not yet handed over: they are not recorded as sent, so whoever holds the
//! shard next sends them once (or nobody, if the alert ended).
//!
//! The fence is also audited: as each provider call begins, [`SendFence::call_begins`] reads
//! the clock and the deadline again, apart from the check's decision, and counts a call that
//! begins after the deadline in `varsel_delivery_late_handovers_total` (the chaos
//! harness requires it to stay 0 on every node).

use std::sync::atomic::{AtomicU64, Ordering};

/// How far after its lease's deadline a provider call may begin before it counts as late (see
/// [`SendFence::call_begins`] of the lease fence). Lease holders stop 250 ms early anyway
/// (`CLOCK_SKEW_MARGIN_MS`), so this stays inside the lease as the log grants it.
pub const LATE_TOLERANCE_MS: u64 = 50;
use std::sync::{Arc, Mutex, Weak};

use varsel_raft_store::delivery::LeaseRef;
use varsel_raft_store::state_machine::delivery::query as dq;

use crate::Shared;
use crate::providers::SendFence;

/// The fence of one shard worker's batches.
#[derive(Debug)]
pub struct LeaseFence {
    lease: LeaseRef,
    valid_until: Arc<AtomicU64>,
    closed: Mutex<Option<String>>,
    shared: Weak<Shared>,
}

impl LeaseFence {
    /// An open fence for `lease`, valid until `valid_until` by the engine's clock.
    pub fn new(shared: &Arc<Shared>, lease: LeaseRef, valid_until: Arc<AtomicU64>) -> Self {
        Self { lease, valid_until, closed: Mutex::new(None), shared: Arc::downgrade(shared) }
    }

    /// Closes the fence for good: no batch behind it is handed over any more.
    pub fn close(&self, why: &str) {
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if closed.is_none() {
            *closed = Some(why.to_string());
        }
    }

    /// Whether [`LeaseFence::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

impl SendFence for LeaseFence {
    fn check(&self) -> Result<(), String> {
        if let Some(why) = self.closed.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Err(why.clone());
        }
        let Some(shared) = self.shared.upgrade() else { return Err("the engine stopped".into()) };
        let shard = self.lease.shard;
        if shared.clock.now_ms() >= self.valid_until.load(Ordering::Acquire) {
            return Err(format!(
                "lease on shard {} of alert {} (epoch {}) expired by this node's clock",
                shard.shard, shard.alert, self.lease.epoch
            ));
        }
        match dq::alert(&shared.replica.state().read_txn(), shard.alert) {
            Ok(Some(a)) if !a.status.is_final() => Ok(()),
            Ok(Some(a)) => Err(format!("alert {} is {:?}", shard.alert, a.status)),
            Ok(None) => Err(format!("alert {} not found", shard.alert)),
            // Unknown: do not hand over what may have been cancelled; the batch comes back to
            // the worker, which tries again under a checked lease.
            Err(e) => {
                shared.read_failed("fence", &e.to_string());
                Err(format!("alert {} unreadable: {e}", shard.alert))
            }
        }
    }

    fn call_begins(&self) {
        let Some(shared) = self.shared.upgrade() else { return };
        let (now_ms, valid_until_ms) = (shared.clock.now_ms(), self.valid_until.load(Ordering::Acquire));
        // The check refuses from the deadline's millisecond on; a call it let through just
        // before may begin a little after on a loaded machine (the thread preempted between
        // the two reads) without the fence being wrong, so only lateness beyond
        // `LATE_TOLERANCE_MS` is counted: a fence that lets calls through is late by far more.
        if now_ms > valid_until_ms + LATE_TOLERANCE_MS {
            shared.metrics.late_handovers.inc();
            let shard = self.lease.shard;
            tracing::error!(
                alert = shard.alert,
                shard = shard.shard,
                epoch = self.lease.epoch,
                late_ms = now_ms - valid_until_ms,
                "a provider call began after its lease's deadline (the fence let it through)"
            );
        }
    }
}
