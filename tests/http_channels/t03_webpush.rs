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

/// Goal: Web Push as the RFC 8030/8291/8292 peers expect it: the payload decrypts with the
/// subscriber's keys in an implementation we did not write (http-ece), the VAPID token verifies
/// (py-vapid) with the right audience and subject, TTL and Urgency are set; a 410 from the push
/// service marks the contact's subscription invalid, so the next alert skips it.
/// Method: two subscriptions made by the Python side (which keeps their private keys), a VAPID
/// key made by py-vapid, a push service in the test that accepts one subscription and answers
/// 410 for the other; two alerts one after the other.
#[tokio::test(flavor = "multi_thread")]
async fn encrypted_payload_vapid_and_gone_subscriptions() {
    let python =
        tokio::task::spawn_blocking(|| python::ensure_venv(&here().join("requirements.txt"))).await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let vapid_file = keys.path().join("vapid.pem");
    let vapid_public =
        webpush_py(&python, &["vapid", vapid_file.to_str().unwrap()], String::new()).await.trim().to_string();
    let subs: Vec<Value> = futures::future::join_all((0..2).map(|_| async {
        serde_json::from_str(&webpush_py(&python, &["subscriber"], String::new()).await).unwrap()
    }))
    .await;
    let service = Peer::start(push_service).await;
    let f = Channels::start(|dir| {
        let text = format!(
            "vapid_private_key_file = \"{}\"\nvapid_subject = \"{SUBJECT}\"\nttl_s = 600\nallow_http_endpoints = true",
            vapid_file.display()
        );
        vec![provider("webpush", C::Push, dir, ProviderKind::WebPush(toml::from_str::<WebPushConfig>(&text).unwrap()))]
    })
    .await;
    let endpoints = [service.url("/push/a"), service.url("/push/b")];
    let subscription = |i: usize| {
        json!({"endpoint": endpoints[i], "keys": {"p256dh": subs[i]["p256dh"], "auth": subs[i]["auth"]}})
            .to_string()
    };
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
        let r = requests.iter().find(|r| r.path == *path).unwrap();
        let payload = decrypt(&python, r, &subs[i], &endpoints[i], &vapid_public).await;
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
