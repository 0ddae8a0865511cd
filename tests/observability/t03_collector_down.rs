use std::time::{Duration, Instant};

use crate::common::TestCluster;
use crate::common::metrics::scrape;
use crate::fixtures::{peers_python, rss_bytes};

/// Writes sent while the collector is down.
const WRITES: usize = 200;

/// Span queue bound given to the nodes: small, so the test fills it.
const QUEUE_SPANS: u64 = 64;

/// Resident memory a node may gain over the writes. Generous: the point is "bounded", not a
/// number; an unbounded span queue would hold every span of every write.
const RSS_GROWTH_MAX_BYTES: u64 = 64 << 20;

/// Time one write may take: the cluster's write timeout, nothing tighter (this is not a timing
/// test; a write blocked on export would hit it).
const WRITE_WITHIN: Duration = Duration::from_secs(10);

/// Goal: with the OTLP endpoint pointing at a closed port, writes still complete, export
/// failures are counted and logged, and memory stays bounded because the span queue stays at its
/// bound and drops the rest.
/// Method: reserve a port and close it; three nodes export there with a 64-span queue; 50
/// warm-up writes through a follower, RSS of follower and leader, 200 more writes (each must
/// succeed within the write timeout), RSS again; then the follower's metrics: dropped spans and
/// failed exports above zero, queue at most its bound; and its log holds the rate-limited warning.
#[tokio::test(flavor = "multi_thread")]
async fn collector_down_costs_bounded_memory_and_no_writes() {
    let python = peers_python();
    let started = Instant::now();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = TestCluster::start(3, |s| {
        s.telemetry.otlp_endpoint = Some(format!("http://127.0.0.1:{closed_port}"));
        s.telemetry.export_queue_spans_max = QUEUE_SPANS;
        s.telemetry.export_batch_spans_max = 16;
        s.telemetry.export_interval_ms = 100;
        s.telemetry.export_timeout_ms = 500;
    })
    .await;
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let c = &c;
    let put = |i: usize| async move {
        tokio::time::timeout(WRITE_WITHIN, c.put(follower, &format!("down/{i}"), "v"))
            .await
            .unwrap_or_else(|_| panic!("write {i} took longer than {WRITE_WITHIN:?}"))
            .unwrap_or_else(|e| panic!("write {i} failed: {e}"))
    };
    for i in 0..50 {
        put(i).await;
    }
    let pids = [leader, follower].map(|id| c.lc.node(id).unwrap().pid().unwrap());
    let before = pids.map(rss_bytes);
    for i in 50..50 + WRITES {
        put(i).await;
    }
    let after = pids.map(rss_bytes);
    for (i, id) in [leader, follower].iter().enumerate() {
        let growth = after[i].saturating_sub(before[i]);
        assert!(
            growth < RSS_GROWTH_MAX_BYTES,
            "node {id} grew by {growth} bytes ({} -> {})",
            before[i],
            after[i]
        );
    }

    let s = scrape(c, &python, follower).await;
    let dropped = s.sum("varsel_otel_spans_dropped_total", &[]);
    assert!(dropped > 0.0, "no span was dropped although nothing can be exported");
    assert!(s.one("varsel_otel_export_failures_total", &[]) > 0.0);
    assert_eq!(s.one("varsel_otel_spans_exported_total", &[]), 0.0);
    assert_eq!(s.one("varsel_otel_queue_capacity_spans", &[]), QUEUE_SPANS as f64);
    assert!(s.one("varsel_otel_queue_spans", &[]) <= QUEUE_SPANS as f64);

    let log = std::fs::read_to_string(&c.lc.node(follower).unwrap().log_path).unwrap();
    assert!(log.contains("OTLP trace export is failing"), "no export warning in the follower's log");
    // At most one warning per 30 s (the node's WARN_INTERVAL), however many exports failed.
    let warnings = log.matches("OTLP trace export is failing").count() as u64;
    let allowed = 1 + started.elapsed().as_secs() / 30;
    assert!(warnings <= allowed, "{warnings} export warnings in {:?}: not rate-limited", started.elapsed());
}
