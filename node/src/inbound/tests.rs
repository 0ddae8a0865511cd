//! Unit tests of the webhook endpoints: signatures with ids, the replay memory (with an
//! injected clock) and what a replayed or refused request records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use super::replay::{IDS_MAX, REMEMBER_S};
use super::verify::{ID_BYTES_MAX, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, VerifyError, mac};
use super::*;

const SECRET: &[u8] = b"s3cret";
const NOW: u64 = 1_700_000_000;

/// Headers signed as a provider signs them.
fn signed(secret: &[u8], id: &str, ts: u64, body: &[u8]) -> HeaderMap {
    use hmac::Mac as _;
    let sig = hex::encode(mac(secret, id, &ts.to_string(), body).finalize().into_bytes());
    let mut h = HeaderMap::new();
    h.insert(ID_HEADER, id.parse().unwrap());
    h.insert(TIMESTAMP_HEADER, ts.to_string().parse().unwrap());
    h.insert(SIGNATURE_HEADER, format!("sha256={sig}").parse().unwrap());
    h
}

/// Goal: only a correctly signed, fresh request with a good id passes, and the id is part of
/// what is signed.
/// Method: one good request, then each part changed on its own.
#[test]
fn signatures() {
    let body = br#"{"receipts":[]}"#;
    let good = signed(SECRET, "evt-1", NOW, body);
    assert_eq!(verify(SECRET, &good, body, NOW), Ok(verify::Signed { id: "evt-1".into(), timestamp_s: NOW }));
    assert_eq!(verify(b"other", &good, body, NOW), Err(VerifyError::Mismatch), "wrong secret");
    assert_eq!(verify(SECRET, &good, b"{}", NOW), Err(VerifyError::Mismatch), "changed body");
    let mut other_id = good.clone();
    other_id.insert(ID_HEADER, "evt-2".parse().unwrap());
    assert_eq!(
        verify(SECRET, &other_id, body, NOW),
        Err(VerifyError::Mismatch),
        "an id it was not signed with"
    );
    let stale = verify(SECRET, &good, body, NOW + SKEW_MAX_S + 1);
    assert!(matches!(stale, Err(VerifyError::Stale { .. })), "{stale:?}");
    assert_eq!(
        verify(SECRET, &good, body, NOW + SKEW_MAX_S),
        verify(SECRET, &good, body, NOW),
        "edge of the window"
    );
    assert_eq!(
        verify(SECRET, &HeaderMap::new(), body, NOW),
        Err(VerifyError::Missing(ID_HEADER)),
        "unsigned"
    );
}

/// Goal: a request without a usable id is refused even when otherwise well signed, and so is
/// one whose headers could be read two ways.
/// Method: no id (signed the old way, over timestamp and body only), ids that are empty, too
/// long, hold '.' or a space or non-ASCII, a repeated id header, a timestamp with a sign.
#[test]
fn ids_and_headers() {
    let body = br#"{"receipts":[]}"#;
    let mut old = signed(SECRET, "x", NOW, body);
    old.remove(ID_HEADER);
    assert_eq!(verify(SECRET, &old, body, NOW), Err(VerifyError::Missing(ID_HEADER)));
    for id in ["", "a.b", "a b", &"x".repeat(ID_BYTES_MAX + 1)] {
        let mut h = signed(SECRET, "x", NOW, body);
        h.insert(ID_HEADER, id.parse().unwrap());
        assert_eq!(verify(SECRET, &h, body, NOW), Err(VerifyError::BadId), "{id:?}");
    }
    assert!(verify(SECRET, &signed(SECRET, &"x".repeat(ID_BYTES_MAX), NOW, body), body, NOW).is_ok());
    let mut h = signed(SECRET, "x", NOW, body);
    h.insert(ID_HEADER, axum::http::HeaderValue::from_bytes("é".as_bytes()).unwrap());
    assert_eq!(verify(SECRET, &h, body, NOW), Err(VerifyError::NotAscii(ID_HEADER)));
    let mut h = signed(SECRET, "x", NOW, body);
    h.append(ID_HEADER, "y".parse().unwrap());
    assert_eq!(verify(SECRET, &h, body, NOW), Err(VerifyError::Repeated(ID_HEADER)));
    let mut h = signed(SECRET, "x", NOW, body);
    h.insert(TIMESTAMP_HEADER, format!("+{NOW}").parse().unwrap());
    assert_eq!(verify(SECRET, &h, body, NOW), Err(VerifyError::BadTimestamp));
}

/// Goal: an accepted id is a replay until the window has passed on both sides of the clock,
/// then fresh again; ids are per provider.
/// Method: an injected clock: accept at NOW, ask again at NOW, at NOW + REMEMBER_S (the last
/// second a copy's timestamp could pass) and one second later.
#[test]
fn replay_memory_accepts_once_and_expires() {
    let mut m = ReplayMemory::new(10);
    assert_eq!(m.remember("sim", "evt-1", NOW), Remembered::Fresh);
    assert_eq!(m.remember("sim", "evt-1", NOW), Remembered::Replay);
    assert_eq!(m.remember("other", "evt-1", NOW), Remembered::Fresh, "ids are per provider");
    assert_eq!(m.remember("sim", "evt-1", NOW + REMEMBER_S), Remembered::Replay);
    assert_eq!(
        m.remember("sim", "evt-1", NOW + REMEMBER_S + 1),
        Remembered::Fresh,
        "forgotten after the window"
    );
    assert_eq!(m.len(), 1, "the other two expired");
    assert_eq!(REMEMBER_S, 2 * SKEW_MAX_S);
}

/// Goal: the memory never holds more than its bound and never forgets an id early to make
/// room: a full memory refuses new ids, saying when the oldest frees, and takes them again
/// once it has.
/// Method: a memory of 3 filled at NOW, NOW + 10, NOW + 20; a fourth id at NOW + 30; the
/// first id again (still a replay); the fourth once the first has expired.
#[test]
fn replay_memory_bound() {
    let mut m = ReplayMemory::new(3);
    for (i, t) in [0, 10, 20].iter().enumerate() {
        assert_eq!(m.remember("sim", &format!("evt-{i}"), NOW + t), Remembered::Fresh);
    }
    let full = m.remember("sim", "evt-3", NOW + 30);
    assert_eq!(full, Remembered::Full { retry_after_s: REMEMBER_S + 1 - 30 });
    assert_eq!(m.remember("sim", "evt-0", NOW + 30), Remembered::Replay, "not forgotten to make room");
    assert_eq!(m.len(), 3);
    assert_eq!(m.remember("sim", "evt-3", NOW + REMEMBER_S + 1), Remembered::Fresh);
    assert_eq!(m.remember("sim", "evt-4", NOW + REMEMBER_S + 1), Remembered::Full { retry_after_s: 10 });
    assert_eq!(ReplayMemory::default().remember("sim", "x", NOW), Remembered::Fresh);
    assert_eq!(IDS_MAX, 1_000_000);
}

/// Goal: a clock that steps back keeps ids longer, never shorter.
/// Method: accept at NOW + 100, then at NOW (the clock stepped back 100 s); the first id is
/// still remembered when the second would expire.
#[test]
fn replay_memory_clock_step_back() {
    let mut m = ReplayMemory::new(10);
    assert_eq!(m.remember("sim", "late", NOW + 100), Remembered::Fresh);
    assert_eq!(m.remember("sim", "early", NOW), Remembered::Fresh);
    assert_eq!(m.remember("sim", "late", NOW + REMEMBER_S + 1), Remembered::Replay);
}

/// What the sink was handed; it refuses to record while `refuse` is set.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<String>>, std::sync::atomic::AtomicBool);

impl InboundSink for Recorder {
    fn receipt(&self, key: &str, delivered: bool, _: &str, _: Option<String>) {
        self.0.lock().unwrap().push(format!("receipt {key} {delivered}"));
    }
    fn reply(&self, r: varsel_delivery::providers::ReplyIn) {
        self.0.lock().unwrap().push(format!("reply {} {}", r.from, r.text));
    }
    fn record(
        &self,
        items: Vec<varsel_delivery::providers::InboundItem>,
    ) -> varsel_delivery::providers::BoxFuture<'_, Result<(), varsel_delivery::providers::InboundRefused>>
    {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            let refused = varsel_delivery::providers::InboundRefused::NotRecorded("no quorum".into());
            return Box::pin(async move { Err(refused) });
        }
        for item in items {
            if let varsel_delivery::providers::InboundItem::Receipt { key, delivered, .. } = item {
                self.receipt(&key, delivered, "", None);
            }
        }
        Box::pin(async { Ok(()) })
    }
}

fn state(capacity: usize) -> (InboundState, Arc<Recorder>, Metrics) {
    let sink = Arc::new(Recorder::default());
    let metrics = Metrics::new();
    let endpoint = Endpoint { secret: SECRET.to_vec(), channel: Channel::Sms, format: Format::Varsel };
    let memory = Arc::new(Mutex::new(ReplayMemory::new(capacity)));
    let s = InboundState {
        providers: Arc::new(HashMap::from([("sim".to_string(), endpoint)])),
        sink: sink.clone(),
        metrics: ReplayMetrics::register(&metrics, &memory),
        memory,
    };
    (s, sink, metrics)
}

async fn answer(r: impl std::future::Future<Output = Response>) -> (StatusCode, Option<String>, String) {
    let r = r.await;
    let status = r.status();
    let retry = r.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
    (status, retry, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Goal: a replayed webhook is answered 200, records nothing and is counted; the same id is
/// then also a replay with a new timestamp (a provider's retry); a full memory answers 503
/// with Retry-After and records nothing; a body refused with 400 does not use up its id.
/// Method: the handler with a recording sink, a memory of 2 ids and an injected clock.
#[tokio::test]
async fn replays_record_nothing() {
    let (s, sink, metrics) = state(2);
    let receipt = br#"{"receipts":[{"key":"a1-c2-sms-0","status":"delivered"}]}"#;
    let post = |id: &str, ts: u64, body: &[u8]| {
        let (headers, body, s) = (signed(SECRET, id, ts, body), body.to_vec(), &s);
        async move { handle(s, "sim", Kind::Receipts, &headers, &body, NOW).await }
    };
    assert_eq!(answer(post("evt-1", NOW, receipt)).await, (StatusCode::OK, None, "{\"accepted\":1}".into()));
    let replay = (StatusCode::OK, None, "{\"accepted\":0,\"replay\":true}".to_string());
    assert_eq!(answer(post("evt-1", NOW, receipt)).await, replay);
    assert_eq!(answer(post("evt-1", NOW - 5, receipt)).await, replay, "a retry signed later");
    assert_eq!(sink.0.lock().unwrap().len(), 1, "the replays recorded nothing");
    assert!(metrics.encode().contains("varsel_inbound_replays_total{provider=\"sim\"} 2"));

    let (status, _, _) = answer(post("evt-2", NOW, b"{\"receipts\":7}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer(post("evt-2", NOW, receipt)).await.0, StatusCode::OK, "the 400 did not use up evt-2");
    let (status, retry, _) = answer(post("evt-3", NOW, receipt)).await;
    assert_eq!((status, retry), (StatusCode::SERVICE_UNAVAILABLE, Some((REMEMBER_S + 1).to_string())));
    assert_eq!(sink.0.lock().unwrap().len(), 2, "the 503 recorded nothing");
    assert!(metrics.encode().contains("varsel_inbound_replay_memory_full_total{provider=\"sim\"} 1"));
    assert!(metrics.encode().contains("varsel_inbound_webhook_ids 2"));

    let (status, _, _) = answer(post("evt-4", NOW - SKEW_MAX_S - 1, receipt)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale");
    let headers = signed(SECRET, "e", NOW, receipt);
    let unknown = handle(&s, "nobody", Kind::Receipts, &headers, receipt, NOW);
    assert_eq!(answer(unknown).await.0, StatusCode::NOT_FOUND);
    let headers = signed(SECRET, "v", NOW, receipt);
    let calls = handle(&s, "sim", Kind::Voice, &headers, receipt, NOW);
    assert_eq!(answer(calls).await.0, StatusCode::NOT_FOUND, "not a voice provider");
}

/// Goal: a webhook whose items are not committed is answered 503 with Retry-After, records
/// nothing, and its id is forgotten, so the provider's next copy is applied (not taken for a
/// replay). Method: the handler with a sink that refuses, then accepts.
#[tokio::test]
async fn unrecorded_webhook_is_refused_and_taken_again() {
    let (s, sink, metrics) = state(8);
    let receipt = br#"{"receipts":[{"key":"a1-c2-sms-0","status":"delivered"}]}"#;
    let post = |ts: u64| {
        let (headers, s) = (signed(SECRET, "evt-9", ts, receipt), &s);
        async move { handle(s, "sim", Kind::Receipts, &headers, receipt, NOW).await }
    };
    sink.1.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, retry, _) = answer(post(NOW)).await;
    assert_eq!((status, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")));
    assert!(sink.0.lock().unwrap().is_empty());
    assert!(metrics.encode().contains("varsel_inbound_unrecorded_total{provider=\"sim\"} 1"));
    sink.1.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(answer(post(NOW + 1)).await, (StatusCode::OK, None, "{\"accepted\":1}".into()));
    assert_eq!(*sink.0.lock().unwrap(), vec!["receipt a1-c2-sms-0 true".to_string()]);
    assert!(metrics.encode().contains("varsel_inbound_webhook_ids 1"), "remembered once, not twice");
}
