//! `[raft]`: Raft timing, log compaction and replication bounds.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Largest gRPC message between nodes (and the API's decoding limit): room for a snapshot
/// chunk or an append-entries payload of `max_payload_bytes` with its envelope.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Raft timing and compaction. The defaults suit sites 20-50 ms apart (see
/// `docs/architecture.md`, "Raft timing"): a follower that loses its leader stands for election
/// after `election_timeout_max_ms` (the leader lease) plus a random time between the two
/// election timeouts, so writes resume 1.2-1.6 s after the leader's site is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftConfig {
    /// Interval between the leader's heartbeats.
    pub heartbeat_interval_ms: u64,
    /// Lower bound of the randomised election timeout.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomised election timeout. Also the leader lease: a follower
    /// refuses to vote for another candidate while it heard from its leader within this time.
    pub election_timeout_max_ms: u64,
    /// How long a client write may wait to be committed before the caller is told the outcome
    /// is unknown (the cluster may have lost its quorum).
    pub write_timeout_ms: u64,
    /// Take a snapshot after this many log entries since the last one.
    pub snapshot_every_entries: u64,
    /// Entries kept in the log behind the snapshot, so briefly lagging followers catch up from
    /// the log rather than by snapshot.
    pub keep_entries_after_snapshot: u64,
    /// A follower further behind than this is sent a snapshot instead of log entries.
    pub replication_lag_threshold: u64,
    /// Size of one snapshot chunk on the wire.
    pub snapshot_chunk_bytes: u64,
    /// Time allowed to send and install one snapshot chunk.
    pub install_snapshot_timeout_ms: u64,
    /// Most entries sent in one append-entries RPC.
    pub max_payload_entries: u64,
    /// Most bytes of encoded entries sent in one append-entries RPC (one entry larger than this
    /// is still sent, alone). openraft gives each such RPC one heartbeat interval.
    pub max_payload_bytes: u64,
    /// Largest difference allowed between a node's wall clock and the median of the cluster's
    /// wall clocks (each node probes the others). A node further out says so on `/readyz`, in
    /// `varsel_clock_skew_ms` and in `varsel cluster status`, stands for no election, and a
    /// leader further out hands leadership to a node whose clock agrees. The leader steps the
    /// log's time forward to the median when that is ahead by more than a quarter of this.
    pub max_clock_skew_ms: u64,
}

/// Values `raft.max_clock_skew_ms` may take.
pub const MAX_CLOCK_SKEW_RANGE_MS: std::ops::RangeInclusive<u64> = 50..=3_600_000;

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 400,
            election_timeout_max_ms: 800,
            write_timeout_ms: 5000,
            snapshot_every_entries: 20_000,
            keep_entries_after_snapshot: 2_000,
            replication_lag_threshold: 50_000,
            snapshot_chunk_bytes: 1 << 20,
            install_snapshot_timeout_ms: 10_000,
            max_payload_entries: 512,
            max_payload_bytes: varsel_raft_store::log_store::PAYLOAD_BYTES_MAX_DEFAULT,
            max_clock_skew_ms: 1_000,
        }
    }
}

impl RaftConfig {
    /// Checks the timing rules Raft needs to be stable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, rule: String| Err(ConfigError::invalid(format!("raft.{field}"), rule));
        if self.heartbeat_interval_ms == 0 {
            return invalid("heartbeat_interval_ms", "must be positive".into());
        }
        // Saturating: a heartbeat interval above u64::MAX / 3 (a TOML integer can be that
        // large) overflowed here, a panic in debug builds and a wrong check in release; found
        // by `tests/t01_properties.rs`.
        let min_ms = self.heartbeat_interval_ms.saturating_mul(3);
        if self.election_timeout_min_ms < min_ms {
            return invalid(
                "election_timeout_min_ms",
                format!(
                    "must be at least 3 x heartbeat_interval_ms ({min_ms}), or a follower may start an \
                     election after one delayed heartbeat"
                ),
            );
        }
        if self.election_timeout_max_ms <= self.election_timeout_min_ms {
            return invalid("election_timeout_max_ms", "must be greater than election_timeout_min_ms".into());
        }
        if self.write_timeout_ms < self.election_timeout_max_ms {
            return invalid(
                "write_timeout_ms",
                "must be at least election_timeout_max_ms, so a write can outlive one election".into(),
            );
        }
        if self.snapshot_every_entries == 0 {
            return invalid("snapshot_every_entries", "must be positive".into());
        }
        if self.replication_lag_threshold <= self.snapshot_every_entries {
            return invalid(
                "replication_lag_threshold",
                "must be greater than snapshot_every_entries, or a snapshot would not end the lag".into(),
            );
        }
        if !(4096..=64 << 20).contains(&self.snapshot_chunk_bytes) {
            return invalid("snapshot_chunk_bytes", "must be between 4096 and 67108864".into());
        }
        if self.max_payload_entries == 0 {
            return invalid("max_payload_entries", "must be positive".into());
        }
        // Half the message limit between nodes: the rest is room for the envelope.
        let payload_max = MAX_MESSAGE_BYTES as u64 / 2;
        if !(4096..=payload_max).contains(&self.max_payload_bytes) {
            let rule =
                format!("must be between 4096 and {payload_max} (half the message limit between nodes)");
            return invalid("max_payload_bytes", rule);
        }
        if !(MAX_CLOCK_SKEW_RANGE_MS).contains(&self.max_clock_skew_ms) {
            return invalid(
                "max_clock_skew_ms",
                format!(
                    "must be between {} and {} (NTP keeps sites within milliseconds; more than an hour \
                     would let a wrong clock lead)",
                    MAX_CLOCK_SKEW_RANGE_MS.start(),
                    MAX_CLOCK_SKEW_RANGE_MS.end()
                ),
            );
        }
        Ok(())
    }

    /// The openraft configuration these settings give.
    pub fn to_openraft(&self, cluster_name: &str) -> Result<openraft::Config, ConfigError> {
        let config = openraft::Config {
            cluster_name: cluster_name.to_string(),
            heartbeat_interval: self.heartbeat_interval_ms,
            election_timeout_min: self.election_timeout_min_ms,
            election_timeout_max: self.election_timeout_max_ms,
            install_snapshot_timeout: self.install_snapshot_timeout_ms,
            max_payload_entries: self.max_payload_entries,
            replication_lag_threshold: self.replication_lag_threshold,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every_entries),
            snapshot_max_chunk_size: self.snapshot_chunk_bytes,
            max_in_snapshot_log_to_keep: self.keep_entries_after_snapshot,
            ..Default::default()
        };
        config.validate().map_err(|e| ConfigError::invalid("raft", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a heartbeat interval too large to triple is refused, not an overflow. Method: the
    /// value the property test found (the smallest whose triple overflows `u64`) and the
    /// largest TOML integer.
    #[test]
    fn huge_heartbeat_interval_is_refused() {
        for heartbeat_interval_ms in [6_148_914_691_236_517_206, i64::MAX as u64] {
            let raft = RaftConfig { heartbeat_interval_ms, ..RaftConfig::default() };
            let err = raft.validate().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("raft.election_timeout_min_ms"), "{err}");
        }
    }
}
