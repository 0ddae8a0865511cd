use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use varsel_config::providers::VoiceHttpConfig;
use varsel_config::{ProviderKind, ReplyRoute};
use varsel_domain::Channel as C;
use varsel_proto::api::{Channel, Consistency, ListRepliesRequest, Reply, Role};

use crate::common::authed;
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
/// unattributed, kept, and shown to both tenants as unmatched, and escalation goes on for
/// both); an "OK" sent to the school's routed number (`delivery.reply_routes`) acknowledges the
/// school's alert only, and the municipality's voice call still comes. A reply that names the
/// message it answers is placed by that reference, and one that says something other than
/// "OK" is kept for the operator without acknowledging. Each is kept once, though posted
/// twice.
/// The school's SMS is sent from its routed number, so answers to it come back routed. A node
/// that cannot tell it is current (its read barrier fails) refuses a reply with 503 rather
/// than place it from an old state.
/// Method: HTTP SMS and voice peers; both alerts send SMS at once and call after 15 s; the
/// replies are posted as signed webhooks to different nodes, and read back with ListReplies.
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
        |s| {
            s.delivery.reply_routes = vec![route];
            s.fail_reads = vec!["barrier".into()];
        },
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
    // The school's SMS goes out from its routed number, so the parent's answer comes back to
    // it; the municipality has no route here and sends from the provider's default sender.
    let senders: BTreeSet<(String, Option<String>)> = sms
        .requests()
        .iter()
        .flat_map(|r| r.json()["messages"].as_array().cloned().unwrap_or_default())
        .map(|m| (m["client_ref"].as_str().unwrap().to_string(), m["from"].as_str().map(String::from)))
        .collect();
    let school_sms = format!("a{}-c{in_school}-sms-0", school_alert.id);
    let kommune_sms_key = format!("a{}-c{in_kommune}-sms-0", kommune_alert.id);
    assert_eq!(
        senders,
        BTreeSet::from([(school_sms, Some("2222".to_string())), (kommune_sms_key, None)]),
        "each tenant's SMS from its own sender"
    );

    let hook = |node: u64| format!("{}/inbound/v1/sms-gw/replies", f.http(node));
    // A node that cannot tell it is current places no reply: the provider is told to send it
    // again (each node's first read barrier before placing replies fails, by failpoint), and
    // the next copy is taken.
    let refused_once = std::sync::Mutex::new(BTreeSet::new());
    let post = |node: u64, body: Value| {
        let (f, refused_once) = (&f, &refused_once);
        async move {
            if refused_once.lock().unwrap().insert(node) {
                let first = f.post_signed(&hook(node), WEBHOOK_SECRET, &body).await;
                assert_eq!(first, 503, "node {node} placed a reply without its read barrier");
            }
            f.post_signed(&hook(node), WEBHOOK_SECRET, &body).await
        }
    };
    let unrouted = json!({"replies": [{"from": PARENT, "text": "OK"}]});
    assert_eq!(post(1, unrouted).await, 200);
    let python = crate::common::metrics::parser_python();
    let scrape = crate::common::metrics::scrape(&f.c, &python, 1).await;
    let ambiguous = scrape.sum(
        "varsel_delivery_replies_unattributed_total",
        &[("reason", "alerts of several tenants reached the number")],
    );
    assert_eq!(ambiguous, 1.0, "the unrouted reply must be counted as unattributed");

    let routed = json!({"replies": [{"from": PARENT, "to": "2222", "text": "OK"}]});
    assert_eq!(post(3, routed).await, 200);
    let acknowledged = f.get_as(&school, school_alert.id, 2).await.progress.unwrap_or_default().acknowledged;
    assert_eq!(acknowledged, 1, "the routed reply is committed before it is answered");

    // The provider names the message replied to (its client reference, our key).
    let kommune_sms = format!("a{}-c{in_kommune}-sms-0", kommune_alert.id);
    let help = json!({"replies": [{"from": PARENT, "text": "Trenger hjelp", "id": "mo-7", "provider_id": kommune_sms}]});
    assert_eq!(post(2, help.clone()).await, 200);
    assert_eq!(post(1, help).await, 200, "a copy is answered too");

    let school_replies = replies(&f, &school, school_alert.id, false).await;
    assert_eq!(summary(&school_replies), [("OK".into(), true, "route".into(), in_school)]);
    let kommune_replies = replies(&f, &f.token, kommune_alert.id, false).await;
    assert_eq!(
        summary(&kommune_replies),
        [("Trenger hjelp".into(), false, "reference".into(), in_kommune)],
        "placed by its reference, kept once, acknowledging nothing"
    );
    for token in [&f.token, &school] {
        let unmatched = replies(&f, token, 0, true).await;
        assert_eq!(unmatched.len(), 1, "the unrouted OK is shown to both tenants it may be for");
        assert_eq!(unmatched[0].unmatched_reason, "alerts of several tenants reached the number");
        assert_eq!((unmatched[0].alert_id, unmatched[0].acknowledges), (0, false));
    }

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

/// The replies of an alert (or the unmatched ones) as `token` sees them through node 2.
async fn replies(f: &Channels, token: &str, alert_id: u64, unmatched: bool) -> Vec<Reply> {
    let req = ListRepliesRequest {
        alert_id,
        unmatched,
        consistency: Consistency::Linearizable as i32,
        ..Default::default()
    };
    f.c.api(2).alerts.list_replies(authed(token, req)).await.unwrap().into_inner().replies
}

/// (text, acknowledges, placed by, contact) of each reply.
fn summary(replies: &[Reply]) -> Vec<(String, bool, String, u64)> {
    replies.iter().map(|r| (r.text.clone(), r.acknowledges, r.attributed_by.clone(), r.contact_id)).collect()
}
