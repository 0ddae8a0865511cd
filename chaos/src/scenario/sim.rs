//! The optional `[sim]` section: how rude the provider simulator is during the run.
//!
//! ```toml
//! [sim.providers.sms-primary]      # any field of varsel_sim::ProviderSettings
//! honour_idempotency = false       # the provider delivers a repeated key again (as SMPP)
//! timeout_after_accept_rate = 0.01 # takes a batch, then closes the connection unanswered
//!
//! [sim.providers.sms-alt]
//! honour_idempotency = false
//! ```
//!
//! The settings are applied after the run's setup and before the load starts, and the
//! providers' earlier behaviour is restored after the run (a compose-mode simulator is shared).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use varsel_sim::ProviderSettings;

use super::{ScenarioError, invalid};

/// The `[sim]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSpec {
    /// Per provider name, the behaviour changed for the run (fields absent keep the
    /// simulator's own). Default: none changed.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
}

impl SimSpec {
    /// Checks every provider's settings; the error names `sim.providers.NAME.FIELD`.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        for (name, settings) in &self.providers {
            let field = format!("sim.providers.{name}");
            if name.trim().is_empty() {
                return Err(invalid("sim.providers", "a provider name must not be empty"));
            }
            settings.validate(&field).map_err(|e| match e.split_once(": ") {
                Some((field, rule)) => invalid(field, rule),
                None => invalid(field, e),
            })?;
        }
        Ok(())
    }

    /// Whether some provider is told to ignore idempotency keys (every repeat reaches the
    /// handset again): the issue's handset-duplicate target applies then.
    pub fn keys_ignored(&self) -> bool {
        self.providers.values().any(|s| s.honour_idempotency == Some(false))
    }

    /// Whether some provider times out after accepting: a fault in force for the whole run,
    /// which explains handset duplicates on any alert.
    pub fn provider_timeouts(&self) -> bool {
        self.providers.values().any(|s| s.timeout_after_accept_rate.is_some_and(|r| r > 0.0))
    }
}
