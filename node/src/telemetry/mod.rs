//! Logs and traces: human-readable or JSON logs on stderr, and spans exported over OTLP/gRPC
//! when an endpoint is configured.
//!
//! # Layout
//!
//! - [`init`]: installs the global subscriber for `varsel start`; [`init_logging`] for commands
//!   that only log.
//! - [`export`]: the bounded span queue in front of the OTLP exporter (never blocks the caller,
//!   drops and counts when full).
//! - Trace context across nodes (W3C `traceparent`, and `TraceCarrier` for context that must
//!   travel inside a Raft entry or an actor message) is [`varsel_observe::trace`].
//! - [`mask`]: phone numbers, e-mail addresses and message bodies made safe for logs.
//!
//! # What is traced
//!
//! Every gRPC call a node serves gets a server span (see [`crate::metrics::grpc`]); calls to
//! other nodes get a client span whose context travels in `traceparent`, so a write sent to a
//! follower and forwarded to the leader is one trace across two processes. Only spans whose
//! target starts with `varsel` are exported ([`EXPORT_TARGET_PREFIX`]), at `info` and above,
//! whatever the log filter says: quiet logs do not switch tracing off, and openraft's and
//! hyper's internal spans never flood the collector.
//!
//! For later components: an actor handling a message opens
//! `tracing::info_span!("actor.handle", actor = "...", msg = "...")` with the parent taken from
//! the message's `TraceCarrier`; a provider call opens
//! `info_span!("provider.send", otel.kind = "client", channel = ..., provider = ...)` and
//! records the outcome with `otel.status_code = "error"` on failure. Never put a recipient's
//! address or a message body in a span field: use [`mask`].

pub mod export;
pub mod mask;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use varsel_config::ConfigError;
use varsel_config::{LogConfig, NodeConfig, TelemetryConfig};

/// Spans from targets with this prefix (our crates: `varsel_node`, …) are exported.
pub const EXPORT_TARGET_PREFIX: &str = "varsel";

/// The OpenTelemetry standard variables Varsel reads itself (the exporter also honours
/// `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`, `…_COMPRESSION` and `…_INSECURE`).
pub const ENV_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The generic OTLP endpoint variable, used when the traces one is not set.
pub const ENV_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Overrides `telemetry.service_name`.
pub const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Extra resource attributes, `key=value,key=value`.
pub const ENV_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `true` switches every OpenTelemetry export off.
pub const ENV_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// Resource attribute naming the site (data centre) a node runs in.
pub const SITE_ATTRIBUTE: &str = "varsel.site";

/// What [`init`] installed; keep it until the node has stopped, then call
/// [`Telemetry::shutdown`] so queued spans are sent.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    export: Option<export::ExportHandle>,
    /// The endpoint spans go to, if any.
    pub endpoint: Option<String>,
}

impl Telemetry {
    /// Sends what is queued (bounded by `within`) and stops exporting.
    pub async fn shutdown(self, within: Duration) {
        if let Some(export) = &self.export {
            export.shutdown(within).await;
        }
        if let Some(provider) = self.provider {
            // Our processor's shutdown only signals; it never blocks this thread.
            let _ = provider.shutdown_with_timeout(within);
        }
    }
}

/// Installs logging and, when an OTLP endpoint is configured, trace export. Must run inside the
/// Tokio runtime (the exporter's connection and queue live on it). Fails on an unusable
/// endpoint, after installing logging so the caller can report it.
pub fn init(config: &NodeConfig) -> Result<Telemetry, ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    let endpoint = traces_endpoint(&config.telemetry, env);
    let mut layers = vec![log_layer(&config.log)];
    let mut telemetry = Telemetry { provider: None, export: None, endpoint: endpoint.clone() };
    let mut failure = None;
    if let Some(endpoint) = &endpoint {
        match otel_layer(config, endpoint, env) {
            Ok((layer, provider, handle)) => {
                layers.push(layer);
                telemetry.provider = Some(provider);
                telemetry.export = Some(handle);
            }
            Err(e) => failure = Some(e),
        }
    }
    if tracing_subscriber::registry().with(layers).try_init().is_err() {
        tracing::debug!("logging was already initialised");
    }
    match failure {
        Some(e) => Err(e),
        None => {
            if let Some(e) = &telemetry.endpoint {
                tracing::info!(endpoint = %e, "exporting traces over OTLP/gRPC");
            }
            Ok(telemetry)
        }
    }
}

/// Installs the global subscriber for logs only. `RUST_LOG`, when set, overrides the configured
/// filter. Calling it twice is harmless (the second call does nothing).
pub fn init_logging(log: &LogConfig) {
    if tracing_subscriber::registry().with(vec![log_layer(log)]).try_init().is_err() {
        tracing::debug!("logging was already initialised");
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn log_layer(log: &LogConfig) -> BoxedLayer {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    if log.format == "json" {
        tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_filter(filter).boxed()
    } else {
        // Colours for a person at a terminal; plain text for files and log collectors.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    }
}

/// The endpoint traces are sent to: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, else `telemetry.otlp_endpoint`; none when
/// `OTEL_SDK_DISABLED=true`. Empty values count as unset. The environment wins over the file, as
/// `VARSEL_*` variables do.
pub fn traces_endpoint(config: &TelemetryConfig, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    if env(ENV_SDK_DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    [env(ENV_TRACES_ENDPOINT), env(ENV_ENDPOINT), config.otlp_endpoint.clone()]
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}

/// The resource every span of this node carries. Later entries win: the configured service
/// name, then `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`, and last the node's
/// identity (`service.instance.id` = node id, `varsel.site`), which nothing may override because
/// telling the nodes apart is the point.
pub fn resource(config: &NodeConfig, env: impl Fn(&str) -> Option<String>) -> Resource {
    let mut attrs = vec![
        KeyValue::new("service.name", config.telemetry.service_name.clone()),
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.name", "opentelemetry"),
    ];
    for pair in env(ENV_RESOURCE_ATTRIBUTES).unwrap_or_default().split(',') {
        if let Some((k, v)) = pair.split_once('=')
            && !k.trim().is_empty()
        {
            attrs.push(KeyValue::new(k.trim().to_string(), v.trim().to_string()));
        }
    }
    if let Some(name) = env(ENV_SERVICE_NAME).filter(|s| !s.trim().is_empty()) {
        attrs.push(KeyValue::new("service.name", name.trim().to_string()));
    }
    attrs.push(KeyValue::new("service.instance.id", config.node_id.to_string()));
    attrs.push(KeyValue::new(SITE_ATTRIBUTE, config.site.clone()));
    // `Resource::new` keeps the last value of a repeated key.
    Resource::builder_empty().with_attributes(attrs).build()
}

fn otel_layer(
    config: &NodeConfig,
    endpoint: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(BoxedLayer, SdkTracerProvider, export::ExportHandle), ConfigError> {
    use opentelemetry_otlp::WithExportConfig as _;
    let t = &config.telemetry;
    let invalid = |rule: String| ConfigError::invalid("telemetry.otlp_endpoint", rule);
    if !endpoint.starts_with("http://") {
        return Err(invalid(format!(
            "must be an http:// URL of an OTLP/gRPC receiver (TLS to the collector is not built in), got {endpoint:?}"
        )));
    }
    let resource = resource(config, env);
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_millis(t.export_timeout_ms))
        .build()
        .map_err(|e| invalid(format!("is not usable: {e}")))?;
    opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
    let (processor, handle) = export::BoundedBatchProcessor::start(exporter, export::ExportSettings::from(t));
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(t.sampling_ratio)));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("varsel");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target(EXPORT_TARGET_PREFIX, Level::INFO))
        .boxed();
    Ok((layer, provider, handle))
}

#[cfg(test)]
mod tests;
