//! Retention on a real cluster: a finished alert's details, then the alert itself, are
//! removed on every node once the tenant's retention has passed by the log's clock.

use std::time::{Duration, Instant};

use varsel_proto::admin::ShardsRequest;
use varsel_proto::api::{
    AlertStatus, Channel, Consistency, GetAlertRequest, Priority, Retention, SetRetentionRequest,
    WhoAmIRequest,
};

use crate::common::authed;
use crate::fixture::{Fixture, at_once, sim_config};

/// Goal: with a retention of one minute, a completed alert is gone from every node a little
/// after a minute (its shards' details and the alert), while a retention shorter than a running
/// alert's lifetime is refused naming it. Method: three nodes and the simulator; retention set
/// through the API; an alert to 50 contacts; every node's admin `Shards` and a local `GetAlert`
/// polled (bounded) until they answer NOT_FOUND.
#[tokio::test(flavor = "multi_thread")]
async fn a_finished_alert_goes_after_its_retention_on_every_node() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(50, "alle").await;
    let me = f.c.api(1).tenants.who_am_i(authed(&f.token, WhoAmIRequest {})).await.unwrap().into_inner();
    let set = |details: u64, alerts: u64| SetRetentionRequest {
        tenant_id: me.tenant_id,
        retention: Some(Retention { details_seconds: details, alerts_seconds: alerts }),
    };
    let defaults =
        f.c.api(2).tenants.set_retention(authed(&f.c.superadmin(), set(0, 0))).await.unwrap().into_inner();
    assert_eq!((defaults.details_seconds, defaults.alerts_seconds), (90 * 86_400, 5 * 365 * 86_400));
    let refused = f.c.api(2).tenants.set_retention(authed(&f.c.superadmin(), set(30, 60))).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("retention.details"), "{refused:?}");
    let denied = f.c.api(2).tenants.set_retention(authed(&f.token, set(60, 60))).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "an operator set a retention");

    // While an alert (lifetime 24 h) runs, a one-minute retention is refused, naming it.
    f.set_rate(20).await;
    let running = f.alert("running", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let refused = f.c.api(2).tenants.set_retention(authed(&f.c.superadmin(), set(60, 60))).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains(&format!("alert {}", running.id)), "{refused:?}");
    let done = f.wait_final(running.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);

    let kept =
        f.c.api(2).tenants.set_retention(authed(&f.c.superadmin(), set(60, 60))).await.unwrap().into_inner();
    assert_eq!((kept.details_seconds, kept.alerts_seconds), (60, 60));
    let finished = Instant::now();
    for id in 1..=3 {
        let shards = f.c.admin(id).shards(ShardsRequest { alert_id: running.id }).await.unwrap().into_inner();
        assert!(!shards.shards.is_empty(), "node {id} has no details to purge");
    }
    for id in 1..=3 {
        loop {
            let shards = f.c.admin(id).shards(ShardsRequest { alert_id: running.id }).await;
            let req = GetAlertRequest { id: running.id, consistency: Consistency::Local as i32 };
            let alert = f.c.api(id).alerts.get_alert(authed(&f.token, req)).await;
            let gone = |e: Option<&tonic::Status>| e.is_some_and(|e| e.code() == tonic::Code::NotFound);
            if gone(shards.as_ref().err()) && gone(alert.as_ref().err()) {
                break;
            }
            assert!(
                finished.elapsed() < Duration::from_secs(150),
                "node {id} still holds alert {} 150 s after it finished with a retention of 60 s",
                running.id
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    println!(
        "t15: alert {} gone from every node {:.1} s after it finished",
        running.id,
        finished.elapsed().as_secs_f64()
    );
    assert!(finished.elapsed() >= Duration::from_secs(55), "purged before its retention passed");
}
