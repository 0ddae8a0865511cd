//! Logging set-up: human-readable on a terminal, JSON when configured.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter.
/// Calling it twice is harmless (the second call does nothing).
pub fn init_logging(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if log.format == "json" {
        registry.with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init()
    };
    if result.is_err() {
        tracing::debug!("logging was already initialised");
    }
}
