//! The TCP connector of the HTTP client ([`super::super::http::JsonClient`]), with the address
//! rule of [`super`] applied where the connection is made.
//!
//! hyper's `HttpConnector` resolves a name through its resolver and connects to exactly the
//! addresses the resolver returned; an address written in the URL skips the resolver. So the
//! rule sits in two places: [`PolicedResolver`] resolves (getaddrinfo on a blocking thread, as
//! hyper's own resolver does) and drops the addresses the rule refuses, failing with
//! [`OutboundRefused`] when none is left; [`PolicedConnector`] checks an address literal before
//! handing the URL on. A connector for operator-configured providers carries no rule and calls
//! any address.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use super::{AddressPolicy, OutboundRefused};

/// What connectors and resolvers fail with (hyper's own error type for them).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// Resolves host names with the system resolver and, with a rule, keeps only the addresses
/// the rule admits.
#[derive(Debug, Clone)]
pub struct PolicedResolver {
    policy: Option<Arc<AddressPolicy>>,
}

impl Service<Name> for PolicedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str();
            // Port 0: hyper puts the URL's port on every address it gets back.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            let addrs = match &policy {
                Some(policy) => policy.admit(host, addrs)?,
                None => addrs,
            };
            Ok(addrs.into_iter())
        })
    }
}

/// A TCP connector for the HTTP client: hyper's, with [`PolicedResolver`], and the rule
/// applied to an address written in the URL.
#[derive(Debug, Clone)]
pub struct PolicedConnector {
    http: HttpConnector<PolicedResolver>,
    policy: Option<Arc<AddressPolicy>>,
}

impl PolicedConnector {
    /// A connector that calls any address (providers the operator configured).
    pub fn any() -> Self {
        Self::with(None)
    }

    /// A connector for tenant-supplied URLs: only addresses `policy` admits.
    pub fn tenant(policy: AddressPolicy) -> Self {
        Self::with(Some(Arc::new(policy)))
    }

    fn with(policy: Option<Arc<AddressPolicy>>) -> Self {
        let http = HttpConnector::new_with_resolver(PolicedResolver { policy: policy.clone() });
        Self { http, policy }
    }

    /// hyper's connector, to set its options (timeouts, `TCP_NODELAY`).
    pub fn http_mut(&mut self) -> &mut HttpConnector<PolicedResolver> {
        &mut self.http
    }

    /// The refusal for `uri` if its host is an address literal the rule refuses.
    fn literal_refused(&self, uri: &Uri) -> Option<OutboundRefused> {
        let policy = self.policy.as_ref()?;
        let host = uri.host()?;
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let ip: IpAddr = bare.parse().ok()?;
        policy.check_literal(host, ip).err()
    }
}

impl Service<Uri> for PolicedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        if let Some(refused) = self.literal_refused(&uri) {
            return Box::pin(std::future::ready(Err(refused.into())));
        }
        let connecting = self.http.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

/// Causes looked through for a refusal. hyper wraps it three or four deep (client error,
/// connect error, the resolver's error); the bound only keeps a cyclic chain from looping.
pub const CAUSE_DEPTH_MAX: usize = 16;

/// The refusal somewhere in `e`'s chain of causes, if the call failed because of the rule.
pub fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<OutboundRefused> {
    std::iter::successors(Some(e), |c| c.source())
        .take(CAUSE_DEPTH_MAX)
        .find_map(|c| c.downcast_ref::<OutboundRefused>().cloned())
}
