use std::time::Duration;

use crate::common::TestCluster;

/// Goal: losing the leader's process loses no acknowledged write and writes resume through the
/// survivors; the killed node restarts from its data directory and catches up.
/// Method: write 20 keys; SIGKILL the leader; write through the survivors with the CLI, given
/// every endpoint including the dead one (it must skip it); restart the killed node and check it
/// applied everything, including the writes it missed, from its own disk plus replication.
#[tokio::test(flavor = "multi_thread")]
async fn leader_kill_then_survivors_write_and_node_catches_up() {
    let mut c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    for i in 0..20 {
        c.put(leader, &format!("before/{i}"), "x").await.unwrap();
    }
    c.lc.kill(leader).await.unwrap();
    let survivors: Vec<u64> = c.ids().into_iter().filter(|i| *i != leader).collect();

    let endpoints = c.lc.endpoints().join(",");
    let (ok, out, err) =
        c.run_cli(&["kv", "put", "after", "kill", "--endpoints", &endpoints, "--json"]).await;
    assert!(ok, "CLI write after leader kill failed: {out} {err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let index = v["log_index"].as_u64().unwrap();

    let new_leader = c.leader_among(&survivors).await;
    assert_ne!(new_leader, leader);
    for i in 0..20 {
        assert_eq!(
            c.get_linearizable(survivors[0], &format!("before/{i}")).await.unwrap().as_deref(),
            Some("x")
        );
    }

    c.lc.start(leader).unwrap();
    c.lc.wait_ready(leader, crate::common::SETTLE).await.unwrap();
    c.wait_applied(leader, index).await;
    assert_eq!(c.get_local(leader, "after").await.as_deref(), Some("kill"));
    assert_eq!(c.get_local(leader, "before/19").await.as_deref(), Some("x"));
    // It rejoined as a follower of the new leader rather than disrupting it.
    let s = c.lc.status(leader, Duration::from_secs(2)).await.unwrap();
    assert_eq!(s.role, "follower");
}

/// Goal: a node that cannot reach a quorum answers a write with a clear, retryable error within
/// its write timeout instead of hanging.
/// Method: kill two of three nodes; write to the survivor; expect UNAVAILABLE naming the
/// quorum problem, well before the test's own deadline.
#[tokio::test(flavor = "multi_thread")]
async fn write_without_quorum_fails_fast_and_retryable() {
    let mut c = TestCluster::start(3, |s| s.raft.write_timeout_ms = 3000).await;
    let ids = c.ids();
    c.lc.kill(ids[0]).await.unwrap();
    c.lc.kill(ids[1]).await.unwrap();
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(30), c.put(ids[2], "k", "v"))
        .await
        .expect("the write hung")
        .expect_err("a write without quorum must fail");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(varsel_client::retryable(&err));
    let m = err.message();
    assert!(m.contains("quorum") || m.contains("leader"), "unclear message: {m}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    let err =
        c.get_linearizable(ids[2], "k").await.expect_err("a linearizable read without quorum must fail");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
}
