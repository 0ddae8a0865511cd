//! A node whose wall clock is wrong still does its share of the sending: start times, leases
//! and escalation steps are log times, compared with the log's clock as the node can tell it
//! (the latest applied stamp plus its own monotonic time), never with its wall clock.

use varsel_proto::admin::SetFaultsRequest;
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

/// Goal: a follower whose clock runs 90 s behind claims its share of a new alert and sends
/// it, and when the leader's clock runs 90 s ahead (so every stamp in the log does) the
/// followers still claim theirs. Before, such a node judged the alert not yet started by its
/// own clock and left its share to the others for 90 s.
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
    let by_node = send_one(&f, "behind").await;
    assert!(by_node[follower as usize - 1] > 0, "node {follower} (90 s behind) sent none: {by_node:?}");
    skew(&f, follower, 0).await;

    skew(&f, leader, 90_000).await;
    let by_node = send_one(&f, "leader-ahead").await;
    for n in (1..=3).filter(|n| *n != leader) {
        assert!(
            by_node[n as usize - 1] > 0,
            "node {n} sent none while the leader ran 90 s ahead: {by_node:?}"
        );
    }
    skew(&f, leader, 0).await;
}
