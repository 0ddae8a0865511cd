//! The wall clock, read in one place.
//!
//! Only where a time leaves this node or is compared with one that did: stamps a leader puts
//! in the log, due times compared with the log's clock, timestamps providers and people see.
//! Durations and deadlines on one node use `std::time::Instant`, which no clock change moves.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 if the clock is set before 1970.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Seconds since the Unix epoch; 0 if the clock is set before 1970.
pub fn wall_s() -> u64 {
    wall_ms() / 1000
}
