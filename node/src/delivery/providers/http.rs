//! A small HTTP/1.1 JSON client shared by the HTTP-based providers.
//!
//! One pooled client per provider keeps connections alive between batches. Every call has a
//! timeout; a response body larger than [`RESPONSE_BYTES_MAX`] is refused.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest response body read from a provider.
pub const RESPONSE_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Idle connections kept per provider host.
pub const IDLE_CONNECTIONS_MAX: usize = 64;

/// A pooled JSON client.
#[derive(Debug, Clone)]
pub struct JsonClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` in seconds, if given.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: Bytes,
}

/// Why a call did not return a reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Could not connect, or the connection broke.
    #[error("{0}")]
    Transport(String),
    /// No reply within the timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

impl JsonClient {
    /// A client whose calls time out after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IDLE_CONNECTIONS_MAX)
            .build(connector);
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
        let mut req = hyper::Request::builder().method(method).uri(url);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| CallError::Transport(e.to_string()))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = Limited::new(resp.into_body(), RESPONSE_BYTES_MAX)
                .collect()
                .await
                .map_err(|e| CallError::Transport(format!("reading the reply: {e}")))?
                .to_bytes();
            Ok(Reply { status, retry_after, body })
        };
        tokio::time::timeout(self.timeout, fut).await.unwrap_or(Err(CallError::Timeout(self.timeout)))
    }
}
