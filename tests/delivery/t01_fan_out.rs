use std::collections::BTreeMap;

use varsel_proto::api::{AlertStatus, Channel, Priority};
use varsel_sim::Channel as SimChannel;

use crate::fixture::{Fixture, at_once, sim_config};

/// Goal: an alert to 10,000 recipients reaches every one on each channel of its step, once,
/// with every site sending.
/// Method: three nodes and the simulator; 10,000 contacts with phone and push; one alert with
/// SMS and push at once. Afterwards, each node's count of messages it sent, and the
/// simulator's exact per-key counts against the alert's progress.
#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_recipients_on_every_channel_from_every_site() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(10_000, "alle").await;
    let a = f.alert("fan-out", "alle", Priority::Crisis, at_once(&[Channel::Sms, Channel::Push])).await;
    assert_eq!(a.recipients_planned, 10_000);

    let done = f.wait_final(a.id, 3).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    // Every site sent: counted from each node's own metrics after the fact, not by sampling who
    // held leases while it ran (a poll can miss a node whose shards came and went between two).
    let mut by_node = BTreeMap::new();
    for id in 1..=3 {
        by_node.insert(id, f.sent_by_node(id).await);
    }
    assert!(
        by_node.values().all(|n| *n > 0),
        "every site should send part of a 10,000-recipient alert; messages sent per node: {by_node:?}"
    );
    assert_eq!(by_node.values().sum::<u64>(), 20_000, "per node: {by_node:?}");

    let counts = f.sim.client.counts(a.id).await.unwrap();
    for ch in [SimChannel::Sms, SimChannel::Push] {
        let c = counts.channel(ch);
        assert_eq!(c.distinct_keys, 10_000, "{ch:?}: recipients reached");
        assert_eq!(c.receives, 10_000, "{ch:?}: no message sent twice without a fault");
    }
    let p = done.progress.unwrap();
    assert_eq!(p.recipients, 10_000);
    for ch in p.channels {
        assert_eq!((ch.sent, ch.failed), (10_000, 0), "channel {}", ch.channel);
    }
    assert!(p.first_sent_at_ms > 0 && p.last_sent_at_ms >= p.first_sent_at_ms);
    assert_eq!(p.shards_done, p.shards);
}
