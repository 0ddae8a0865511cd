//! Observability tests: real `varsel` processes, a real OTLP receiver and a real Prometheus
//! text-format parser (both from PyPI, installed into a virtual environment on first use; see
//! `tests/common/python.rs`). Each file holds one area; each test says its goal and method.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod fixtures;
mod t01_traces;
mod t02_metrics;
mod t03_collector_down;
mod t04_health;
mod t05_alert_rules;
mod t06_alert;
