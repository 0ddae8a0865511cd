use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::{
    AlertStatus, CancelAlertRequest, ChannelContent, Content, CreateAlertRequest, GetAlertRequest,
    ListAlertsRequest, ListAuditRequest, Priority, Role, Targets, UpsertContactRequest, WatchAlertRequest,
};

use crate::common::{TestCluster, authed};

pub fn alert_request(key: &str, group: &str, sms: &str) -> CreateAlertRequest {
    let variant = ChannelContent { sms_text: sms.into(), ..Default::default() };
    CreateAlertRequest {
        idempotency_key: key.into(),
        title: "Flomvarsel".into(),
        priority: Priority::Crisis as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: HashMap::from([("nb".into(), variant)]),
        }),
        targets: Some(Targets { group_names: vec![group.into()], ..Default::default() }),
        ..Default::default()
    }
}

pub async fn add_contacts(c: &TestCluster, token: &str, n: usize, group: &str) {
    let mut api = c.api(1);
    for i in 0..n {
        let contact = varsel_proto::api::Contact {
            external_id: format!("c{i}"),
            phone: format!("+47911{i:05}"),
            groups: vec![group.into()],
            ..Default::default()
        };
        api.contacts
            .upsert_contact(authed(
                token,
                UpsertContactRequest { contact: Some(contact), ..Default::default() },
            ))
            .await
            .unwrap();
    }
}

/// Goal: the same idempotency key twice gives one alert, even when the second request goes to
/// another node; the alert is readable everywhere; cancel ends a watch stream; the audit trail
/// records who did it.
/// Method: create through node 2, repeat through node 3, list through node 1; watch through
/// node 1 and cancel through node 2; the stream's last message is CANCELLED.
#[tokio::test(flavor = "multi_thread")]
async fn idempotent_create_watch_and_cancel() {
    let c = TestCluster::start(3, |_| {}).await;
    let (_, token) = c.tenant_with(1, "t", Role::Operator).await;
    add_contacts(&c, &token, 5, "alle").await;
    let send_later = CreateAlertRequest {
        // Scheduled an hour ahead so nothing is sent while the test runs.
        send_at_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as u64
            + 3_600_000,
        ..alert_request("evac-1", "alle", "Evakuer nå. Svar OK.")
    };
    let first = c.api(2).alerts.create_alert(authed(&token, send_later.clone())).await.unwrap().into_inner();
    let second = c.api(3).alerts.create_alert(authed(&token, send_later)).await.unwrap().into_inner();
    let (a1, a2) = (first.alert.unwrap(), second.alert.unwrap());
    assert!(!first.existing && second.existing);
    assert_eq!(a1.id, a2.id);
    assert_eq!(a1.recipients_planned, 5);
    assert_eq!(a1.status, AlertStatus::Scheduled as i32);
    let list = c
        .api(1)
        .alerts
        .list_alerts(authed(&token, ListAlertsRequest { consistency: 1, ..Default::default() }))
        .await;
    assert_eq!(list.unwrap().into_inner().alerts.len(), 1);

    let mut stream = c
        .api(1)
        .alerts
        .watch_alert(authed(&token, WatchAlertRequest { id: a1.id }))
        .await
        .unwrap()
        .into_inner();
    let initial = stream.next().await.unwrap().unwrap().alert.unwrap();
    assert_eq!(initial.status, AlertStatus::Scheduled as i32);
    c.api(2)
        .alerts
        .cancel_alert(authed(&token, CancelAlertRequest { id: a1.id, ..Default::default() }))
        .await
        .unwrap();
    let mut last = initial;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
        last = msg.unwrap().alert.unwrap();
    }
    assert_eq!(last.status, AlertStatus::Cancelled as i32, "the watch did not end with the cancellation");

    let audit = c
        .api(3)
        .audit
        .list_audit(authed(&token, ListAuditRequest { consistency: 1, ..Default::default() }))
        .await;
    let actions: Vec<String> = audit.unwrap().into_inner().records.into_iter().map(|r| r.action).collect();
    assert_eq!(actions.first().map(String::as_str), Some("alert.cancel"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "alert.create"));
    assert_eq!(
        actions.iter().filter(|a| *a == "alert.create").count(),
        1,
        "the replay must not be audited as a second alert"
    );
}

/// Goal: a client given every node keeps working when the leader dies between two writes.
/// Method: create an alert through the failover client, SIGKILL the leader, create a second
/// alert (and repeat the first one's key) through the same client; both succeed, the repeat
/// returns the first alert.
#[tokio::test(flavor = "multi_thread")]
async fn leader_killed_between_writes() {
    let mut c = TestCluster::start(3, |_| {}).await;
    let (_, token) = c.tenant_with(1, "t", Role::Operator).await;
    add_contacts(&c, &token, 3, "alle").await;
    let cluster = c.lc.cluster().unwrap();
    let create = |req: CreateAlertRequest| {
        let token = token.clone();
        cluster.call(move |ch| {
            let req = req.clone();
            let token = token.clone();
            async move { AlertServiceClient::new(ch).create_alert(authed(&token, req)).await }
        })
    };
    let first = create(alert_request("a", "alle", "en")).await.unwrap().value.into_inner().alert.unwrap();
    let leader = c.leader().await;
    c.lc.kill(leader).await.unwrap();
    let second = create(alert_request("b", "alle", "to")).await.unwrap();
    assert!(!second.value.get_ref().existing);
    let repeat = create(alert_request("a", "alle", "en")).await.unwrap().value.into_inner();
    assert!(repeat.existing);
    assert_eq!(repeat.alert.unwrap().id, first.id);
    let survivor = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let got = c
        .api(survivor)
        .alerts
        .get_alert(authed(&token, GetAlertRequest { id: first.id, consistency: 1 }))
        .await;
    assert_eq!(got.unwrap().into_inner().alert.unwrap().title, "Flomvarsel");
}
