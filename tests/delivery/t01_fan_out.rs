use std::collections::BTreeSet;
use std::time::Duration;

use varsel_proto::api::{AlertStatus, Channel, Priority};
use varsel_sim::Channel as SimChannel;

use crate::fixture::{Fixture, at_once, sim_config};

/// Goal: an alert to 10,000 recipients reaches every one on each channel of its step, once,
/// with every site sending.
/// Method: three nodes and the simulator; 10,000 contacts with phone and push; one alert with
/// SMS and push at once. While it runs, record which nodes hold shards; afterwards compare the
/// simulator's exact per-key counts with the alert's progress.
#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_recipients_on_every_channel_from_every_site() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(10_000, "alle").await;
    let a = f.alert("fan-out", "alle", Priority::Crisis, at_once(&[Channel::Sms, Channel::Push])).await;
    assert_eq!(a.recipients_planned, 10_000);

    let mut senders = BTreeSet::new();
    loop {
        let s = f.shards(a.id, 1).await;
        senders.extend(s.held_by_node.keys().copied());
        if s.status != "Active" || senders.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = f.wait_final(a.id, 3).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    assert_eq!(
        senders.len(),
        3,
        "every site should hold shards of a 10,000-recipient alert, saw {senders:?}"
    );

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
