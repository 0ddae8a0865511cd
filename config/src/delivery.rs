//! `[delivery]`: the delivery engine.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The delivery engine. See `docs/architecture.md`, "Delivery".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Run the delivery engine on this node (a node without it still serves the API).
    pub enabled: bool,
    /// Shards this node sends at once. With the next three fields it bounds the node's
    /// in-flight window: at most `shard_workers x 4 channels x window_chunks x chunk_recipients`
    /// messages can be handed to providers without their outcome being recorded, which is what
    /// a takeover may send again.
    pub shard_workers: usize,
    /// Recipients read and dispatched together.
    pub chunk_recipients: usize,
    /// Chunks per channel of a shard in flight at once.
    pub window_chunks: usize,
    /// Messages waiting per channel for a free sender worker; when full, shards stop pulling
    /// work for that channel (back-pressure).
    pub queue_messages: usize,
    /// Concurrent batches per channel.
    pub sender_workers: usize,
    /// Longest wait before recorded outcomes are written to the log.
    pub record_flush_ms: u64,
    /// Interval of lease renewals (at most half of `lease_ms`).
    pub heartbeat_interval_ms: u64,
    /// Length of a shard lease, by the log's clock. Must outlast a Raft election (at least
    /// `raft.election_timeout_max_ms` twice over), or survivors lose their leases during one.
    /// Sending moves off a dead node within about this long plus a heartbeat.
    pub lease_ms: u64,
    /// Interval at which the scheduler looks for work.
    pub scheduler_tick_ms: u64,
    /// Time a message is retried before it is failed.
    pub retry_budget_ms: u64,
    /// Attempts per message before it is failed.
    pub retry_attempts_max: u32,
    /// Base URL of this node's HTTP listener as providers reach it, for delivery receipts
    /// and replies (`http://host:port`).
    pub callback_url: Option<String>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            shard_workers: 16,
            chunk_recipients: 256,
            window_chunks: 4,
            queue_messages: 8_192,
            sender_workers: 16,
            record_flush_ms: 50,
            heartbeat_interval_ms: 750,
            lease_ms: varsel_raft_store::delivery::LEASE_MS,
            scheduler_tick_ms: 250,
            retry_budget_ms: 120_000,
            retry_attempts_max: 12,
            callback_url: None,
        }
    }
}

impl DeliveryConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("shard_workers", self.shard_workers as u64),
            ("chunk_recipients", self.chunk_recipients as u64),
            ("window_chunks", self.window_chunks as u64),
            ("queue_messages", self.queue_messages as u64),
            ("sender_workers", self.sender_workers as u64),
            ("record_flush_ms", self.record_flush_ms),
            ("scheduler_tick_ms", self.scheduler_tick_ms),
            ("retry_attempts_max", u64::from(self.retry_attempts_max)),
        ];
        if let Some((f, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::invalid(format!("delivery.{f}"), "must be positive"));
        }
        if !varsel_raft_store::delivery::LEASE_MS_RANGE.contains(&self.lease_ms) {
            let r = varsel_raft_store::delivery::LEASE_MS_RANGE;
            let rule = format!("must be between {} and {}", r.start(), r.end());
            return Err(ConfigError::invalid("delivery.lease_ms", rule));
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_interval_ms * 2 > self.lease_ms {
            let rule =
                format!("must be positive and at most half of delivery.lease_ms ({} ms)", self.lease_ms);
            return Err(ConfigError::invalid("delivery.heartbeat_interval_ms", rule));
        }
        if self.chunk_recipients > 4096 {
            return Err(ConfigError::invalid("delivery.chunk_recipients", "must be at most 4096"));
        }
        Ok(())
    }
}
