use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use varsel_config::providers::VoiceHttpConfig;
use varsel_config::{ProviderKind, ReplyRoute};
use varsel_domain::Channel as C;
use varsel_proto::api::{Channel, Role};

use crate::fixture::{
    Channels, PEER_NETWORKS, WEBHOOK_SECRET, batch_sms_config, provider, step, write_secret,
};
use crate::peer::{Answer, Peer, Request};

/// The number both tenants' contact lists hold for the same person.
const PARENT: &str = "+4790000011";

fn accepting_gateway(req: &Request) -> Answer {
    let results: Vec<Value> = req.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"state": "OK", "id": format!("m-{}", m["client_ref"].as_str().unwrap_or_default())}))
        .collect();
    Answer::json(200, json!({ "results": results }))
}

/// Goal: a reply acknowledges only the alert of the tenant it was meant for. One person is a
/// contact of two tenants (the municipality and the school), both of whose alerts are open: an
/// "OK" that does not say which number it was sent to acknowledges neither (it is counted as
/// unattributed, and escalation goes on for both); an "OK" sent to the school's routed number
/// (`delivery.reply_routes`) acknowledges the school's alert only, and the municipality's
/// voice call still comes.
/// Method: HTTP SMS and voice peers; both alerts send SMS at once and call after 15 s; the
/// replies are posted as signed webhooks to different nodes.
#[tokio::test(flavor = "multi_thread")]
async fn reply_acknowledges_only_its_tenants_alert() {
    let sms = Peer::start(accepting_gateway).await;
    let voice =
        Peer::start(|r| Answer::json(201, json!({"id": format!("call-{}", r.json()["reference"])}))).await;
    let (sms_url, voice_url) = (sms.url("/api/sms"), voice.url("/calls"));
    let route = ReplyRoute { provider: "sms-gw".into(), to: "2222".into(), tenant: "skole".into() };
    let f = Channels::start_tuned(
        PEER_NETWORKS,
        |dir| {
            let sms = batch_sms_config(&sms_url, &write_secret(dir, "sms.key", "key\n"), "permanent");
            let voice = toml::from_str::<VoiceHttpConfig>(&format!("url = \"{voice_url}\"")).unwrap();
            vec![
                provider("sms-gw", C::Sms, dir, ProviderKind::HttpSms(sms)),
                provider("voice-gw", C::Voice, dir, ProviderKind::VoiceHttp(voice)),
            ]
        },
        |s| s.delivery.reply_routes = vec![route],
    )
    .await;
    let (_, school) = f.c.tenant_with(1, "skole", Role::Operator).await;
    let in_kommune = f.contact("forelder", Some(PARENT), None, "alle").await;
    let in_school = f.contact_as(&school, "forelder", Some(PARENT), None, "alle").await;
    let policy = || vec![step(&[Channel::Sms], 0), step(&[Channel::Voice], 15)];
    let kommune_alert = f.alert("evakuering", "alle", policy()).await;
    let school_alert = f.alert_as(&school, "skolen-stengt", "alle", policy()).await;
    let total =
        |rs: &[Request]| rs.iter().map(|r| r.json()["messages"].as_array().unwrap().len()).sum::<usize>();
    sms.wait_for("both SMS at the gateway", Duration::from_secs(60), |rs| total(rs) == 2).await;

    let hook = |node: u64| format!("{}/inbound/v1/sms-gw/replies", f.http(node));
    let unrouted = json!({"replies": [{"from": PARENT, "text": "OK"}]});
    assert_eq!(f.post_signed(&hook(1), WEBHOOK_SECRET, &unrouted).await, 200);
    let python = crate::common::metrics::parser_python();
    let scrape = crate::common::metrics::scrape(&f.c, &python, 1).await;
    let ambiguous = scrape.sum(
        "varsel_delivery_replies_unattributed_total",
        &[("reason", "open alerts of several tenants reached the number")],
    );
    assert_eq!(ambiguous, 1.0, "the unrouted reply must be counted as unattributed");

    let routed = json!({"replies": [{"from": PARENT, "to": "2222", "text": "OK"}]});
    assert_eq!(f.post_signed(&hook(3), WEBHOOK_SECRET, &routed).await, 200);
    let acknowledged = f.get_as(&school, school_alert.id, 2).await.progress.unwrap_or_default().acknowledged;
    assert_eq!(acknowledged, 1, "the routed reply is committed before it is answered");

    let done = f.wait_completed(kommune_alert.id).await;
    assert_eq!(
        done.progress.unwrap_or_default().acknowledged,
        0,
        "the municipality's alert was not answered"
    );
    let called: BTreeSet<String> =
        voice.requests().iter().map(|r| r.json()["reference"].as_str().unwrap().to_string()).collect();
    let kommune_call = format!("a{}-c{in_kommune}-voice-1", kommune_alert.id);
    let school_call = format!("a{}-c{in_school}-voice-1", school_alert.id);
    assert!(called.contains(&kommune_call), "the municipality's voice call must still come: {called:?}");
    assert!(!called.contains(&school_call), "the school's alert was acknowledged, yet called: {called:?}");
}
