//! The bounded queue between finished spans and the OTLP exporter.
//!
//! A span that ends is put on a queue of at most `telemetry.export_queue_spans_max` spans with a
//! non-blocking `try_send`; when the queue is full the span is dropped and counted, so a slow or
//! dead collector costs at most that many spans of memory and never delays a request. A task on
//! the Tokio runtime takes batches of at most `export_batch_spans_max` spans every
//! `export_interval_ms` (sooner when a batch is ready) and hands them to the exporter, each export
//! bounded by `export_timeout_ms`. Failures and drops are logged at most once per
//! [`WARN_INTERVAL`], and counted in [`STATS`] (exported as `varsel_otel_*` metrics).
//!
//! The SDK's own batch processor drops too, but does not let us count drops, and runs the
//! exporter on a separate thread through a blocking executor; this one is small enough to own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::{Notify, mpsc, oneshot};

use varsel_config::TelemetryConfig;

/// Shortest time between two warnings about failing exports or dropped spans: a dead collector
/// is reported, not repeated on every batch.
pub const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// Process-wide export counters (the subscriber, and so the exporter, is process-wide too).
pub static STATS: ExportStats = ExportStats::new();

/// Counts kept by the export queue.
#[derive(Debug)]
pub struct ExportStats {
    /// Spans waiting in the queue (as of the last span queued or export round).
    pub queued: AtomicU64,
    /// The queue's bound (0 when not exporting).
    pub queue_capacity: AtomicU64,
    /// Spans the collector accepted.
    pub exported: AtomicU64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Spans dropped because their export failed or timed out.
    pub dropped_export_failed: AtomicU64,
    /// Export calls that failed or timed out.
    pub export_failures: AtomicU64,
}

impl ExportStats {
    const fn new() -> Self {
        Self {
            queued: AtomicU64::new(0),
            queue_capacity: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_export_failed: AtomicU64::new(0),
            export_failures: AtomicU64::new(0),
        }
    }
}

/// Queue and batch bounds, from `[telemetry]`.
#[derive(Debug, Clone, Copy)]
pub struct ExportSettings {
    /// Most spans waiting for export.
    pub queue_spans_max: usize,
    /// Most spans in one export call.
    pub batch_spans_max: usize,
    /// Time between exports when fewer than a batch are waiting.
    pub interval: Duration,
    /// Time one export call may take.
    pub timeout: Duration,
}

impl From<&TelemetryConfig> for ExportSettings {
    fn from(t: &TelemetryConfig) -> Self {
        Self {
            queue_spans_max: t.export_queue_spans_max as usize,
            batch_spans_max: t.export_batch_spans_max as usize,
            interval: Duration::from_millis(t.export_interval_ms),
            timeout: Duration::from_millis(t.export_timeout_ms),
        }
    }
}

/// A span processor that never blocks: see the module documentation.
#[derive(Debug)]
pub struct BoundedBatchProcessor {
    queue: mpsc::Sender<SpanData>,
    batch_ready: Arc<Notify>,
    control: mpsc::Sender<oneshot::Sender<()>>,
    wake_below: usize,
}

/// Stops the export task (see [`super::Telemetry::shutdown`]).
#[derive(Debug, Clone)]
pub struct ExportHandle {
    control: mpsc::Sender<oneshot::Sender<()>>,
}

impl ExportHandle {
    /// Asks the task to send what is queued and stop; waits at most `within`.
    pub async fn shutdown(&self, within: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(tx).await.is_ok() {
            let _ = tokio::time::timeout(within, rx).await;
        }
    }
}

impl BoundedBatchProcessor {
    /// Starts the export task on the current Tokio runtime.
    pub fn start<E: SpanExporter + 'static>(exporter: E, s: ExportSettings) -> (Self, ExportHandle) {
        let queue_max = s.queue_spans_max.max(1);
        let (queue, rx) = mpsc::channel(queue_max);
        let (control, control_rx) = mpsc::channel(1);
        let batch_ready = Arc::new(Notify::new());
        STATS.queue_capacity.store(queue_max as u64, Ordering::Relaxed);
        tokio::spawn(run(rx, control_rx, batch_ready.clone(), exporter, s));
        // Wake the task early once a full batch is waiting, rather than at the next tick.
        let wake_below = queue_max.saturating_sub(s.batch_spans_max.max(1));
        let handle = ExportHandle { control: control.clone() };
        (Self { queue, batch_ready, control, wake_below }, handle)
    }
}

impl SpanProcessor for BoundedBatchProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        match self.queue.try_send(span) {
            Ok(()) => {
                let free = self.queue.capacity();
                STATS.queued.store((self.queue.max_capacity() - free) as u64, Ordering::Relaxed);
                if free <= self.wake_below {
                    self.batch_ready.notify_one();
                }
            }
            Err(_) => {
                // Full, or the task stopped at shutdown: either way the span is lost, counted.
                STATS.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Wakes the task; waiting here could block a runtime thread the task needs.
        self.batch_ready.notify_one();
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        // Only a signal (see `force_flush`); `Telemetry::shutdown` waits, asynchronously.
        let (tx, _rx) = oneshot::channel();
        let _ = self.control.try_send(tx);
        Ok(())
    }
}

async fn run<E: SpanExporter>(
    mut queue: mpsc::Receiver<SpanData>,
    mut control: mpsc::Receiver<oneshot::Sender<()>>,
    batch_ready: Arc<Notify>,
    exporter: E,
    s: ExportSettings,
) {
    let mut ticker = tokio::time::interval(s.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warnings = Warnings::default();
    loop {
        let stop = tokio::select! {
            _ = ticker.tick() => None,
            _ = batch_ready.notified() => None,
            reply = control.recv() => Some(reply),
        };
        let error = export_waiting(&mut queue, &exporter, &s).await;
        STATS.queued.store(queue.len() as u64, Ordering::Relaxed);
        warnings.report(error);
        if let Some(reply) = stop {
            let _ = exporter.shutdown_with_timeout(s.timeout);
            if let Some(reply) = reply {
                let _ = reply.send(());
            }
            return;
        }
    }
}

/// Exports the spans waiting now (not those that arrive meanwhile, so one round is bounded), one
/// batch at a time; stops at the first failure and leaves the rest for the next round. Returns
/// the failure.
async fn export_waiting<E: SpanExporter>(
    queue: &mut mpsc::Receiver<SpanData>,
    exporter: &E,
    s: &ExportSettings,
) -> Option<String> {
    let mut waiting = queue.len();
    while waiting > 0 {
        let mut batch = Vec::with_capacity(s.batch_spans_max.min(waiting));
        while batch.len() < s.batch_spans_max.max(1) && waiting > 0 {
            let Ok(span) = queue.try_recv() else { break };
            batch.push(span);
            waiting -= 1;
        }
        if batch.is_empty() {
            break;
        }
        let n = batch.len() as u64;
        let error = match tokio::time::timeout(s.timeout, exporter.export(batch)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {} ms", s.timeout.as_millis())),
        };
        if let Some(e) = error {
            STATS.export_failures.fetch_add(1, Ordering::Relaxed);
            STATS.dropped_export_failed.fetch_add(n, Ordering::Relaxed);
            return Some(e);
        }
        STATS.exported.fetch_add(n, Ordering::Relaxed);
    }
    None
}

/// Rate-limited reporting of export trouble.
#[derive(Debug, Default)]
struct Warnings {
    last: Option<Instant>,
    dropped_reported: u64,
    failures_reported: u64,
    last_error: Option<String>,
}

impl Warnings {
    fn report(&mut self, error: Option<String>) {
        if error.is_some() {
            self.last_error = error;
        }
        let dropped = STATS.dropped_queue_full.load(Ordering::Relaxed)
            + STATS.dropped_export_failed.load(Ordering::Relaxed);
        let failures = STATS.export_failures.load(Ordering::Relaxed);
        let news = dropped > self.dropped_reported || failures > self.failures_reported;
        if !news || self.last.is_some_and(|t| t.elapsed() < WARN_INTERVAL) {
            return;
        }
        tracing::warn!(
            spans_dropped = dropped - self.dropped_reported,
            failed_exports = failures - self.failures_reported,
            last_error = self.last_error.as_deref().unwrap_or("none"),
            "OTLP trace export is failing or falling behind; spans are dropped, requests are not delayed"
        );
        self.last = Some(Instant::now());
        self.dropped_reported = dropped;
        self.failures_reported = failures;
    }
}
