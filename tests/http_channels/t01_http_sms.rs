use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use varsel_config::ProviderKind;
use varsel_config::providers::HttpSmsConfig;
use varsel_config::providers::VoiceHttpConfig;
use varsel_domain::Channel as C;
use varsel_proto::api::Channel;

use crate::fixture::{Channels, WEBHOOK_SECRET, counts, provider, step, write_secret};
use crate::peer::{Answer, Peer, Request};

const API_KEY: &str = "sms-api-key-4711-not-logged";

/// The SMS gateway: one result per message; the number +4790000003 does not exist.
fn gateway(req: &Request) -> Answer {
    let results: Vec<Value> = req.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m["recipient"]["msisdn"].as_str() {
            Some("+4790000003") => json!({"state": "ERR", "code": "INVALID_MSISDN"}),
            _ => json!({"state": "OK", "msgId": format!("m-{}", m["client_ref"].as_str().unwrap())}),
        })
        .collect();
    Answer::json(200, json!({ "results": results }))
}

fn sms_config(url: &str, auth_file: &std::path::Path) -> HttpSmsConfig {
    let text = format!(
        r#"
url = "{url}"
auth_header = "X-Api-Key"
auth_file = "{}"
mode = "batch"
sender = "Varsel"
static_fields = {{ "channel" = "sms" }}
permanent_errors = ["INVALID_MSISDN"]
[request]
to = "recipient.msisdn"
text = "body"
reference = "client_ref"
sender = "originator"
messages = "messages"
[response]
results = "results"
id = "msgId"
status = "state"
accepted = ["OK"]
error = "code"
[receipts]
items = "events"
reference = "ref"
id = "msgId"
status = "stat"
delivered = ["DELIVRD"]
failed = ["UNDELIV", "EXPIRED"]
error = "err"
[replies]
items = "inbound"
from = "msisdn"
text = "message"
"#,
        auth_file.display()
    );
    toml::from_str(&text).unwrap()
}

/// Every message at the gateway has each value where the mapping puts it, once per recipient.
fn check_requests(requests: &[Request], key: &dyn Fn(usize) -> String) {
    let mut refs = BTreeSet::new();
    for r in requests {
        assert_eq!(r.header("x-api-key"), API_KEY, "the credential header");
        for m in r.json()["messages"].as_array().unwrap() {
            let i =
                (0..3).find(|i| m["client_ref"] == key(*i)).expect("the client reference is a message key");
            let expected = json!({
                "channel": "sms",
                "recipient": {"msisdn": format!("+479000000{}", i + 1)},
                "body": format!("Evakuer Person s{} nå. Svar OK.", i + 1),
                "client_ref": key(i),
                "originator": "Varsel",
            });
            assert_eq!(*m, expected);
            refs.insert(i);
        }
    }
    assert_eq!(refs.len(), 3, "each recipient once");
}

/// Goal: the generic HTTP SMS provider speaks the gateway's own JSON: every value where the
/// field mapping puts it, the message key as the client reference, the credential from its
/// file; per-message errors fail only their message. Receipts and replies in the gateway's own
/// layout, posted signed to any node, reach the alert (delivered, undeliverable, an "OK" that
/// acknowledges and stops escalation); badly signed ones are refused with 401 and change
/// nothing.
/// Method: three contacts (one number the gateway refuses), SMS now and a voice call after
/// 15 s. Badly signed webhooks go first (an undeliverable receipt for the contact that is
/// delivered, an "OK" from one who must still be called); the final counts show they were
/// ignored, and the voice peer's calls show who acknowledged.
#[tokio::test(flavor = "multi_thread")]
async fn gateway_layout_receipts_and_replies() {
    let sms = Peer::start(gateway).await;
    let voice =
        Peer::start(|r| Answer::json(201, json!({"id": format!("call-{}", r.json()["reference"])}))).await;
    let (sms_url, voice_url) = (sms.url("/api/sms"), voice.url("/calls"));
    let f = Channels::start(|dir| {
        let sms = sms_config(&sms_url, &write_secret(dir, "sms.key", &format!("{API_KEY}\n")));
        let p = provider("sms-gw", C::Sms, dir, ProviderKind::HttpSms(sms));
        let voice = toml::from_str::<VoiceHttpConfig>(&format!("url = \"{voice_url}\"")).unwrap();
        let v = provider("voice-gw", C::Voice, dir, ProviderKind::VoiceHttp(voice));
        vec![p, v]
    })
    .await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        ids.push(f.contact(&format!("s{i}"), Some(&format!("+479000000{i}")), None, "alle").await);
    }
    let alert =
        f.alert("sms-http", "alle", vec![step(&[Channel::Sms], 0), step(&[Channel::Voice], 15)]).await;
    let key = |i: usize| format!("a{}-c{}-sms-0", alert.id, ids[i]);

    let total =
        |rs: &[Request]| rs.iter().map(|r| r.json()["messages"].as_array().unwrap().len()).sum::<usize>();
    let requests = sms.wait_for("3 SMS at the gateway", Duration::from_secs(60), |rs| total(rs) == 3).await;
    check_requests(&requests, &key);

    let hook = |node: u64, kind: &str| format!("{}/inbound/v1/sms-gw/{kind}", f.http(node));
    let forged = json!({"events": [{"ref": key(0), "msgId": "x", "stat": "UNDELIV", "err": "forged"}]});
    assert_eq!(f.post_signed(&hook(3, "receipts"), "not-the-secret", &forged).await, 401);
    let forged_ok = json!({"inbound": {"msisdn": "4790000002", "message": "OK"}});
    assert_eq!(f.post_signed(&hook(1, "replies"), "not-the-secret", &forged_ok).await, 401);

    let receipts = json!({"events": [
        {"ref": key(0), "msgId": format!("m-{}", key(0)), "stat": "DELIVRD"},
        {"ref": key(1), "msgId": format!("m-{}", key(1)), "stat": "UNDELIV", "err": "absent subscriber"},
        {"ref": key(1), "msgId": "ignored", "stat": "ENROUTE"}
    ]});
    assert_eq!(f.post_signed(&hook(3, "receipts"), WEBHOOK_SECRET, &receipts).await, 200);
    let reply = json!({"inbound": {"msisdn": "4790000001", "message": "OK"}});
    assert_eq!(f.post_signed(&hook(1, "replies"), WEBHOOK_SECRET, &reply).await, 200);
    f.wait_progress(alert.id, 2, "receipts and the reply", |p| {
        p.acknowledged == 1 && counts(p, Channel::Sms).delivered == 1
    })
    .await;

    let done = f.wait_completed(alert.id).await.progress.unwrap();
    let called: BTreeSet<String> =
        voice.requests().iter().map(|r| r.json()["reference"].as_str().unwrap().to_string()).collect();
    let voice_key = |i: usize| format!("a{}-c{}-voice-1", alert.id, ids[i]);
    assert_eq!(called, BTreeSet::from([voice_key(1), voice_key(2)]), "the one who answered OK is not called");
    let s = counts(&done, Channel::Sms);
    // Failed: the refused number and the undeliverable receipt; the forged receipt changed nothing.
    assert_eq!((s.sent, s.delivered, s.failed), (2, 1, 2), "{s:?}");
    let v = counts(&done, Channel::Voice);
    assert_eq!((v.sent, v.skipped), (2, 1), "{v:?}");
    assert_eq!(done.acknowledged, 1);
    no_secret_in_logs(&f);
}

fn no_secret_in_logs(f: &Channels) {
    for id in f.c.ids() {
        let log = std::fs::read_to_string(&f.c.lc.node(id).unwrap().log_path).unwrap_or_default();
        assert!(!log.contains(API_KEY) && !log.contains(WEBHOOK_SECRET), "node {id} logged a secret");
    }
}
