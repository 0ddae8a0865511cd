//! The main proof: varsel-smpp against a real SMPP 3.4 server we did not write
//! (PyPI `smpp34`, wrapped by `tests/peer/smsc.py`), whose records are decoded
//! by an independent GSM 03.38 codec (PyPI `gsm0338`).
//!
//! Every test starts its own peer on a free port, bounds every wait, and kills
//! the peer (and removes its temp dir) on drop, pass or fail.

mod common;

use common::*;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::timeout;
use varsel_smpp::{
    BindConfig, ClientConfig, Coding, Delivered, InboundEvent, LongMessageMode, MessageState, Session,
    SmppClient, SubmitError, SubmitSm, UnknownReason, build_submits,
};

fn bind_config() -> BindConfig {
    let mut c = BindConfig::new("varsel", "secret");
    c.response_timeout = Duration::from_secs(10);
    c
}

fn template() -> SubmitSm {
    SubmitSm {
        source_addr: "VARSEL".into(),
        source_addr_ton: 5,
        destination_addr: "4790000001".into(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        registered_delivery: 1,
        ..SubmitSm::default()
    }
}

async fn next_event(inbound: &mut mpsc::Receiver<Delivered>) -> InboundEvent {
    let delivered = timeout(STEP_TIMEOUT, inbound.recv())
        .await
        .expect("inbound event in time")
        .expect("inbound channel open");
    delivered.into_event()
}

/// Submits every part and returns the message ids.
async fn submit_parts(session: &varsel_smpp::SessionHandle, parts: &[SubmitSm]) -> Vec<String> {
    let mut ids = Vec::new();
    for part in parts {
        ids.push(session.submit(part).await.expect("accepted").message_id);
    }
    ids
}

/// The peer's decoded text for the message made of `ids`.
fn peer_text(peer: &Peer, ids: &[String], expected_messages: usize) -> String {
    let messages = peer.wait_records("message", expected_messages);
    let m = messages.iter().find(|m| m["message_ids"][0] == ids[0].as_str()).expect("message recorded");
    assert_eq!(m["parts"].as_u64(), Some(ids.len() as u64));
    m["text"].as_str().expect("decoded text").to_string()
}

/// Goal: bind, then short GSM-7 and UCS-2 messages arrive exactly, including
/// Norwegian letters, GSM extension characters and an emoji.
/// Method: one session; the peer decodes with `gsm0338` / UTF-16BE; compare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_messages_arrive_exactly() {
    let py = peer_python();
    let peer = Peer::start(&py);
    timeout(TEST_TIMEOUT, async {
        let (session, _inbound) = Session::connect(&peer.addr(), &bind_config()).await.expect("bind");
        let gsm = "Hei! æøå ÆØÅ € {} [] ~ ^ | \\ @ $ _";
        let parts = build_submits(&template(), &[gsm7_encode(gsm)], Coding::Gsm7, LongMessageMode::Udh8, 1)
            .expect("one part");
        let ids = submit_parts(&session, &parts).await;
        assert_eq!(peer_text(&peer, &ids, 1), gsm);

        let ucs = "Evakuer nå 🚨 æøå ÆØÅ €";
        let parts =
            build_submits(&template(), &ucs2_segments(ucs, 140), Coding::Ucs2, LongMessageMode::Udh8, 2)
                .expect("one part");
        let ids = submit_parts(&session, &parts).await;
        assert_eq!(peer_text(&peer, &ids, 2), ucs);
        session.unbind().await.expect("unbind");
    })
    .await
    .expect("test within time");
}

/// Goal: long messages survive concatenation in every mode, byte for byte.
/// Method: GSM-7 text with extension characters placed across segment
/// boundaries, sent with 8- and 16-bit UDH; UCS-2 with emoji with UDH and
/// message_payload; the peer reassembles and decodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_messages_arrive_exactly() {
    let py = peer_python();
    let peer = Peer::start(&py);
    timeout(TEST_TIMEOUT, async {
        let (session, _inbound) = Session::connect(&peer.addr(), &bind_config()).await.expect("bind");
        let gsm: String = (0..12).map(|i| format!("Linje {i}: æøå ÆØÅ koster 5€ {{ok}} - ")).collect();
        let ucs: String = (0..9).map(|i| format!("Melding {i} 🚨👍 æøå — ")).collect();
        let cases = [
            (gsm.as_str(), Coding::Gsm7, LongMessageMode::Udh8, 153),
            (gsm.as_str(), Coding::Gsm7, LongMessageMode::Udh16, 152),
            (ucs.as_str(), Coding::Ucs2, LongMessageMode::Udh8, 134),
            (ucs.as_str(), Coding::Ucs2, LongMessageMode::MessagePayload, 134),
        ];
        for (n, (text, coding, mode, max)) in cases.into_iter().enumerate() {
            let segments = match coding {
                Coding::Gsm7 => gsm7_segments(&gsm7_encode(text), max),
                Coding::Ucs2 => ucs2_segments(text, max),
            };
            assert!(segments.len() > 2, "the text must need several segments");
            let parts = build_submits(&template(), &segments, coding, mode, 100 + n as u16).expect("parts");
            let ids = submit_parts(&session, &parts).await;
            assert_eq!(peer_text(&peer, &ids, n + 1), text, "{coding:?} {mode:?}");
        }
        session.unbind().await.expect("unbind");
    })
    .await
    .expect("test within time");
}

/// Goal: a delivery receipt reaches us and names the message id the SMSC gave
/// in submit_sm_resp, whether it comes as TLVs or only as text.
/// Method: submit, ask the peer for a receipt per mode, match ids; the peer
/// reports our deliver_sm_resp status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_match_message_ids() {
    let py = peer_python();
    let mut peer = Peer::start(&py);
    timeout(TEST_TIMEOUT, async {
        let (session, mut inbound) = Session::connect(&peer.addr(), &bind_config()).await.expect("bind");
        peer.expect_line("BOUND", STEP_TIMEOUT);
        let mut sm = template();
        sm.short_message = gsm7_encode("Test");
        for (mode, stat, state) in
            [("both", "DELIVRD", MessageState::Delivered), ("text", "UNDELIV", MessageState::Undeliverable)]
        {
            let id = session.submit(&sm).await.expect("accepted").message_id;
            peer.command(&format!("receipt {id} {stat} {mode}"));
            let InboundEvent::Receipt(receipt) = next_event(&mut inbound).await else {
                panic!("expected receipt")
            };
            assert!(receipt.matches_message_id(&id), "{receipt:?} vs {id}");
            assert_eq!(receipt.state, state);
            assert_eq!(receipt.from_tlvs, mode == "both");
            let line = peer.expect_line("DELIVER_RESP receipt", STEP_TIMEOUT);
            assert!(line.ends_with(" 0"), "deliver_sm_resp status ESME_ROK: {line}");
        }
        session.unbind().await.expect("unbind");
    })
    .await
    .expect("test within time");
}

/// Goal: a mobile-originated "OK" reaches us with sender and text; and when no
/// one listens any more, we answer ESME_RX_T_APPN so the SMSC redelivers later.
/// Method: peer sends MO; then drop our receiver and send another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mobile_originated_ok() {
    let py = peer_python();
    let mut peer = Peer::start(&py);
    timeout(TEST_TIMEOUT, async {
        let (session, mut inbound) = Session::connect(&peer.addr(), &bind_config()).await.expect("bind");
        // The peer learns of the bind asynchronously; it can only send once it has.
        peer.expect_line("BOUND", STEP_TIMEOUT);
        peer.command("mo 4790000001 VARSEL OK");
        let InboundEvent::MobileOriginated(mo) = next_event(&mut inbound).await else {
            panic!("expected MO")
        };
        assert_eq!(
            (mo.from.as_str(), mo.to.as_str(), mo.payload.as_slice()),
            ("4790000001", "VARSEL", &b"OK"[..])
        );
        assert_eq!(mo.data_coding, 0);
        assert!(peer.expect_line("DELIVER_RESP mo", STEP_TIMEOUT).ends_with(" 0"));
        drop(inbound);
        peer.command("mo 4790000002 VARSEL OK");
        let line = peer.expect_line("DELIVER_RESP mo", STEP_TIMEOUT);
        assert!(line.ends_with(" 100"), "ESME_RX_T_APPN (0x64) when nobody takes it: {line}");
        session.unbind().await.expect("unbind");
        peer.expect_line("UNBOUND", STEP_TIMEOUT);
    })
    .await
    .expect("test within time");
}

/// Goal: when the SMSC dies mid-stream, in-flight submits fail as
/// OutcomeUnknown (never as success or a clean rejection), the client
/// reconnects when the SMSC returns, and later submits succeed.
/// Method: the peer holds 4 submits unanswered; kill it (SIGKILL); restart a
/// new peer on the same port; submit again through the same client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smsc_restart_reconnects() {
    let py = peer_python();
    let dir = tempfile::tempdir().expect("temp dir");
    let records = dir.path().join("records.jsonl");
    let port = free_port();
    let mut peer = Peer::spawn(&py, port, &records, &[]);
    let mut config = ClientConfig::new(format!("127.0.0.1:{port}"), bind_config());
    config.binds = 2;
    config.reconnect_backoff_min = Duration::from_millis(50);
    config.reconnect_backoff_max = Duration::from_millis(500);
    let (client, _inbound) = SmppClient::start(config).expect("config");
    timeout(TEST_TIMEOUT, async {
        assert!(client.wait_bound(2, STEP_TIMEOUT).await, "both binds up");
        peer.command("hold 4");
        let mut sm = template();
        sm.short_message = gsm7_encode("in flight");
        let in_flight: Vec<_> = (0..4)
            .map(|_| {
                let (client, sm) = (client.clone(), sm.clone());
                tokio::spawn(async move { client.submit(&sm).await })
            })
            .collect();
        peer.wait_records("submit", 4);
        peer.kill();
        for task in in_flight {
            let result = task.await.expect("task");
            assert_eq!(result, Err(SubmitError::OutcomeUnknown { reason: UnknownReason::ConnectionLost }));
        }
        let mut peer = Peer::spawn(&py, port, &records, &[]);
        assert!(client.wait_bound(2, STEP_TIMEOUT).await, "binds back after restart");
        sm.short_message = gsm7_encode("after restart");
        let outcome = client.submit(&sm).await.expect("accepted after restart");
        assert!(!outcome.message_id.is_empty());
        assert!(client.health().binds.iter().all(|b| b.binds >= 2), "{:?}", client.health());
        client.shutdown().await;
        peer.expect_line("UNBOUND", STEP_TIMEOUT);
    })
    .await
    .expect("test within time");
}

/// Goal: throttling makes the client pause that bind and resend, so the
/// message succeeds; beyond the configured retries the caller gets Throttled.
/// Method: peer throttles 3 submits; client allows 3 retries with pauses of
/// 100, 200, 400 ms; then throttle 3 again with 1 retry allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_backs_off_then_succeeds() {
    let py = peer_python();
    let mut peer = Peer::start(&py);
    let mut config = ClientConfig::new(peer.addr(), bind_config());
    config.throttle_backoff_min = Duration::from_millis(100);
    config.throttle_backoff_max = Duration::from_secs(1);
    config.throttle_retries = 3;
    let (client, _inbound) = SmppClient::start(config.clone()).expect("config");
    timeout(TEST_TIMEOUT, async {
        assert!(client.wait_bound(1, STEP_TIMEOUT).await);
        let mut sm = template();
        sm.short_message = gsm7_encode("throttled");
        peer.command("throttle 3");
        let started = tokio::time::Instant::now();
        client.submit(&sm).await.expect("accepted after backing off");
        assert!(started.elapsed() >= Duration::from_millis(100 + 200 + 400), "paused between retries");
        assert_eq!(client.health().binds[0].throttles, 3);
        let statuses: Vec<String> = peer
            .wait_records("submit", 4)
            .iter()
            .map(|r| r["status"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(statuses, ["throttled", "throttled", "throttled", "accepted"]);
        client.shutdown().await;

        config.throttle_retries = 1;
        let (client, _inbound) = SmppClient::start(config).expect("config");
        assert!(client.wait_bound(1, STEP_TIMEOUT).await);
        peer.command("throttle 3");
        assert!(matches!(client.submit(&sm).await, Err(SubmitError::Throttled { .. })));
        client.shutdown().await;
    })
    .await
    .expect("test within time");
}

/// Goal: a client with several binds spreads a burst over them and merges
/// their receipts into one channel. Method: 3 binds, 60 concurrent submits
/// with automatic receipts; count distinct peer sessions and receipts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_share_load_and_merge_receipts() {
    let py = peer_python();
    let dir = tempfile::tempdir().expect("temp dir");
    let records = dir.path().join("records.jsonl");
    let peer = Peer::spawn(&py, free_port(), &records, &["--auto-receipt"]);
    let mut config = ClientConfig::new(peer.addr(), bind_config());
    config.binds = 3;
    let (client, mut inbound) = SmppClient::start(config).expect("config");
    timeout(TEST_TIMEOUT, async {
        assert!(client.wait_bound(3, STEP_TIMEOUT).await);
        let mut sm = template();
        sm.short_message = gsm7_encode("burst");
        let tasks: Vec<_> = (0..60)
            .map(|_| {
                let (client, sm) = (client.clone(), sm.clone());
                tokio::spawn(async move { client.submit(&sm).await })
            })
            .collect();
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            ids.insert(task.await.expect("task").expect("accepted").message_id);
        }
        let mut receipts = 0;
        while receipts < 60 {
            let InboundEvent::Receipt(r) = next_event(&mut inbound).await else { panic!("expected receipt") };
            assert!(ids.contains(&r.message_id));
            receipts += 1;
        }
        let sessions: std::collections::HashSet<String> =
            peer.wait_records("submit", 60).iter().map(|r| r["session"].to_string()).collect();
        assert!(sessions.len() >= 2, "load spread over binds: {sessions:?}");
        client.shutdown().await;
    })
    .await
    .expect("test within time");
}

/// Goal: the real SMSC answers our enquire_link, so an idle session stays up.
/// Method: keep-alive every 100 ms with a 500 ms timeout; idle for 1.5 s; the
/// session must still be bound and still take a submit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_holds_idle_session() {
    let py = peer_python();
    let peer = Peer::start(&py);
    timeout(TEST_TIMEOUT, async {
        let mut config = bind_config();
        config.enquire_link_interval = Duration::from_millis(100);
        config.enquire_link_timeout = Duration::from_millis(500);
        let (session, _inbound) = Session::connect(&peer.addr(), &config).await.expect("bind");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(session.is_bound(), "{:?}", session.state());
        let mut sm = template();
        sm.short_message = gsm7_encode("still here");
        session.submit(&sm).await.expect("accepted after idling");
        session.unbind().await.expect("unbind");
    })
    .await
    .expect("test within time");
}

/// Goal: the test's own GSM-7 table is the 128-character default alphabet.
/// Method: count it, and spot-check against known septet values.
#[test]
fn gsm7_helper_is_sound() {
    assert_eq!(gsm7_encode("@"), [0x00]);
    assert_eq!(gsm7_encode("æøåÆØÅ"), [0x1D, 0x0C, 0x0F, 0x1C, 0x0B, 0x0E]);
    assert_eq!(gsm7_encode("€{}"), [0x1B, 0x65, 0x1B, 0x28, 0x1B, 0x29]);
    assert_eq!(gsm7_encode("à"), [0x7F]);
    let segs = gsm7_segments(&gsm7_encode(&"a".repeat(153)), 153);
    assert_eq!(segs.len(), 1);
    let segs = gsm7_segments(&[&[0x41; 152][..], &[0x1B, 0x65]].concat(), 153);
    assert_eq!(segs.iter().map(Vec::len).collect::<Vec<_>>(), [152, 2]);
}
