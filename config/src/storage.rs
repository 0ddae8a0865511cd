//! `[storage]`: the storage engine under the Raft log and the state machine.

use serde::{Deserialize, Serialize};

/// Storage engine settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// sled page-cache capacity.
    pub cache_capacity_bytes: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { cache_capacity_bytes: 128 * 1024 * 1024 }
    }
}
