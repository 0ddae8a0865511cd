//! The webhook receiver `varsel dev` runs for its demo tenant: it checks every request's
//! Standard Webhooks signature with the subscription's secret and appends one line per event to
//! `webhooks.log` in the dev directory, so a newcomer sees signed events arrive.
//!
//! It listens on loopback only, over plain HTTP: the nodes of `varsel dev` allow webhooks to
//! `http://127.0.0.1` (`testing.webhooks_allow_http_loopback`), which no production node does.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// The path events are posted to.
pub const HOOK_PATH: &str = "/hook";

/// What the receiver has seen.
#[derive(Debug, Default)]
pub struct Received {
    /// Events with a valid signature.
    pub verified: AtomicU64,
    /// Requests whose signature did not verify (answered 401).
    pub refused: AtomicU64,
    /// The subscription's secret, once it is known.
    pub secret: OnceLock<String>,
    log: Mutex<Option<std::fs::File>>,
}

/// Starts the receiver on a free loopback port; returns its address and what it records.
pub async fn start(log_path: PathBuf) -> anyhow::Result<(SocketAddr, Arc<Received>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
    let received = Arc::new(Received { log: Mutex::new(Some(file)), ..Default::default() });
    let app = Router::new().route(HOOK_PATH, post(receive)).with_state(received.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("webhook receiver stopped: {e}");
        }
    });
    Ok((addr, received))
}

async fn receive(State(r): State<Arc<Received>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (id, ts, sigs) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let Some(secret) = r.secret.get() else { return StatusCode::SERVICE_UNAVAILABLE };
    let expected = ts.parse().ok().and_then(|t| varsel_delivery::webhooks::sign(secret, &id, t, &body).ok());
    let valid = expected.is_some_and(|e| sigs.split_whitespace().any(|s| s == e));
    if !valid {
        r.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    r.verified.fetch_add(1, Ordering::Relaxed);
    let kind = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .unwrap_or_default();
    if let Ok(mut guard) = r.log.lock()
        && let Some(f) = guard.as_mut()
    {
        let _ = writeln!(f, "{ts} {id} {kind} signature verified {}", String::from_utf8_lossy(&body));
    }
    StatusCode::NO_CONTENT
}
