#![allow(clippy::unwrap_used)]

use super::*;

/// Goal: counters and gauges encode with HELP, TYPE and escaped labels, families sorted by name.
/// Method: register a labelled counter and a gauge, record, compare the exact text.
#[test]
fn counters_and_gauges_encode_exactly() {
    let m = Metrics::new();
    let c = m.counter_vec("t_requests_total", "Requests.\nSecond line \\ here.", &["method", "code"]);
    c.with(&["Put", "OK"]).inc_by(3);
    c.with(&["we\"ird\\name\n", "OK"]).inc();
    let g = m.gauge("t_term", "Current term.");
    g.set_u64(7);
    g.add(0.5);
    let text = m.encode();
    let expected = "# HELP t_requests_total Requests.\\nSecond line \\\\ here.\n\
                    # TYPE t_requests_total counter\n\
                    t_requests_total{method=\"Put\",code=\"OK\"} 3\n\
                    t_requests_total{method=\"we\\\"ird\\\\name\\n\",code=\"OK\"} 1\n\
                    # HELP t_term Current term.\n\
                    # TYPE t_term gauge\n\
                    t_term 7.5\n";
    assert!(text.contains(expected), "{text}");
}

/// Goal: a histogram writes cumulative buckets ending in +Inf, and _count equals +Inf.
/// Method: observe values on, between and beyond the bounds; check every line.
#[test]
fn histogram_buckets_are_cumulative() {
    let m = Metrics::new();
    let h = m.histogram_vec("t_latency_seconds", "Latency.", &["method"], &[0.1, 1.0]);
    let put = h.with(&["Put"]);
    for v in [0.05, 0.1, 0.5, 3.0, f64::NAN] {
        put.observe(v);
    }
    assert_eq!(put.count(), 4, "NaN is ignored");
    let text = m.encode();
    for line in [
        "# TYPE t_latency_seconds histogram",
        "t_latency_seconds_bucket{method=\"Put\",le=\"0.1\"} 2",
        "t_latency_seconds_bucket{method=\"Put\",le=\"1\"} 3",
        "t_latency_seconds_bucket{method=\"Put\",le=\"+Inf\"} 4",
        "t_latency_seconds_sum{method=\"Put\"} 3.65",
        "t_latency_seconds_count{method=\"Put\"} 4",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    let unlabelled = m.histogram("t_plain_seconds", "Plain.", &[1.0]);
    unlabelled.observe(2.0);
    assert!(m.encode().contains("t_plain_seconds_bucket{le=\"+Inf\"} 1\n"));
}

/// Goal: registering a family again returns the same series; removing stops its export.
#[test]
fn registration_is_idempotent_and_series_can_be_removed() {
    let m = Metrics::new();
    m.counter("t_x_total", "X.").inc();
    m.counter("t_x_total", "X.").inc();
    assert!(m.encode().contains("t_x_total 2\n"));
    let lag = m.gauge_vec("t_lag", "Lag.", &["follower"]);
    lag.with(&["2"]).set(5.0);
    lag.with(&["3"]).set(1.0);
    lag.remove(&["2"]);
    let text = m.encode();
    assert!(!text.contains("follower=\"2\"") && text.contains("t_lag{follower=\"3\"} 1\n"), "{text}");
    lag.clear();
    assert!(!m.encode().contains("t_lag{"));
}

/// Goal: a family fed unbounded label values stops growing at its bound and counts the rest.
#[test]
fn series_beyond_the_bound_are_dropped_and_counted() {
    let m = Metrics::new();
    let c = m.counter_vec("t_by_id_total", "By id.", &["id"]);
    for i in 0..MAX_SERIES_PER_FAMILY + 10 {
        c.with(&[&i.to_string()]).inc();
    }
    let text = m.encode();
    assert_eq!(text.lines().filter(|l| l.starts_with("t_by_id_total{")).count(), MAX_SERIES_PER_FAMILY);
    assert!(text.contains("varsel_metrics_series_dropped_total 10\n"), "{}", &text[..200]);
}

/// Goal: a counter mirroring an external total never goes backwards.
#[test]
fn observe_total_is_monotonic() {
    let m = Metrics::new();
    let c = m.counter("t_mirror_total", "Mirror.");
    c.observe_total(10);
    c.observe_total(4);
    assert_eq!(c.get(), 10);
}

/// Goal: special float values use the spellings Prometheus parses.
#[test]
fn special_values_are_spelled_for_prometheus() {
    assert_eq!(encode::float(f64::NAN), "NaN");
    assert_eq!(encode::float(f64::INFINITY), "+Inf");
    assert_eq!(encode::float(f64::NEG_INFINITY), "-Inf");
    assert_eq!(encode::float(1e21), "1000000000000000000000");
    assert_eq!(encode::float(0.25), "0.25");
    assert_eq!(encode::float(3.0), "3");
}

/// Goal: a second registration with another shape is refused loudly (a programming error).
#[test]
#[should_panic(expected = "registered twice")]
fn conflicting_registration_panics() {
    let m = Metrics::new();
    m.counter("t_dup", "Dup.");
    m.gauge("t_dup", "Dup.");
}

/// Goal: scrape collectors run before encoding.
#[test]
fn collectors_run_on_scrape() {
    let m = Metrics::new();
    let g = m.gauge("t_collected", "Collected.");
    let g2 = g.clone();
    m.on_scrape(move || g2.set(42.0));
    assert!(m.encode().contains("t_collected 42\n"));
    assert_eq!(g.get(), 42.0);
}
