//! `[telemetry]`: trace export over OTLP.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Trace export (OpenTelemetry, OTLP over gRPC). The standard variables
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SDK_DISABLED` override these (see
/// `varsel_node::telemetry::traces_endpoint`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// URL of an OTLP/gRPC receiver, e.g. `http://otel-collector:4317`. Absent: spans are not
    /// exported (unless an `OTEL_EXPORTER_OTLP_*ENDPOINT` variable names one).
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces recorded, 0.0 to 1.0. A trace started elsewhere follows the caller's
    /// decision (parent-based sampling), so a trace is never cut in half between nodes.
    pub sampling_ratio: f64,
    /// Most finished spans waiting for export (about 1 KiB each). When full, new spans are
    /// dropped and counted (`varsel_otel_spans_dropped_total`); requests never wait for export.
    pub export_queue_spans_max: u64,
    /// Most spans sent in one export call.
    pub export_batch_spans_max: u64,
    /// Time between exports when less than a batch is waiting.
    pub export_interval_ms: u64,
    /// Time one export call may take, retries included, before its spans are dropped.
    pub export_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "varsel".into(),
            sampling_ratio: 1.0,
            export_queue_spans_max: 4096,
            export_batch_spans_max: 512,
            export_interval_ms: 1000,
            export_timeout_ms: 5000,
        }
    }
}

/// Largest `telemetry.export_queue_spans_max` accepted: about 1 GiB of spans at worst.
pub const EXPORT_QUEUE_SPANS_LIMIT: u64 = 1 << 20;

impl TelemetryConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |field: &str, rule: String| Err(ConfigError::invalid(format!("telemetry.{field}"), rule));
        if let Some(e) = self.otlp_endpoint.as_deref().filter(|e| !e.is_empty())
            && !e.starts_with("http://")
        {
            let rule = format!("must be an http:// URL of an OTLP/gRPC receiver, got {e:?}");
            return invalid("otlp_endpoint", rule);
        }
        if self.service_name.trim().is_empty() {
            return invalid("service_name", "must not be empty".into());
        }
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            return invalid(
                "sampling_ratio",
                format!("must be between 0.0 and 1.0, got {}", self.sampling_ratio),
            );
        }
        if !(1..=EXPORT_QUEUE_SPANS_LIMIT).contains(&self.export_queue_spans_max) {
            return invalid("export_queue_spans_max", format!("must be 1 to {EXPORT_QUEUE_SPANS_LIMIT}"));
        }
        if !(1..=self.export_queue_spans_max).contains(&self.export_batch_spans_max) {
            return invalid("export_batch_spans_max", "must be 1 to export_queue_spans_max".into());
        }
        if self.export_interval_ms < 10 {
            return invalid("export_interval_ms", "must be at least 10".into());
        }
        if self.export_timeout_ms < 100 {
            return invalid("export_timeout_ms", "must be at least 100".into());
        }
        Ok(())
    }
}
