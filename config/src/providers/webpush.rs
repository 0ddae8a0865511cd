//! `[providers.webpush]`: Web Push (RFC 8030) with VAPID (RFC 8292). The provider itself is
//! `varsel_delivery::providers::webpush`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use varsel_domain::Channel;

use crate::error::ConfigError;

/// Longest `TTL` accepted in configuration: four weeks (push services cap it anyway).
pub const TTL_S_MAX: u32 = 28 * 24 * 3600;

/// `[providers.webpush]`. Every field is documented in `docs/reference/configuration.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebPushConfig {
    /// File holding the VAPID private key (P-256; PEM or base64url).
    pub vapid_private_key_file: PathBuf,
    /// Contact for push services' operators: `mailto:…` or `https://…`.
    pub vapid_subject: String,
    /// Seconds a push service may hold a message for an offline device.
    #[serde(default = "default_ttl_s")]
    pub ttl_s: u32,
    /// Accept `http://` endpoints (tests only).
    #[serde(default)]
    pub allow_http_endpoints: bool,
}

fn default_ttl_s() -> u32 {
    24 * 3600
}

impl WebPushConfig {
    /// Checks the subject and TTL; `field` is `providers[i].webpush`.
    pub fn validate(&self, field: &str, channel: Channel) -> Result<(), ConfigError> {
        let invalid = |name: &str, rule: String| Err(ConfigError::invalid(format!("{field}{name}"), rule));
        if channel != Channel::Push {
            return invalid("", format!("carries push only; the provider's channel is {channel}"));
        }
        if !(self.vapid_subject.starts_with("mailto:") || self.vapid_subject.starts_with("https://")) {
            return invalid(
                ".vapid_subject",
                format!("must be a mailto: or https:// URL, got {:?}", self.vapid_subject),
            );
        }
        if self.ttl_s > TTL_S_MAX {
            return invalid(".ttl_s", format!("must be at most {TTL_S_MAX}"));
        }
        Ok(())
    }
}
