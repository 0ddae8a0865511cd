//! Metrics, scraped in the Prometheus text exposition format (version 0.0.4).
//!
//! # Layout
//!
//! - [`Metrics`]: one node's registry; a cheap handle to clone into every component that
//!   records something. Families are registered by name, once; registering the same name again
//!   with the same shape returns the existing family, so a restarted actor can simply register
//!   again.
//! - [`Counter`], [`Gauge`], [`Histogram`]: one time series each; [`CounterVec`],
//!   [`GaugeVec`], [`HistogramVec`]: families keyed by label values.
//! - [`encode`]: the text format.
//!
//! The node adds the gRPC layer that counts and times every call and its own Raft, storage and
//! process figures (`varsel_node::metrics`); the delivery engine registers its own families.
//!
//! # Registering metrics (for the delivery engine and later components)
//!
//! ```
//! use varsel_observe::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! let sent = metrics.counter_vec(
//!     "varsel_delivery_sent_total",
//!     "Messages accepted by a provider.",
//!     &["channel", "provider"],
//! );
//! sent.with(&["sms", "smpp-primary"]).inc();
//! let in_flight = metrics.gauge("varsel_delivery_in_flight", "Messages handed to a provider, not yet answered.");
//! in_flight.add(3.0);
//! let text = metrics.encode();
//! assert!(text.contains("varsel_delivery_sent_total{channel=\"sms\",provider=\"smpp-primary\"} 1"));
//! ```
//!
//! Label values must come from small, known sets (a channel, a provider name, a node id), never
//! from user input: every family keeps at most [`MAX_SERIES_PER_FAMILY`] series; a new label set
//! beyond that gets a detached series that is not exported, and the refusal is counted in
//! `varsel_metrics_series_dropped_total`.

pub mod encode;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most series one family keeps. Far above any legitimate label set (methods × codes, channels ×
/// providers, followers); a family that reaches it is being fed unbounded label values, and
/// further series are dropped rather than growing memory and scrape size without bound.
pub const MAX_SERIES_PER_FAMILY: usize = 2_000;

/// Latency buckets (seconds) for calls that cross sites: from sub-millisecond local work to the
/// write timeout.
pub const LATENCY_BUCKETS_SECONDS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

type Collector = Box<dyn Fn() + Send + Sync>;

/// A registry of metric families. Clones share the registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Registry>,
}

struct Registry {
    families: Mutex<BTreeMap<String, Arc<Family>>>,
    collectors: Mutex<Vec<Collector>>,
    series_dropped: Arc<CounterCell>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = lock(&self.inner.families).len();
        f.debug_struct("Metrics").field("families", &n).finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// What a family holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    /// Upper bounds of the buckets, strictly increasing, without `+Inf`.
    Histogram(Arc<[f64]>),
}

/// One series' storage. A family only ever holds cells of its own kind.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

/// A named family: its description and its series by label values.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) kind: Kind,
    pub(crate) label_names: Vec<String>,
    pub(crate) series: Mutex<BTreeMap<Vec<String>, Cell>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a metrics lock leaves plain numbers behind; they stay usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn valid_name(name: &str, extra_first: bool) -> bool {
    let mut chars = name.chars();
    let first_ok =
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (extra_first && c == ':'));
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (extra_first && c == ':'))
}

impl Metrics {
    /// An empty registry (plus its own `varsel_metrics_series_dropped_total`).
    pub fn new() -> Self {
        let series_dropped = Arc::new(CounterCell::default());
        let me = Self {
            inner: Arc::new(Registry {
                families: Mutex::default(),
                collectors: Mutex::default(),
                series_dropped: series_dropped.clone(),
            }),
        };
        let family = me.family(
            "varsel_metrics_series_dropped_total",
            "Lookups of a new label set refused because its family reached its series bound; what is recorded there is not exported.",
            Kind::Counter,
            &[],
        );
        lock(&family.series).insert(Vec::new(), Cell::Counter(series_dropped));
        me
    }

    /// Registers (or finds) a family. Panics on a malformed name or a second registration with a
    /// different shape: both are programming errors that the first test run shows.
    fn family(&self, name: &str, help: &str, kind: Kind, labels: &[&str]) -> Arc<Family> {
        assert!(valid_name(name, true), "invalid metric name {name:?}");
        for l in labels {
            assert!(valid_name(l, false) && !l.starts_with("__"), "invalid label name {l:?} in {name}");
            assert!(
                !(matches!(kind, Kind::Histogram(_)) && *l == "le"),
                "histogram {name} may not use label le"
            );
        }
        let label_names: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        let mut families = lock(&self.inner.families);
        if let Some(existing) = families.get(name) {
            assert!(
                existing.kind == kind && existing.label_names == label_names,
                "metric {name} registered twice with different types or labels"
            );
            return existing.clone();
        }
        let family = Arc::new(Family {
            name: name.to_string(),
            help: help.to_string(),
            kind,
            label_names,
            series: Mutex::default(),
        });
        families.insert(name.to_string(), family.clone());
        family
    }

    /// A counter family with the given label names.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> CounterVec {
        CounterVec(self.vec(name, help, Kind::Counter, labels))
    }

    /// A counter without labels.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        self.counter_vec(name, help, &[]).with(&[])
    }

    /// A gauge family with the given label names.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        GaugeVec(self.vec(name, help, Kind::Gauge, labels))
    }

    /// A gauge without labels.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.gauge_vec(name, help, &[]).with(&[])
    }

    /// A histogram family; `buckets` are upper bounds, strictly increasing, finite.
    pub fn histogram_vec(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
        assert!(
            !buckets.is_empty()
                && buckets.iter().all(|b| b.is_finite())
                && buckets.windows(2).all(|w| w[0] < w[1]),
            "histogram {name}: buckets must be finite and strictly increasing"
        );
        HistogramVec(self.vec(name, help, Kind::Histogram(buckets.into()), labels))
    }

    /// A histogram without labels.
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.histogram_vec(name, help, &[], buckets).with(&[])
    }

    fn vec(&self, name: &str, help: &str, kind: Kind, labels: &[&str]) -> FamilyHandle {
        FamilyHandle {
            family: self.family(name, help, kind, labels),
            dropped: self.inner.series_dropped.clone(),
        }
    }

    /// Runs `collect` before every scrape, for values that are cheaper to read when asked for
    /// (disk size, process memory) than to keep up to date. It must be quick, must not block, and
    /// must not call `on_scrape` itself (the collectors' lock is held while it runs).
    pub fn on_scrape(&self, collect: impl Fn() + Send + Sync + 'static) {
        lock(&self.inner.collectors).push(Box::new(collect));
    }

    /// Every family in the text exposition format, after running the scrape collectors.
    /// Scrapes are serialised (the collectors' lock is held throughout), so one scrape never sees
    /// another's collectors half-way.
    pub fn encode(&self) -> String {
        let collectors = lock(&self.inner.collectors);
        for c in collectors.iter() {
            c();
        }
        let families: Vec<Arc<Family>> = lock(&self.inner.families).values().cloned().collect();
        let mut out = String::with_capacity(16 * 1024);
        for f in &families {
            encode::family(&mut out, f);
        }
        drop(collectors);
        out
    }
}

/// A registered family, shared by the typed handles ([`CounterVec`], ...).
#[derive(Debug, Clone)]
struct FamilyHandle {
    family: Arc<Family>,
    dropped: Arc<CounterCell>,
}

impl FamilyHandle {
    /// The cell for `values`, created on first use; a detached cell beyond the series bound.
    fn cell(&self, values: &[&str], make: impl FnOnce() -> Cell) -> Cell {
        assert_eq!(
            values.len(),
            self.family.label_names.len(),
            "metric {}: {} label values for labels {:?}",
            self.family.name,
            values.len(),
            self.family.label_names
        );
        let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        let mut series = lock(&self.family.series);
        if let Some(c) = series.get(&key) {
            return c.clone();
        }
        let cell = make();
        if series.len() >= MAX_SERIES_PER_FAMILY {
            self.dropped.inc_by(1);
            return cell;
        }
        series.insert(key, cell.clone());
        cell
    }

    fn remove(&self, values: &[&str]) {
        let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        lock(&self.family.series).remove(&key);
    }

    fn clear(&self) {
        lock(&self.family.series).clear();
    }
}

/// A family of counters keyed by label values.
#[derive(Debug, Clone)]
pub struct CounterVec(FamilyHandle);

impl CounterVec {
    /// The counter for these label values (in the order the labels were registered).
    pub fn with(&self, values: &[&str]) -> Counter {
        match self.0.cell(values, || Cell::Counter(Arc::default())) {
            Cell::Counter(c) => Counter(c),
            // Unreachable: a counter family holds counters only. A detached cell is harmless.
            _ => Counter(Arc::default()),
        }
    }

    /// Stops exporting the series with these label values.
    pub fn remove(&self, values: &[&str]) {
        self.0.remove(values);
    }
}

/// A family of gauges keyed by label values.
#[derive(Debug, Clone)]
pub struct GaugeVec(FamilyHandle);

impl GaugeVec {
    /// The gauge for these label values.
    pub fn with(&self, values: &[&str]) -> Gauge {
        match self.0.cell(values, || Cell::Gauge(Arc::default())) {
            Cell::Gauge(c) => Gauge(c),
            _ => Gauge(Arc::default()),
        }
    }

    /// Stops exporting the series with these label values (e.g. a follower that left).
    pub fn remove(&self, values: &[&str]) {
        self.0.remove(values);
    }

    /// Stops exporting every series of this family (e.g. leader-only figures after a step-down).
    pub fn clear(&self) {
        self.0.clear();
    }
}

/// A family of histograms keyed by label values.
#[derive(Debug, Clone)]
pub struct HistogramVec(FamilyHandle);

impl HistogramVec {
    /// The histogram for these label values.
    pub fn with(&self, values: &[&str]) -> Histogram {
        let bounds = match &self.0.family.kind {
            Kind::Histogram(b) => b.clone(),
            _ => Arc::from([]),
        };
        let make = || Cell::Histogram(Arc::new(HistogramCell::new(bounds)));
        match self.0.cell(values, make) {
            Cell::Histogram(c) => Histogram(c),
            _ => Histogram(Arc::new(HistogramCell::new(Arc::from([])))),
        }
    }
}

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub(crate) struct CounterCell(AtomicU64);

impl CounterCell {
    fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One counter series.
#[derive(Debug, Clone)]
pub struct Counter(Arc<CounterCell>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.inc_by(1);
    }

    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.inc_by(n);
    }

    /// Raises the counter to `total` when that is higher: mirrors a count kept elsewhere (an
    /// atomic in another module) without ever going backwards.
    pub fn observe_total(&self, total: u64) {
        self.0.0.fetch_max(total, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A value that goes up and down; an `f64` stored as bits.
#[derive(Debug, Default)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// One gauge series.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<GaugeCell>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Sets an integer value (exact up to 2^53).
    pub fn set_u64(&self, v: u64) {
        self.set(v as f64);
    }

    /// Adds `d` (negative to subtract).
    pub fn add(&self, d: f64) {
        let _ = self.0.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            Some((f64::from_bits(bits) + d).to_bits())
        });
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// Bucket counts (not cumulative; the last one is `+Inf`) and the sum of observations.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    pub(crate) bounds: Arc<[f64]>,
    pub(crate) counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl HistogramCell {
    fn new(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self { bounds, counts, sum: AtomicU64::new(0f64.to_bits()) }
    }

    pub(crate) fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }
}

/// One histogram series.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramCell>);

impl Histogram {
    /// Records one observation. NaN is ignored: it would poison the sum.
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let i = self.0.bounds.partition_point(|b| *b < v);
        if let Some(c) = self.0.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.0.sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            Some((f64::from_bits(bits) + v).to_bits())
        });
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests;
