use std::time::Duration;

use crate::common::{SETTLE, TestCluster};

/// Goal: a node that was down while the others compacted their log catches up by receiving a
/// snapshot (streamed in chunks) and ends with the same state.
/// Method: stop node 3; write 300 keys; snapshot and purge the log on the survivors with
/// `varsel cluster snapshot`; wait until the leader's log no longer holds what node 3 needs;
/// restart node 3; it must install a snapshot (its snapshot index moves) and hold every key.
/// Small snapshot chunks force several chunks per transfer.
#[tokio::test(flavor = "multi_thread")]
async fn lagging_node_catches_up_by_snapshot() {
    let mut c = TestCluster::start(3, |s| {
        s.raft.keep_entries_after_snapshot = 0;
        s.raft.snapshot_chunk_bytes = 4096;
    })
    .await;
    let leader = c.leader().await;
    let lagging = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let before = c.lc.status(lagging, Duration::from_secs(2)).await.unwrap();
    c.lc.stop(lagging, Duration::from_secs(10)).await.unwrap();

    let mut last = 0;
    for i in 0..300 {
        last = c.put(leader, &format!("k{i:03}"), &"v".repeat(100)).await.unwrap().log_index;
    }
    let live: Vec<String> =
        c.ids().into_iter().filter(|i| *i != lagging).map(|i| c.lc.node(i).unwrap().api()).collect();
    let (ok, out, err) = c.run_cli(&["cluster", "snapshot", "--endpoints", &live.join(",")]).await;
    assert!(ok, "{out} {err}");
    // The leader may hold its purge back while replication reads the log; wait for it.
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let s = c.lc.status(leader, Duration::from_secs(2)).await.unwrap();
        if s.purged_index > before.last_log_index + 10 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "leader never purged its log: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    c.lc.start(lagging).unwrap();
    c.lc.wait_ready(lagging, SETTLE).await.unwrap();
    c.wait_applied(lagging, last).await;
    let s = c.lc.status(lagging, Duration::from_secs(2)).await.unwrap();
    assert!(s.snapshot_index > before.last_log_index, "node caught up without a snapshot: {s:?}");
    for i in [0, 150, 299] {
        assert_eq!(c.get_local(lagging, &format!("k{i:03}")).await.map(|v| v.len()), Some(100));
    }
}
