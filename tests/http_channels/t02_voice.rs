use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use varsel_config::ProviderKind;
use varsel_config::providers::HttpSmsConfig;
use varsel_config::providers::VoiceHttpConfig;
use varsel_domain::Channel as C;
use varsel_proto::api::Channel;

use crate::fixture::{Channels, VOICE_SCRIPT, WEBHOOK_SECRET, counts, provider, step, write_secret};
use crate::peer::{Answer, Peer, Request};

const TOKEN: &str = "Bearer voice-token-not-logged";

/// The provider's own layout: nested objects, its names, its voice for Norwegian.
fn voice_config(url: &str, token_file: &std::path::Path) -> VoiceHttpConfig {
    let text = format!(
        r#"
url = "{url}"
auth_file = "{}"
caller_id = "+4722000000"
languages = {{ nb = "nb-NO" }}
response_id = "call.sid"
[request]
to = "call.to"
script = "tts.text"
language = "tts.voice"
reference = "ref"
callback = "events_url"
caller_id = "call.from"
"#,
        token_file.display()
    );
    toml::from_str(&text).unwrap()
}

/// One call request as the provider's layout wants it, calling back to a node.
fn check_call(r: &Request, key: &str, to: &str, nodes: &[String]) {
    let body = r.json();
    assert_eq!(body["ref"], key, "the reference is the message key");
    assert_eq!(body["call"]["to"], to);
    assert_eq!(body["call"]["from"], "+4722000000");
    assert_eq!(body["tts"], json!({"text": VOICE_SCRIPT, "voice": "nb-NO"}));
    assert_eq!(r.header("authorization"), TOKEN);
    let callback = body["events_url"].as_str().unwrap();
    assert!(
        nodes.iter().any(|n| callback == format!("{n}/inbound/v1/voice-gw/voice")),
        "callback {callback} is not a node's voice webhook"
    );
}

/// Goal: a call request carries the script, its language (mapped to the provider's voice), the
/// message key, the caller id, the credential and a callback URL on the node; the provider's
/// signed call results posted to that URL become delivery records: keypad "1" acknowledges the
/// alert (the SMS step after the call is skipped for that recipient), "no answer" is recorded
/// as failed. A badly signed callback is refused with 401 and changes nothing.
/// Method: two contacts, a voice call now and SMS after 15 s. The test answers as the voice
/// provider at the callback URL each request names: answered with "1" for the first contact; for
/// the second a forged "answered, pressed 1" (bad signature), then "no-answer".
#[tokio::test(flavor = "multi_thread")]
async fn calls_callbacks_and_keypad_ack() {
    let voice = Peer::start(|r| {
        Answer::json(201, json!({"call": {"sid": format!("CA-{}", r.json()["ref"].as_str().unwrap_or(""))}}))
    })
    .await;
    let sms = Peer::start(|_| Answer::json(202, json!({}))).await;
    let (voice_url, sms_url) = (voice.url("/v2/calls"), sms.url("/sms"));
    let f = Channels::start(|dir| {
        let voice = voice_config(&voice_url, &write_secret(dir, "voice.token", TOKEN));
        let v = provider("voice-gw", C::Voice, dir, ProviderKind::VoiceHttp(voice));
        let sms =
            toml::from_str::<HttpSmsConfig>(&format!("url = \"{sms_url}\"\nmode = \"single\"")).unwrap();
        let s = provider("sms-gw", C::Sms, dir, ProviderKind::HttpSms(sms));
        vec![v, s]
    })
    .await;
    let a = f.contact("v1", Some("+4791000001"), None, "alle").await;
    let b = f.contact("v2", Some("+4791000002"), None, "alle").await;
    let alert = f.alert("voice", "alle", vec![step(&[Channel::Voice], 0), step(&[Channel::Sms], 15)]).await;
    let key = |c: u64| format!("a{}-c{c}-voice-0", alert.id);

    let calls = voice.wait_for("2 call requests", Duration::from_secs(60), |rs| rs.len() == 2).await;
    let nodes: Vec<String> = f.c.ids().iter().map(|id| f.http(*id)).collect();
    for r in &calls {
        let c = if r.json()["ref"] == key(a) { a } else { b };
        check_call(r, &key(c), if c == a { "+4791000001" } else { "+4791000002" }, &nodes);
    }
    let callback_of = |c: u64| {
        calls.iter().find(|r| r.json()["ref"] == key(c)).unwrap().json()["events_url"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let forged = json!({"reference": key(b), "status": "completed", "digits": "1", "call_id": "CA-x"});
    assert_eq!(f.post_signed(&callback_of(b), "not-the-secret", &forged).await, 401);
    let answered = json!({"reference": key(a), "status": "completed", "digits": "1", "call_id": format!("CA-{}", key(a))});
    assert_eq!(f.post_signed(&callback_of(a), WEBHOOK_SECRET, &answered).await, 200);
    let missed = json!({"reference": key(b), "status": "no-answer", "call_id": format!("CA-{}", key(b))});
    assert_eq!(f.post_signed(&callback_of(b), WEBHOOK_SECRET, &missed).await, 200);
    f.wait_progress(alert.id, 1, "call results", |p| {
        p.acknowledged == 1 && counts(p, Channel::Voice).failed == 1
    })
    .await;

    let done = f.wait_completed(alert.id).await.progress.unwrap();
    let v = counts(&done, Channel::Voice);
    assert_eq!((v.sent, v.delivered, v.failed), (2, 1, 1), "{v:?}");
    assert_eq!(done.acknowledged, 1);
    let texted: BTreeSet<String> =
        sms.requests().iter().map(|r| r.json()["reference"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        texted,
        BTreeSet::from([format!("a{}-c{b}-sms-1", alert.id)]),
        "only the one who did not press 1"
    );
    let s = counts(&done, Channel::Sms);
    assert_eq!((s.sent, s.skipped), (1, 1), "{s:?}");
}
