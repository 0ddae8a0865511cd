//! Why a configuration cannot be used.

use std::path::PathBuf;

/// A configuration that cannot be used. Every variant names what is wrong so an operator can
/// fix the file without reading code.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a field has the wrong type, is unknown or is missing.
    #[error("configuration: {0}")]
    Toml(String),
    /// A field breaks a rule.
    #[error("configuration field `{field}` {rule}")]
    Invalid {
        /// The field, as a path (`raft.heartbeat_interval_ms`, `peers[1].id`).
        field: String,
        /// The rule it breaks.
        rule: String,
    },
    /// An environment override names a field that cannot be set that way.
    #[error("environment variable {0} does not name a configuration field")]
    Env(String),
}

impl ConfigError {
    /// Field `field` breaks `rule` (worded to follow the field's name: "must be positive").
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), rule: rule.into() }
    }
}
