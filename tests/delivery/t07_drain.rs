use std::time::{Duration, Instant};

use varsel_proto::admin::DrainRequest;
use varsel_proto::api::{AlertStatus, Channel, Priority};
use varsel_sim::Channel as SimChannel;

use crate::fixture::{Fixture, at_once, sim_config};

/// Goal: draining a site for maintenance moves its work to the other sites at once, loses and
/// repeats nothing, and moves Raft leadership away from it.
/// Method: a rate-limited alert to 5,000 is under way; the leader is drained through another
/// node (`ClusterAdmin.Drain`, as `varsel cluster drain` does); within seconds it holds no
/// shards and is no longer leader; the alert completes with every recipient reached once; the
/// node is resumed and takes shards of a later alert again.
#[tokio::test(flavor = "multi_thread")]
async fn drained_site_hands_over_its_work() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(5_000, "alle").await;
    f.set_rate(900).await;
    let a = f.alert("drain", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.get(a.id, 1).await.progress.map_or(0, |p| p.recipients) < 500 {
        assert!(Instant::now() < deadline, "alert did not progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let victim = f.c.leader().await;
    let other = f.c.ids().into_iter().find(|i| *i != victim).unwrap();
    let mut admin = f.c.admin(other);
    let r = admin.drain(DrainRequest { node_id: victim, resume: false }).await.unwrap().into_inner();
    assert_ne!(r.leader_id, victim, "the drained node is still leader");
    let drained_at = Instant::now();
    loop {
        let s = f.shards(a.id, other).await;
        if !s.held_by_node.contains_key(&victim) {
            break;
        }
        assert!(drained_at.elapsed() < Duration::from_secs(10), "the drained node still holds shards");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = f.wait_final(a.id, other).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    let c = f.sim.client.counts(a.id).await.unwrap().channel(SimChannel::Sms);
    assert_eq!((c.distinct_keys, c.receives), (5_000, 5_000), "a drain hands over without loss or repeats");

    admin.drain(DrainRequest { node_id: victim, resume: true }).await.unwrap();
    f.set_rate(900).await;
    let b = f.alert("after-drain", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = f.shards(b.id, other).await;
        if s.held_by_node.contains_key(&victim) {
            break;
        }
        assert!(Instant::now() < deadline && s.status == "Active", "the resumed node took no shard");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
