//! A node whose wall clock is wrong still does its share of the sending: start times, leases
//! and escalation steps are log times, compared with the log's clock as the node can tell it
//! (the latest applied stamp plus its own monotonic time), never with its wall clock.

use varsel_proto::admin::{DeliveryStatusRequest, SetFaultsRequest, StatusRequest};
use varsel_proto::api::{AlertStatus, Channel, Priority};

use crate::fixture::{Fixture, at_once, sim_config};

const RECIPIENTS: usize = 3_000;

/// Sets node `id`'s clock offset (fault injection).
async fn skew(f: &Fixture, id: u64, clock_offset_ms: i64) {
    let req = SetFaultsRequest { clock_offset_ms, ..Default::default() };
    let reply = f.c.admin(id).set_faults(req).await.unwrap().into_inner();
    assert_eq!(reply.clock_offset_ms, clock_offset_ms);
}

/// The latest heartbeat of each node in the log, as node `id` has applied them.
async fn heartbeats(f: &Fixture, id: u64) -> std::collections::HashMap<u64, u64> {
    f.c.admin(id).delivery_status(DeliveryStatusRequest {}).await.unwrap().into_inner().heartbeats
}

/// Waits until every node has heartbeated through the log since its clock jumped past
/// `before` + 60 s, as node `id` sees it, and `id` counts all three as live.
async fn wait_beats_after_jump(f: &Fixture, id: u64, before: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = f.c.admin(id).delivery_status(DeliveryStatusRequest {}).await.unwrap().into_inner();
        let beaten = (1..=3).all(|n| status.heartbeats.get(&n).is_some_and(|t| *t > before + 60_000));
        if beaten && status.live_nodes == [1, 2, 3] {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "not every node beat after the jump: {status:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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

/// Goal: a follower whose clock runs 90 s behind claims its share of a new alert and sends
/// it, and when the leader's clock runs 90 s ahead (so every stamp in the log does) the
/// followers still claim theirs. Before, such a node judged the alert not yet started by its
/// own clock and left its share to the others for 90 s.
/// Each node reports how far its clock is from the log's (`NodeStatus.clock_offset_ms`).
/// Method: fault injection skews one node's wall clock (`SetFaults.clock_offset_ms`); an SMS
/// alert to 3,000 contacts (6 shards) each time; per-node sent counts from the nodes'
/// `varsel_delivery_messages_total`.
#[tokio::test(flavor = "multi_thread")]
async fn nodes_with_wrong_clocks_still_take_their_share() {
    let f = Fixture::start(sim_config(), |spec| spec.fault_injection = true).await;
    f.contacts(RECIPIENTS, "alle").await;
    let leader = f.c.leader().await;
    let follower = (1..=3).find(|n| *n != leader).unwrap();

    skew(&f, follower, -90_000).await;
    // Each node says how far its clock is from the log's: the skewed one by about 90 s.
    for n in 1..=3 {
        let status = f.c.admin(n).status(StatusRequest {}).await.unwrap().into_inner();
        let expected = if n == follower { -90_000 } else { 0 };
        assert!(
            (status.clock_offset_ms - expected).abs() < 5_000,
            "node {n}: clock offset {} ms, expected about {expected}",
            status.clock_offset_ms
        );
    }
    let by_node = send_one(&f, "behind").await;
    assert!(by_node[follower as usize - 1] > 0, "node {follower} (90 s behind) sent none: {by_node:?}");
    skew(&f, follower, 0).await;

    let before = heartbeats(&f, leader).await.values().copied().max().unwrap_or(0);
    skew(&f, leader, 90_000).await;
    // The log's clock jumps 90 s: the others' last heartbeats look 90 s old until their next
    // one, and until then the leader counts itself alone when it splits a new alert.
    wait_beats_after_jump(&f, leader, before).await;
    let by_node = send_one(&f, "leader-ahead").await;
    for n in (1..=3).filter(|n| *n != leader) {
        assert!(
            by_node[n as usize - 1] > 0,
            "node {n} sent none while the leader ran 90 s ahead: {by_node:?}"
        );
    }
    skew(&f, leader, 0).await;
}
