use std::time::Duration;

use varsel_domain::clock::wall_ms;
use varsel_proto::api::{
    AckRequest, AlertStatus, Channel, Consistency, Contact, EscalationStep, GetContactRequest,
    ListAuditRequest, Priority, Role, WhoAmIRequest, get_contact_request,
};
use varsel_sim::Channel as SimChannel;

use crate::common::authed;
use crate::fixture::{Fixture, sim_config};

/// Recipients.
const N: usize = 20;
/// Recipients acknowledged through the API, by their index.
const ACKED: [usize; 5] = [0, 1, 2, 3, 4];
/// Delay of the voice step: long enough for the SMS step and the acknowledgements to finish
/// first on a busy machine (checked below).
const VOICE_AFTER_S: u32 = 20;

/// Goal: an operator's acknowledgement through gRPC (`Acknowledge`, e.g. taken by a call
/// centre) on any node stops escalation for that recipient: they get no voice call, everyone
/// else does; a second acknowledgement answers `already`; the alert's progress and the audit
/// trail count each once; a contact who is not a recipient, an unknown alert, another tenant and
/// a viewer are refused.
/// Method: 20 recipients, SMS at once and voice after 20 s; once every SMS reached its handset,
/// five recipients are acknowledged through nodes 1, 2 and 3 (one twice). After the alert
/// completes the simulator's inbox shows who was called.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledgement_through_the_api_stops_escalation() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(N, "alle").await;
    let outsider =
        Contact { external_id: "utenfor".into(), phone: "+4799999999".into(), ..Default::default() };
    let outsider = f.upsert(outsider).await;
    let policy = vec![
        EscalationStep { channels: vec![Channel::Sms as i32], after_seconds: 0 },
        EscalationStep { channels: vec![Channel::Voice as i32], after_seconds: VOICE_AFTER_S },
    ];
    let a = f.alert("kvitter", "alle", Priority::Crisis, policy).await;
    let sms_done = |i: &varsel_sim::InboxListing| {
        i.messages.iter().filter(|m| m.channel == SimChannel::Sms).count() == N
    };
    f.wait_inbox(a.id, Duration::from_secs(60), sms_done).await;

    let mut ids = Vec::new();
    for i in ACKED {
        let key = get_contact_request::Key::ExternalId(format!("alle-{i}"));
        let req = GetContactRequest { key: Some(key), consistency: Consistency::Linearizable as i32 };
        ids.push(
            f.c.api(1)
                .contacts
                .get_contact(authed(&f.token, req))
                .await
                .unwrap()
                .into_inner()
                .contact
                .unwrap()
                .id,
        );
    }
    let ack = |contact_id: u64| AckRequest { alert_id: a.id, contact_id };
    for (n, id) in ids.iter().enumerate() {
        let via = 1 + n as u64 % 3;
        let r = f.c.api(via).alerts.acknowledge(authed(&f.token, ack(*id))).await.unwrap().into_inner();
        assert!(!r.already, "contact {id} through node {via}");
    }
    let again = f.c.api(3).alerts.acknowledge(authed(&f.token, ack(ids[0]))).await.unwrap().into_inner();
    assert!(again.already, "a second acknowledgement changes nothing");
    let voice_due = a.created_at_ms + u64::from(VOICE_AFTER_S) * 1000;
    assert!(
        wall_ms() < voice_due,
        "the acknowledgements came after the voice step was due; lengthen VOICE_AFTER_S"
    );

    refusals(&f, a.id, outsider.id, ids[1]).await;

    let done = f.wait_final(a.id, 2).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    let inbox = f.sim.client.inbox(a.id).await.unwrap();
    let called: Vec<&str> =
        inbox.messages.iter().filter(|m| m.channel == SimChannel::Voice).map(|m| m.to.as_str()).collect();
    assert_eq!(called.len(), N - ACKED.len(), "{called:?}");
    for i in ACKED {
        let phone = format!("+4741{i:06}");
        assert!(!called.contains(&phone.as_str()), "alle-{i} acknowledged and was still called");
    }
    let p = done.progress.unwrap();
    assert_eq!(p.acknowledged, ACKED.len() as u64);
    let voice = p.channels.iter().find(|c| c.channel == Channel::Voice as i32).unwrap();
    assert_eq!((voice.sent, voice.skipped), ((N - ACKED.len()) as u64, ACKED.len() as u64));
    let audit = ListAuditRequest { consistency: Consistency::Linearizable as i32, ..Default::default() };
    let records = f.c.api(1).audit.list_audit(authed(&f.token, audit)).await.unwrap().into_inner().records;
    let acks: Vec<_> = records.iter().filter(|r| r.action == "alert.acknowledge").collect();
    assert_eq!(acks.len(), ACKED.len(), "{acks:?}");
    assert!(acks.iter().all(|r| r.detail.ends_with("acknowledged via api")), "{acks:?}");
}

/// Acknowledgements that must be refused, and change nothing.
async fn refusals(f: &Fixture, alert: u64, outsider: u64, recipient: u64) {
    let mut api = f.c.api(2);
    let err =
        api.alerts.acknowledge(authed(&f.token, AckRequest { alert_id: alert, contact_id: outsider })).await;
    let err = err.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().contains("is not a recipient"), "{err:?}");
    let err = api
        .alerts
        .acknowledge(authed(&f.token, AckRequest { alert_id: alert + 1000, contact_id: recipient }));
    assert_eq!(err.await.unwrap_err().code(), tonic::Code::NotFound);
    let tenant =
        api.tenants.who_am_i(authed(&f.token, WhoAmIRequest {})).await.unwrap().into_inner().tenant_id;
    let viewer = f.c.credential(tenant, Role::Viewer).await;
    let err =
        api.alerts.acknowledge(authed(&viewer, AckRequest { alert_id: alert, contact_id: recipient })).await;
    assert_eq!(err.unwrap_err().code(), tonic::Code::PermissionDenied);
    let (_, other) = f.c.tenant_with(1, "nabo", Role::Operator).await;
    let err =
        api.alerts.acknowledge(authed(&other, AckRequest { alert_id: alert, contact_id: recipient })).await;
    assert_eq!(err.unwrap_err().code(), tonic::Code::NotFound, "another tenant's alert looks like none");
}
