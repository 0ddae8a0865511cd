//! A tower layer on each tonic server: counts, times and traces every call.
//!
//! Per call it records `varsel_grpc_requests_total` (and `varsel_grpc_errors_total` when the
//! code is not OK) by listener, service, method and code, the latency in
//! `varsel_grpc_request_duration_seconds`, and the calls in progress. It opens the server span of
//! the call, a child of the caller's `traceparent` when one came with it:
//!
//! - on the API port always, so external clients can put our spans into their traces (except
//!   health checks and reflection, which probes call every few seconds: traced only when the
//!   caller sent a `traceparent`);
//! - on the Raft port only when the caller sent a `traceparent`: nodes send one with every call
//!   they trace (forwarded writes, read index, replication carrying entries) and none with
//!   heartbeats, which would otherwise be ten root traces a second per follower.
//!
//! With trace export on, the span also records `trace_id`, so every log line written while
//! serving the call names its trace.
//!
//! The code is read from the response headers (`grpc-status`), where tonic puts it for every
//! unary error; a response without it is a success whose status follows in the trailers. The
//! latency is the time to the response headers, which for unary calls is the whole call. Unknown
//! paths are counted under `unknown` so a client cannot grow the label sets.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::trace::TraceContextExt as _;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{CounterVec, GaugeVec, HistogramVec, LATENCY_BUCKETS_SECONDS, Metrics};
use varsel_observe::trace as propagation;

/// Which listener a server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The client API (`api_addr`).
    Api,
    /// The node-to-node transport (`raft_addr`).
    Raft,
}

impl Listener {
    fn label(self) -> &'static str {
        match self {
            Listener::Api => "api",
            Listener::Raft => "raft",
        }
    }
}

/// Longest path kept in a span name; longer ones (never ours) are cut.
const SPAN_PATH_MAX_CHARS: usize = 128;

/// Services whose calls are traced only as part of a caller's trace: probes and tooling.
const UNTRACED_SERVICE_PREFIXES: [&str; 2] = ["/grpc.health.", "/grpc.reflection."];

/// The metric families the layer records into.
#[derive(Debug, Clone)]
struct Families {
    requests: CounterVec,
    errors: CounterVec,
    duration: HistogramVec,
    in_flight: GaugeVec,
}

/// Wraps a tonic server's routes; see the module documentation.
#[derive(Debug, Clone)]
pub struct GrpcLayer {
    listener: Listener,
    families: Families,
}

impl GrpcLayer {
    /// A layer recording into `metrics` for the calls of `listener`.
    pub fn new(metrics: &Metrics, listener: Listener) -> Self {
        let labels = ["port", "service", "method", "code"];
        let families = Families {
            requests: metrics.counter_vec(
                "varsel_grpc_requests_total",
                "gRPC calls served, by listener (api, raft), service, method and status code.",
                &labels,
            ),
            errors: metrics.counter_vec(
                "varsel_grpc_errors_total",
                "gRPC calls served that ended with a status other than OK.",
                &labels,
            ),
            duration: metrics.histogram_vec(
                "varsel_grpc_request_duration_seconds",
                "Time from receiving a gRPC call to sending its response headers.",
                &labels[..3],
                &LATENCY_BUCKETS_SECONDS,
            ),
            in_flight: metrics.gauge_vec(
                "varsel_grpc_requests_in_flight",
                "gRPC calls being served now.",
                &["port"],
            ),
        };
        Self { listener, families }
    }
}

impl<S> tower_layer::Layer<S> for GrpcLayer {
    type Service = GrpcObserve<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcObserve { inner, layer: self.clone() }
    }
}

/// The service [`GrpcLayer`] produces.
#[derive(Debug, Clone)]
pub struct GrpcObserve<S> {
    inner: S,
    layer: GrpcLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for GrpcObserve<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The clone is ready only after poll_ready; call the instance that was polled.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let (service, method) = split_path(req.uri().path());
        let span = server_span(layer.listener, req.uri().path(), req.headers());
        let in_flight = layer.families.in_flight.with(&[layer.listener.label()]);
        in_flight.inc();
        let started = Instant::now();
        let fut = inner.call(req);
        Box::pin(
            async move {
                let result = fut.await;
                in_flight.dec();
                let code = match &result {
                    Ok(resp) => status_of(resp.headers()),
                    Err(_) => tonic::Code::Unknown,
                };
                layer.record(&service, &method, code, started);
                record_on_span(&tracing::Span::current(), code);
                result
            }
            .instrument(span),
        )
    }
}

impl GrpcLayer {
    fn record(&self, service: &str, method: &str, code: tonic::Code, started: Instant) {
        let (service, method) =
            if code == tonic::Code::Unimplemented { ("unknown", "unknown") } else { (service, method) };
        let port = self.listener.label();
        let code_name = code_name(code);
        self.families.requests.with(&[port, service, method, code_name]).inc();
        if code != tonic::Code::Ok {
            self.families.errors.with(&[port, service, method, code_name]).inc();
        }
        self.families.duration.with(&[port, service, method]).observe_duration(started.elapsed());
    }
}

fn server_span(listener: Listener, path: &str, headers: &http::HeaderMap) -> tracing::Span {
    let parent = propagation::extract(headers);
    let remote = propagation::has_remote_parent(&parent);
    let probe = UNTRACED_SERVICE_PREFIXES.iter().any(|p| path.starts_with(p));
    if !remote && (listener == Listener::Raft || probe) {
        return tracing::Span::none();
    }
    let name: String = path.trim_start_matches('/').chars().take(SPAN_PATH_MAX_CHARS).collect();
    let (service, method) = split_path(path);
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %name,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        varsel.port = listener.label(),
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if remote {
        // Fails only when no OpenTelemetry layer is installed; then there is nothing to link.
        let _ = span.set_parent(parent);
    }
    // Log lines written while serving the call carry its trace id, so an operator can go from a
    // log line to the trace. Without trace export there is no id and nothing is recorded.
    let cx = span.context();
    let ids = cx.span().span_context().clone();
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
    }
    span
}

fn record_on_span(span: &tracing::Span, code: tonic::Code) {
    span.record("rpc.grpc.status_code", code as i64);
    // OpenTelemetry's convention: only codes that mean the server failed mark a server span as
    // an error; a client's bad argument is not our failure.
    if matches!(
        code,
        tonic::Code::Unknown
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unimplemented
            | tonic::Code::Internal
            | tonic::Code::Unavailable
            | tonic::Code::DataLoss
    ) {
        span.record("otel.status_code", "error");
    }
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`); anything else → (`unknown`, `unknown`).
fn split_path(path: &str) -> (String, String) {
    match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some((s, m)) if !s.is_empty() && !m.is_empty() && !m.contains('/') => (s.to_string(), m.to_string()),
        _ => ("unknown".into(), "unknown".into()),
    }
}

fn status_of(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32)
}

/// The names gRPC's own libraries give the codes (as Prometheus dashboards expect them).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: paths split into service and method; odd paths cannot invent label values.
    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(split_path("/varsel.kv.v1.Kv/Put"), ("varsel.kv.v1.Kv".into(), "Put".into()));
        assert_eq!(split_path("/x"), ("unknown".into(), "unknown".into()));
        assert_eq!(split_path("/a/b/c"), ("unknown".into(), "unknown".into()));
        assert_eq!(split_path("//m"), ("unknown".into(), "unknown".into()));
    }

    /// Goal: the code comes from grpc-status; none means OK.
    #[test]
    fn status_comes_from_headers() {
        let mut h = http::HeaderMap::new();
        assert_eq!(status_of(&h), tonic::Code::Ok);
        h.insert("grpc-status", http::HeaderValue::from_static("14"));
        assert_eq!(status_of(&h), tonic::Code::Unavailable);
        assert_eq!(code_name(status_of(&h)), "Unavailable");
    }
}
