//! `[log]`: log output.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

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

impl LogConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.format.as_str(), "text" | "json") {
            let rule = format!("must be \"text\" or \"json\", got {:?}", self.format);
            return Err(ConfigError::invalid("log.format", rule));
        }
        Ok(())
    }
}
