//! What the channel tests share: alerts with chosen content, and waits on progress.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use varsel_proto::api::{
    Alert, AlertStatus, ChannelContent, ChannelCounts, Content, CreateAlertRequest, EscalationStep,
    GetAlertRequest, Priority, Targets,
};

use crate::common::authed;
use crate::fixture::Fixture;

/// Longest wait for an alert's progress to reach a state (receipts, completion) on a busy
/// two-core machine.
pub const PROGRESS_WITHIN: Duration = Duration::from_secs(180);

/// Creates an alert to `group` with `content`; returns it.
pub async fn alert(
    f: &Fixture,
    key: &str,
    group: &str,
    content: ChannelContent,
    policy: Vec<EscalationStep>,
) -> Alert {
    let req = CreateAlertRequest {
        idempotency_key: key.into(),
        title: format!("test {key}"),
        priority: Priority::Crisis as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: HashMap::from([("nb".into(), content)]),
        }),
        targets: Some(Targets { group_names: vec![group.into()], ..Default::default() }),
        policy,
        ..Default::default()
    };
    f.c.api(2).alerts.create_alert(authed(&f.token, req)).await.unwrap().into_inner().alert.unwrap()
}

/// The counts of one channel in an alert's progress (zeros when absent).
pub fn counts(a: &Alert, channel: varsel_proto::api::Channel) -> ChannelCounts {
    let p = a.progress.clone().unwrap_or_default();
    p.channels.into_iter().find(|c| c.channel == channel as i32).unwrap_or_default()
}

/// The alert as node `via` sees it, read locally. Right after the alert is created through
/// one node, another node (or the same one, when it forwarded the write to the leader) may not
/// have applied it yet, so NOT_FOUND and UNAVAILABLE are retried for a bounded time.
pub async fn get(f: &Fixture, id: u64, via: u64) -> Alert {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let req = GetAlertRequest { id, consistency: 0 };
        match f.c.api(via).alerts.get_alert(authed(&f.token, req)).await {
            Ok(r) => return r.into_inner().alert.unwrap(),
            Err(e)
                if matches!(e.code(), tonic::Code::Unavailable | tonic::Code::NotFound)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("GetAlert {id} through node {via}: {e:?}"),
        }
    }
}

/// Waits until the alert is completed, cancelled or expired (read through node `via`).
pub async fn wait_final(f: &Fixture, id: u64, via: u64) -> Alert {
    let done = [AlertStatus::Completed, AlertStatus::Cancelled, AlertStatus::Expired].map(|s| s as i32);
    wait_for(f, id, via, "a final status", |a| done.contains(&a.status)).await
}

/// Waits until `check` holds for the alert (read through node `via`); returns the alert.
pub async fn wait_for(f: &Fixture, id: u64, via: u64, what: &str, check: impl Fn(&Alert) -> bool) -> Alert {
    let deadline = Instant::now() + PROGRESS_WITHIN;
    loop {
        let a = get(f, id, via).await;
        if check(&a) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "alert {id}: {what} not reached in {PROGRESS_WITHIN:?}: {:?}",
            a.progress
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
