//! `[storage]`: the storage engine under the Raft log and the state machine.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Storage engine settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// sled page-cache capacity, as sled counts it: the encoded size of the pages it keeps.
    /// Pages in memory cost several times that (measured: 128 MiB instead of 32 MiB added
    /// about 500 MiB to each node's resident memory at 1,000,000 recipients, and sent no
    /// faster; `docs/performance.md`, "sled's cache and resident memory").
    pub cache_capacity_bytes: u64,
    /// Space the data directory's filesystem must keep free. Below it the node counts its disk
    /// as full: it refuses its clients' writes (they can write through another node), stops
    /// taking sending work and hands its leases and leadership over, takes no new log entries
    /// from the leader, and says so on `/readyz`, `varsel_disk_full` and `varsel cluster
    /// status`. Once half as much again is free it catches up by itself. It is a reserve: the
    /// store must never reach a full disk itself (see `docs/architecture.md`, "A full disk").
    pub min_free_bytes: u64,
}

/// Values `storage.cache_capacity_bytes` may take: below 1 MiB sled keeps hardly a leaf, and
/// above 16 GiB the pages alone (about five times their counted size) would outgrow any node.
pub const CACHE_CAPACITY_BYTES_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(16 << 30);

/// Values `storage.min_free_bytes` may take.
pub const MIN_FREE_BYTES_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(1 << 40);

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: varsel_raft_store::DEFAULT_CACHE_CAPACITY_BYTES,
            min_free_bytes: 256 * 1024 * 1024,
        }
    }
}

impl StorageConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        within(
            "storage.cache_capacity_bytes",
            self.cache_capacity_bytes,
            &CACHE_CAPACITY_BYTES_RANGE,
            "1 MiB",
            "16 GiB",
        )?;
        within("storage.min_free_bytes", self.min_free_bytes, &MIN_FREE_BYTES_RANGE, "1 MiB", "1 TiB")
    }
}

/// Refuses `value` outside `range`, naming `field` and both ends (with their sizes in words).
fn within(
    field: &str,
    value: u64,
    range: &std::ops::RangeInclusive<u64>,
    low: &str,
    high: &str,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(ConfigError::invalid(
        field,
        format!("must be between {} ({low}) and {} ({high})", range.start(), range.end()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: both bounds are checked at their edges, and a refusal names the field and the
    /// range.
    #[test]
    fn bounds_are_checked_naming_the_field() {
        StorageConfig::default().validate().expect("the defaults");
        for (bytes, ok) in [
            (0, false),
            (*CACHE_CAPACITY_BYTES_RANGE.start() - 1, false),
            (*CACHE_CAPACITY_BYTES_RANGE.start(), true),
            (*CACHE_CAPACITY_BYTES_RANGE.end(), true),
            (*CACHE_CAPACITY_BYTES_RANGE.end() + 1, false),
            (u64::MAX, false),
        ] {
            let config = StorageConfig { cache_capacity_bytes: bytes, ..Default::default() };
            match config.validate() {
                Ok(()) => assert!(ok, "{bytes} accepted"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!ok, "{bytes} refused: {e}");
                    assert!(e.contains("storage.cache_capacity_bytes") && e.contains("16 GiB"), "{e}");
                }
            }
        }
        let e = StorageConfig { min_free_bytes: 0, ..Default::default() }
            .validate()
            .expect_err("refused")
            .to_string();
        assert!(e.contains("storage.min_free_bytes"), "{e}");
    }
}
