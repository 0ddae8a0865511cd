//! What every Varsel component uses to be observed: a metrics registry scraped in the
//! Prometheus text format, and trace context carried across nodes (W3C Trace Context).
//!
//! The node and the delivery engine both register metrics and continue traces; this crate lets
//! them share one registry and one propagation format without depending on each other.
//!
//! # Layout
//!
//! - [`metrics`]: the registry ([`metrics::Metrics`]), counters, gauges, histograms and their
//!   label families, and the text format.
//! - [`trace`]: W3C `traceparent` in and out of gRPC calls, and [`trace::TraceCarrier`] for work
//!   that crosses nodes inside the replicated state (an alert accepted on one node and sent by
//!   another).

pub mod metrics;
pub mod trace;
