use std::time::Duration;

use crate::common::{SETTLE, TestCluster};

/// Goal: membership changes through the CLI: a fourth node joins as a learner, is promoted,
/// leadership is transferred to it, and a removed node stops receiving traffic.
/// Method: configure four nodes, bootstrap three, start the fourth; `cluster add-learner`,
/// `promote`, `transfer-leader --to 4`; then `remove` node 1 and check that writes continue
/// while node 1's log stops growing, and `cluster status` shows the new membership.
#[tokio::test(flavor = "multi_thread")]
async fn learner_promote_transfer_and_remove() {
    let mut c = TestCluster::configure(4, |_| {});
    c.boot_members(&[1, 2, 3]).await;
    c.lc.start(4).unwrap();
    c.lc.wait_ready(4, SETTLE).await.unwrap();

    let endpoints = c.lc.endpoints()[..3].join(",");
    let n4 = c.lc.node(4).unwrap().config.clone();
    let (ok, out, err) = c
        .run_cli(&[
            "cluster",
            "add-learner",
            "--node-id",
            "4",
            "--site",
            &n4.site,
            "--api-addr",
            &n4.api_addr.to_string(),
            "--raft-addr",
            &n4.raft_addr.to_string(),
            "--endpoints",
            &endpoints,
        ])
        .await;
    assert!(ok && out.contains("learners: [4]"), "{out} {err}");
    let (ok, out, err) =
        c.run_cli(&["cluster", "promote", "--node-id", "4", "--endpoints", &endpoints]).await;
    assert!(ok && out.contains("voters: [1, 2, 3, 4]"), "{out} {err}");

    let (ok, out, err) =
        c.run_cli(&["cluster", "transfer-leader", "--to", "4", "--endpoints", &endpoints]).await;
    assert!(ok && out.contains("leader is now node 4"), "{out} {err}");
    assert_eq!(c.leader_among(&[1, 2, 3, 4]).await, 4);

    let all = c.lc.endpoints().join(",");
    let (ok, out, err) = c.run_cli(&["cluster", "remove", "--node-id", "1", "--endpoints", &all]).await;
    assert!(ok && out.contains("voters: [2, 3, 4]"), "{out} {err}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let frozen = c.lc.status(1, Duration::from_secs(2)).await.unwrap().last_log_index;
    let mut last = 0;
    for i in 0..20 {
        last = c.put(4, &format!("after-remove/{i}"), "x").await.unwrap().log_index;
    }
    c.wait_applied(2, last).await;
    let s1 = c.lc.status(1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(s1.last_log_index, frozen, "removed node 1 still receives log entries");
    let s4 = c.lc.status(4, Duration::from_secs(2)).await.unwrap();
    assert_eq!(s4.leader_id, 4, "the removed node disturbed the leader");

    let (ok, out, err) = c.run_cli(&["cluster", "status", "--endpoints", &all, "--json"]).await;
    assert!(ok, "{out} {err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let ids: Vec<u64> = v["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![2, 3, 4]);
}
