use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use varsel_config::ProviderKind;
use varsel_config::providers::WebPushConfig;
use varsel_domain::Channel as C;
use varsel_proto::api::Channel;

use crate::common::python;
use crate::fixture::{Channels, counts, provider, step};
use crate::peer::{Answer, Peer, Request};

const SUBJECT: &str = "mailto:beredskap@kommune.example";

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/http_channels")
}

/// Runs `webpush.py` with `args` and `stdin` off the async workers; returns its stdout.
async fn webpush_py(python: &Path, args: &[&str], stdin: String) -> String {
    let (python, args) = (python.to_path_buf(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        python::run_script(&python, &here().join("webpush.py"), &args, &stdin)
    })
    .await
    .unwrap()
}

/// The push service: subscription "a" is alive (201 with a message URL), "b" is gone (410).
fn push_service(r: &Request) -> Answer {
    match r.path.as_str() {
        "/push/a" => {
            Answer { status: 201, headers: vec![("location", "/messages/1".into())], body: String::new() }
        }
        _ => Answer { status: 410, headers: vec![], body: "subscription expired".into() },
    }
}

/// Checks one recorded push request with the independent implementation; returns the payload.
async fn decrypt(python: &Path, r: &Request, sub: &Value, endpoint: &str, vapid_public: &str) -> Value {
    assert_eq!(r.header("content-encoding"), "aes128gcm");
    assert_eq!(r.header("urgency"), "high", "a crisis alert must wake the device");
    assert_eq!(r.header("ttl"), "600");
    let input = json!({
        "private": sub["private"], "auth": sub["auth"], "endpoint": endpoint, "subject": SUBJECT,
        "authorization": r.header("authorization"), "vapid_public": vapid_public,
        "body": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&r.body),
    });
    let out: Value = serde_json::from_str(&webpush_py(python, &["check"], input.to_string()).await).unwrap();
    assert_eq!(out["claims"]["sub"], SUBJECT);
    out["payload"].clone()
}

/// The Python side's keys, a push service and a cluster sending through it.
struct Pushing {
    python: PathBuf,
    vapid_public: String,
    /// Subscriptions made by the Python side (with their private keys).
    subs: Vec<Value>,
    service: Peer,
    f: Channels,
    _keys: tempfile::TempDir,
}

impl Pushing {
    /// `n` subscriptions, `answer` as the push service, three nodes with a Web Push provider.
    async fn start(n: usize, answer: fn(&Request) -> Answer) -> Self {
        let python = tokio::task::spawn_blocking(|| python::ensure_venv(&here().join("requirements.txt")))
            .await
            .unwrap();
        let keys = tempfile::tempdir().unwrap();
        let vapid_file = keys.path().join("vapid.pem");
        let vapid_public = webpush_py(&python, &["vapid", vapid_file.to_str().unwrap()], String::new())
            .await
            .trim()
            .to_string();
        let subs: Vec<Value> = futures::future::join_all((0..n).map(|_| async {
            serde_json::from_str(&webpush_py(&python, &["subscriber"], String::new()).await).unwrap()
        }))
        .await;
        let service = Peer::start(answer).await;
        let f = Channels::start(|dir| {
            let text = format!(
                "vapid_private_key_file = \"{}\"\nvapid_subject = \"{SUBJECT}\"\nttl_s = 600\nallow_http_endpoints = true",
                vapid_file.display()
            );
            vec![provider("webpush", C::Push, dir, ProviderKind::WebPush(toml::from_str::<WebPushConfig>(&text).unwrap()))]
        })
        .await;
        Self { python, vapid_public, subs, service, f, _keys: keys }
    }

    /// Subscription `i` as a browser's `PushSubscription.toJSON()`, at `endpoint`.
    fn subscription(&self, i: usize, endpoint: &str) -> String {
        json!({"endpoint": endpoint, "keys": {"p256dh": self.subs[i]["p256dh"], "auth": self.subs[i]["auth"]}})
            .to_string()
    }

    /// The payload of the recorded request to `path`, sent to subscription `i`.
    async fn payload(&self, path: &str, i: usize) -> Value {
        let requests = self.service.requests();
        let r =
            requests.iter().find(|r| r.path == path).unwrap_or_else(|| panic!("nothing pushed to {path}"));
        decrypt(&self.python, r, &self.subs[i], &self.service.url(path), &self.vapid_public).await
    }
}

/// Goal: Web Push as the RFC 8030/8291/8292 peers expect it: the payload decrypts with the
/// subscriber's keys in an implementation we did not write (http-ece), the VAPID token verifies
/// (py-vapid) with the right audience and subject, TTL and Urgency are set; a 410 from the push
/// service marks the contact's subscription invalid, so the next alert skips it.
/// Method: two subscriptions made by the Python side (which keeps their private keys), a VAPID
/// key made by py-vapid, a push service in the test that accepts one subscription and answers
/// 410 for the other; two alerts one after the other.
#[tokio::test(flavor = "multi_thread")]
async fn encrypted_payload_vapid_and_gone_subscriptions() {
    let pushing = Pushing::start(2, push_service).await;
    let (f, service) = (&pushing.f, &pushing.service);
    let endpoints = [service.url("/push/a"), service.url("/push/b")];
    let subscription = |i: usize| pushing.subscription(i, &endpoints[i]);
    let ids = [
        f.contact("alive", None, Some(&subscription(0)), "alle").await,
        f.contact("gone", None, Some(&subscription(1)), "alle").await,
    ];

    let first = f.alert("push-1", "alle", vec![step(&[Channel::Push], 0)]).await;
    let p = f.wait_completed(first.id).await.progress.unwrap();
    let c = counts(&p, Channel::Push);
    assert_eq!((c.sent, c.failed), (1, 1), "{c:?}");
    let requests = service.requests();
    assert_eq!(requests.len(), 2);
    for (i, path) in ["/push/a", "/push/b"].iter().enumerate() {
        let payload = pushing.payload(path, i).await;
        let key = format!("a{}-c{}-push-0", first.id, ids[i]);
        assert_eq!(
            payload,
            json!({"title": "Varsel", "body": "Evakuer nå – følg instruksene.", "alert": first.id, "key": key})
        );
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    while !f.get_contact(ids[1]).await.push_invalid {
        assert!(Instant::now() < deadline, "the 410 did not mark the subscription invalid");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!f.get_contact(ids[0]).await.push_invalid, "the live subscription must stay valid");

    let second = f.alert("push-2", "alle", vec![step(&[Channel::Push], 0)]).await;
    let p = f.wait_completed(second.id).await.progress.unwrap();
    let c = counts(&p, Channel::Push);
    assert_eq!((c.sent, c.failed, c.skipped), (1, 0, 1), "{c:?}");
    let later: Vec<String> = service.requests()[2..].iter().map(|r| r.path.clone()).collect();
    assert_eq!(later, vec!["/push/a".to_string()], "the gone subscription was pushed to again");
}

/// The push service for the answer test: every subscription is alive.
fn push_accepts(_: &Request) -> Answer {
    Answer { status: 201, headers: vec![("location", "/messages/1".into())], body: String::new() }
}

/// Goal: a push notification of an alert with answer options carries the recipient's response
/// link and one button per option, labelled in the recipient's language, in the shape
/// `showNotification` takes; posting a button's option to the link, as the subscriber's
/// service worker does, records that answer for that recipient.
/// Method: two contacts, one in bokmål and one in English, each with a subscription made by
/// the Python side; an alert with two options (labels in both languages) on push only; the
/// payloads decrypted with the subscribers' keys; the English recipient's second button
/// posted to its link; the alert's counts read back.
#[tokio::test(flavor = "multi_thread")]
async fn answer_buttons_in_the_recipients_language() {
    use varsel_proto::api::{
        AnswerOption, ChannelContent, Contact, Content, CreateAlertRequest, Priority, Targets,
        UpsertContactRequest,
    };
    let p = Pushing::start(2, push_accepts).await;
    let f = &p.f;
    for (i, lang) in ["nb", "en"].into_iter().enumerate() {
        let contact = Contact {
            external_id: format!("person-{lang}"),
            push_subscription: p.subscription(i, &p.service.url(&format!("/push/{lang}"))),
            language: lang.into(),
            groups: vec!["alle".into()],
            ..Default::default()
        };
        let req = UpsertContactRequest { contact: Some(contact), ..Default::default() };
        f.c.api(1).contacts.upsert_contact(crate::common::authed(&f.token, req)).await.unwrap();
    }
    let option = |nb: &str, en: &str, acknowledges| AnswerOption {
        labels: HashMap::from([("nb".to_string(), nb.to_string()), ("en".to_string(), en.to_string())]),
        acknowledges,
    };
    let variant = |title: &str, body: &str| ChannelContent {
        push_title: title.into(),
        push_body: body.into(),
        ..Default::default()
    };
    let req = CreateAlertRequest {
        idempotency_key: "push-answers".into(),
        title: "Gasslekkasje".into(),
        priority: Priority::Crisis as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: HashMap::from([
                ("nb".into(), variant("Gasslekkasje", "Er du trygg?")),
                ("en".into(), variant("Gas leak", "Are you safe?")),
            ]),
        }),
        targets: Some(Targets { group_names: vec!["alle".into()], ..Default::default() }),
        policy: vec![step(&[Channel::Push], 0)],
        answer_options: vec![option("Trygg", "Safe", true), option("Trenger hjelp", "Need help", false)],
        ..Default::default()
    };
    let alert =
        f.c.api(2)
            .alerts
            .create_alert(crate::common::authed(&f.token, req))
            .await
            .unwrap()
            .into_inner()
            .alert
            .unwrap();
    let c = counts(&f.wait_completed(alert.id).await.progress.unwrap(), Channel::Push);
    assert_eq!(c.sent, 2, "{c:?}");

    let nb = p.payload("/push/nb", 0).await;
    let en = p.payload("/push/en", 1).await;
    let buttons =
        |a: &str, b: &str| json!([{"action": "answer-1", "title": a}, {"action": "answer-2", "title": b}]);
    assert_eq!(nb["actions"], buttons("Trygg", "Trenger hjelp"), "{nb}");
    assert_eq!(en["actions"], buttons("Safe", "Need help"), "{en}");
    assert_eq!((nb["body"].as_str(), en["body"].as_str()), (Some("Er du trygg?"), Some("Are you safe?")));
    let links: Vec<&str> = [&nb, &en].iter().map(|v| v["answer_url"].as_str().expect("answer_url")).collect();
    assert_ne!(links[0], links[1], "each recipient has a link of its own");

    // What the service worker does for the English recipient's "Need help" button.
    let url = links[1].strip_prefix("https://").expect("an https link");
    let (authority, path) = url.split_once('/').unwrap();
    let ca = f.c.lc.ca.as_ref().map(|ca| ca.pem().cert.clone());
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let posted = crate::common::http::send(
        ca.as_deref(),
        authority.parse().unwrap(),
        "POST",
        &format!("/{path}"),
        &headers,
        b"option=2",
        Duration::from_secs(30),
    )
    .await
    .expect("the node answers");
    assert_eq!(posted.status, 303, "{}", posted.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = f.get(alert.id, 3).await;
        if a.answer_counts == [0, 1] {
            break;
        }
        assert!(Instant::now() < deadline, "the button's answer was not counted: {:?}", a.answer_counts);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
