use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use varsel_proto::admin::SnapshotRequest;

use crate::common::TestCluster;

/// Goal: a snapshot asked for on any node while writes go on is built and covers what that
/// node had applied when asked, also when the node is building one of its own at the time
/// (every `raft.snapshot_every_entries`), and writes go on meanwhile without error.
/// Method: `snapshot_every_entries` = 300 so the nodes' own builds overlap the asked ones;
/// eight clients write through any node the whole time; every node is asked for a snapshot
/// in turn, round after round for at least 10 s (`ClusterAdmin.Snapshot`), each answer checked against the node's
/// applied index before the call.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_asked_for_during_writes_are_built() {
    let c = TestCluster::start(3, |s| {
        s.raft.snapshot_every_entries = 300;
        s.raft.keep_entries_after_snapshot = 100;
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let (written, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let mut kv = c.kv(1 + w % 3).await;
        let (stop, written, failed) = (stop.clone(), written.clone(), failed.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let req =
                    varsel_proto::kv::PutRequest { key: format!("w{w}/{}", i % 500), value: "v".repeat(64) };
                match kv.put(req).await {
                    Ok(_) => written.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("write failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                i += 1;
            }
        }));
    }
    let started = std::time::Instant::now();
    let mut round = 0;
    // At least three rounds, and at least 10 s, so the nodes' own builds come in between.
    while round < 3 || started.elapsed() < Duration::from_secs(10) {
        round += 1;
        for id in c.ids() {
            let before = c.lc.status(id, Duration::from_secs(5)).await.unwrap().applied_index;
            let mut req = tonic::Request::new(SnapshotRequest {});
            req.set_timeout(Duration::from_secs(90));
            let built =
                c.admin(id).snapshot(req).await.unwrap_or_else(|e| panic!("round {round}, node {id}: {e}"));
            let index = built.into_inner().snapshot_index;
            assert!(
                index >= before,
                "round {round}, node {id}: snapshot at {index}, applied {before} when asked"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let (ok, bad) = (written.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("{ok} writes during the snapshots, {bad} failed");
    let own = c.lc.status(1, Duration::from_secs(5)).await.unwrap().snapshot_index;
    assert!(ok > 0 && own > 0, "no writes ({ok}) or no snapshot ({own})");
    assert_eq!(bad, 0, "writes failed during snapshots");
}
