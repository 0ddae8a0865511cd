//! The top level of a node's file: identity, addresses, data directory and `[[peers]]`; loading
//! (file, then environment overrides, then validation) and the checks that span sections.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::{check_host_port, check_name};
use crate::env::apply_env_overrides;
use crate::error::ConfigError;
use crate::{
    AuthConfig, DeliveryConfig, LogConfig, ProviderConfig, RaftConfig, StorageConfig, TelemetryConfig,
    TestingConfig, TlsConfig,
};

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
    /// Backups the node writes by itself.
    #[serde(default)]
    pub backup: crate::BackupConfig,
    /// Trace export over OTLP.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// TLS on every listener and between nodes.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Switches for tests; leave them off in production.
    #[serde(default)]
    pub testing: TestingConfig,
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
        crate::providers::check_kind_tables(&value)?;
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
        let invalid = |field: &str, rule: String| Err(ConfigError::invalid(field.to_string(), rule));
        if self.node_id == 0 {
            return invalid("node_id", "must be a positive integer (0 is reserved)".into());
        }
        self.storage.validate()?;
        self.backup.validate(&self.data_dir)?;
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
                return Err(ConfigError::invalid(format!("providers[{i}].name"), rule));
            }
        }
        if let Some(f) = &self.auth.superadmin_token_file
            && f.as_os_str().is_empty()
        {
            return invalid("auth.superadmin_token_file", "must not be empty when set".into());
        }
        self.log.validate()?;
        self.tls.validate()?;
        self.validate_callback_urls()?;
        self.telemetry.validate()
    }

    /// Providers call this node's HTTP listener back at these URLs; with TLS on, that listener
    /// speaks nothing but TLS, so an `http://` callback URL would lose every receipt and reply.
    fn validate_callback_urls(&self) -> Result<(), ConfigError> {
        let voice = self.providers.iter().enumerate().filter_map(|(i, p)| match &p.kind {
            crate::ProviderKind::VoiceHttp(v) => {
                v.callback_url.as_deref().map(|u| (format!("providers[{i}].voice_http.callback_url"), u))
            }
            _ => None,
        });
        let delivery =
            self.delivery.callback_url.as_deref().map(|u| ("delivery.callback_url".to_string(), u));
        let answer = self.delivery.answer_url.as_deref().map(|u| ("delivery.answer_url".to_string(), u));
        if let Some((field, url)) = &answer
            && url.trim_end_matches('/').chars().count() > crate::delivery::ANSWER_URL_CHARS_MAX
        {
            let max = crate::delivery::ANSWER_URL_CHARS_MAX;
            return Err(ConfigError::invalid(
                field.clone(),
                format!("{url:?} is longer than {max} characters"),
            ));
        }
        for (field, url) in delivery.into_iter().chain(answer).chain(voice) {
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            match scheme.as_deref() {
                Some("https") => {}
                Some("http") if !self.tls.http_is_tls() => {}
                Some("http") => {
                    let rule = format!(
                        "{url:?} must be https://: this node's HTTP listener speaks TLS (tls.insecure_plaintext \
                         is off), so a provider calling http:// would lose every receipt and reply"
                    );
                    return Err(ConfigError::invalid(field, rule));
                }
                _ => return Err(ConfigError::invalid(field, format!("{url:?} must start with https://"))),
            }
        }
        Ok(())
    }

    fn validate_peers(&self) -> Result<(), ConfigError> {
        let mut ids = BTreeSet::from([self.node_id]);
        let mut addrs = BTreeSet::from([self.advertised_api(), self.advertised_raft()]);
        for (i, p) in self.peers.iter().enumerate() {
            let field = |f: &str| format!("peers[{i}].{f}");
            if p.id == 0 {
                return Err(ConfigError::invalid(field("id"), "must be positive"));
            }
            if !ids.insert(p.id) {
                let rule = format!("node id {} appears twice (node_id or another peer)", p.id);
                return Err(ConfigError::invalid(field("id"), rule));
            }
            check_name(&field("site"), &p.site)?;
            for (name, addr) in [("api_addr", &p.api_addr), ("raft_addr", &p.raft_addr)] {
                check_host_port(&field(name), addr)?;
                if !addrs.insert(addr.clone()) {
                    let rule = format!("address {addr} is used twice in this configuration");
                    return Err(ConfigError::invalid(field(name), rule));
                }
            }
        }
        Ok(())
    }
}
