use std::collections::HashMap;

use varsel_proto::api::{
    Channel, ChannelContent, Consistency, Content, CreateAlertRequest, CreateCredentialRequest,
    CreateTenantRequest, EscalationStep, Limits, ListAlertsRequest, ListAuditRequest, Priority, Role,
    SetLimitsRequest, Targets, UpsertContactRequest,
};

use crate::common::{TestCluster, authed};

/// Recipients in the test's group.
const RECIPIENTS: u64 = 4;
/// The tenant's limit: between two channels (8 messages) and three (12).
const MAX_MESSAGES: u64 = 10;

fn step(channels: &[Channel], after_seconds: u32) -> EscalationStep {
    EscalationStep { channels: channels.iter().map(|c| *c as i32).collect(), after_seconds }
}

fn alert(key: &str, policy: Vec<EscalationStep>) -> CreateAlertRequest {
    let variant = ChannelContent {
        sms_text: "Evakuer nå.".into(),
        voice_script: "Dette er et varsel.".into(),
        email_subject: "Varsel".into(),
        email_text: "Evakuer nå.".into(),
        ..Default::default()
    };
    CreateAlertRequest {
        idempotency_key: key.into(),
        title: "Grense".into(),
        priority: Priority::Crisis as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: HashMap::from([("nb".into(), variant)]),
        }),
        targets: Some(Targets { group_names: vec!["alle".into()], ..Default::default() }),
        policy,
        // An hour ahead: the test is about acceptance; nothing needs to be sent.
        send_at_ms: varsel_domain::clock::wall_ms() + 3_600_000,
        ..Default::default()
    }
}

/// Goal: `max_messages_per_alert` holds: an alert whose recipients times channels (every
/// channel of every escalation step) exceed it is refused with RESOURCE_EXHAUSTED naming the
/// limit and the arithmetic, and leaves nothing behind (no alert, no audit record); one at the
/// limit is accepted; raising the limit lets the refused alert through.
/// Method: three node processes; a tenant limited to 10 messages per alert, 4 contacts; alerts
/// of 3 channels at once (12), 3 channels over escalation steps (12), 2 channels (8); then
/// SetLimits to 12 and the 3-channel alert again; each through a different node.
#[tokio::test(flavor = "multi_thread")]
async fn max_messages_per_alert_is_enforced() {
    let c = TestCluster::start(3, |_| {}).await;
    let sa = c.superadmin();
    let limits = Limits { max_messages_per_alert: MAX_MESSAGES, ..Default::default() };
    let req = CreateTenantRequest { name: "liten".into(), limits: Some(limits), ..Default::default() };
    let tenant = c.api(1).tenants.create_tenant(authed(&sa, req)).await.unwrap().into_inner().tenant.unwrap();
    assert_eq!(tenant.limits.unwrap().max_messages_per_alert, MAX_MESSAGES);
    let req = CreateCredentialRequest {
        tenant_id: tenant.id,
        name: "ops".into(),
        role: Role::Operator as i32,
        ..Default::default()
    };
    let token = c.api(1).tenants.create_credential(authed(&sa, req)).await.unwrap().into_inner().token;
    for i in 0..RECIPIENTS {
        let contact = varsel_proto::api::Contact {
            external_id: format!("p{i}"),
            phone: format!("+4792000{i:03}"),
            email: format!("p{i}@example.no"),
            groups: vec!["alle".into()],
            ..Default::default()
        };
        let req = UpsertContactRequest { contact: Some(contact), ..Default::default() };
        c.api(1).contacts.upsert_contact(authed(&token, req)).await.unwrap();
    }

    let three_at_once = vec![step(&[Channel::Sms, Channel::Voice, Channel::Email], 0)];
    let three_in_steps =
        vec![step(&[Channel::Sms], 0), step(&[Channel::Voice], 300), step(&[Channel::Email], 600)];
    for (via, policy) in [(2, three_at_once.clone()), (3, three_in_steps)] {
        let err = c.api(via).alerts.create_alert(authed(&token, alert("for-mye", policy))).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        let expected = format!(
            "limit max_messages_per_alert ({MAX_MESSAGES}) exceeded: {RECIPIENTS} recipients x 3 channels = 12 messages"
        );
        assert_eq!(err.message(), expected);
    }
    let list = |n: u64| {
        let mut api = c.api(n);
        let token = token.clone();
        async move {
            let req =
                ListAlertsRequest { consistency: Consistency::Linearizable as i32, ..Default::default() };
            api.alerts.list_alerts(authed(&token, req)).await.unwrap().into_inner().alerts
        }
    };
    assert!(list(1).await.is_empty(), "a refused alert leaves nothing behind");
    let audit = ListAuditRequest { consistency: Consistency::Linearizable as i32, ..Default::default() };
    let records = c.api(2).audit.list_audit(authed(&token, audit)).await.unwrap().into_inner().records;
    assert!(!records.iter().any(|r| r.action == "alert.create"), "{records:?}");

    let two = vec![step(&[Channel::Sms, Channel::Email], 0)];
    let ok = c.api(1).alerts.create_alert(authed(&token, alert("to", two))).await.unwrap().into_inner();
    assert_eq!(ok.alert.unwrap().recipients_planned, RECIPIENTS);

    let raised = Limits { max_messages_per_alert: 12, ..Default::default() };
    let req = SetLimitsRequest { tenant_id: tenant.id, limits: Some(raised) };
    c.api(3).tenants.set_limits(authed(&sa, req)).await.unwrap();
    let at_limit = c.api(2).alerts.create_alert(authed(&token, alert("tre", three_at_once))).await;
    assert!(at_limit.is_ok(), "12 messages at a limit of 12 is allowed: {at_limit:?}");
    assert_eq!(list(3).await.len(), 2);
}
