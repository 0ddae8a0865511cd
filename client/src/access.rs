//! Reaching nodes securely: whom a client trusts (the cluster CA) and the token it shows.
//!
//! Every listener of a node speaks TLS with a certificate from the cluster CA, so a client is
//! given that CA ([`Trust`]) and trusts nothing else: not the system's roots, which would let
//! anyone with a public certificate for the same name stand in for a node. An endpoint written
//! `http://host:port` is the one way to speak plaintext, for a cluster started with
//! `tls.insecure_plaintext`; a bare `host:port` or `https://host:port` is TLS.

use std::path::Path;
use std::sync::Arc;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use varsel_proto::admin::cluster_admin_client::ClusterAdminClient;

use crate::failover::{CONNECT_TIMEOUT, ClientError};

/// Largest CA file read.
pub const CA_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// The CA a client trusts, if it was given one.
#[derive(Clone, Default)]
pub struct Trust {
    ca_pem: Option<Arc<Vec<u8>>>,
    /// Per endpoint, the name its certificate is checked for instead of the endpoint's host.
    names: Arc<std::collections::BTreeMap<String, String>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust").field("ca", &self.ca_pem.is_some()).finish()
    }
}

impl Trust {
    /// Trusts the CA certificate(s) in `pem`.
    pub fn ca_pem(pem: impl Into<Vec<u8>>) -> Self {
        Self { ca_pem: Some(Arc::new(pem.into())), names: Arc::default() }
    }

    /// Trusts the CA certificate(s) in the file at `path`.
    pub fn ca_file(path: &Path) -> Result<Self, ClientError> {
        let err = |e: std::io::Error| ClientError::Endpoints(format!("CA file {}: {e}", path.display()));
        let len = std::fs::metadata(path).map_err(err)?.len();
        if len > CA_FILE_BYTES_MAX {
            return Err(ClientError::Endpoints(format!(
                "CA file {}: {len} bytes, more than {CA_FILE_BYTES_MAX}; is this the CA certificate?",
                path.display()
            )));
        }
        Ok(Self::ca_pem(std::fs::read(path).map_err(err)?))
    }

    /// The CA certificate(s) trusted, PEM; `None` when nothing is (plaintext clusters). For
    /// clients of a node's other listeners (its HTTP metrics and health endpoints).
    pub fn ca_certificates_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref().map(Vec::as_slice)
    }

    /// Trusts nothing: only `http://` endpoints (plaintext clusters) can be reached.
    pub fn none() -> Self {
        Self::default()
    }

    /// Checks the certificate of the node at `addr` for `name` rather than for the address: for
    /// a client that reaches nodes by addresses their certificates cannot name (a container's
    /// address on a bridge network, which the engine hands out).
    pub fn with_server_name(mut self, addr: &str, name: &str) -> Self {
        Arc::make_mut(&mut self.names).insert(addr.to_string(), name.to_string());
        self
    }

    /// The endpoint of `addr`: TLS to the node verified against the CA, or plaintext when
    /// written `http://…`.
    pub fn endpoint(&self, addr: &str) -> Result<Endpoint, ClientError> {
        let bad = |e: tonic::transport::Error| ClientError::Endpoints(format!("{addr}: {e}"));
        if addr.starts_with("http://") {
            return Endpoint::from_shared(addr.to_string()).map_err(bad);
        }
        let host = addr.strip_prefix("https://").unwrap_or(addr);
        let Some(ca) = &self.ca_pem else {
            return Err(ClientError::Endpoints(format!(
                "{addr}: the cluster speaks TLS; give its CA certificate (--ca-file or VARSEL_CA_FILE), or write \
                 http://{host} for a cluster started with tls.insecure_plaintext"
            )));
        };
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.as_slice())).assume_http2(true);
        if let Some(name) = self.names.get(host).or_else(|| self.names.get(addr)) {
            tls = tls.domain_name(name.clone());
        }
        Endpoint::from_shared(format!("https://{host}")).map_err(bad)?.tls_config(tls).map_err(bad)
    }

    /// A lazily connected channel to `addr`.
    pub fn channel(&self, addr: &str) -> Result<Channel, ClientError> {
        Ok(self.endpoint(addr)?.connect_timeout(CONNECT_TIMEOUT).tcp_nodelay(true).connect_lazy())
    }
}

/// Adds `authorization: Bearer <token>` to every request of a client it is installed in.
/// Cheap to clone. Its `Debug` shows no part of the token.
#[derive(Clone)]
pub struct Bearer {
    value: MetadataValue<Ascii>,
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

impl Bearer {
    /// The interceptor for `token`; fails when the token holds bytes a header cannot carry.
    pub fn new(token: &str) -> Result<Self, ClientError> {
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}").parse().map_err(|_| {
            ClientError::Endpoints(
                "the API token holds characters that cannot be sent in a header (only printable ASCII)"
                    .into(),
            )
        })?;
        // Keeps the value out of any debug dump of the request (e.g. in tracing).
        value.set_sensitive(true);
        Ok(Self { value })
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.value.clone());
        Ok(request)
    }
}

/// A channel that sends the token with every call.
pub type Authed = InterceptedService<Channel, Bearer>;

/// A cluster-administration client of one node.
pub type AdminClient = ClusterAdminClient<Authed>;

/// A cluster-administration client of the node at `addr`, sending `token` (the superadmin's).
pub fn admin(addr: &str, trust: &Trust, token: &str) -> Result<AdminClient, ClientError> {
    Ok(ClusterAdminClient::with_interceptor(trust.channel(addr)?, Bearer::new(token)?))
}

/// Like [`admin`], but connected now, within `within`: for callers that must not wait on a
/// node that is down, stalled or cut off.
pub async fn admin_connected(
    addr: &str,
    trust: &Trust,
    token: &str,
    within: std::time::Duration,
) -> Result<AdminClient, ClientError> {
    let endpoint = trust.endpoint(addr)?.connect_timeout(within).tcp_nodelay(true);
    let channel = match tokio::time::timeout(within, endpoint.connect()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(ClientError::Rejected(tonic::Status::unavailable(format!("{addr}: {e}")))),
        Err(_) => {
            return Err(ClientError::Rejected(tonic::Status::unavailable(format!(
                "{addr}: no connection within {within:?}"
            ))));
        }
    };
    Ok(ClusterAdminClient::with_interceptor(channel, Bearer::new(token)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the interceptor sets the header, nothing prints the token, and a TLS endpoint
    /// without a CA is refused with the options to fix it. Method: run each.
    #[test]
    fn bearer_and_trust() -> Result<(), ClientError> {
        let mut bearer = Bearer::new("s3cr3t")?;
        let req = bearer.call(tonic::Request::new(())).map_err(ClientError::Rejected)?;
        assert_eq!(req.metadata().get("authorization").map(|v| v.as_bytes()), Some(&b"Bearer s3cr3t"[..]));
        assert!(!format!("{bearer:?}").contains("s3cr3t"));
        assert!(Bearer::new("bad\ns3cr3t").is_err_and(|e| !e.to_string().contains("s3cr3t")));
        let e = Trust::none().endpoint("127.0.0.1:7001").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("--ca-file") && e.contains("http://127.0.0.1:7001"), "{e}");
        assert!(Trust::none().endpoint("http://127.0.0.1:7001").is_ok());
        Ok(())
    }
}
