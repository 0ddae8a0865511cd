use std::collections::HashMap;

use varsel_proto::api::{
    ChannelContent, Consistency, Content, CreateAlertRequest, GetAlertRequest, GetTemplateRequest,
    ListTemplatesRequest, Priority, PutTemplateRequest, Role, Targets, Template,
};

use crate::common::{TestCluster, authed};
use crate::t03_alerts::add_contacts;

fn variant(sms: &str, subject: &str) -> ChannelContent {
    ChannelContent {
        sms_text: sms.into(),
        email_subject: subject.into(),
        email_text: format!("{sms}\n\nHilsen kommunen"),
        ..Default::default()
    }
}

fn content(nb_sms: &str) -> Content {
    Content {
        default_language: "nb".into(),
        variants: HashMap::from([
            ("nb".into(), variant(nb_sms, "Varsel om {{hendelse}}")),
            ("en".into(), variant("Evacuate {{sted}} now, {{name}}.", "Alert: {{hendelse}}")),
        ]),
    }
}

fn put(name: &str, content: Content) -> PutTemplateRequest {
    PutTemplateRequest {
        template: Some(Template { name: name.into(), content: Some(content), updated_at_ms: 0 }),
    }
}

fn from_template(key: &str, template: &str, vars: &[(&str, &str)]) -> CreateAlertRequest {
    CreateAlertRequest {
        idempotency_key: key.into(),
        title: "Fra mal".into(),
        priority: Priority::Crisis as i32,
        template_name: template.into(),
        variables: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        targets: Some(Targets { group_names: vec!["alle".into()], ..Default::default() }),
        // Scheduled an hour ahead: this test is about what is stored, not what is sent
        // (tests/delivery/t09_content.rs checks what a template-based alert delivers).
        send_at_ms: varsel_domain::clock::wall_ms() + 3_600_000,
        ..Default::default()
    }
}

fn get(name: &str) -> GetTemplateRequest {
    GetTemplateRequest { name: name.into(), consistency: Consistency::Linearizable as i32 }
}

/// Goal: stored templates: PutTemplate stores or replaces by name, GetTemplate and
/// ListTemplates read them from any node, an alert by `template_name` copies the content at
/// acceptance (a later edit of the template does not change it), and every mistake is refused
/// naming the field: a missing default variant, bad template syntax, an unknown template, both
/// content and a template, a variable the alert does not give. Templates are per tenant, and a
/// viewer may read but not write them.
/// Method: three node processes; writes through node 1, reads through nodes 2 and 3
/// (linearizable), a second tenant and a viewer credential.
#[tokio::test(flavor = "multi_thread")]
async fn put_get_list_and_use_by_name() {
    let c = TestCluster::start(3, |_| {}).await;
    let (tenant, token) = c.tenant_with(1, "kommune", Role::Operator).await;
    let (_, other) = c.tenant_with(1, "nabo", Role::Operator).await;
    add_contacts(&c, &token, 3, "alle").await;
    let nb = "Evakuer {{sted}} nå, {{name}}.";
    let stored = c
        .api(1)
        .alerts
        .put_template(authed(&token, put("evakuering", content(nb))))
        .await
        .unwrap()
        .into_inner();
    let stored = stored.template.unwrap();
    assert_eq!(stored.content, Some(content(nb)));
    let got = c.api(3).alerts.get_template(authed(&token, get("evakuering"))).await.unwrap().into_inner();
    assert_eq!(got.template.as_ref(), Some(&stored));
    c.api(1).alerts.put_template(authed(&token, put("øvelse", content("Øvelse i {{sted}}.")))).await.unwrap();
    let list = ListTemplatesRequest { consistency: Consistency::Linearizable as i32 };
    let names: Vec<String> = c
        .api(2)
        .alerts
        .list_templates(authed(&token, list))
        .await
        .unwrap()
        .into_inner()
        .templates
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["evakuering", "øvelse"]);

    // An alert by name copies the template's content; a later edit leaves the alert as it was.
    let vars = [("sted", "sentrum"), ("hendelse", "flom")];
    let req = from_template("mal-1", "evakuering", &vars);
    let alert = c.api(2).alerts.create_alert(authed(&token, req)).await.unwrap().into_inner().alert.unwrap();
    assert_eq!(alert.content, Some(content(nb)));
    let edited = "Forlat {{sted}} straks, {{name}}.";
    let replaced =
        c.api(1).alerts.put_template(authed(&token, put("evakuering", content(edited)))).await.unwrap();
    assert!(replaced.into_inner().template.unwrap().updated_at_ms >= stored.updated_at_ms);
    let got = c.api(3).alerts.get_template(authed(&token, get("evakuering"))).await.unwrap().into_inner();
    assert_eq!(got.template.unwrap().content, Some(content(edited)));
    let read = GetAlertRequest { id: alert.id, consistency: Consistency::Linearizable as i32 };
    let again = c.api(3).alerts.get_alert(authed(&token, read)).await.unwrap().into_inner().alert.unwrap();
    assert_eq!(again.content, Some(content(nb)), "the accepted alert keeps the content it copied");

    refusals(&c, &token).await;

    // Another tenant sees no template, and cannot send by its name.
    let err = c.api(2).alerts.get_template(authed(&other, get("evakuering"))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let list = ListTemplatesRequest { consistency: Consistency::Linearizable as i32 };
    assert!(
        c.api(2).alerts.list_templates(authed(&other, list)).await.unwrap().into_inner().templates.is_empty()
    );
    add_contacts(&c, &other, 1, "alle").await;
    let err = c.api(2).alerts.create_alert(authed(&other, from_template("x", "evakuering", &vars))).await;
    assert_eq!(err.unwrap_err().code(), tonic::Code::NotFound);

    // A viewer reads templates but cannot write them.
    let viewer = c.credential(tenant, Role::Viewer).await;
    assert!(c.api(3).alerts.get_template(authed(&viewer, get("evakuering"))).await.is_ok());
    let err = c.api(3).alerts.put_template(authed(&viewer, put("ny", content(nb)))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
}

/// Each mistake with templates is refused with INVALID_ARGUMENT or NOT_FOUND naming the field.
async fn refusals(c: &TestCluster, token: &str) {
    let mut api = c.api(2);
    let no_default = Content {
        default_language: "nb".into(),
        variants: HashMap::from([("en".into(), variant("Hello", "Alert"))]),
    };
    let err = api.alerts.put_template(authed(token, put("feil", no_default))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("template.content.default_language"), "{err:?}");
    let err =
        api.alerts.put_template(authed(token, put("feil", content("Evakuer {{sted nå")))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("template.content.variants[nb].sms_text"), "{err:?}");
    let err = api.alerts.put_template(authed(token, put("", content("x")))).await.unwrap_err();
    assert!(err.message().starts_with("template.name: is required"), "{err:?}");

    let vars = [("sted", "sentrum"), ("hendelse", "flom")];
    let err =
        api.alerts.create_alert(authed(token, from_template("m2", "finnes-ikke", &vars))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().starts_with("template_name: "), "{err:?}");
    let both = CreateAlertRequest { content: Some(content("x")), ..from_template("m3", "evakuering", &vars) };
    let err = api.alerts.create_alert(authed(token, both)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().starts_with("content: "), "{err:?}");
    let missing = from_template("m4", "evakuering", &[("hendelse", "flom")]);
    let err = api.alerts.create_alert(authed(token, missing)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("sted"), "the missing variable is named: {err:?}");
}
