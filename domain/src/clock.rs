//! The wall clock, read in one place.
//!
//! Only where a time leaves this node or is compared with one that did: stamps a leader puts
//! in the log, due times compared with the log's clock, timestamps providers and people see.
//! Durations and deadlines on one node use `std::time::Instant`, which no clock change moves.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Added to the system clock: 0 except when a test skews this process's clock through the
/// fault-injection admin call (`SetFaults.clock_offset_ms`, only with
/// `testing.fault_injection`).
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Milliseconds since the Unix epoch; 0 if the clock is set before 1970.
pub fn wall_ms() -> u64 {
    let system = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    system.saturating_add_signed(OFFSET_MS.load(Ordering::Relaxed))
}

/// Skews this process's wall clock by `offset_ms` (fault injection: a clock that is wrong).
pub fn set_offset_ms(offset_ms: i64) {
    OFFSET_MS.store(offset_ms, Ordering::Relaxed);
}

/// The skew [`set_offset_ms`] set.
pub fn offset_ms() -> i64 {
    OFFSET_MS.load(Ordering::Relaxed)
}

/// Seconds since the Unix epoch; 0 if the clock is set before 1970.
pub fn wall_s() -> u64 {
    wall_ms() / 1000
}
