//! The configuration of a Varsel node: one TOML file, overridable from the environment,
//! checked by [`NodeConfig::validate`] before anything starts. Every field is documented here
//! and in `docs/reference/configuration.md`, which follows the same sections.
//!
//! This crate holds data and rules only: the node, the delivery engine, the local-cluster
//! launcher and the chaos harness all read or write the same types, and none of them has to
//! compile the others to do so.
//!
//! # Layout
//!
//! | module | section |
//! |---|---|
//! | [`node`] | top level: identity, addresses, `data_dir`, `[[peers]]`; loading and validation |
//! | [`raft`] | `[raft]` |
//! | [`auth`] | `[auth]` |
//! | [`delivery`] | `[delivery]` |
//! | [`storage`] | `[storage]` |
//! | [`backup`] | `[backup]` |
//! | [`log`] | `[log]` |
//! | [`telemetry`] | `[telemetry]` |
//! | [`providers`] | `[[providers]]`, one module per kind table |
//! | [`tls`] | `[tls]` |
//! | [`testing`] | `[testing]` |
//! | [`env`] | `VARSEL_*` environment overrides |
//! | [`secret`] | secrets read from files or variables named in the configuration |
//! | [`error`] | [`ConfigError`]: the field and the rule it breaks |
//!
//! # Example
//!
//! ```
//! use varsel_config::NodeConfig;
//!
//! let text = r#"
//! node_id = 1
//! site = "oslo"
//! api_addr = "127.0.0.1:7001"
//! raft_addr = "127.0.0.1:7101"
//! data_dir = "/var/lib/varsel"
//!
//! [tls]
//! ca_file = "/etc/varsel/tls/ca.pem"
//! cert_file = "/etc/varsel/tls/node.pem"
//! key_file = "/etc/varsel/tls/node.key"
//! "#;
//! let env = [("VARSEL_SITE".to_string(), "bergen".to_string())];
//! let config = NodeConfig::parse(text, env)?;
//! assert_eq!(config.site, "bergen");
//!
//! let err = NodeConfig::parse(&text.replace("node_id = 1", "node_id = 0"), []).unwrap_err();
//! assert_eq!(err.to_string(), "configuration field `node_id` must be a positive integer (0 is reserved)");
//! # Ok::<(), varsel_config::ConfigError>(())
//! ```

pub mod auth;
pub mod backup;
mod check;
pub mod delivery;
pub mod env;
pub mod error;
pub mod log;
pub mod node;
pub mod providers;
pub mod raft;
pub mod secret;
pub mod storage;
pub mod telemetry;
pub mod testing;
pub mod tls;

#[cfg(test)]
mod example_tests;
#[cfg(test)]
mod tests;

pub use auth::AuthConfig;
pub use backup::BackupConfig;
pub use check::check_url;
pub use delivery::{DeliveryConfig, ReplyRoute};
pub use env::ENV_PREFIX;
pub use error::ConfigError;
pub use log::LogConfig;
pub use node::{NodeConfig, PeerConfig};
pub use providers::{ProviderConfig, ProviderKind};
pub use raft::RaftConfig;
pub use storage::StorageConfig;
pub use telemetry::TelemetryConfig;
pub use testing::TestingConfig;
pub use tls::TlsConfig;
