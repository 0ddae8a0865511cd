//! `SimClient`: the admin API (and message submission) from Rust, for tests, benchmarks,
//! the chaos harness and `varsel dev`.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use http_body_util::Full;
use hyper::{
    Method, Request,
    body::Bytes,
    header::{CONTENT_TYPE, RETRY_AFTER},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    config::{ProviderConfig, ProviderSettings},
    error::{Error, Result},
    http::{BodyError, HttpClient, chain, read_body},
    limits::{CLIENT_ANSWER_BYTES_MAX, WAIT_POLL_MS},
    protocol::{ErrorBody, Message, MessageResult, SubmitRequest, SubmitResponse},
    reports::{AlertCounts, InboxListing, KeysListing, ReceiptsListing, RepliesListing, Stats},
};

/// A client of one simulator. Cheap to clone; clones share a connection pool.
#[derive(Debug, Clone)]
pub struct SimClient {
    base: String,
    http: HttpClient,
}

/// An answer as it came, for tests of the protocol itself.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// The `Retry-After` header, in seconds.
    pub retry_after_s: Option<u64>,
    /// The body.
    pub body: Bytes,
}

impl RawAnswer {
    /// The `error` of an error body, or the body as text.
    pub fn error_text(&self) -> String {
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(body) => body.error,
            Err(_) => String::from_utf8_lossy(&self.body).into_owned(),
        }
    }
}

/// How a provider answered a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// 200: one result per message, in order.
    Results(Vec<MessageResult<'static>>),
    /// 503: in an outage.
    Unavailable(String),
    /// 429: over its cap; retry after this many seconds.
    Throttled {
        /// From `Retry-After`.
        retry_after_s: u64,
    },
    /// Any other status (400, 404, 413), with the error text.
    Rejected {
        /// HTTP status.
        status: u16,
        /// The simulator's explanation.
        error: String,
    },
}

impl SimClient {
    /// A client of the simulator listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        SimClient { base: format!("http://{addr}"), http: crate::http::client() }
    }

    /// `http://addr`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends any request; `path` starts with `/` and may carry a query.
    pub async fn request(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<RawAnswer> {
        let url = format!("{}{path}", self.base);
        let transport = |reason: String| Error::Transport { url: url.clone(), reason };
        let mut request = Request::builder().method(method).uri(&url);
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| transport(e.to_string()))?;
        let response = self.http.request(request).await.map_err(|e| transport(chain(&e)))?;
        let status = response.status().as_u16();
        let retry_after_s =
            response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let (parts, body) = response.into_parts();
        let body = read_body(&parts.headers, body, CLIENT_ANSWER_BYTES_MAX).await.map_err(|e| match e {
            BodyError::TooLarge => transport(format!("answer larger than {CLIENT_ANSWER_BYTES_MAX} bytes")),
            BodyError::Read(reason) => transport(reason),
        })?;
        Ok(RawAnswer { status, retry_after_s, body })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        let answer = self.request(method, path, body).await?;
        let url = format!("{}{path}", self.base);
        if answer.status != 200 {
            return Err(Error::Status { url, status: answer.status, body: answer.error_text() });
        }
        serde_json::from_slice(&answer.body).map_err(|e| Error::Decode { url, reason: e.to_string() })
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let body = serde_json::to_vec(body).map_err(|e| Error::Decode { url, reason: e.to_string() })?;
        self.call(Method::POST, path, Some(body)).await
    }

    /// `GET /admin/stats`.
    pub async fn stats(&self) -> Result<Stats> {
        self.call(Method::GET, "/admin/stats", None).await
    }

    /// `POST /admin/providers/{provider}`; answers the behaviour now in force.
    pub async fn set(&self, provider: &str, settings: &ProviderSettings) -> Result<ProviderConfig> {
        self.post(&format!("/admin/providers/{provider}"), settings).await
    }

    /// `GET /admin/keys?prefix=..` with the default limit.
    pub async fn keys(&self, prefix: &str) -> Result<KeysListing> {
        self.call(Method::GET, &format!("/admin/keys?prefix={}", encode(prefix)), None).await
    }

    /// `GET /admin/keys?prefix=..&limit=..`.
    pub async fn keys_limited(&self, prefix: &str, limit: usize) -> Result<KeysListing> {
        self.call(Method::GET, &format!("/admin/keys?prefix={}&limit={limit}", encode(prefix)), None).await
    }

    /// `GET /admin/counts?alert=..`.
    pub async fn counts(&self, alert: u64) -> Result<AlertCounts> {
        self.call(Method::GET, &format!("/admin/counts?alert={alert}"), None).await
    }

    /// `GET /admin/inbox?alert=..`: what the recipients of `alert` received, oldest first
    /// (the deliveries the simulator kept; see `SimConfig::inbox_max`).
    pub async fn inbox(&self, alert: u64) -> Result<InboxListing> {
        self.call(
            Method::GET,
            &format!("/admin/inbox?alert={alert}&limit={}", crate::limits::INBOX_MAX),
            None,
        )
        .await
    }

    /// `GET /admin/inbox?to=..`: what one recipient received, of any alert, oldest first.
    pub async fn inbox_of(&self, to: &str) -> Result<InboxListing> {
        self.call(
            Method::GET,
            &format!("/admin/inbox?to={}&limit={}", encode(to), crate::limits::INBOX_MAX),
            None,
        )
        .await
    }

    /// `GET /admin/replies`.
    pub async fn replies(&self) -> Result<RepliesListing> {
        self.call(Method::GET, "/admin/replies", None).await
    }

    /// `GET /admin/receipts`.
    pub async fn receipts(&self) -> Result<ReceiptsListing> {
        self.call(Method::GET, "/admin/receipts", None).await
    }

    /// `POST /admin/reset`.
    pub async fn reset(&self) -> Result<()> {
        let _: serde_json::Value = self.call(Method::POST, "/admin/reset", Some(b"{}".to_vec())).await?;
        Ok(())
    }

    /// `GET /v1/providers/{provider}/health`: true on 200, false on 503.
    pub async fn healthy(&self, provider: &str) -> Result<bool> {
        let path = format!("/v1/providers/{provider}/health");
        let answer = self.request(Method::GET, &path, None).await?;
        match answer.status {
            200 => Ok(true),
            503 => Ok(false),
            status => {
                Err(Error::Status { url: format!("{}{path}", self.base), status, body: answer.error_text() })
            }
        }
    }

    /// Submits a batch as a node would.
    pub async fn send(&self, provider: &str, messages: &[Message<'_>]) -> Result<SendOutcome> {
        let path = format!("/v1/providers/{provider}/messages");
        let url = format!("{}{path}", self.base);
        let request = SubmitRequest { messages: messages.to_vec() };
        let body = serde_json::to_vec(&request)
            .map_err(|e| Error::Decode { url: url.clone(), reason: e.to_string() })?;
        let answer = self.request(Method::POST, &path, Some(body)).await?;
        Ok(match answer.status {
            200 => {
                let response: SubmitResponse<'_> = serde_json::from_slice(&answer.body)
                    .map_err(|e| Error::Decode { url, reason: e.to_string() })?;
                SendOutcome::Results(response.results.into_iter().map(MessageResult::into_owned).collect())
            }
            503 => SendOutcome::Unavailable(answer.error_text()),
            429 => SendOutcome::Throttled { retry_after_s: answer.retry_after_s.unwrap_or(1) },
            status => SendOutcome::Rejected { status, error: answer.error_text() },
        })
    }

    /// Polls the stats every [`WAIT_POLL_MS`] until `predicate` holds, for at most `timeout`;
    /// answers the stats that satisfied it. Waiting on a condition, not a fixed sleep, keeps
    /// tests fast on an idle machine and correct on a busy one.
    pub async fn wait_for(
        &self,
        mut predicate: impl FnMut(&Stats) -> bool,
        timeout: Duration,
    ) -> Result<Stats> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats().await?;
            if predicate(&stats) {
                return Ok(stats);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout { timeout_ms: timeout.as_millis() as u64 });
            }
            tokio::time::sleep(Duration::from_millis(WAIT_POLL_MS)).await;
        }
    }
}

/// Percent-encodes a query value (keys are ASCII letters, digits and `-` in practice).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
