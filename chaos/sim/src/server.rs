//! The HTTP server: accept loop, routing and the provider endpoints. `serve` is the whole
//! simulator, so tests run it in-process on `127.0.0.1:0`; `run` adds what a process needs.

use std::{future::Future, io::Write, net::SocketAddr, sync::Arc, time::Duration};

use hyper::{
    Method, Request, StatusCode,
    body::Incoming,
    header::{HeaderValue, RETRY_AFTER},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, oneshot, watch},
};
use tracing::{info, warn};

use crate::{
    admin,
    client::SimClient,
    config::SimConfig,
    error::{Error, Result},
    http::{Answer, BodyError, error, json, read_body},
    limits::{ACCEPT_ERROR_PAUSE_MS, BATCH_BODY_BYTES_MAX, CONNECTIONS_MAX, SHUTDOWN_GRACE_MS},
    sim::Sim,
    submit::{SubmitOutcome, submit},
};

/// Serves the simulator on `listener` until `shutdown` completes, then lets open requests
/// finish for up to [`SHUTDOWN_GRACE_MS`] and abandons queued callbacks.
///
/// The configuration is validated first; its `listen` field is ignored.
pub async fn serve(
    config: SimConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    config.validate()?;
    let secret = config.secret()?;
    let ca = config.callback_ca()?;
    // Fails now, not at the first callback, when the CA file holds no usable certificate.
    crate::http::client_trusting(ca.as_deref()).map_err(crate::Error::Config)?;
    let sim = Arc::new(Sim::new(&config, secret, ca));
    let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    info!(seed = config.seed, addr = ?listener.local_addr().ok(), providers = ?names, "varsel-sim serving");
    let (stop, stopped) = watch::channel(false);
    let flusher = tokio::spawn(crate::callbacks::run(sim.clone(), stopped));
    accept_loop(sim, listener, shutdown).await;
    let _ = stop.send(true);
    let _ = flusher.await;
    Ok(())
}

/// Binds `config.listen`, prints the seed on stderr and `READY <addr>` on stdout (what the
/// chaos harness waits for), and serves until Ctrl-C or SIGTERM.
pub async fn run(config: SimConfig) -> Result<()> {
    config.validate()?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    eprintln!("varsel-sim: seed {} providers {}", config.seed, names.join(","));
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "READY {addr}")?;
    stdout.flush()?;
    drop(stdout);
    serve(config, listener, termination()).await
}

/// Completes on Ctrl-C or, on Unix, SIGTERM (what `docker stop` and the harness send).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn accept_loop(sim: Arc<Sim>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    // The timer bounds how long a client may take to send its headers.
    builder.keep_alive(true).timer(TokioTimer::new());
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_PAUSE_MS)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let sim = sim.clone();
        let service = service_fn(move |request| handle(sim.clone(), request));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away mid-request is its own business.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let grace = Duration::from_millis(SHUTDOWN_GRACE_MS);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        warn!("connections still open after the shutdown grace period");
    }
}

/// The error that makes hyper close a connection without answering: a provider that took a
/// batch and then went silent (`timeout_after_accept_ms = 0`).
#[derive(Debug)]
struct NoAnswer;

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated timeout after acceptance: connection closed without an answer")
    }
}

impl std::error::Error for NoAnswer {}

/// Routes a request. Every handler answers, except a batch the provider is told to leave
/// unanswered.
async fn handle(sim: Arc<Sim>, request: Request<Incoming>) -> Result<Answer, NoAnswer> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = request.method().clone();
    let answer = match (&method, segments.as_slice()) {
        (&Method::POST, ["v1", "providers", name, "messages"]) => messages(&sim, name, request).await?,
        (&Method::GET, ["v1", "providers", name, "health"]) => health(&sim, name),
        (&Method::GET, ["admin", "stats"]) => json(StatusCode::OK, &sim.stats()),
        (&Method::POST, ["admin", "providers", name]) => admin::set(&sim, name, request).await,
        (&Method::GET, ["admin", "keys"]) => admin::keys(&sim, &query),
        (&Method::GET, ["admin", "counts"]) => admin::counts(&sim, &query),
        (&Method::GET, ["admin", "inbox"]) => admin::inbox(&sim, &query),
        (&Method::GET, ["admin", "replies"]) => admin::replies(&sim, &query),
        (&Method::GET, ["admin", "receipts"]) => admin::receipts(&sim, &query),
        (&Method::POST, ["admin", "reset"]) => admin::reset(&sim),
        _ => error(StatusCode::NOT_FOUND, format!("no route for {method} {path}")),
    };
    Ok(answer)
}

async fn messages(sim: &Sim, name: &str, request: Request<Incoming>) -> Result<Answer, NoAnswer> {
    let Some(provider) = sim.provider(name) else {
        return Ok(error(StatusCode::NOT_FOUND, format!("unknown provider {name:?}")));
    };
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body, BATCH_BODY_BYTES_MAX).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let message = format!("body: larger than {BATCH_BODY_BYTES_MAX} bytes");
            return Ok(error(StatusCode::PAYLOAD_TOO_LARGE, message));
        }
        Err(BodyError::Read(e)) => return Ok(error(StatusCode::BAD_REQUEST, format!("body: {e}"))),
    };
    Ok(match submit(sim, provider, &body) {
        SubmitOutcome::Answered { body, delay } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            crate::http::json_bytes(StatusCode::OK, body)
        }
        SubmitOutcome::Unanswered { hold: None, .. } => return Err(NoAnswer),
        SubmitOutcome::Unanswered { body, hold: Some(hold) } => {
            tokio::time::sleep(hold).await;
            crate::http::json_bytes(StatusCode::OK, body)
        }
        SubmitOutcome::Unavailable(message) => error(StatusCode::SERVICE_UNAVAILABLE, message),
        SubmitOutcome::Throttled { retry_after_s } => {
            let message =
                format!("provider {name} is over its throughput cap; retry after {retry_after_s} s");
            let mut answer = error(StatusCode::TOO_MANY_REQUESTS, message);
            answer.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_s));
            answer
        }
        SubmitOutcome::BadRequest(message) => error(StatusCode::BAD_REQUEST, message),
        SubmitOutcome::TooLarge(message) => error(StatusCode::PAYLOAD_TOO_LARGE, message),
    })
}

fn health(sim: &Sim, name: &str) -> Answer {
    let Some(provider) = sim.provider(name) else {
        return error(StatusCode::NOT_FOUND, format!("unknown provider {name:?}"));
    };
    if provider.settings().outage {
        return error(StatusCode::SERVICE_UNAVAILABLE, format!("provider {name} is in a simulated outage"));
    }
    json(StatusCode::OK, &serde_json::json!({ "ok": true }))
}

/// A simulator running in this process, from [`spawn`]. Dropping it stops the simulator.
#[derive(Debug)]
pub struct SimHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client of it.
    pub client: SimClient,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl SimHandle {
    /// Stops the simulator and waits for it to finish.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(Error::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Starts [`serve`] on a task, on `127.0.0.1` with an OS-chosen port: the usual start in
/// tests and benchmarks.
pub async fn spawn(config: SimConfig) -> Result<SimHandle> {
    config.validate()?;
    config.secret()?;
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(config, listener, async move {
        // Completes on a stop request and when the handle is dropped.
        let _ = stopped.await;
    }));
    Ok(SimHandle { addr, client: SimClient::new(addr), stop: Some(stop), task })
}
