//! TLS on every listener and between nodes, with certificates reloaded while the node runs.
//!
//! # Layout
//!
//! - [`TlsState`]: the node's certificate, key and the cluster CA, turned into one rustls
//!   server configuration per listener and one client configuration for calls to other nodes.
//!   [`TlsState::reload`] reads the files again; a configuration that does not load (a
//!   half-written file, a key that does not match) is refused and the old one kept.
//! - [`acceptor`]: accepting connections on a listener: the TLS handshake under a deadline and
//!   a bound on open connections, and what is known of the peer ([`PeerInfo`]).
//! - [`identity`]: the node id a certificate names (`varsel://node/<id>`).
//! - [`reloader`]: reloading on SIGHUP and when a file changes.
//!
//! Listeners: the API and HTTP listeners authenticate the node to clients (clients then
//! authenticate with tokens). The Raft listener requires a client certificate from the cluster
//! CA as well, and the Raft service checks the node id it names ([`crate::raft::service`]).
//! With `tls.insecure_plaintext` there is no TLS at all, and every start says so.

pub mod acceptor;
pub mod identity;
pub mod per_source;
pub mod reloader;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use varsel_config::TlsConfig;
use varsel_raft_store::NodeId;

pub use acceptor::{Conn, Incoming, PeerInfo};

/// Largest certificate or key file read: a chain of a few certificates is a few KiB.
pub const PEM_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// ALPN protocol of the gRPC listeners.
const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol of the HTTP listener (HTTP/1.1 only).
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Why TLS could not be set up from the configured files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("tls: cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what it should hold.
    #[error("tls: {path}: {rule}")]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        rule: String,
    },
    /// rustls refused the combination (a key that does not match the certificate, ...).
    #[error("tls: {0}")]
    Rustls(String),
}

/// Which listener a server configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// The client API (gRPC).
    Api,
    /// Raft and node-to-node calls (gRPC, client certificates required).
    Raft,
    /// Metrics, health and provider webhooks (HTTP/1.1).
    Http,
}

/// Everything built from one reading of the files.
struct Material {
    api: Arc<rustls::ServerConfig>,
    raft: Arc<rustls::ServerConfig>,
    http: Arc<rustls::ServerConfig>,
    client: ClientTlsConfig,
    /// When the node's certificate stops being valid, seconds since the Unix epoch.
    not_after_s: i64,
    /// SHA-256 of the node's certificate and of each trusted CA certificate (hex).
    fingerprints: Fingerprints,
}

/// SHA-256 of the certificates in use (hex), so an operator can see a rotation take effect.
#[derive(Debug, Clone, Default)]
pub struct Fingerprints {
    /// The node's own certificate.
    pub certificate: String,
    /// Every CA certificate it trusts, in file order.
    pub trusted_cas: Vec<String>,
}

/// What identifies a file's content cheaply: modification time, size and inode (a copy that
/// keeps the old time, `cp -p` or `rsync -t`, still changes the inode or the size).
pub(crate) type Stamp = Option<(SystemTime, u64, u64)>;

/// The [`Stamp`] of the file at `path` now (`None` when it cannot be read).
pub(crate) fn file_stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// The node's TLS: certificate, key and CA, reloadable.
pub struct TlsState {
    node_id: NodeId,
    /// `[ca, cert, key]`, then the HTTP listener's `[cert, key]` when it has its own.
    files: Option<Vec<PathBuf>>,
    current: RwLock<Option<Arc<Material>>>,
    stamps: Mutex<Vec<Stamp>>,
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("node_id", &self.node_id)
            .field("plaintext", &self.files.is_none())
            .finish_non_exhaustive()
    }
}

impl TlsState {
    /// Reads the configured files for node `node_id` (nothing for `insecure_plaintext`).
    pub fn load(node_id: NodeId, config: &TlsConfig) -> Result<Arc<Self>, TlsError> {
        let files = config.files().map(|f| {
            let mut files = vec![f.ca.clone(), f.cert.clone(), f.key.clone()];
            if let Some((cert, key)) = f.http {
                files.extend([cert.clone(), key.clone()]);
            }
            files
        });
        let state = Self {
            node_id,
            files,
            current: RwLock::new(None),
            stamps: Mutex::new(Vec::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        };
        if state.files.is_some() {
            state.reload()?;
        }
        Ok(Arc::new(state))
    }

    /// Whether this node runs without TLS.
    pub fn is_plaintext(&self) -> bool {
        self.files.is_none()
    }

    /// The server configuration of `kind`, or `None` without TLS.
    pub fn server(&self, kind: ListenerKind) -> Option<Arc<rustls::ServerConfig>> {
        let m = self.material()?;
        Some(match kind {
            ListenerKind::Api => m.api.clone(),
            ListenerKind::Raft => m.raft.clone(),
            ListenerKind::Http => m.http.clone(),
        })
    }

    /// The client configuration for calls to other nodes, or `None` without TLS.
    pub fn client(&self) -> Option<ClientTlsConfig> {
        self.material().map(|m| m.client.clone())
    }

    /// A number that changes whenever a reload took effect (cached channels compare it).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// When this node's certificate expires, seconds since the Unix epoch.
    pub fn not_after_s(&self) -> Option<i64> {
        self.material().map(|m| m.not_after_s)
    }

    /// The fingerprints of the certificates in use (empty without TLS).
    pub fn fingerprints(&self) -> Fingerprints {
        self.material().map(|m| m.fingerprints.clone()).unwrap_or_default()
    }

    fn material(&self) -> Option<Arc<Material>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the files again if any of them changed since the last reading. Returns whether
    /// a new configuration took effect. On error the old one stays.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let Some(files) = &self.files else { return Ok(false) };
        let now = stamps(files);
        if *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) == now {
            return Ok(false);
        }
        self.reload()
    }

    /// Reads the files and, if they make a working configuration, uses it from now on.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Some(files) = &self.files else { return Ok(false) };
        let before = stamps(files);
        let material = build(self.node_id, files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(material));
        *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) = before;
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(true)
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files.iter().map(|f| file_stamp(f)).collect()
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    let err = |source| TlsError::Read { path: path.to_path_buf(), source };
    let len = std::fs::metadata(path).map_err(err)?.len();
    if len > PEM_FILE_BYTES_MAX {
        return Err(content(path, format!("larger than {PEM_FILE_BYTES_MAX} bytes; not a PEM file")));
    }
    std::fs::read(path).map_err(err)
}

fn content(path: &Path, rule: impl Into<String>) -> TlsError {
    TlsError::Content { path: path.to_path_buf(), rule: rule.into() }
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| content(path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(content(path, "holds no certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

/// A certificate chain and its private key, as read from their files.
struct Keyed<'a> {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    key_path: &'a Path,
}

impl<'a> Keyed<'a> {
    fn read(cert_path: &Path, key_path: &'a Path) -> Result<Self, TlsError> {
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let chain = certificates(cert_path, &cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| content(key_path, format!("no private key (PKCS#8, SEC1 or PKCS#1 PEM): {e}")))?;
        Ok(Self { cert_pem, key_pem, chain, key, key_path })
    }
}

/// Builds every configuration from the files `[ca, cert, key]` and, when given, the HTTP
/// listener's own `[cert, key]`.
fn build(node_id: NodeId, files: &[PathBuf]) -> Result<Material, TlsError> {
    let [ca_path, cert_path, key_path, http @ ..] = files else {
        return Err(TlsError::Rustls("the CA, certificate and key files are all required".into()));
    };
    let ca_pem = read(ca_path)?;
    let cas = certificates(ca_path, &ca_pem)?;
    let node = Keyed::read(cert_path, key_path)?;
    let chain = &node.chain;
    let named = identity::node_id(&chain[0]).map_err(|rule| content(cert_path, rule))?;
    if named != node_id {
        return Err(content(
            cert_path,
            format!("names node {named} ({}{named}), but this is node {node_id}", identity::URI_PREFIX),
        ));
    }
    let not_after_s = identity::not_after_s(&chain[0]).map_err(|rule| content(cert_path, rule))?;
    let mut roots = RootCertStore::empty();
    for ca in &cas {
        roots.add(ca.clone()).map_err(|e| content(ca_path, format!("not a usable CA certificate: {e}")))?;
    }
    let roots = Arc::new(roots);
    let server =
        |alpn: &[u8], client_auth: bool, id: &Keyed<'_>| -> Result<Arc<rustls::ServerConfig>, TlsError> {
            let builder = rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
            let builder = if client_auth {
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                    .build()
                    .map_err(|e| TlsError::Rustls(format!("client verifier: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            } else {
                builder.with_no_client_auth()
            };
            let mut config = builder
                .with_single_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| TlsError::Rustls(format!("{}: {e}", id.key_path.display())))?;
            config.alpn_protocols = vec![alpn.to_vec()];
            Ok(Arc::new(config))
        };
    let client = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca_pem))
        .identity(Identity::from_pem(&node.cert_pem, &node.key_pem))
        .assume_http2(true);
    let sha = |c: &CertificateDer<'_>| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(c.as_ref()));
    let fingerprints =
        Fingerprints { certificate: sha(&chain[0]), trusted_cas: cas.iter().map(sha).collect() };
    Ok(Material {
        fingerprints,
        api: server(ALPN_H2, false, &node)?,
        raft: server(ALPN_H2, true, &node)?,
        http: match http {
            [cert, key] => server(ALPN_HTTP1, false, &Keyed::read(cert, key)?)?,
            _ => server(ALPN_HTTP1, false, &node)?,
        },
        client,
        not_after_s,
    })
}

/// The cryptography every configuration uses: ring, as the rest of the tree; TLS 1.2 and 1.3
/// only (rustls has nothing older).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
