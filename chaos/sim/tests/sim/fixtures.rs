//! Shared fixtures: starting a simulator, building messages, and a small inbound server
//! standing in for a node's `/inbound/v1/...` endpoints.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anyhow::{Result, bail};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::{net::TcpListener, task::JoinHandle};
use varsel_sim::{
    Channel, Message, MessageResult, ProviderConfig, SendOutcome, SimClient, SimConfig, SimHandle,
};

/// The seed of every test, so exact counts are stable.
pub const SEED: u64 = 7;

/// The callback secret of every test.
pub const SECRET: &str = "test-secret";

/// A configuration of `providers` with the test seed and secret.
pub fn config(providers: Vec<ProviderConfig>) -> SimConfig {
    SimConfig { seed: SEED, callback_secret: SECRET.to_owned(), ..SimConfig::with_providers(providers) }
}

/// A simulator serving one instant, error-free SMS provider `sms-primary` and `sms-alt`.
pub async fn start_sms() -> Result<SimHandle> {
    let providers =
        vec![ProviderConfig::new("sms-primary", Channel::Sms), ProviderConfig::new("sms-alt", Channel::Sms)];
    Ok(varsel_sim::spawn(config(providers)).await?)
}

/// SMS `contact` of `alert`, step 0.
pub fn sms(alert: u64, contact: u64) -> Message<'static> {
    Message::sample(alert, contact, Channel::Sms, 0)
}

/// `counts` without its arrival times (which depend on the clock), for exact comparisons.
pub fn untimed(counts: varsel_sim::ChannelCounts) -> varsel_sim::ChannelCounts {
    varsel_sim::ChannelCounts { first_received_ms: 0, last_received_ms: 0, ..counts }
}

/// The per-message results of a 200 answer.
pub fn results(outcome: SendOutcome) -> Result<Vec<MessageResult<'static>>> {
    match outcome {
        SendOutcome::Results(results) => Ok(results),
        other => bail!("expected results, got {other:?}"),
    }
}

/// Sends `messages` to `provider` and expects a 200.
pub async fn send_ok(
    client: &SimClient,
    provider: &str,
    messages: &[Message<'_>],
) -> Result<Vec<MessageResult<'static>>> {
    results(client.send(provider, messages).await?)
}

/// One request the inbound server received.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub webhook_id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Bytes,
}

impl Captured {
    /// Checks the signature the way a node must: HMAC-SHA256(secret, id "." timestamp "." body).
    pub fn signature_valid(&self, secret: &str) -> bool {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
        if self.webhook_id.is_empty() {
            return false;
        }
        mac.update(self.webhook_id.as_bytes());
        mac.update(b".");
        mac.update(self.timestamp.as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        let Some(hex_mac) = self.signature.strip_prefix("sha256=") else { return false };
        let Ok(bytes) = hex::decode(hex_mac) else { return false };
        mac.verify_slice(&bytes).is_ok()
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// A stand-in for a node's inbound endpoints: answers 200 to everything (or 503 to the first
/// `fail_first` requests) and keeps what it got.
pub struct Inbound {
    pub addr: SocketAddr,
    captured: Arc<Mutex<Vec<Captured>>>,
    task: JoinHandle<()>,
}

impl Inbound {
    pub async fn start() -> Result<Inbound> {
        Self::start_failing(0).await
    }

    /// An inbound server that answers 503 to its first `fail_first` requests (a node that
    /// cannot commit yet), 200 after.
    pub async fn start_failing(fail_first: usize) -> Result<Inbound> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let captured: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let sink = captured.clone();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (sink, seen) = (sink.clone(), seen.clone());
                let service = service_fn(move |request| {
                    let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    capture(sink.clone(), request, n >= fail_first)
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Ok(Inbound { addr, captured, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.captured.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps an answered request (`ok`) and answers 200, or answers 503 and keeps nothing.
async fn capture(
    sink: Arc<Mutex<Vec<Captured>>>,
    request: Request<Incoming>,
    ok: bool,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !ok {
        let mut answer = Response::new(Full::new(Bytes::from_static(b"{\"error\":\"not committed\"}")));
        *answer.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
        return Ok(answer);
    }
    let (parts, body) = request.into_parts();
    let header =
        |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let captured = Captured {
        path: parts.uri.path().to_owned(),
        webhook_id: header("x-varsel-webhook-id"),
        timestamp: header("x-varsel-timestamp"),
        signature: header("x-varsel-signature"),
        body: body.collect().await.map(|b| b.to_bytes()).unwrap_or_default(),
    };
    if let Ok(mut sink) = sink.lock() {
        sink.push(captured);
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}"))))
}

/// A base URL where nothing listens (a node that is down).
pub async fn dead_url() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}"))
}
