//! `[testing]`: switches that exist for tests only; leave them off in production.

use serde::{Deserialize, Serialize};

/// Switches that exist for tests only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Allow the chaos harness to cut Raft links on this node through the admin API
    /// (process-mode network partitions). Never enable in production.
    pub fault_injection: bool,
    /// Delivery actors (`recorder`, `receipts`, `scheduler`, `sender-sms`, …) that panic once,
    /// shortly after they start, to prove that supervision restarts them. Never in production.
    pub panic_actors: Vec<String>,
    /// Reads of the delivery engine that fail once (`ack`: the first read that finds a
    /// recipient's acknowledgement; `barrier`: the first read barrier before replies are
    /// placed), to prove that a failed read delays work and never skips a check. Never in
    /// production.
    pub fail_reads: Vec<String>,
    /// Let a tenant admin subscribe a webhook on plain `http://` to a loopback address (with
    /// `allow_insecure`), for test receivers. Never in production: events would travel
    /// unencrypted.
    pub webhooks_allow_http_loopback: bool,
    /// Wait this long before every retry of a failed webhook delivery instead of the documented
    /// schedule (0: the schedule), so a test sees an endpoint disabled within seconds.
    pub webhook_retry_ms: u64,
}
