//! What the channel tests share: alerts with chosen content, and waits on progress.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use varsel_proto::api::{
    Alert, ChannelContent, ChannelCounts, Content, CreateAlertRequest, EscalationStep, Priority, Targets,
};

use crate::common::authed;
use crate::fixture::Fixture;

/// Longest wait for progress counts (receipts, acknowledgements) to reach a value.
pub const PROGRESS_WITHIN: Duration = Duration::from_secs(90);

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

/// Waits until `check` holds for the alert (read through node `via`); returns the alert.
pub async fn wait_for(f: &Fixture, id: u64, via: u64, what: &str, check: impl Fn(&Alert) -> bool) -> Alert {
    let deadline = Instant::now() + PROGRESS_WITHIN;
    loop {
        let a = f.get(id, via).await;
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
