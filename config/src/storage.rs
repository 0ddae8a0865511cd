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

/// Values `storage.min_free_bytes` may take.
pub const MIN_FREE_BYTES_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(1 << 40);

impl Default for StorageConfig {
    fn default() -> Self {
        Self { cache_capacity_bytes: 32 * 1024 * 1024, min_free_bytes: 256 * 1024 * 1024 }
    }
}

impl StorageConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !MIN_FREE_BYTES_RANGE.contains(&self.min_free_bytes) {
            return Err(ConfigError::invalid(
                "storage.min_free_bytes".to_string(),
                format!(
                    "must be between {} (1 MiB) and {} (1 TiB)",
                    MIN_FREE_BYTES_RANGE.start(),
                    MIN_FREE_BYTES_RANGE.end()
                ),
            ));
        }
        Ok(())
    }
}
