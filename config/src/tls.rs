//! `[tls]`: TLS on every listener (API, Raft, HTTP) and between nodes.
//!
//! Every node has one certificate from the cluster CA. It names the node's id as the URI
//! `varsel://node/<id>` (the Raft port accepts a peer only when this matches the node id the
//! peer claims, see `docs/architecture.md`, "Security"), and the DNS names and addresses the
//! node is reached at. `varsel certs` makes the CA and the certificates. The files are read at
//! start and again whenever they change (checked every [`TlsConfig::reload_check_interval_ms`])
//! or the node gets SIGHUP, so certificates can be rotated on a live cluster.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The URI scheme and path prefix a node certificate names its node id with.
pub const NODE_ID_URI_PREFIX: &str = "varsel://node/";

/// Shortest accepted interval between checks of the certificate files.
pub const RELOAD_CHECK_INTERVAL_MS_MIN: u64 = 100;

/// TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file with the cluster CA certificate(s). Peers' and clients' certificates must chain
    /// to one of them; during a CA rotation the file holds the old and the new CA.
    pub ca_file: Option<PathBuf>,
    /// PEM file with this node's certificate (then any intermediates).
    pub cert_file: Option<PathBuf>,
    /// PEM file with this node's private key (PKCS#8, SEC1 or PKCS#1). Keep it readable by the
    /// node's user only.
    pub key_file: Option<PathBuf>,
    /// PEM file with the certificate (then intermediates) the HTTP listener serves instead of
    /// the node's, e.g. one from a public CA for a host name the providers reach: a provider
    /// verifies the node it calls back (receipts, replies, voice results) against the public
    /// roots it trusts, not against the cluster CA. Default: the node's certificate (enough
    /// for a provider, proxy or simulator given the cluster CA). With [`Self::http_key_file`].
    pub http_cert_file: Option<PathBuf>,
    /// PEM file with the private key of [`Self::http_cert_file`].
    pub http_key_file: Option<PathBuf>,
    /// Serve and call other nodes without TLS. Anyone who can reach a port then reads tokens and
    /// personal data and can claim to be any node. For a closed test network only: every start
    /// logs a warning, and `varsel cluster status` shows it.
    pub insecure_plaintext: bool,
    /// How often the files are checked for changes.
    pub reload_check_interval_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_file: None,
            cert_file: None,
            key_file: None,
            http_cert_file: None,
            http_key_file: None,
            insecure_plaintext: false,
            reload_check_interval_ms: 10_000,
        }
    }
}

impl TlsConfig {
    /// Checks that TLS is either configured completely or explicitly switched off.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.reload_check_interval_ms < RELOAD_CHECK_INTERVAL_MS_MIN {
            let rule = format!("must be at least {RELOAD_CHECK_INTERVAL_MS_MIN}");
            return Err(ConfigError::invalid("tls.reload_check_interval_ms", rule));
        }
        let http = [("tls.http_cert_file", &self.http_cert_file), ("tls.http_key_file", &self.http_key_file)];
        for (field, value) in http {
            if value.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(ConfigError::invalid(field, "must not be empty when set"));
            }
        }
        match (&self.http_cert_file, &self.http_key_file) {
            (Some(_), None) => {
                return Err(ConfigError::invalid("tls.http_key_file", "is required with tls.http_cert_file"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid("tls.http_cert_file", "is required with tls.http_key_file"));
            }
            (Some(_), Some(_)) if self.insecure_plaintext => {
                return Err(ConfigError::invalid(
                    "tls.http_cert_file",
                    "has no effect with tls.insecure_plaintext = true (nothing speaks TLS)",
                ));
            }
            _ => {}
        }
        if self.insecure_plaintext {
            return Ok(());
        }
        for (field, value) in [
            ("tls.ca_file", &self.ca_file),
            ("tls.cert_file", &self.cert_file),
            ("tls.key_file", &self.key_file),
        ] {
            match value {
                None => {
                    return Err(ConfigError::invalid(
                        field,
                        "is required: every listener speaks TLS (make the files with `varsel certs`), unless \
                         tls.insecure_plaintext = true",
                    ));
                }
                Some(p) if p.as_os_str().is_empty() => {
                    return Err(ConfigError::invalid(field, "must not be empty"));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The files, when TLS is on (validation guarantees the three required ones then).
    pub fn files(&self) -> Option<TlsFiles<'_>> {
        if self.insecure_plaintext {
            return None;
        }
        Some(TlsFiles {
            ca: self.ca_file.as_ref()?,
            cert: self.cert_file.as_ref()?,
            key: self.key_file.as_ref()?,
            http: self.http_cert_file.as_ref().zip(self.http_key_file.as_ref()),
        })
    }

    /// Whether the HTTP listener speaks TLS (then providers must call back over `https://`).
    pub fn http_is_tls(&self) -> bool {
        !self.insecure_plaintext
    }
}

/// The files of a node's TLS identity and trust.
#[derive(Debug, Clone, Copy)]
pub struct TlsFiles<'a> {
    /// The cluster CA certificate(s).
    pub ca: &'a PathBuf,
    /// The node's certificate chain.
    pub cert: &'a PathBuf,
    /// The node's private key.
    pub key: &'a PathBuf,
    /// The HTTP listener's own certificate chain and key, when it has them.
    pub http: Option<(&'a PathBuf, &'a PathBuf)>,
}
