use crate::common::TestCluster;

/// Goal: a write sent to a follower is forwarded, committed, and readable on every node.
/// Method: three nodes; put through a follower; the reply's log index is applied on all three,
/// and each node's local state holds the value; a linearizable read through the other follower
/// sees it too.
#[tokio::test(flavor = "multi_thread")]
async fn write_through_follower_is_readable_everywhere() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let followers: Vec<u64> = c.ids().into_iter().filter(|i| *i != leader).collect();
    let reply = c.put(followers[0], "city", "Oslo").await.expect("put through a follower");
    assert!(reply.log_index > 0);
    assert_eq!(reply.previous, None);
    for id in c.ids() {
        c.wait_applied(id, reply.log_index).await;
        assert_eq!(c.get_local(id, "city").await.as_deref(), Some("Oslo"), "node {id}");
    }
    assert_eq!(c.get_linearizable(followers[1], "city").await.unwrap().as_deref(), Some("Oslo"));
    let second = c.put(followers[1], "city", "Bergen").await.unwrap();
    assert_eq!(second.previous.as_deref(), Some("Oslo"), "the write sees the state before it");
}

/// Goal: linearizable reads on a follower never return a value older than a completed write.
/// Method: alternate writes through the leader with linearizable reads through a follower,
/// 50 times; each read must return the value just written.
#[tokio::test(flavor = "multi_thread")]
async fn linearizable_follower_reads_see_latest_write() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|i| *i != leader).unwrap();
    for i in 0..50 {
        let v = format!("v{i}");
        c.put(leader, "counter", &v).await.unwrap();
        let got = c.get_linearizable(follower, "counter").await.unwrap();
        assert_eq!(got.as_deref(), Some(v.as_str()), "read {i} was stale");
    }
}
