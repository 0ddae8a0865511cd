//! A node whose wall clock is wrong still does its share of the sending: start times, leases
//! and escalation steps are log times, compared with the log's clocks as the node can tell them
//! (the latest applied stamps plus its own monotonic time), never with its wall clock; and a
//! wrong clock is found by comparing it with the cluster's median (`node/src/raft/clock.rs`).

use varsel_proto::admin::{SetFaultsRequest, StatusRequest};
use varsel_proto::api::{AlertStatus, Channel, Priority};

use crate::fixture::{Fixture, at_once, sim_config};

const RECIPIENTS: usize = 3_000;

/// Sets node `id`'s clock offset (fault injection).
async fn skew(f: &Fixture, id: u64, clock_offset_ms: i64) {
    let req = SetFaultsRequest { clock_offset_ms, ..Default::default() };
    let reply = f.c.admin(id).set_faults(req).await.unwrap().into_inner();
    assert_eq!(reply.clock_offset_ms, clock_offset_ms);
}

/// Sends one SMS alert to everyone and waits until it completed with every message sent;
/// answers how many each node sent for it.
async fn send_one(f: &Fixture, key: &str) -> [u64; 3] {
    let mut before = [0; 3];
    for (i, n) in (1..=3).enumerate() {
        before[i] = f.sent_by_node(n).await;
    }
    let a = f.alert(key, "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let done = f.wait_final(a.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    let shards = done.progress.as_ref().map_or(0, |p| p.shards);
    assert!(shards >= 3, "the alert must be split over the sites: {shards} shards");
    let mut by_node = [0; 3];
    for (i, n) in (1..=3).enumerate() {
        by_node[i] = f.sent_by_node(n).await - before[i];
    }
    assert_eq!(by_node.iter().sum::<u64>(), RECIPIENTS as u64, "{key}: sent once each: {by_node:?}");
    by_node
}

/// Waits (bounded) until node `id` judges its own clock as `out_of_bounds` expects; answers
/// its status then.
async fn wait_judged(f: &Fixture, id: u64, out_of_bounds: bool) -> varsel_proto::admin::NodeStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let s = f.c.admin(id).status(StatusRequest {}).await.unwrap().into_inner();
        if s.clock_known && s.clock_out_of_bounds == out_of_bounds {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node {id} not judged out_of_bounds={out_of_bounds}: {s:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The log's time as node `id` tells it, against its own (unskewed) wall clock: `clock_offset_ms`.
async fn log_offset(f: &Fixture, id: u64) -> i64 {
    f.c.admin(id).status(StatusRequest {}).await.unwrap().into_inner().clock_offset_ms
}

/// Goal: a follower whose clock runs 90 s behind is told it is out of bounds (status, unready)
/// yet claims its share of a new alert and sends it. A leader whose clock jumps 90 s ahead
/// does not move the log's time (leaders stamp their log clock, stepped only towards the
/// cluster's median), is told it is out of bounds and hands leadership to a node whose clock
/// agrees; the others go on claiming their share meanwhile.
/// Method: fault injection skews one node's wall clock (`SetFaults.clock_offset_ms`); an SMS
/// alert to 3,000 contacts (6 shards) each time; per-node sent counts from the nodes'
/// `varsel_delivery_messages_total`; `NodeStatus` for the judgement and the log's time.
#[tokio::test(flavor = "multi_thread")]
async fn nodes_with_wrong_clocks_still_take_their_share() {
    let f = Fixture::start(sim_config(), |spec| spec.fault_injection = true).await;
    f.contacts(RECIPIENTS, "alle").await;
    let leader = f.c.leader().await;
    let follower = (1..=3).find(|n| *n != leader).unwrap();

    skew(&f, follower, -90_000).await;
    let s = wait_judged(&f, follower, true).await;
    assert!((s.clock_skew_ms + 90_000).abs() < 5_000, "node {follower}: skew {} ms", s.clock_skew_ms);
    for n in (1..=3).filter(|n| *n != follower) {
        let s = wait_judged(&f, n, false).await;
        assert!(s.clock_skew_ms.abs() < 5_000, "node {n}: skew {} ms", s.clock_skew_ms);
    }
    let by_node = send_one(&f, "behind").await;
    assert!(by_node[follower as usize - 1] > 0, "node {follower} (90 s behind) sent none: {by_node:?}");
    skew(&f, follower, 0).await;
    wait_judged(&f, follower, false).await;

    let jumped = std::time::Instant::now();
    skew(&f, leader, 90_000).await;
    // The leader is told, and hands leadership over.
    let deadline = jumped + std::time::Duration::from_secs(30);
    let new_leader = loop {
        let now = f.c.leader().await;
        if now != leader {
            break now;
        }
        assert!(std::time::Instant::now() < deadline, "node {leader} (90 s ahead) still leads after 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    eprintln!(
        "clock: the leader 90 s ahead handed leadership to node {new_leader} {} ms after its clock jumped",
        jumped.elapsed().as_millis()
    );
    let s = wait_judged(&f, leader, true).await;
    assert!((s.clock_skew_ms - 90_000).abs() < 5_000, "node {leader}: skew {} ms", s.clock_skew_ms);
    // The log's time did not follow the jump: on the others it is still their wall clock.
    for n in (1..=3).filter(|n| *n != leader) {
        let offset = log_offset(&f, n).await;
        assert!(
            offset.abs() < 5_000,
            "node {n}: log's time is {offset} ms from its clock after the leader's jump"
        );
    }
    let by_node = send_one(&f, "leader-ahead").await;
    for n in (1..=3).filter(|n| *n != leader) {
        assert!(
            by_node[n as usize - 1] > 0,
            "node {n} sent none while node {leader} ran 90 s ahead: {by_node:?}"
        );
    }
    assert_ne!(f.c.leader().await, leader, "the node 90 s ahead was elected again");
    skew(&f, leader, 0).await;
    wait_judged(&f, leader, false).await;
}

/// Goal: a cluster stopped for a while does not restart with its log's time behind by the
/// time it was down: the leader steps the log's time forward to the cluster's median wall clock
/// (while lease time, which leases are judged by, does not step).
/// Method: three nodes write, are all stopped for 6 s, started again; after a write through
/// the new leader, every node's wall clock minus the log's time (`clock_offset_ms`) must be
/// within 2 s. Without the step it would be about the 6 s the cluster was down.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_stopped_for_a_while_catches_its_time_up() {
    let mut c = crate::common::TestCluster::start(3, |_| {}).await;
    c.put(c.leader().await, "before", "stop").await.unwrap();
    c.lc.stop_all().await;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    c.lc.start_all().unwrap();
    for id in c.ids() {
        c.lc.wait_ready(id, std::time::Duration::from_secs(60)).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let leader = c.leader().await;
        // Every write is stamped; the step comes with the first write after the leader has
        // heard the others' clocks.
        let _ = c.put(leader, "after", "start").await;
        let mut offsets = Vec::new();
        for id in c.ids() {
            offsets.push(c.admin(id).status(StatusRequest {}).await.unwrap().into_inner().clock_offset_ms);
        }
        if offsets.iter().all(|o| o.abs() < 2_000) {
            eprintln!("clock: after 6 s down, every node's log's time within {offsets:?} ms of its clock");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log's time did not catch up: offsets {offsets:?} ms"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
