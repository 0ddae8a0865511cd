//! A small HTTP/1.1 client shared by the HTTP-based providers.
//!
//! One pooled client per provider keeps connections alive between batches. `http://` and
//! `https://` URLs both work: TLS is rustls with the webpki root certificates built in (the
//! container image has no CA bundle). Every call has a timeout; a response body larger than
//! [`RESPONSE_BYTES_MAX`] is refused.
//!
//! [`JsonClient::new`] calls any address (providers the operator configured);
//! [`JsonClient::tenant`] calls only the addresses an [`AddressPolicy`] admits, checked where
//! the connection is made (see [`super::outbound`]), for URLs that come from tenants' data.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::outbound::connect::{PolicedConnector, refusal_in};
use super::outbound::{AddressPolicy, OutboundRefused};

/// Largest response body read from a provider.
pub const RESPONSE_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Idle connections kept per provider host.
pub const IDLE_CONNECTIONS_MAX: usize = 64;

/// Time allowed to open a TCP connection (TLS handshake time counts against the call's timeout).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A pooled JSON client.
#[derive(Debug, Clone)]
pub struct JsonClient {
    client: Client<HttpsConnector<PolicedConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` in seconds, if given.
    pub retry_after: Option<Duration>,
    /// The `Location` header, if given (Web Push answers with the message's URL there).
    pub location: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// Why a call did not return a reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Could not connect (or the request could not be built): nothing reached the provider.
    #[error("{0}")]
    Transport(String),
    /// The connection broke after the request may have been sent, or while the answer was
    /// being read: the provider may have taken it.
    #[error("{0}")]
    Lost(String),
    /// No reply within the timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// Not attempted: the host's addresses are all ones the client's [`AddressPolicy`]
    /// refuses. Retrying does not help.
    #[error("{0}")]
    Refused(OutboundRefused),
}

/// A request body and its content type.
#[derive(Debug)]
pub struct Body<'a> {
    /// `Content-Type`.
    pub content_type: &'a str,
    /// The bytes.
    pub bytes: Vec<u8>,
}

fn connector(mut tcp: PolicedConnector) -> HttpsConnector<PolicedConnector> {
    let http = tcp.http_mut();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.enforce_http(false);
    // The crypto provider is named rather than taken from the process default, which is
    // ambiguous (and panics) when another crate enables a second rustls provider. Building
    // fails only for a provider without the default TLS versions, which ring is not: no input
    // can make this fail.
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("ring supports TLS 1.2 and 1.3")
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp)
}

impl JsonClient {
    /// A client whose calls time out after `timeout`, to any address: for providers the
    /// operator configured.
    pub fn new(timeout: Duration) -> Self {
        Self::with(timeout, PolicedConnector::any())
    }

    /// A client for URLs that tenants supply: it connects only to addresses `policy` admits,
    /// and a call to any other fails with [`CallError::Refused`].
    pub fn tenant(timeout: Duration, policy: AddressPolicy) -> Self {
        Self::with(timeout, PolicedConnector::tenant(policy))
    }

    fn with(timeout: Duration, tcp: PolicedConnector) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IDLE_CONNECTIONS_MAX)
            .build(connector(tcp));
        Self { client, timeout }
    }

    /// Sends `method url` with a JSON body (or none) and extra headers.
    pub async fn call(
        &self,
        method: hyper::Method,
        url: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, String)],
    ) -> Result<Reply, CallError> {
        let body = body.map(|bytes| Body { content_type: "application/json", bytes });
        self.send(method, url, body, headers).await
    }

    /// Sends `method url` with any body (or none) and extra headers.
    pub async fn send(
        &self,
        method: hyper::Method,
        url: &str,
        body: Option<Body<'_>>,
        headers: &[(&str, String)],
    ) -> Result<Reply, CallError> {
        let mut req = hyper::Request::builder().method(method).uri(url);
        if let Some(b) = &body {
            req = req.header("content-type", b.content_type);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.map(|b| b.bytes).unwrap_or_default())))
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| match refusal_in(&e) {
                Some(refused) => CallError::Refused(refused),
                // Only a failed connect proves the request never left: a connection that
                // closes later (a provider that took the batch and then dropped it without an
                // answer) leaves the outcome unknown. hyper-util already resends, by itself, a
                // request a pooled connection closed before writing it.
                None if e.is_connect() => CallError::Transport(transport_text(&e)),
                None => CallError::Lost(transport_text(&e)),
            })?;
            let status = resp.status().as_u16();
            let header =
                |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let retry_after =
                header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
            let location = header("location");
            let body = Limited::new(resp.into_body(), RESPONSE_BYTES_MAX)
                .collect()
                .await
                .map_err(|e| CallError::Lost(format!("reading the reply: {e}")))?
                .to_bytes();
            Ok(Reply { status, retry_after, location, body })
        };
        tokio::time::timeout(self.timeout, fut).await.unwrap_or(Err(CallError::Timeout(self.timeout)))
    }
}

/// The error and its causes ("client error (Connect): tcp connect error: Connection refused").
fn transport_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A credential sent as one header on every call (`Authorization: Bearer …`, `X-Api-Key: …`),
/// read from a file. Its value never appears in logs: `Debug` shows the header's name only.
#[derive(Clone)]
pub struct AuthHeader {
    name: String,
    value: String,
}

impl std::fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthHeader").field("name", &self.name).field("value", &"<secret>").finish()
    }
}

impl AuthHeader {
    /// Header `name` with the content of `file` (trimmed); none without a file.
    pub fn load(
        name: &str,
        file: Option<&std::path::Path>,
    ) -> Result<Option<Self>, varsel_config::ConfigError> {
        let Some(path) = file else { return Ok(None) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| varsel_config::ConfigError::Read { path: path.to_path_buf(), source: e })?;
        let value = text.trim().to_string();
        if value.is_empty() || http::HeaderValue::from_str(&value).is_err() {
            return Err(varsel_config::ConfigError::invalid(
                path.display().to_string(),
                "must hold one line of printable text (the header's value)",
            ));
        }
        Ok(Some(Self { name: name.to_string(), value }))
    }

    /// The header, for [`JsonClient::send`].
    pub fn header(&self) -> (&str, String) {
        (self.name.as_str(), self.value.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::{CallError, JsonClient};

    /// Goal: a request that may have reached the provider is told apart from one that never
    /// left: a refused connect is `Transport`, a connection closed after the request was read
    /// is `Lost` (so the caller counts a resend as a possible duplicate).
    /// Method: a closed loopback port; a listener that reads the request and closes without
    /// answering.
    #[tokio::test]
    async fn lost_is_not_a_failed_connect() {
        let client = JsonClient::new(Duration::from_secs(5));
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let never = client.call(hyper::Method::POST, &format!("http://127.0.0.1:{port}/x"), None, &[]).await;
        assert!(matches!(never, Err(CallError::Transport(_))), "{never:?}");

        let taker = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taker.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut conn, _) = taker.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = conn.read(&mut buf).await;
            drop(conn);
        });
        let body = Some(br#"{"messages":[]}"#.to_vec());
        let lost = client.call(hyper::Method::POST, &format!("http://127.0.0.1:{port}/x"), body, &[]).await;
        assert!(matches!(lost, Err(CallError::Lost(_))), "{lost:?}");
    }
}
