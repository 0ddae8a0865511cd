use varsel_proto::admin::DeliveryStatusRequest;
use varsel_proto::api::{AlertStatus, Channel, Priority};
use varsel_sim::Channel as SimChannel;

use crate::fixture::{Fixture, at_once, sim_config};

/// Goal: actors that panic are restarted by their supervisor and the alert completes.
/// Method: every node's recorder, scheduler and SMS sender panic once soon after they start
/// (test failpoints); an alert to 2,000 then completes, every recipient is reached, the nodes
/// report restarts and nothing left down.
#[tokio::test(flavor = "multi_thread")]
async fn panicking_actors_are_restarted() {
    let f = Fixture::start(sim_config(), |s| {
        s.panic_actors = vec!["recorder".into(), "scheduler".into(), "sender-sms".into()];
    })
    .await;
    f.contacts(2_000, "alle").await;
    let a = f.alert("supervised", "alle", Priority::Urgent, at_once(&[Channel::Sms])).await;
    let done = f.wait_final(a.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    assert_eq!(f.sim.client.counts(a.id).await.unwrap().channel(SimChannel::Sms).distinct_keys, 2_000);
    let mut restarts = 0;
    for id in f.c.ids() {
        let mut admin = f.c.admin(id);
        let s = admin.delivery_status(DeliveryStatusRequest {}).await.unwrap().into_inner();
        assert!(s.unhealthy.is_empty(), "node {id}: {:?}", s.unhealthy);
        restarts += s.actor_restarts;
    }
    // Each node's scheduler and SMS sender panic for sure; recorders panic where they recorded.
    assert!(restarts >= 6, "only {restarts} restarts");
}
