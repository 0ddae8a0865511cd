use std::time::{Duration, Instant};

use varsel_proto::api::{AlertStatus, Channel, Priority};
use varsel_sim::Channel as SimChannel;

use crate::fixture::{Fixture, at_once, sim_config};

/// Shards, window and chunk of the nodes in this test: the in-flight window per channel is
/// their product.
const SHARD_WORKERS: usize = 4;
const WINDOW_CHUNKS: usize = 2;
const CHUNK: usize = 64;

/// Goal: killing the node that holds most of an alert's leases loses no recipient, and what is
/// sent twice stays inside the dead node's in-flight window; with the provider honouring the
/// idempotency key nobody actually gets a message twice.
/// Method: the tenant is held to 900 messages/s so the alert runs for about ten seconds; once
/// a fifth of it is sent, the node with most shards is SIGKILLed; the survivors take its shards
/// over when the leases lapse (by the log's clock) and finish. The simulator counts every
/// receive and every delivery per key.
#[tokio::test(flavor = "multi_thread")]
async fn node_with_most_leases_killed_mid_alert() {
    let mut f = Fixture::start(sim_config(), |s| {
        s.delivery.shard_workers = SHARD_WORKERS;
        s.delivery.window_chunks = WINDOW_CHUNKS;
        s.delivery.chunk_recipients = CHUNK;
    })
    .await;
    f.contacts(10_000, "alle").await;
    f.set_rate(900).await;
    let a = f.alert("site-loss", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    while f.get(a.id, 1).await.progress.map_or(0, |p| p.recipients) < 2_000 {
        assert!(Instant::now() < deadline, "alert did not progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shards = f.shards(a.id, 1).await;
    let (&victim, &held) = shards.held_by_node.iter().max_by_key(|(_, n)| **n).unwrap();
    let killed_at = Instant::now();
    f.c.lc.kill(victim).await.unwrap();
    let survivor = f.c.ids().into_iter().find(|i| *i != victim).unwrap();

    // Time until no shard is held by the dead node any more.
    loop {
        let s = f.shards(a.id, survivor).await;
        if !s.held_by_node.contains_key(&victim) || s.status != "Active" {
            break;
        }
        assert!(killed_at.elapsed() < Duration::from_secs(60), "shards never moved");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let moved_after = killed_at.elapsed();
    let done = f.wait_final(a.id, survivor).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);

    let c = f.sim.client.counts(a.id).await.unwrap().channel(SimChannel::Sms);
    let window = (SHARD_WORKERS * WINDOW_CHUNKS * CHUNK) as u64;
    let resent = c.receives - c.distinct_keys;
    eprintln!(
        "site loss: node {victim} held {held} shards; they moved after {moved_after:?}; {resent} messages re-sent \
         (bound {window}); {} delivered twice",
        c.keys_delivered_more_than_once
    );
    assert_eq!(c.distinct_keys, 10_000, "every recipient reached");
    assert!(resent <= window, "{resent} re-sent exceeds the in-flight window of {window}");
    assert_eq!(c.keys_delivered_more_than_once, 0, "the provider honours the key: nobody gets two");
}
