use std::time::{Duration, Instant};

use varsel_proto::api::{AlertStatus, CancelAlertRequest, Channel, Priority};
use varsel_sim::Channel as SimChannel;

use crate::common::authed;
use crate::fixture::{Fixture, at_once, sim_config};

/// Goal: a crisis alert sent behind a routine one overtakes it.
/// Method: every node's SMS provider is limited to 200 messages/s; a routine alert to 4,000
/// is under way (about seven seconds of work) when a crisis alert to 300 is sent; the crisis
/// alert completes first.
#[tokio::test(flavor = "multi_thread")]
async fn crisis_overtakes_routine() {
    let f = Fixture::start(sim_config(), |s| {
        for p in &mut s.providers {
            p.rate_per_second = 200;
        }
        s.delivery.queue_messages = 512;
    })
    .await;
    f.contacts(4_000, "mange").await;
    f.contacts(300, "faa").await;
    let routine = f.alert("routine", "mange", Priority::Routine, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.get(routine.id, 1).await.progress.map_or(0, |p| p.recipients) < 500 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let crisis = f.alert("crisis", "faa", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let c = f.wait_final(crisis.id, 1).await;
    let r_at_crisis_end = f.get(routine.id, 1).await;
    let r = f.wait_final(routine.id, 1).await;
    assert_eq!((c.status, r.status), (AlertStatus::Completed as i32, AlertStatus::Completed as i32));
    assert!(
        r_at_crisis_end.status == AlertStatus::Active as i32,
        "the routine alert finished before the crisis alert that was sent after it"
    );
    assert!(c.completed_at_ms < r.completed_at_ms);
}

/// Goal: cancelling an alert stops its sending; only what was already in flight goes out.
/// Method: a rate-limited alert to 5,000; cancel after 500; the simulator's count stops growing
/// soon after, far below 5,000.
#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_sending() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(5_000, "alle").await;
    f.set_rate(300).await;
    let a = f.alert("cancel-me", "alle", Priority::Routine, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.get(a.id, 1).await.progress.map_or(0, |p| p.recipients) < 500 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f.c.api(3)
        .alerts
        .cancel_alert(authed(&f.token, CancelAlertRequest { id: a.id, ..Default::default() }))
        .await
        .unwrap();
    let done = f.wait_final(a.id, 1).await;
    assert_eq!(done.status, AlertStatus::Cancelled as i32);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = f.sim.client.counts(a.id).await.unwrap().channel(SimChannel::Sms).receives;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = f.sim.client.counts(a.id).await.unwrap().channel(SimChannel::Sms).receives;
    assert_eq!(settled, later, "messages still sent after the cancellation settled");
    assert!(later < 2_500, "{later} of 5,000 sent although cancelled after 500");
}

/// The SMS counts of an alert's report.
fn sms_report(a: &varsel_proto::api::Alert) -> varsel_proto::api::ChannelCounts {
    let p = a.progress.clone().unwrap_or_default();
    p.channels.into_iter().find(|c| c.channel == Channel::Sms as i32).unwrap_or_default()
}

/// Goal: after a cancel commits, no node hands a message of that alert to a provider more than
/// 1 s later, even with a slow provider and full queues; and the report is true: every message
/// a provider accepted is counted sent (sent + failed equals what the simulator received), and
/// delivered never exceeds sent.
/// Method: SMS providers answer after 400 ms and send a receipt for every message; each node may
/// hand over 150 messages/s, so the queues fill with an alert to 5,000. The alert is cancelled
/// once 600 are processed; the last arrival at the simulator is compared with the moment the
/// cancel call returned (committed), and the report with the simulator once it stops changing.
#[tokio::test(flavor = "multi_thread")]
async fn cancel_is_prompt_and_the_report_counts_what_was_sent() {
    let mut sim = sim_config();
    for p in &mut sim.providers {
        p.latency_ms = 400;
        p.latency_jitter_ms = 50;
        p.receipts = true;
        p.receipt_delay_ms = 50;
    }
    let f = Fixture::start(sim, |s| {
        for p in &mut s.providers {
            p.rate_per_second = 150;
        }
    })
    .await;
    f.contacts(5_000, "alle").await;
    let a = f.alert("cancel-me", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while f.get(a.id, 1).await.progress.map_or(0, |p| p.recipients) < 600 {
        assert!(Instant::now() < deadline, "the alert did not get going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f.c.api(2)
        .alerts
        .cancel_alert(authed(&f.token, CancelAlertRequest { id: a.id, ..Default::default() }))
        .await
        .unwrap();
    let committed_ms = varsel_domain::clock::wall_ms();
    assert_eq!(f.wait_final(a.id, 1).await.status, AlertStatus::Cancelled as i32);

    // The report settles once the workers have recorded the batches in flight at the cancel
    // and the receipts have come in.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (report, received) = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = sms_report(&f.get(a.id, 1).await);
        let received = f.sim.client.counts(a.id).await.unwrap().channel(SimChannel::Sms);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = sms_report(&f.get(a.id, 1).await);
        if before == after && after.sent + after.failed == received.distinct_keys {
            break (after, received);
        }
        assert!(
            Instant::now() < deadline,
            "the report does not match the simulator: report {after:?}, simulator {received:?}"
        );
    };
    let inbox = f.sim.client.inbox(a.id).await.unwrap();
    let last = inbox.messages.iter().map(|m| m.at_ms).max().unwrap_or(0);
    let late_ms = last.saturating_sub(committed_ms);
    eprintln!(
        "cancel: last message handed over {late_ms} ms after the cancel committed; report {report:?}; \
         simulator {received:?}"
    );
    assert_eq!(inbox.not_kept, 0, "the inbox must hold every message of this alert");
    assert!(late_ms <= 1_000, "a message was handed over {late_ms} ms after the cancel committed");
    assert!(report.sent < 5_000, "the cancel stopped nothing: {report:?}");
    assert!(report.delivered <= report.sent, "delivered exceeds sent: {report:?}");
}
