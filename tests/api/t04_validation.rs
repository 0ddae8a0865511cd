use std::collections::HashMap;

use varsel_proto::api::{
    Channel, ChannelContent, Content, CreateAlertRequest, CreateCredentialRequest, CreateTenantRequest,
    EscalationStep, Limits, Role, UpsertContactRequest,
};

use crate::common::{TestCluster, authed};
use crate::t03_alerts::{add_contacts, alert_request};

fn assert_invalid(
    r: Result<tonic::Response<impl std::fmt::Debug>, tonic::Status>,
    code: tonic::Code,
    needles: &[&str],
) {
    let err = r.expect_err("expected an error");
    assert_eq!(err.code(), code, "{err:?}");
    for n in needles {
        assert!(err.message().contains(n), "message {:?} does not mention {n:?}", err.message());
    }
}

/// Goal: every validation rule gives INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for limits) that
/// names the field and the rule, and nothing is created.
/// Method: one request per rule against a tenant with small limits.
#[tokio::test(flavor = "multi_thread")]
async fn each_rule_names_field_and_rule() {
    let c = TestCluster::start(3, |_| {}).await;
    let mut api = c.api(2);
    let limits = Limits { max_sms_segments: 1, max_recipients_per_alert: 3, ..Default::default() };
    let t = api
        .tenants
        .create_tenant(authed(
            &c.superadmin(),
            CreateTenantRequest { name: "small".into(), limits: Some(limits), ..Default::default() },
        ))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    let req = CreateCredentialRequest {
        tenant_id: t.id,
        name: "ops".into(),
        role: Role::Operator as i32,
        ..Default::default()
    };
    let token = api.tenants.create_credential(authed(&c.superadmin(), req)).await.unwrap().into_inner().token;

    let contact = |phone: &str, email: &str| UpsertContactRequest {
        contact: Some(varsel_proto::api::Contact {
            external_id: "x".into(),
            phone: phone.into(),
            email: email.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_invalid(
        api.contacts.upsert_contact(authed(&token, contact("12345678", ""))).await,
        tonic::Code::InvalidArgument,
        &["contact.phone", "E.164"],
    );
    assert_invalid(
        api.contacts.upsert_contact(authed(&token, contact("", "ola@"))).await,
        tonic::Code::InvalidArgument,
        &["contact.email"],
    );
    assert_invalid(
        api.contacts.upsert_contact(authed(&token, contact("", ""))).await,
        tonic::Code::InvalidArgument,
        &["phone, email or push"],
    );

    add_contacts(&c, &token, 2, "liten").await;
    // 161 GSM characters need two segments; the tenant allows one.
    let long = alert_request("k1", "liten", &"a".repeat(161));
    assert_invalid(
        api.alerts.create_alert(authed(&token, long)).await,
        tonic::Code::InvalidArgument,
        &["sms_text", "segments", "limit of 1"],
    );
    // One emoji makes a 71-character text UCS-2: two segments.
    let emoji = alert_request("k2", "liten", &format!("{}🚨", "a".repeat(69)));
    assert_invalid(
        api.alerts.create_alert(authed(&token, emoji)).await,
        tonic::Code::InvalidArgument,
        &["UCS-2"],
    );
    // Norwegian letters are GSM-7: 160 of them fit one segment.
    let norsk = alert_request("k3", "liten", &("æøåÆØÅ".repeat(26) + "æøåæ"));
    api.alerts
        .create_alert(authed(&token, norsk))
        .await
        .expect("160 GSM-7 characters with æøå fit one segment");
    // The policy sends voice but there is no voice script.
    let voice = CreateAlertRequest {
        policy: vec![EscalationStep {
            channels: vec![Channel::Sms as i32, Channel::Voice as i32],
            after_seconds: 0,
        }],
        ..alert_request("k4", "liten", "hei")
    };
    assert_invalid(
        api.alerts.create_alert(authed(&token, voice)).await,
        tonic::Code::InvalidArgument,
        &["voice_script", "required"],
    );
    // Unknown template variable.
    let unknown = alert_request("k5", "liten", "Hei {{navn}}");
    assert_invalid(
        api.alerts.create_alert(authed(&token, unknown)).await,
        tonic::Code::InvalidArgument,
        &["navn"],
    );
    // Empty content.
    let empty = CreateAlertRequest {
        content: Some(Content {
            default_language: "nb".into(),
            variants: HashMap::from([("nb".into(), ChannelContent::default())]),
        }),
        ..alert_request("k6", "liten", "")
    };
    assert_invalid(
        api.alerts.create_alert(authed(&token, empty)).await,
        tonic::Code::InvalidArgument,
        &["policy"],
    );
    // A target that does not exist.
    assert_invalid(
        api.alerts.create_alert(authed(&token, alert_request("k7", "finnes-ikke", "hei"))).await,
        tonic::Code::NotFound,
        &["finnes-ikke"],
    );
    // Limits: four recipients against a limit of three.
    add_contacts(&c, &token, 4, "stor").await;
    assert_invalid(
        api.alerts.create_alert(authed(&token, alert_request("k8", "stor", "hei"))).await,
        tonic::Code::ResourceExhausted,
        &["max_recipients_per_alert"],
    );
    // A missing idempotency key.
    assert_invalid(
        api.alerts.create_alert(authed(&token, alert_request("", "liten", "hei"))).await,
        tonic::Code::InvalidArgument,
        &["idempotency_key"],
    );
}
