use std::collections::BTreeMap;

use crate::common::TestCluster;
use crate::common::metrics::{Scrape, scrape};
use crate::fixtures::peers_python;

/// Puts sent through the follower in this test.
const PUTS: u64 = 25;

/// A histogram series' labels without `le`, sorted.
type SeriesKey = Vec<(String, String)>;

const PUT: [(&str, &str); 4] =
    [("port", "api"), ("service", "varsel.kv.v1.Kv"), ("method", "Put"), ("code", "OK")];

/// Checks what holds for every scrape: each family has a type and help, histograms are
/// cumulative and end with +Inf equal to their count.
fn check_well_formed(s: &Scrape) {
    for f in &s.families {
        assert!(
            matches!(f.kind.as_str(), "counter" | "gauge" | "histogram"),
            "{} has type {}",
            f.name,
            f.kind
        );
        assert!(!f.help.is_empty(), "{} has no help", f.name);
        if f.kind != "histogram" {
            continue;
        }
        let mut series: BTreeMap<SeriesKey, Vec<(f64, f64)>> = BTreeMap::new();
        let mut counts = BTreeMap::new();
        for sample in &f.samples {
            let mut key: SeriesKey = sample
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            key.sort();
            let value = sample.value.expect("finite");
            if sample.name.ends_with("_bucket") {
                let le = sample.labels["le"].parse::<f64>().unwrap_or(f64::INFINITY);
                series.entry(key).or_default().push((le, value));
            } else if sample.name.ends_with("_count") {
                counts.insert(key, value);
            }
        }
        for (key, buckets) in &series {
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{}{key:?}: {buckets:?}",
                f.name
            );
            let last = buckets.last().unwrap();
            assert!(last.0.is_infinite(), "{}{key:?} lacks le=+Inf", f.name);
            assert_eq!(Some(&last.1), counts.get(key), "{}{key:?}: +Inf differs from _count", f.name);
        }
    }
}

/// Goal: every node serves metrics a real Prometheus parser accepts, and they move as the
/// cluster works: API counters by method and code, latency histograms, forwarded writes on the
/// leader's Raft port, applied index, and the leader-only Raft figures.
/// Method: three nodes without the delivery engine (its lease heartbeats are forwarded writes
/// too); scrape the follower and the leader with the `prometheus-client` parser; send 25 puts
/// and one invalid put through the follower; scrape again and compare.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_and_move_with_writes() {
    let python = peers_python();
    let c = TestCluster::start(3, |s| s.delivery.enabled = false).await;
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let forwarded = [("port", "raft"), ("service", "varsel.raft.v1.RaftService"), ("method", "ForwardWrite")];

    let before_f = scrape(&c, &python, follower).await;
    let before_l = scrape(&c, &python, leader).await;
    check_well_formed(&before_f);
    let mut last_index = 0;
    for i in 0..PUTS {
        last_index = c.put(follower, &format!("m/{i}"), "v").await.unwrap().log_index;
    }
    let bad = c.put(follower, "", "v").await.expect_err("an empty key is refused");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    c.wait_applied(follower, last_index).await;
    c.wait_applied(leader, last_index).await;

    let after_f = scrape(&c, &python, follower).await;
    let after_l = scrape(&c, &python, leader).await;
    check_well_formed(&after_f);
    check_well_formed(&after_l);

    let delta = |a: &Scrape, b: &Scrape, name: &str, labels: &[(&str, &str)]| {
        a.sum(name, labels) - b.sum(name, labels)
    };
    assert_eq!(delta(&after_f, &before_f, "varsel_grpc_requests_total", &PUT), PUTS as f64);
    assert_eq!(
        delta(&after_f, &before_f, "varsel_grpc_request_duration_seconds_count", &PUT[..3]),
        PUTS as f64 + 1.0
    );
    let invalid = [("method", "Put"), ("code", "InvalidArgument")];
    assert_eq!(delta(&after_f, &before_f, "varsel_grpc_errors_total", &invalid), 1.0);
    assert_eq!(delta(&after_l, &before_l, "varsel_grpc_requests_total", &forwarded), PUTS as f64);
    assert!(
        after_f.one("varsel_raft_applied_index", &[])
            >= before_f.one("varsel_raft_applied_index", &[]) + PUTS as f64
    );
    assert!(after_f.one("varsel_raft_applied_index", &[]) >= last_index as f64);

    check_raft_figures(&after_l, &after_f, leader, follower);
}

fn check_raft_figures(leader_scrape: &Scrape, follower_scrape: &Scrape, leader: u64, follower: u64) {
    for (s, is_leader) in [(leader_scrape, 1.0), (follower_scrape, 0.0)] {
        assert_eq!(s.one("varsel_raft_is_leader", &[]), is_leader);
        assert_eq!(s.one("varsel_raft_leader_id", &[]), leader as f64);
        assert_eq!(s.one("varsel_raft_membership_voters", &[]), 3.0);
        assert!(s.one("varsel_raft_term", &[]) >= 1.0);
        assert!(s.one("varsel_raft_leader_changes_total", &[]) >= 1.0);
        assert_eq!(s.one("varsel_node_ready", &[]), 1.0);
        assert!(s.one("varsel_storage_size_bytes", &[]) > 0.0);
        assert!(s.one("process_resident_memory_bytes", &[]) > 0.0);
        let state = if is_leader == 1.0 { "leader" } else { "follower" };
        assert_eq!(s.one("varsel_raft_state", &[("state", state)]), 1.0);
    }
    let lags: Vec<_> = leader_scrape.samples("varsel_raft_replication_lag_entries", &[]).collect();
    assert_eq!(lags.len(), 2, "one lag per follower: {lags:?}");
    assert!(
        leader_scrape.one("varsel_raft_commit_index", &[])
            >= follower_scrape.one("varsel_raft_applied_index", &[])
    );
    assert_eq!(follower_scrape.samples("varsel_raft_replication_lag_entries", &[]).count(), 0, "leader only");
    let info = follower_scrape.samples("varsel_node_info", &[("node_id", &follower.to_string())]).count();
    assert_eq!(info, 1);
}
