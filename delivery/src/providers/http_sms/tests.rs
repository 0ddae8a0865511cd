//! Unit tests of the HTTP SMS provider against a scripted HTTP peer in the test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use varsel_domain::model::Priority;

use super::*;

/// What the peer answers to a request body: status, extra header, body.
type Script = fn(&Value) -> (u16, Option<(&'static str, &'static str)>, Value);

#[derive(Clone)]
struct Peer {
    seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    script: Script,
}

async fn handle(
    State(p): State<Peer>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, header, answer) = (p.script)(&v);
    p.seen.lock().unwrap().push((headers, v));
    let mut r = axum::response::IntoResponse::into_response((
        StatusCode::from_u16(status).unwrap(),
        answer.to_string(),
    ));
    if let Some((k, v)) = header {
        r.headers_mut().insert(k, v.parse().unwrap());
    }
    r
}

/// Serves `script` on 127.0.0.1:0; returns the URL and what it saw.
async fn peer(script: Script) -> (String, Arc<Mutex<Vec<(HeaderMap, Value)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/sms", axum::routing::post(handle))
        .with_state(Peer { seen: seen.clone(), script });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/sms"), seen)
}

fn msg(i: u64, to: &str) -> OutboundMessage {
    OutboundMessage {
        key: format!("a1-c{i}-sms-0"),
        alert: 1,
        tenant: 1,
        contact: i,
        channel: Channel::Sms,
        step: 0,
        priority: Priority::Crisis,
        to: to.into(),
        content: MessageContent::Sms { text: format!("hei {i}") },
        senders: Default::default(),
    }
}

fn config(url: &str, mode: SmsMode) -> HttpSmsConfig {
    let text = format!(
        r#"
url = "{url}"
mode = "{}"
sender = "Varsel"
number_without_plus = true
permanent_errors = ["BAD_NUMBER"]
retryable_errors = ["BUSY"]
static_fields = {{ "type" = "text" }}
[request]
to = "recipient.msisdn"
text = "body"
reference = "client_ref"
sender = "originator"
messages = "batch.items"
[response]
results = "data"
id = "msgId"
status = "state"
accepted = ["OK"]
error = "code"
"#,
        if mode == SmsMode::Batch { "batch" } else { "single" }
    );
    toml::from_str(&text).unwrap()
}

/// Goal: batch mode puts every value where the mapping says, sends the credential, and reads
/// one result per message: accepted with the provider's id, permanent and retryable codes.
/// Method: a peer that records the request and answers three results.
#[tokio::test]
async fn batch_mapping_and_results() {
    let (url, seen) = peer(|_| {
        let data = json!({"data": [
            {"msgId": "m-1", "state": "OK"},
            {"state": "ERR", "code": "bad_number"},
            {"state": "ERR", "code": "BUSY"}
        ]});
        (200, None, data)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth");
    std::fs::write(&auth, "Bearer s3cret\n").unwrap();
    let mut c = config(&url, SmsMode::Batch);
    c.auth_file = Some(auth);
    c.validate("p", Channel::Sms).unwrap();
    let p = HttpSmsProvider::new("gw", &c, 100, Duration::from_secs(5)).unwrap();
    assert!(!format!("{p:?}").contains("s3cret"), "the credential must not be in Debug output");
    let batch = [msg(1, "+4790000001"), msg(2, "+4790000002"), msg(3, "+4790000003")];
    let results = p.send(&batch).await.unwrap();
    assert_eq!(results[0], SendResult::Accepted("m-1".into()));
    assert!(matches!(&results[1], SendResult::Permanent(r) if r.contains("bad_number")), "{results:?}");
    assert!(matches!(&results[2], SendResult::Retryable(r) if r.contains("BUSY")), "{results:?}");
    let seen = seen.lock().unwrap();
    let (headers, body) = &seen[0];
    assert_eq!(headers["authorization"], "Bearer s3cret");
    let first = &body["batch"]["items"][0];
    assert_eq!(
        *first,
        json!({"type": "text", "recipient": {"msisdn": "4790000001"}, "body": "hei 1",
               "client_ref": "a1-c1-sms-0", "originator": "Varsel"})
    );
}

/// Goal: single mode maps the call-level answers: all throttled → throttled, all 5xx →
/// unavailable (fail over), a 4xx with a code → that message only.
/// Method: peers scripted per recipient number.
#[tokio::test]
async fn single_mode_answers() {
    let (url, _) = peer(|v| match v["recipient"]["msisdn"].as_str() {
        Some("4790000001") => (200, None, json!({"data": {"msgId": "m-1", "state": "OK"}})),
        Some("4790000002") => (400, None, json!({"code": "BAD_NUMBER"})),
        Some("4790000003") => (429, Some(("retry-after", "2")), json!({})),
        _ => (503, None, json!({})),
    })
    .await;
    let mut c = config(&url, SmsMode::Single);
    c.response.results = Some("data".into());
    let p = HttpSmsProvider::new("gw", &c, 10, Duration::from_secs(5)).unwrap();
    let mixed = p.send(&[msg(1, "+4790000001"), msg(2, "+4790000002")]).await.unwrap();
    assert_eq!(mixed[0], SendResult::Accepted("m-1".into()));
    assert!(matches!(&mixed[1], SendResult::Permanent(_)), "{mixed:?}");
    assert_eq!(p.send(&[msg(3, "+4790000003")]).await, Err(ProviderError::Throttled(Duration::from_secs(2))));
    assert!(matches!(p.send(&[msg(4, "+4790000004")]).await, Err(ProviderError::Unavailable(_))));
    let down = HttpSmsProvider::new(
        "gw",
        &config("http://127.0.0.1:1/sms", SmsMode::Batch),
        10,
        Duration::from_secs(5),
    );
    assert!(matches!(down.unwrap().send(&[msg(1, "+47")]).await, Err(ProviderError::Unavailable(_))));
}

/// Goal: receipts and replies in a provider's own layout are read; intermediate statuses are
/// left out.
#[test]
fn inbound_layouts() {
    let receipts: SmsReceiptMap = toml::from_str(
        "items = \"events\"\nreference = \"ref\"\nid = \"msgId\"\nstatus = \"stat\"\ndelivered = [\"DELIVRD\"]\nfailed = [\"UNDELIV\"]\nerror = \"err\"",
    )
    .unwrap();
    let body = json!({"events": [
        {"ref": "a1-c1-sms-0", "msgId": "m-1", "stat": "DELIVRD"},
        {"ref": "a1-c2-sms-0", "msgId": "m-2", "stat": "UNDELIV", "err": "absent"},
        {"ref": "a1-c3-sms-0", "msgId": "m-3", "stat": "ENROUTE"}
    ]});
    let r = parse_receipts(&receipts, &body).unwrap();
    assert_eq!(r.len(), 2);
    assert!(r[0].delivered && r[0].provider_id == "m-1" && r[0].key == "a1-c1-sms-0");
    assert_eq!((r[1].delivered, r[1].error.as_deref()), (false, Some("absent")));
    let replies: SmsReplyMap =
        toml::from_str("items = \"inbound\"\nfrom = \"msisdn\"\ntext = \"message\"").unwrap();
    let body = json!({"inbound": {"msisdn": "4790000001", "message": "OK"}});
    assert_eq!(
        parse_replies(&replies, &body).unwrap(),
        vec![InboundReply {
            from: "+4790000001".into(),
            text: "OK".into(),
            to: None,
            sent_at_ms: None,
            id: None,
            in_reply_to: None
        }]
    );
}
