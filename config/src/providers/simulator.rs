//! `[providers.simulator]`: the provider simulator (`varsel sim`, `chaos/sim`).

use std::path::Path;

use serde::{Deserialize, Serialize};
use varsel_domain::Channel;

use super::{ProviderConfig, ProviderKind};
use crate::check::check_url;
use crate::error::ConfigError;

/// Settings of a simulated provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorProviderConfig {
    /// Base URL of the simulator, e.g. `http://127.0.0.1:9000`.
    pub url: String,
    /// The provider's name on the simulator; defaults to the provider's `name`.
    #[serde(default)]
    pub remote_name: Option<String>,
}

impl SimulatorProviderConfig {
    /// Checks the URL; `prefix` is `providers[i].simulator`.
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        check_url(&format!("{prefix}.url"), &self.url)
    }
}

/// Provider configuration for the simulator's demo providers (`sms-primary`, `sms-alt`,
/// `voice`, `email`, `push`) at `url`, with the simulator's callback secret in `secret_file`:
/// what `varsel dev`, the benchmarks and the tests give their nodes.
pub fn demo_provider_configs(url: &str, secret_file: &Path) -> Vec<ProviderConfig> {
    let p = |name: &str, channel| ProviderConfig {
        concurrency: 8,
        batch_max: 250,
        timeout_ms: 5_000,
        inbound_secret_file: Some(secret_file.to_path_buf()),
        ..ProviderConfig::new(
            name,
            channel,
            ProviderKind::Simulator(SimulatorProviderConfig { url: url.into(), remote_name: None }),
        )
    };
    vec![
        p("sms-primary", Channel::Sms),
        p("sms-alt", Channel::Sms),
        p("voice", Channel::Voice),
        p("email", Channel::Email),
        p("push", Channel::Push),
    ]
}
