//! The cluster's certificates: a CA, one certificate per node, and client certificates, made
//! with rcgen (`varsel certs`, and the local clusters of `varsel dev`, the benchmarks and the
//! tests).
//!
//! A node certificate names the node as the URI `varsel://node/<id>` (the Raft port checks it
//! against the node id a peer claims), its site in the subject, and the DNS names and
//! addresses it is reached at, with both server and client authentication allowed (a node is
//! a client of its peers). Keys are ECDSA P-256. Private keys are written readable by their
//! owner only.

use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use varsel_config::tls::NODE_ID_URI_PREFIX;

/// Days a CA certificate is valid by default.
pub const CA_DAYS: u32 = 3650;
/// Days a node or client certificate is valid by default.
pub const LEAF_DAYS: u32 = 397;
/// Longest validity accepted, so a typo does not make a certificate that outlives everything.
pub const DAYS_MAX: u32 = 36_500;

/// Why a certificate could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused the parameters or the CA.
    #[error("certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An argument breaks a rule.
    #[error("{0}")]
    Invalid(String),
}

/// A certificate and its private key, in PEM.
#[derive(Clone)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// The private key (PKCS#8).
    pub key: String,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem").field("cert", &self.cert.len()).field("key", &"<secret>").finish()
    }
}

/// A CA that signs node and client certificates.
#[derive(Debug)]
pub struct Ca {
    pem: Pem,
    issuer: Issuer<'static, KeyPair>,
}

/// What a node certificate names.
#[derive(Debug, Clone)]
pub struct NodeNames {
    /// The node id.
    pub node_id: u64,
    /// Its site.
    pub site: String,
    /// DNS names it is reached at.
    pub dns: Vec<String>,
    /// Addresses it is reached at.
    pub ips: Vec<IpAddr>,
}

fn validity(params: &mut CertificateParams, days: u32) -> Result<(), PkiError> {
    if days == 0 || days > DAYS_MAX {
        return Err(PkiError::Invalid(format!("days: must be 1 to {DAYS_MAX}, got {days}")));
    }
    let start = chrono::Utc::now() - chrono::Duration::days(1);
    let end = start + chrono::Duration::days(i64::from(days) + 1);
    let ymd = |d: chrono::DateTime<chrono::Utc>| {
        use chrono::Datelike as _;
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    params.not_before = ymd(start);
    params.not_after = ymd(end);
    Ok(())
}

impl Ca {
    /// A new CA named `name`, valid `days`.
    pub fn new(name: &str, days: u32) -> Result<Self, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.distinguished_name.push(DnType::OrganizationName, "Varsel cluster");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, days)?;
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let pem = Pem { cert: cert.pem(), key: key.serialize_pem() };
        let issuer = Issuer::new(params, key);
        Ok(Self { pem, issuer })
    }

    /// The CA in `cert_pem` with its key `key_pem`.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Self { pem: Pem { cert: cert_pem.to_string(), key: key_pem.to_string() }, issuer })
    }

    /// The CA's own certificate and key.
    pub fn pem(&self) -> &Pem {
        &self.pem
    }

    /// A certificate for a node, valid `days`.
    pub fn node(&self, names: &NodeNames, days: u32) -> Result<Pem, PkiError> {
        if names.node_id == 0 {
            return Err(PkiError::Invalid("node id: must be positive".into()));
        }
        let mut sans = vec![SanType::URI(format!("{NODE_ID_URI_PREFIX}{}", names.node_id).try_into()?)];
        for d in &names.dns {
            sans.push(SanType::DnsName(d.clone().try_into()?));
        }
        sans.extend(names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, format!("varsel node {}", names.node_id));
        params.distinguished_name.push(DnType::OrganizationalUnitName, names.site.as_str());
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, days)
    }

    /// A client certificate named `name` (for tools that authenticate by certificate), valid
    /// `days`. It names no node, so the Raft port refuses it.
    pub fn client(&self, name: &str, days: u32) -> Result<Pem, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, days)
    }

    fn sign(&self, mut params: CertificateParams, days: u32) -> Result<Pem, PkiError> {
        validity(&mut params, days)?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Pem { cert: cert.pem(), key: key.serialize_pem() })
    }
}

/// Writes `contents` to `path`, readable by its owner only when `private` (keys), creating
/// the directory. An existing file is replaced.
pub fn write(path: &Path, contents: &str, private: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io { path: path.display().to_string(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Written next to the target and renamed, so a node reloading its files never reads half
    // of one. The temporary name is the whole file name plus this process's id (`node-1.pem`
    // and `node-1.key` must not share one), created new, and its mode set explicitly: a
    // leftover file of that name is replaced, never written into with its old mode.
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(if private { 0o600 } else { 0o644 });
        }
        let mut f = options.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // The mode given at creation is narrowed by the umask; set it as meant.
            f.set_permissions(std::fs::Permissions::from_mode(if private { 0o600 } else { 0o644 }))?;
        }
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a CA signs node certificates that name the node and the addresses, and loads back
    /// from its PEM to sign more. Method: make, reload, sign, and look for the names in the DER.
    #[test]
    fn ca_signs_nodes() -> Result<(), PkiError> {
        let ca = Ca::new("test CA", CA_DAYS)?;
        let names = NodeNames {
            node_id: 3,
            site: "trondheim".into(),
            dns: vec!["varsel-trondheim".into()],
            ips: vec!["127.0.0.1".parse().map_err(|_| PkiError::Invalid("ip".into()))?],
        };
        let node = ca.node(&names, LEAF_DAYS)?;
        assert!(node.cert.contains("BEGIN CERTIFICATE") && node.key.contains("PRIVATE KEY"));
        let again = Ca::load(&ca.pem().cert, &ca.pem().key)?;
        assert!(again.node(&names, 30).is_ok());
        assert!(ca.node(&NodeNames { node_id: 0, ..names }, 30).is_err());
        assert!(ca.client("tool", 0).is_err());
        Ok(())
    }
}
