//! Trace context across process boundaries, in the W3C Trace Context format (`traceparent`,
//! `tracestate`).
//!
//! - Outgoing gRPC calls to other nodes: open a client span with [`client_span`], call
//!   [`inject`] on the request, and run the call inside the span.
//! - Incoming calls: [`extract`] reads the headers (done for every call by the node's gRPC
//!   layer, `varsel_node::metrics::grpc`).
//! - Work that crosses nodes without a direct call (an alert accepted on one node and sent by
//!   another): store a [`TraceCarrier`] with the work and make it the parent of the span that
//!   picks it up.
//!
//! Without a configured exporter there is no OpenTelemetry layer, spans carry no context, and
//! all of this does nothing.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header (gRPC metadata key) holding the parent span.
pub const TRACEPARENT: &str = "traceparent";
/// The header holding vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let key = tonic::metadata::MetadataKey::from_bytes(key.as_bytes());
        let value = tonic::metadata::MetadataValue::try_from(value.as_str());
        if let (Ok(k), Ok(v)) = (key, value) {
            self.0.insert(k, v);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// A span for a call to another node. `name` is what the trace shows (e.g.
/// `raft.forward_write`); `peer` is the other node's id.
pub fn client_span(name: &'static str, peer: u64) -> tracing::Span {
    tracing::info_span!(
        "rpc.client",
        otel.name = name,
        otel.kind = "client",
        rpc.system = "grpc",
        peer.node = peer,
        otel.status_code = tracing::field::Empty,
    )
}

/// Like [`client_span`], but the root of a new trace: for calls that no request caused (Raft's
/// replication, votes and snapshots run on openraft's own tasks).
pub fn root_client_span(name: &'static str, peer: u64) -> tracing::Span {
    tracing::info_span!(
        parent: None,
        "rpc.client",
        otel.name = name,
        otel.kind = "client",
        rpc.system = "grpc",
        peer.node = peer,
        otel.status_code = tracing::field::Empty,
    )
}

/// Writes `span`'s context into the request's metadata, so the server's span becomes its child.
/// Does nothing when the span carries no context (tracing export off, or span disabled).
pub fn inject<T>(span: &tracing::Span, request: &mut tonic::Request<T>) {
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut MetadataInjector(request.metadata_mut()));
    }
}

/// The remote parent named by the headers of an incoming request (an empty context when there is
/// none or it is malformed).
pub fn extract(headers: &http::HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Whether `cx` names a valid remote parent.
pub fn has_remote_parent(cx: &opentelemetry::Context) -> bool {
    cx.span().span_context().is_valid()
}

/// Marks `span` as failed, for exporters that show errors (tracing-opentelemetry reads
/// `otel.status_code`; the field must have been declared, as [`client_span`] does).
pub fn record_error(span: &tracing::Span) {
    span.record("otel.status_code", "error");
}

/// A trace context that can be stored or sent inside our own messages (a Raft entry, an actor
/// message) so that later work on another node joins the same trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceCarrier {
    /// The W3C `traceparent` value, when there was a context to carry.
    pub traceparent: Option<String>,
    /// The W3C `tracestate` value.
    pub tracestate: Option<String>,
}

impl Injector for TraceCarrier {
    fn set(&mut self, key: &str, value: String) {
        match key {
            TRACEPARENT => self.traceparent = Some(value),
            TRACESTATE => self.tracestate = Some(value),
            _ => {}
        }
    }
}

impl Extractor for TraceCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.traceparent.as_deref(),
            TRACESTATE => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

impl TraceCarrier {
    /// The context of `span` (empty when it has none).
    pub fn from_span(span: &tracing::Span) -> Self {
        let mut carrier = Self::default();
        let cx = span.context();
        if cx.span().span_context().is_valid() {
            TraceContextPropagator::new().inject_context(&cx, &mut carrier);
        }
        carrier
    }

    /// The context of the current span.
    pub fn current() -> Self {
        Self::from_span(&tracing::Span::current())
    }

    /// Makes the carried context the parent of `span`, which must not have been entered yet.
    /// Returns false when there was nothing to attach or the span could not take it.
    pub fn set_parent_of(&self, span: &tracing::Span) -> bool {
        let cx = TraceContextPropagator::new().extract(self);
        has_remote_parent(&cx) && span.set_parent(cx).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn remote_context() -> opentelemetry::Context {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap_or(TraceId::INVALID),
            SpanId::from_hex("00f067aa0ba902b7").unwrap_or(SpanId::INVALID),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        opentelemetry::Context::new().with_remote_span_context(sc)
    }

    /// Goal: a carrier holds the W3C form and gives the same context back.
    #[test]
    fn carrier_round_trip() {
        let mut carrier = TraceCarrier::default();
        TraceContextPropagator::new().inject_context(&remote_context(), &mut carrier);
        assert_eq!(
            carrier.traceparent.as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let back = TraceContextPropagator::new().extract(&carrier);
        assert_eq!(back.span().span_context().span_id(), remote_context().span().span_context().span_id());
        assert!(has_remote_parent(&back));
    }

    /// Goal: what is written into gRPC metadata is read back from the HTTP headers a server sees.
    #[test]
    fn metadata_to_headers_round_trip() {
        let mut request = tonic::Request::new(());
        TraceContextPropagator::new()
            .inject_context(&remote_context(), &mut MetadataInjector(request.metadata_mut()));
        let headers = request.metadata().clone().into_headers();
        let cx = extract(&headers);
        assert_eq!(cx.span().span_context().trace_id(), remote_context().span().span_context().trace_id());
        assert!(!has_remote_parent(&extract(&http::HeaderMap::new())));
        let mut bad = http::HeaderMap::new();
        bad.insert(TRACEPARENT, http::HeaderValue::from_static("00-zz-yy-01"));
        assert!(!has_remote_parent(&extract(&bad)), "a malformed traceparent is ignored");
    }

    /// Goal: without an OpenTelemetry layer, nothing is injected and nothing attaches.
    #[test]
    fn without_a_layer_nothing_travels() {
        let span = tracing::Span::none();
        assert_eq!(TraceCarrier::from_span(&span), TraceCarrier::default());
        let mut request = tonic::Request::new(());
        inject(&span, &mut request);
        assert!(request.metadata().get(TRACEPARENT).is_none());
        let mut carrier = TraceCarrier::default();
        TraceContextPropagator::new().inject_context(&remote_context(), &mut carrier);
        assert!(!carrier.set_parent_of(&span));
    }
}
