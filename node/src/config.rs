//! Node configuration: one TOML file, overridable from the environment, checked by
//! [`NodeConfig::validate`] before anything starts.
//!
//! Environment overrides: `VARSEL_<FIELD>` for a top-level field and
//! `VARSEL_<SECTION>__<FIELD>` for a field of a section, e.g. `VARSEL_NODE_ID=2` or
//! `VARSEL_RAFT__HEARTBEAT_INTERVAL_MS=100`. Values are parsed as TOML values when they can be
//! (numbers, booleans), else taken as strings. Every field is documented in
//! `docs/reference/configuration.md`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

#[cfg(test)]
mod example_tests;
pub mod secret;
mod smpp;
mod smtp;
pub use smpp::{SmppLongMessage, SmppProviderConfig, SmppReceiptIdFormat};
pub use smtp::{SmtpProviderConfig, SmtpTls};

/// Prefix of environment variables that override configuration fields.
pub const ENV_PREFIX: &str = "VARSEL_";

/// The whole configuration of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id in the cluster; unique, never reused, never 0.
    pub node_id: u64,
    /// The data centre (site) this node runs in, e.g. `oslo`.
    pub site: String,
    /// Address the client API (gRPC) listens on.
    pub api_addr: SocketAddr,
    /// Address the Raft and node-to-node transport listens on.
    pub raft_addr: SocketAddr,
    /// Address of the HTTP listener for operators' tools: `/metrics` (Prometheus), `/healthz`
    /// and `/readyz`. Absent: no HTTP listener (the gRPC health service still runs). Put it on a
    /// management network; it serves no customer data.
    #[serde(default)]
    pub http_addr: Option<SocketAddr>,
    /// Address other nodes and clients use to reach the API; defaults to `api_addr`. Required
    /// when `api_addr` is a wildcard such as `0.0.0.0`.
    #[serde(default)]
    pub advertise_api_addr: Option<String>,
    /// Address other nodes use for Raft; defaults to `raft_addr`. Required when `raft_addr` is
    /// a wildcard.
    #[serde(default)]
    pub advertise_raft_addr: Option<String>,
    /// Directory holding the Raft log, the state machine and snapshots.
    pub data_dir: PathBuf,
    /// The other initial members; `varsel cluster init` bootstraps this node and these.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Raft timing and log compaction.
    #[serde(default)]
    pub raft: RaftConfig,
    /// Storage engine settings.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The delivery engine.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Providers. Within a channel, the order here is the order of preference: the first is
    /// the primary, the next ones alternative subcontractors.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Trace export over OTLP.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Switches for tests; leave them off in production.
    #[serde(default)]
    pub testing: TestingConfig,
}

/// Authentication settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// File holding the superadmin token (the cluster operator's key: creates tenants and their
    /// first credentials). Every node of a cluster must hold the same token. Without it, no
    /// one can create tenants. The file's content is trimmed; at least 32 characters.
    pub superadmin_token_file: Option<PathBuf>,
}

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
    fn validate(&self) -> Result<(), ConfigError> {
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
            return Err(ConfigError::Invalid {
                field: format!("delivery.{f}"),
                rule: "must be positive".into(),
            });
        }
        if !varsel_raft_store::delivery::LEASE_MS_RANGE.contains(&self.lease_ms) {
            let r = varsel_raft_store::delivery::LEASE_MS_RANGE;
            let rule = format!("must be between {} and {}", r.start(), r.end());
            return Err(ConfigError::Invalid { field: "delivery.lease_ms".into(), rule });
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_interval_ms * 2 > self.lease_ms {
            let rule =
                format!("must be positive and at most half of delivery.lease_ms ({} ms)", self.lease_ms);
            return Err(ConfigError::Invalid { field: "delivery.heartbeat_interval_ms".into(), rule });
        }
        if self.chunk_recipients > 4096 {
            return Err(ConfigError::Invalid {
                field: "delivery.chunk_recipients".into(),
                rule: "must be at most 4096".into(),
            });
        }
        Ok(())
    }
}

/// One provider of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// A unique name, used in metrics, logs and delivery records.
    pub name: String,
    /// The channel it carries.
    pub channel: varsel_domain::Channel,
    /// Most messages per second sent to it from this node (0: no limit).
    #[serde(default)]
    pub rate_per_second: u32,
    /// Calls to it in flight at once from this node.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Most messages per call (providers that take one message per call ignore it).
    #[serde(default = "default_batch_max")]
    pub batch_max: usize,
    /// Time allowed for one call.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// File with the secret this provider signs its receipt and reply webhooks with (see
    /// `node/src/inbound.rs`). Without it, the provider's webhooks are refused.
    #[serde(default)]
    pub inbound_secret_file: Option<PathBuf>,
    /// The provider simulator (`varsel sim`): for tests, benchmarks and `varsel dev`.
    #[serde(default)]
    pub simulator: Option<SimulatorProviderConfig>,
    /// An SMS centre over SMPP 3.4 (`channel = "sms"`).
    #[serde(default)]
    pub smpp: Option<SmppProviderConfig>,
    /// An SMTP relay (`channel = "email"`).
    #[serde(default)]
    pub smtp: Option<SmtpProviderConfig>,
    /// A generic HTTP JSON SMS provider.
    #[serde(default)]
    pub http_sms: Option<crate::delivery::providers::http_sms::HttpSmsConfig>,
    /// Web Push (RFC 8030, VAPID, aes128gcm) to contacts' push subscriptions.
    #[serde(default)]
    pub webpush: Option<crate::delivery::providers::webpush::WebPushConfig>,
    /// An HTTP text-to-speech voice-call provider.
    #[serde(default)]
    pub voice_http: Option<crate::delivery::providers::voice::VoiceHttpConfig>,
}

fn default_concurrency() -> usize {
    16
}
fn default_batch_max() -> usize {
    500
}
fn default_timeout_ms() -> u64 {
    10_000
}

/// Settings of a simulated provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorProviderConfig {
    /// Base URL of the simulator, e.g. `http://127.0.0.1:9000`.
    pub url: String,
    /// The provider's name on the simulator; defaults to `name`.
    #[serde(default)]
    pub remote_name: Option<String>,
}

impl ProviderConfig {
    fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let field = |f: &str| format!("providers[{i}].{f}");
        check_name(&field("name"), &self.name)?;
        if self.concurrency == 0 || self.batch_max == 0 || self.timeout_ms == 0 {
            let rule = "concurrency, batch_max and timeout_ms must be positive".to_string();
            return Err(ConfigError::Invalid { field: field("concurrency"), rule });
        }
        let kinds = [
            self.simulator.is_some(),
            self.smpp.is_some(),
            self.smtp.is_some(),
            self.http_sms.is_some(),
            self.webpush.is_some(),
            self.voice_http.is_some(),
        ]
        .iter()
        .filter(|k| **k)
        .count();
        if kinds != 1 {
            let rule = "needs exactly one provider kind table, e.g. [providers.simulator]".to_string();
            return Err(ConfigError::Invalid { field: field("kind"), rule });
        }
        if let Some(s) = &self.simulator
            && !(s.url.starts_with("http://") || s.url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                field: field("simulator.url"),
                rule: format!("must be an http:// URL, got {:?}", s.url),
            });
        }
        if let Some(k) = &self.http_sms {
            k.validate(&field("http_sms"), self.channel)?;
        }
        if let Some(k) = &self.webpush {
            k.validate(&field("webpush"), self.channel)?;
        }
        if let Some(k) = &self.voice_http {
            k.validate(&field("voice_http"), self.channel)?;
        }
        self.validate_smpp(i)?;
        self.validate_smtp(i)
    }

    fn validate_smpp(&self, i: usize) -> Result<(), ConfigError> {
        let Some(smpp) = &self.smpp else { return Ok(()) };
        let prefix = format!("providers[{i}].smpp");
        check_channel(i, self.channel, varsel_domain::Channel::Sms, "smpp")?;
        smpp.validate(&prefix)?;
        // Read now, so a missing or unreadable secret stops the node before it starts.
        let password = secret::read_secret(&format!("{prefix}.password"), smpp.password_source())?;
        if password.len() >= varsel_smpp::pdu::max_len::PASSWORD {
            let rule =
                format!("must be at most {} octets (SMPP 3.4)", varsel_smpp::pdu::max_len::PASSWORD - 1);
            return Err(ConfigError::Invalid { field: format!("{prefix}.password"), rule });
        }
        Ok(())
    }

    fn validate_smtp(&self, i: usize) -> Result<(), ConfigError> {
        let Some(smtp) = &self.smtp else { return Ok(()) };
        let prefix = format!("providers[{i}].smtp");
        check_channel(i, self.channel, varsel_domain::Channel::Email, "smtp")?;
        smtp.validate(&prefix)?;
        if smtp.username.is_some() {
            secret::read_secret(&format!("{prefix}.password"), smtp.password_source())?;
        }
        if let Some(f) = &smtp.list_unsubscribe_secret_file {
            let source = secret::SecretSource { file: Some(f), env: None };
            secret::read_secret(&format!("{prefix}.list_unsubscribe_secret_file"), source)?;
        }
        Ok(())
    }
}

fn check_channel(
    i: usize,
    channel: varsel_domain::Channel,
    wanted: varsel_domain::Channel,
    kind: &str,
) -> Result<(), ConfigError> {
    if channel == wanted {
        return Ok(());
    }
    let rule =
        format!("must be {} for a [providers.{kind}] provider, got {}", wanted.as_str(), channel.as_str());
    Err(ConfigError::Invalid { field: format!("providers[{i}].channel"), rule })
}

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
}

/// Another member known at bootstrap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its node id.
    pub id: u64,
    /// Its site.
    pub site: String,
    /// Its client API address (`host:port`).
    pub api_addr: String,
    /// Its Raft address (`host:port`).
    pub raft_addr: String,
}

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
}

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
        }
    }
}

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

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (human-readable) or `json` (one object per line).
    pub format: String,
    /// A `tracing` filter such as `info` or `info,openraft=warn`. `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "text".into(), filter: "info,openraft=warn".into() }
    }
}

/// Trace export (OpenTelemetry, OTLP over gRPC). The standard variables
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SDK_DISABLED` override these (see
/// [`crate::telemetry::traces_endpoint`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// URL of an OTLP/gRPC receiver, e.g. `http://otel-collector:4317`. Absent: spans are not
    /// exported (unless an `OTEL_EXPORTER_OTLP_*ENDPOINT` variable names one).
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces recorded, 0.0 to 1.0. A trace started elsewhere follows the caller's
    /// decision (parent-based sampling), so a trace is never cut in half between nodes.
    pub sampling_ratio: f64,
    /// Most finished spans waiting for export (about 1 KiB each). When full, new spans are
    /// dropped and counted (`varsel_otel_spans_dropped_total`); requests never wait for export.
    pub export_queue_spans_max: u64,
    /// Most spans sent in one export call.
    pub export_batch_spans_max: u64,
    /// Time between exports when less than a batch is waiting.
    pub export_interval_ms: u64,
    /// Time one export call may take, retries included, before its spans are dropped.
    pub export_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "varsel".into(),
            sampling_ratio: 1.0,
            export_queue_spans_max: 4096,
            export_batch_spans_max: 512,
            export_interval_ms: 1000,
            export_timeout_ms: 5000,
        }
    }
}

/// Largest `telemetry.export_queue_spans_max` accepted: about 1 GiB of spans at worst.
pub const EXPORT_QUEUE_SPANS_LIMIT: u64 = 1 << 20;

impl TelemetryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, rule: String| {
            Err(ConfigError::Invalid { field: format!("telemetry.{field}"), rule })
        };
        if let Some(e) = self.otlp_endpoint.as_deref().filter(|e| !e.is_empty())
            && !e.starts_with("http://")
        {
            let rule = format!("must be an http:// URL of an OTLP/gRPC receiver, got {e:?}");
            return invalid("otlp_endpoint", rule);
        }
        if self.service_name.trim().is_empty() {
            return invalid("service_name", "must not be empty".into());
        }
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            return invalid(
                "sampling_ratio",
                format!("must be between 0.0 and 1.0, got {}", self.sampling_ratio),
            );
        }
        if !(1..=EXPORT_QUEUE_SPANS_LIMIT).contains(&self.export_queue_spans_max) {
            return invalid("export_queue_spans_max", format!("must be 1 to {EXPORT_QUEUE_SPANS_LIMIT}"));
        }
        if !(1..=self.export_queue_spans_max).contains(&self.export_batch_spans_max) {
            return invalid("export_batch_spans_max", "must be 1 to export_queue_spans_max".into());
        }
        if self.export_interval_ms < 10 {
            return invalid("export_interval_ms", "must be at least 10".into());
        }
        if self.export_timeout_ms < 100 {
            return invalid("export_timeout_ms", "must be at least 100".into());
        }
        Ok(())
    }
}

impl NodeConfig {
    /// Reads `path`, applies `VARSEL_*` overrides from `env`, and validates the result.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_path_buf(), source: e })?;
        Self::parse(&text, env)
    }

    /// Parses TOML text, applies overrides and validates.
    pub fn parse(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        apply_env_overrides(&mut value, env)?;
        let config: NodeConfig = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The address others reach this node's API at.
    pub fn advertised_api(&self) -> String {
        self.advertise_api_addr.clone().unwrap_or_else(|| self.api_addr.to_string())
    }

    /// The address others reach this node's Raft transport at.
    pub fn advertised_raft(&self) -> String {
        self.advertise_raft_addr.clone().unwrap_or_else(|| self.raft_addr.to_string())
    }

    /// Checks every rule and reports the first broken one, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |field: &str, rule: String| Err(ConfigError::Invalid { field: field.to_string(), rule });
        if self.node_id == 0 {
            return invalid("node_id", "must be a positive integer (0 is reserved)".into());
        }
        check_name("site", &self.site)?;
        if self.api_addr == self.raft_addr {
            return invalid("raft_addr", format!("must differ from api_addr (both are {})", self.api_addr));
        }
        if self.api_addr.port() != 0 && self.api_addr.port() == self.raft_addr.port() {
            return invalid("raft_addr", format!("port {} is also api_addr's port", self.raft_addr.port()));
        }
        if let Some(http) = self.http_addr
            && http.port() != 0
            && (http.port() == self.api_addr.port() || http.port() == self.raft_addr.port())
        {
            return invalid(
                "http_addr",
                format!("port {} is also api_addr's or raft_addr's port", http.port()),
            );
        }
        if self.api_addr.ip().is_unspecified() && self.advertise_api_addr.is_none() {
            return invalid("advertise_api_addr", "is required when api_addr is a wildcard address".into());
        }
        if self.raft_addr.ip().is_unspecified() && self.advertise_raft_addr.is_none() {
            return invalid("advertise_raft_addr", "is required when raft_addr is a wildcard address".into());
        }
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir", "must not be empty".into());
        }
        self.validate_peers()?;
        self.raft.validate()?;
        self.delivery.validate()?;
        let mut names = BTreeSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            p.validate(i)?;
            if !names.insert(p.name.clone()) {
                let rule = format!("provider name {:?} is used twice", p.name);
                return Err(ConfigError::Invalid { field: format!("providers[{i}].name"), rule });
            }
        }
        if let Some(f) = &self.auth.superadmin_token_file
            && f.as_os_str().is_empty()
        {
            return invalid("auth.superadmin_token_file", "must not be empty when set".into());
        }
        self.log.validate()?;
        self.telemetry.validate()
    }

    fn validate_peers(&self) -> Result<(), ConfigError> {
        let mut ids = BTreeSet::from([self.node_id]);
        let mut addrs = BTreeSet::from([self.advertised_api(), self.advertised_raft()]);
        for (i, p) in self.peers.iter().enumerate() {
            let field = |f: &str| format!("peers[{i}].{f}");
            if p.id == 0 {
                return Err(ConfigError::Invalid { field: field("id"), rule: "must be positive".into() });
            }
            if !ids.insert(p.id) {
                let rule = format!("node id {} appears twice (node_id or another peer)", p.id);
                return Err(ConfigError::Invalid { field: field("id"), rule });
            }
            check_name(&field("site"), &p.site)?;
            for (name, addr) in [("api_addr", &p.api_addr), ("raft_addr", &p.raft_addr)] {
                check_host_port(&field(name), addr)?;
                if !addrs.insert(addr.clone()) {
                    let rule = format!("address {addr} is used twice in this configuration");
                    return Err(ConfigError::Invalid { field: field(name), rule });
                }
            }
        }
        Ok(())
    }
}

impl RaftConfig {
    /// Checks the timing rules Raft needs to be stable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |field: &str, rule: String| Err(ConfigError::Invalid { field: format!("raft.{field}"), rule });
        if self.heartbeat_interval_ms == 0 {
            return invalid("heartbeat_interval_ms", "must be positive".into());
        }
        if self.election_timeout_min_ms < 3 * self.heartbeat_interval_ms {
            return invalid(
                "election_timeout_min_ms",
                format!(
                    "must be at least 3 x heartbeat_interval_ms ({}), or a follower may start an election \
                     after one delayed heartbeat",
                    3 * self.heartbeat_interval_ms
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
        let payload_max = crate::raft::network::MAX_MESSAGE_BYTES as u64 / 2;
        if !(4096..=payload_max).contains(&self.max_payload_bytes) {
            let rule =
                format!("must be between 4096 and {payload_max} (half the message limit between nodes)");
            return invalid("max_payload_bytes", rule);
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
        config.validate().map_err(|e| ConfigError::Invalid { field: "raft".into(), rule: e.to_string() })
    }
}

impl LogConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.format.as_str(), "text" | "json") {
            let rule = format!("must be \"text\" or \"json\", got {:?}", self.format);
            return Err(ConfigError::Invalid { field: "log.format".into(), rule });
        }
        Ok(())
    }
}

fn check_name(field: &str, v: &str) -> Result<(), ConfigError> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        let rule = format!("must be 1-63 characters of letters, digits, '-' or '_', got {v:?}");
        Err(ConfigError::Invalid { field: field.to_string(), rule })
    }
}

fn check_host_port(field: &str, v: &str) -> Result<(), ConfigError> {
    let ok = v.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        let rule = format!("must be host:port, got {v:?}");
        Err(ConfigError::Invalid { field: field.to_string(), rule })
    }
}

/// Applies `VARSEL_*` variables onto the parsed table.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else { continue };
        // Variables that configure the command line rather than the node file.
        if matches!(path, "CONFIG" | "ENDPOINTS" | "TOKEN" | "TOKEN_FILE" | "BIN") {
            continue;
        }
        let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let value = parse_env_value(&raw);
        let (last, sections) = parts.split_last().ok_or_else(|| ConfigError::Env(name.clone()))?;
        let mut t = &mut *table;
        for s in sections {
            let entry = t.entry(s.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = entry.as_table_mut().ok_or_else(|| ConfigError::Env(name.clone()))?;
        }
        t.insert(last.clone(), value);
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    // A bare TOML value ("42", "true") keeps its type; anything else is a string.
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
node_id = 1
site = "oslo"
api_addr = "127.0.0.1:7001"
raft_addr = "127.0.0.1:7101"
data_dir = "/tmp/varsel-1"

[[peers]]
id = 2
site = "bergen"
api_addr = "127.0.0.1:7002"
raft_addr = "127.0.0.1:7102"
"#;

    fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(text, Vec::new())
    }

    /// Goal: a valid file parses with defaults filled in.
    #[test]
    fn base_config_is_valid() -> Result<(), ConfigError> {
        let c = parse(BASE)?;
        assert_eq!(c.raft, RaftConfig::default());
        assert_eq!(c.peers.len(), 1);
        Ok(())
    }

    fn err_text(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    /// Goal: each bad input names the field and the rule.
    #[test]
    fn bad_configs_name_the_field() {
        assert!(err_text(&format!("{BASE}\nbogus = 1\n")).contains("bogus"));
        assert!(err_text(&BASE.replace("node_id = 1\n", "")).contains("node_id"));
        assert!(err_text(&BASE.replace("node_id = 1", "node_id = 0")).contains("node_id"));
        let dup = BASE.replace("127.0.0.1:7101", "127.0.0.1:7001");
        assert!(err_text(&dup).contains("raft_addr"), "{}", err_text(&dup));
        let dup_port = BASE.replace("127.0.0.1:7101", "127.0.0.2:7001");
        assert!(err_text(&dup_port).contains("port 7001"));
        let dup_peer = BASE.replace("id = 2", "id = 1");
        assert!(err_text(&dup_peer).contains("peers[0].id"));
        let dup_addr = BASE.replace("127.0.0.1:7002", "127.0.0.1:7001");
        assert!(err_text(&dup_addr).contains("peers[0].api_addr"));
        let timing = format!("{BASE}\n[raft]\nheartbeat_interval_ms = 500\n");
        assert!(err_text(&timing).contains("raft.election_timeout_min_ms"));
        let payload = format!("{BASE}\n[raft]\nmax_payload_bytes = 100\n");
        assert!(err_text(&payload).contains("raft.max_payload_bytes"), "{}", err_text(&payload));
        assert!(err_text(&BASE.replace("\"oslo\"", "\"os lo\"")).contains("site"));
        let fmt = format!("{BASE}\n[log]\nformat = \"xml\"\n");
        assert!(err_text(&fmt).contains("log.format"));
        let unknown_section_field = format!("{BASE}\n[raft]\nheartbeat_ms = 100\n");
        assert!(err_text(&unknown_section_field).contains("heartbeat_ms"));
        let http = BASE.replace("data_dir", "http_addr = \"127.0.0.1:7101\"\ndata_dir");
        assert!(err_text(&http).contains("http_addr"), "{}", err_text(&http));
        let ratio = format!("{BASE}\n[telemetry]\nsampling_ratio = 1.5\n");
        assert!(err_text(&ratio).contains("telemetry.sampling_ratio"));
        let https = format!("{BASE}\n[telemetry]\notlp_endpoint = \"https://c:4317\"\n");
        assert!(err_text(&https).contains("telemetry.otlp_endpoint"));
        let batch =
            format!("{BASE}\n[telemetry]\nexport_queue_spans_max = 10\nexport_batch_spans_max = 11\n");
        assert!(err_text(&batch).contains("telemetry.export_batch_spans_max"));
    }

    /// Goal: the HTTP listener and telemetry settings parse, and environment variables reach them.
    #[test]
    fn http_and_telemetry_settings() -> Result<(), ConfigError> {
        let text = BASE.replace("data_dir", "http_addr = \"127.0.0.1:7201\"\ndata_dir");
        let env = vec![("VARSEL_TELEMETRY__OTLP_ENDPOINT".to_string(), "http://127.0.0.1:4317".to_string())];
        let c = NodeConfig::parse(&text, env)?;
        assert_eq!(c.http_addr, Some("127.0.0.1:7201".parse().map_err(|_| ConfigError::Env("x".into()))?));
        assert_eq!(c.telemetry.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4317"));
        assert_eq!(c.telemetry.sampling_ratio, 1.0);
        assert_eq!(parse(BASE)?.http_addr, None);
        Ok(())
    }

    /// Goal: the HTTP channel kinds parse with their defaults, survive the TOML round trip the
    /// local cluster writes, and bad values name their field.
    #[test]
    fn http_channel_providers() -> Result<(), ConfigError> {
        let kinds = r#"
[[providers]]
name = "sms-http"
channel = "sms"
[providers.http_sms]
url = "https://sms.example.net/v1/send"
auth_file = "/run/secrets/sms"
static_fields = { "type" = "text", "options" = { "flash" = false } }
[providers.http_sms.receipts]
items = "events"

[[providers]]
name = "push"
channel = "push"
[providers.webpush]
vapid_private_key_file = "/run/secrets/vapid.pem"
vapid_subject = "mailto:ops@example.no"

[[providers]]
name = "voice"
channel = "voice"
[providers.voice_http]
url = "https://voice.example.net/calls"
languages = { nb = "nb-NO" }
"#;
        let c = parse(&format!("{BASE}{kinds}"))?;
        let sms = c.providers[0].http_sms.as_ref().ok_or(ConfigError::Env("http_sms".into()))?;
        assert_eq!((sms.request.to.as_str(), sms.auth_header.as_str()), ("to", "Authorization"));
        assert_eq!(sms.receipts.as_ref().map(|r| r.delivered.clone()), Some(vec!["delivered".to_string()]));
        assert_eq!(c.providers[1].webpush.as_ref().map(|w| w.ttl_s), Some(86_400));
        assert_eq!(c.providers[2].voice_http.as_ref().map(|v| v.ack_digits.clone()), Some(vec!["1".into()]));
        let written = toml::to_string(&c).map_err(|e| ConfigError::Toml(e.to_string()))?;
        assert_eq!(parse(&written)?, c);

        let wrong_channel = format!("{BASE}{kinds}").replacen("channel = \"sms\"", "channel = \"email\"", 1);
        assert!(err_text(&wrong_channel).contains("providers[0].http_sms"));
        let bad_path = format!("{BASE}{kinds}").replace("items = \"events\"", "items = \"a..b\"");
        assert!(err_text(&bad_path).contains("providers[0].http_sms.receipts.items"));
        let subject = format!("{BASE}{kinds}").replace("mailto:ops@example.no", "ops@example.no");
        assert!(err_text(&subject).contains("providers[1].webpush.vapid_subject"));
        let two = format!("{BASE}{kinds}").replace("[providers.voice_http]", "[providers.webpush]\nvapid_private_key_file = \"k\"\nvapid_subject = \"mailto:x\"\n[providers.voice_http]");
        assert!(err_text(&two).contains("providers[2].kind"), "{}", err_text(&two));
        Ok(())
    }

    /// Goal: environment variables override file values, with types kept.
    #[test]
    fn env_overrides() -> Result<(), ConfigError> {
        let env = vec![
            ("VARSEL_NODE_ID".to_string(), "7".to_string()),
            ("VARSEL_SITE".to_string(), "trondheim".to_string()),
            ("VARSEL_RAFT__HEARTBEAT_INTERVAL_MS".to_string(), "100".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let c = NodeConfig::parse(BASE, env)?;
        assert_eq!((c.node_id, c.site.as_str(), c.raft.heartbeat_interval_ms), (7, "trondheim", 100));
        Ok(())
    }
}
