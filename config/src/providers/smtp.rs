//! `[providers.smtp]`: e-mail over SMTP (see `delivery::providers::smtp`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::secret::{SecretSource, check_source};

/// Most SMTP connections one provider keeps open per node.
pub const SMTP_POOL_SIZE_MAX: u32 = 256;

/// Settings of an SMTP relay (a mail service's submission endpoint, or an own MTA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpProviderConfig {
    /// The relay's host name (also the name its TLS certificate must carry).
    pub host: String,
    /// Its port; by default 25 with `tls = "none"`, 587 with `starttls`, 465 with `implicit`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `none`, `starttls` (upgrade required; refuses to go on in clear) or `implicit` (TLS
    /// from the first byte).
    #[serde(default)]
    pub tls: SmtpTls,
    /// A PEM file of extra CA certificates to trust, for a relay with a private CA; the
    /// built-in Mozilla roots are trusted as well.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// User name for SMTP AUTH (PLAIN or LOGIN); absent: no authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password of `username`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password (instead of `password_file`); must not start
    /// with `VARSEL_`.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The sender address (`From`), e.g. `varsel@kommune.no`. Its domain ends every Message-ID.
    pub from_address: String,
    /// The sender's display name, e.g. `Kommunen varsler`.
    #[serde(default)]
    pub from_name: Option<String>,
    /// A `Reply-To` address.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The `List-Unsubscribe` target: a `mailto:` or `https:` URL in which `{key}` is replaced
    /// by the message key and `{sig}` by its signature (see `list_unsubscribe_secret_file`).
    #[serde(default)]
    pub list_unsubscribe: Option<String>,
    /// File with the secret that signs `{sig}` (HMAC-SHA256 of the key, 32 hex digits), so an
    /// unsubscribe link cannot be forged from the guessable key alone.
    #[serde(default)]
    pub list_unsubscribe_secret_file: Option<PathBuf>,
    /// SMTP connections kept open and used at once, 1 to 256.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

/// Transport security towards the relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network only).
    None,
    /// STARTTLS, required.
    #[default]
    Starttls,
    /// TLS from the start (SMTPS).
    Implicit,
}

fn default_pool_size() -> u32 {
    4
}

impl SmtpProviderConfig {
    /// The port, explicit or the default of the TLS mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
        })
    }

    /// The password's source (only meaningful with `username`).
    pub fn password_source(&self) -> SecretSource<'_> {
        SecretSource { file: self.password_file.as_deref(), env: self.password_env.as_deref() }
    }

    /// Checks every field; `prefix` is the table's path, e.g. `providers[2].smtp`.
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let invalid = |f: &str, rule: String| Err(ConfigError::invalid(format!("{prefix}.{f}"), rule));
        if self.host.trim().is_empty() {
            return invalid("host", "must not be empty".into());
        }
        if self.port == Some(0) {
            return invalid("port", "must be positive".into());
        }
        if !(1..=SMTP_POOL_SIZE_MAX).contains(&self.pool_size) {
            return invalid("pool_size", format!("must be 1 to {SMTP_POOL_SIZE_MAX}"));
        }
        self.validate_credentials(prefix)?;
        // The rules contacts' addresses are held to (which the SMTP provider can always send).
        if varsel_domain::email::validate_email("from_address", &self.from_address).is_err() {
            return invalid(
                "from_address",
                format!("must be an e-mail address, got {:?}", self.from_address),
            );
        }
        if let Some(r) = &self.reply_to
            && varsel_domain::email::validate_email("reply_to", r).is_err()
        {
            return invalid("reply_to", format!("must be an e-mail address, got {r:?}"));
        }
        self.validate_unsubscribe(prefix)
    }

    fn validate_credentials(&self, prefix: &str) -> Result<(), ConfigError> {
        let invalid = |f: &str, rule: String| Err(ConfigError::invalid(format!("{prefix}.{f}"), rule));
        let has_secret = self.password_file.is_some() || self.password_env.is_some();
        match &self.username {
            None if has_secret => invalid("username", "is required when a password is set".into()),
            None => Ok(()),
            Some(u) if u.is_empty() => invalid("username", "must not be empty".into()),
            Some(_) if self.tls == SmtpTls::None && !is_loopback(&self.host) => invalid(
                "tls",
                "must be starttls or implicit when username is set: credentials never cross a network in clear"
                    .into(),
            ),
            Some(_) => check_source(&format!("{prefix}.password"), self.password_source()),
        }
    }

    fn validate_unsubscribe(&self, prefix: &str) -> Result<(), ConfigError> {
        let invalid = |f: &str, rule: String| Err(ConfigError::invalid(format!("{prefix}.{f}"), rule));
        let Some(t) = &self.list_unsubscribe else {
            return match self.list_unsubscribe_secret_file {
                Some(_) => {
                    invalid("list_unsubscribe_secret_file", "is set but list_unsubscribe is not".into())
                }
                None => Ok(()),
            };
        };
        if !(t.starts_with("mailto:") || t.starts_with("https://") || t.starts_with("http://")) {
            return invalid("list_unsubscribe", format!("must be a mailto: or http(s) URL, got {t:?}"));
        }
        if t.contains("{sig}") && self.list_unsubscribe_secret_file.is_none() {
            return invalid(
                "list_unsubscribe",
                "uses {sig} but list_unsubscribe_secret_file is not set".into(),
            );
        }
        if t.chars().any(|c| c.is_whitespace() || c == '<' || c == '>') {
            return invalid("list_unsubscribe", "must not contain spaces or angle brackets".into());
        }
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpProviderConfig {
    /// [`Self::validate`], then reads the secrets it names now, so a missing or unreadable one
    /// stops the node before it starts; `prefix` is `providers[i].smtp`.
    pub fn validate_with_secrets(&self, prefix: &str) -> Result<(), ConfigError> {
        self.validate(prefix)?;
        if self.username.is_some() {
            crate::secret::read_secret(&format!("{prefix}.password"), self.password_source())?;
        }
        if let Some(f) = &self.list_unsubscribe_secret_file {
            let source = SecretSource { file: Some(f), env: None };
            crate::secret::read_secret(&format!("{prefix}.list_unsubscribe_secret_file"), source)?;
        }
        Ok(())
    }
}
