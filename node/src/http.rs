//! The HTTP listener for operators' tools (`http_addr`):
//!
//! - `GET /metrics`: every metric in the Prometheus text format;
//! - `GET /healthz`: `200 ok` while the process serves HTTP at all (liveness);
//! - `GET /readyz`: `200` with the readiness as JSON when the node is ready, `503` with the same
//!   JSON (and its `reason`) when not; the rule is in [`crate::health`].
//!
//! At most [`HTTP_CONNECTIONS_MAX`] connections are served at once; further ones wait in the
//! kernel's accept queue.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::health;
use crate::metrics::{Metrics, encode};
use crate::replica::Replica;

/// Most HTTP connections served at once. Scrapers and probes hold one or two each; the bound
/// keeps a misbehaving client from holding unbounded tasks and sockets.
pub const HTTP_CONNECTIONS_MAX: usize = 64;

/// Pause after a failed accept (out of file descriptors and the like), instead of spinning.
const ACCEPT_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Debug, Clone)]
struct AppState {
    replica: Arc<Replica>,
    metrics: Metrics,
}

/// The routes, for `replica` and its `metrics`.
pub fn router(replica: Arc<Replica>, metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { replica, metrics })
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limited =
        LimitedListener { inner: listener, permits: Arc::new(Semaphore::new(HTTP_CONNECTIONS_MAX)) };
    axum::serve(limited, router).with_graceful_shutdown(shutdown).await
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, encode::CONTENT_TYPE)], s.metrics.encode()).into_response()
}

async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n").into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    let r = health::readiness(&s.replica);
    let status = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body =
        serde_json::to_string(&r).unwrap_or_else(|e| format!("{{\"ready\":false,\"reason\":\"{e}\"}}"));
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A listener that holds a semaphore permit for every open connection.
struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // The semaphore is never closed, so acquiring only waits.
            let Ok(permit) = self.permits.clone().acquire_owned().await else { continue };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (LimitedStream { stream, _permit: permit }, addr);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection and the permit it releases when closed.
struct LimitedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
