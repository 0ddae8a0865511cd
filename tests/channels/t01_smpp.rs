//! SMS over SMPP 3.4 end to end: Varsel's nodes bind to the `smpp34` SMSC, which records and
//! decodes (with PyPI `gsm0338`, not our codec) everything it receives.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use varsel_config::providers::{SmppLongMessage, SmppProviderConfig};
use varsel_config::{ProviderConfig, ProviderKind};
use varsel_proto::api::{AlertStatus, Channel, ChannelContent, EscalationStep};

use crate::fixture::{Fixture, at_once, sim_config};
use crate::smsc::{Peer, free_port, peer_python};
use crate::support::{alert, counts, wait_final, wait_for};

/// An SMSC on a fixed port (so it can be restarted there), its records, and the password file
/// the nodes read. Removed on drop.
struct Smsc {
    peer: Peer,
    port: u16,
    record_file: PathBuf,
    py: PathBuf,
    dir: tempfile::TempDir,
}

impl Smsc {
    fn start(extra: &[&str]) -> Self {
        let py = peer_python();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smpp.password"), "hemmelig\n").unwrap();
        let record_file = dir.path().join("records.jsonl");
        let port = free_port();
        let peer = Peer::spawn(&py, port, &record_file, extra);
        Self { peer, port, record_file, py, dir }
    }

    /// The SMS provider every node uses: this SMSC, two binds, window 10.
    fn provider(&self, adjust: impl FnOnce(&mut SmppProviderConfig)) -> ProviderConfig {
        let mut smpp = SmppProviderConfig {
            addr: format!("127.0.0.1:{}", self.port),
            system_id: "varsel".into(),
            password_file: Some(self.dir.path().join("smpp.password")),
            password_env: None,
            system_type: String::new(),
            binds: 2,
            window: 10,
            enquire_link_interval_ms: 5_000,
            source_addr: "Kommunen".into(),
            source_ton: None,
            source_npi: None,
            long_message: SmppLongMessage::Udh8,
            registered_delivery: true,
            receipt_id_format: Default::default(),
            gsm7_data_coding: 0,
            receipt_map_entries: 10_000,
        };
        adjust(&mut smpp);
        ProviderConfig {
            name: "smsc".into(),
            channel: varsel_domain::Channel::Sms,
            rate_per_second: 0,
            concurrency: 4,
            batch_max: 50,
            timeout_ms: 10_000,
            inbound_secret_file: None,
            kind: ProviderKind::Smpp(smpp),
        }
    }

    /// Records of `kind` (`submit` or `message`), across restarts.
    fn records(&self, kind: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.record_file).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["kind"] == kind)
            .collect()
    }

    /// Accepted submits per destination number.
    fn accepted_by_destination(&self) -> BTreeMap<String, usize> {
        let mut by = BTreeMap::new();
        for r in self.records("submit").into_iter().filter(|r| r["status"] == "accepted") {
            *by.entry(r["destination"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
        by
    }
}

/// Nodes whose SMS goes to `provider` only (the simulator keeps voice, e-mail and push).
async fn cluster(provider: ProviderConfig) -> Fixture {
    Fixture::start(sim_config(), move |spec| {
        spec.providers.retain(|p| p.channel != varsel_domain::Channel::Sms);
        spec.providers.insert(0, provider);
    })
    .await
}

/// The numbers `Fixture::contacts` gives its first `n` contacts, as the SMSC sees them.
fn numbers(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("4741{i:06}")).collect()
}

fn sms(text: &str) -> ChannelContent {
    ChannelContent {
        sms_text: text.into(),
        voice_script: "Dette er et varsel. Trykk 1.".into(),
        ..Default::default()
    }
}

/// Goal: short and long texts in GSM-7 (with æøå, € and braces) and UCS-2 (with emoji) reach
/// the SMSC exactly as rendered, and its delivery receipts reach each alert's progress.
/// Method: four alerts at once to three contacts, sent with 16-bit-reference concatenation
/// (the mode that re-cuts the domain's segments); the SMSC reassembles and decodes with its
/// own codecs; each text must arrive byte for byte at every number, in the expected coding and
/// number of parts. The SMSC sends a receipt for every part; `delivered` must reach 3 per alert.
#[tokio::test(flavor = "multi_thread")]
async fn texts_arrive_exactly_and_receipts_count() {
    let smsc = Smsc::start(&["--auto-receipt"]);
    let f = cluster(smsc.provider(|s| s.long_message = SmppLongMessage::Udh16)).await;
    f.contacts(3, "alle").await;
    let gsm_long =
        format!("{}Slutt: 100€ {{ok}} [ja].", "Flom i Bergen: gå til høyere grunn, ÆØÅ. ".repeat(5));
    let ucs_long = format!("{}Slutt 🚨", "Storm 🌪 i Tromsø – hold dere inne. ".repeat(4));
    let texts = [
        ("gsm-short", "Evakuer Tromsø sentrum nå. æøå ÆØÅ 20€ {x} [y] ~", 0, 1),
        ("gsm-long", gsm_long.as_str(), 0, 2),
        ("ucs-short", "Brann 🔥 i Oslo – hold dere inne. æøå", 8, 1),
        ("ucs-long", ucs_long.as_str(), 8, 3),
    ];
    let mut alerts = Vec::new();
    for (key, text, _, _) in &texts {
        alerts.push(alert(&f, key, "alle", sms(text), at_once(&[Channel::Sms])).await);
    }
    for a in &alerts {
        let done = wait_for(&f, a.id, 1, "3 delivered", |a| counts(a, Channel::Sms).delivered == 3).await;
        let c = counts(&done, Channel::Sms);
        assert_eq!((c.sent, c.failed), (3, 0), "{c:?}");
    }
    let messages = smsc.records("message");
    for (key, text, data_coding, parts) in texts {
        let got: Vec<_> = messages.iter().filter(|m| m["text"] == text).collect();
        let to: BTreeSet<String> =
            got.iter().map(|m| m["destination"].as_str().unwrap().to_string()).collect();
        assert_eq!(
            to,
            numbers(3),
            "{key}: the exact text did not reach every number once; got {messages:#?}"
        );
        assert_eq!(got.len(), 3, "{key}: sent more than once");
        for m in got {
            assert_eq!(
                (m["data_coding"].as_u64(), m["parts"].as_u64()),
                (Some(data_coding), Some(parts)),
                "{key}"
            );
            assert_eq!(m["source"], "Kommunen");
        }
    }
    let submits = smsc.records("submit");
    assert!(submits.iter().all(|s| s["registered_delivery"] == 1), "receipts must be requested");
}

/// Goal: an "OK" sent from a recipient's phone acknowledges the alert, at whichever node the
/// SMSC hands it to, and stops escalation to a voice call for that recipient only.
/// Method: SMS now, voice (simulator) after 10 s to four contacts; once the SMS are sent, the
/// SMSC sends mobile-originated "OK" from the first two numbers (on the last bound session,
/// any node's). Afterwards `acknowledged` is 2 and voice was sent to 2, skipped for 2.
#[tokio::test(flavor = "multi_thread")]
async fn reply_ok_acknowledges_and_skips_voice() {
    let mut smsc = Smsc::start(&[]);
    let f = cluster(smsc.provider(|_| {})).await;
    f.contacts(4, "alle").await;
    let policy = vec![
        EscalationStep { channels: vec![Channel::Sms as i32], after_seconds: 0 },
        EscalationStep { channels: vec![Channel::Voice as i32], after_seconds: 10 },
    ];
    let a = alert(&f, "reply", "alle", sms("Evakuer nå. Svar OK."), policy).await;
    // A phone answers what it received: wait until the SMS are recorded as sent. (A reply
    // that overtakes the recording of its own SMS is a separate race, not this test's subject.)
    wait_for(&f, a.id, 1, "4 SMS sent", |a| counts(a, Channel::Sms).sent == 4).await;
    assert_eq!(smsc.accepted_by_destination().len(), 4, "the SMSC did not get the 4 SMS");
    for from in ["4741000000", "4741000001"] {
        smsc.peer.command(&format!("mo {from} Kommunen OK"));
        let answer = smsc.peer.expect_line("DELIVER_RESP mo", Duration::from_secs(20));
        assert!(answer.ends_with(" 0"), "the node refused the reply: {answer}");
    }
    let done = wait_final(&f, a.id, 3).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    assert_eq!(done.progress.clone().unwrap().acknowledged, 2, "{:?}", done.progress);
    let voice = counts(&done, Channel::Voice);
    assert_eq!((voice.sent, voice.skipped), (2, 2), "{voice:?}");
}

/// Goal: a tenant with a reply route at the SMSC sends from its own number, and an "OK" sent
/// to that number acknowledges its alert as routed, is kept once and is listed with how it was
/// placed; a reply that says something else is kept without acknowledging.
/// Method: `delivery.reply_routes` names short code 2222 at the SMSC for the fixture's tenant;
/// one alert to two contacts; the SMSC records each message's source, then sends
/// mobile-originated replies to 2222.
#[tokio::test(flavor = "multi_thread")]
async fn routed_tenant_sends_from_its_number_and_gets_its_replies() {
    let mut smsc = Smsc::start(&[]);
    let provider = smsc.provider(|_| {});
    let route =
        varsel_config::ReplyRoute { provider: "smsc".into(), to: "2222".into(), tenant: "kommune".into() };
    let f = Fixture::start(sim_config(), move |spec| {
        spec.providers.retain(|p| p.channel != varsel_domain::Channel::Sms);
        spec.providers.insert(0, provider);
        spec.delivery.reply_routes = vec![route];
    })
    .await;
    f.contacts(2, "alle").await;
    let a = alert(&f, "routed", "alle", sms("Evakuer nå. Svar OK."), at_once(&[Channel::Sms])).await;
    wait_for(&f, a.id, 1, "2 SMS sent", |a| counts(a, Channel::Sms).sent == 2).await;
    let sources: BTreeSet<String> = smsc
        .records("message")
        .iter()
        .map(|m| m["source"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(sources, BTreeSet::from(["2222".to_string()]), "sent from the tenant's routed number");

    for (from, text) in [("4741000000", "OK"), ("4741000001", "Trenger hjelp")] {
        smsc.peer.command(&format!("mo {from} 2222 {text}"));
        let answer = smsc.peer.expect_line("DELIVER_RESP mo", Duration::from_secs(20));
        assert!(answer.ends_with(" 0"), "the node refused the reply: {answer}");
    }
    let acked =
        wait_for(&f, a.id, 2, "1 acknowledged", |a| a.progress.as_ref().is_some_and(|p| p.acknowledged == 1))
            .await;
    assert_eq!(acked.progress.unwrap().acknowledged, 1);
    let req = varsel_proto::api::ListRepliesRequest {
        alert_id: a.id,
        consistency: varsel_proto::api::Consistency::Linearizable as i32,
        ..Default::default()
    };
    let replies =
        f.c.api(3)
            .alerts
            .list_replies(crate::common::authed(&f.token, req))
            .await
            .unwrap()
            .into_inner()
            .replies;
    let seen: BTreeSet<(String, String, bool, String)> = replies
        .iter()
        .map(|r| (r.from.clone(), r.text.clone(), r.acknowledges, r.attributed_by.clone()))
        .collect();
    let expected = BTreeSet::from([
        ("+4741000000".to_string(), "OK".to_string(), true, "route".to_string()),
        ("+4741000001".to_string(), "Trenger hjelp".to_string(), false, "route".to_string()),
    ]);
    assert_eq!(seen, expected, "{replies:#?}");
    assert!(replies.iter().all(|r| r.to == "2222" && r.provider == "smsc"), "{replies:#?}");
}

/// Goal: the SMSC dying and coming back mid-alert loses nobody.
/// Method: 60 contacts at 5 SMS/s per node; after 10 accepted submits the SMSC is killed
/// (SIGKILL: no unbind, in-flight submits get no answer), and restarted on the same port 2 s
/// later with the same record file. The alert must complete with no failure, and the SMSC's
/// accepted submits, across both lives, must cover all 60 numbers. Resends of submits whose
/// answer was lost may duplicate a few; they are counted and printed, not forbidden.
#[tokio::test(flavor = "multi_thread")]
async fn smsc_restart_mid_alert_reaches_everyone() {
    const N: usize = 60;
    let mut smsc = Smsc::start(&[]);
    let mut provider = smsc.provider(|_| {});
    provider.rate_per_second = 5;
    let f = cluster(provider).await;
    f.contacts(N, "alle").await;
    let a = alert(&f, "restart", "alle", sms("Evakuer nå."), at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while smsc.accepted_by_destination().values().sum::<usize>() < 10 {
        assert!(Instant::now() < deadline, "SMS did not reach the SMSC");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    smsc.peer.kill();
    let before = smsc.accepted_by_destination().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    smsc.peer = Peer::spawn(&smsc.py, smsc.port, &smsc.record_file, &[]);
    let done = wait_final(&f, a.id, 1).await;
    let c = counts(&done, Channel::Sms);
    assert_eq!(done.status, AlertStatus::Completed as i32);
    assert_eq!((c.sent, c.failed), (N as u64, 0), "{c:?}");
    let by = smsc.accepted_by_destination();
    let duplicates: usize = by.values().map(|n| n - 1).sum();
    println!("SMSC restart: {before} numbers before the kill, {} after; {duplicates} duplicate(s)", by.len());
    assert_eq!(
        by.keys().cloned().collect::<BTreeSet<_>>(),
        numbers(N),
        "some numbers never reached the SMSC"
    );
    assert!(duplicates <= 2 * 10 * 2 * 3, "more duplicates than the nodes' windows allow: {duplicates}");
}

/// Goal: throttling slows Varsel down instead of failing messages.
/// Method: the SMSC answers the next 25 submits with ESME_RTHROTTLED; an alert to 10 contacts
/// must still complete with all 10 sent and none failed, each number accepted exactly once
/// (a throttled submit was not accepted, so resending it cannot duplicate).
#[tokio::test(flavor = "multi_thread")]
async fn throttling_backs_off_then_succeeds() {
    const N: usize = 10;
    let mut smsc = Smsc::start(&[]);
    let f = cluster(smsc.provider(|_| {})).await;
    f.contacts(N, "alle").await;
    smsc.peer.command("throttle 25");
    let a = alert(&f, "throttle", "alle", sms("Evakuer nå."), at_once(&[Channel::Sms])).await;
    let done = wait_final(&f, a.id, 2).await;
    let c = counts(&done, Channel::Sms);
    assert_eq!((c.sent, c.failed), (N as u64, 0), "{c:?}");
    let throttled = smsc.records("submit").iter().filter(|s| s["status"] == "throttled").count();
    assert_eq!(throttled, 25, "the SMSC throttled fewer submits than told");
    let by = smsc.accepted_by_destination();
    assert_eq!(by.keys().cloned().collect::<BTreeSet<_>>(), numbers(N));
    assert!(by.values().all(|n| *n == 1), "a throttled message was duplicated: {by:?}");
}

/// The concatenation header of an accepted submit: (reference, total, sequence), if it has one.
fn concat_of(submit: &serde_json::Value) -> Option<(u32, u8, u8)> {
    if submit["esm_class"].as_u64()? & 0x40 == 0 {
        return None;
    }
    let hex = submit["short_message_hex"].as_str()?;
    let bytes: Vec<u8> =
        (0..hex.len()).step_by(2).filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect();
    let udh = bytes.get(1..1 + usize::from(*bytes.first()?))?;
    match udh {
        [0x00, 3, r, total, seq, ..] => Some((u32::from(*r), *total, *seq)),
        [0x08, 4, r1, r2, total, seq, ..] => Some((u32::from(u16::from_be_bytes([*r1, *r2])), *total, *seq)),
        _ => None,
    }
}

/// Goal: throttling in the middle of a multipart SMS leaves no orphan fragment and no second
/// copy at the handset: a retry sends only the parts the SMSC did not accept, with the same
/// concatenation reference.
/// Method: a three-part text to one contact; the SMSC throttles the first 10 submits. The
/// SMPP client resends a throttled part itself at most 3 times (4 attempts), so of the 3 parts
/// at least one runs out of attempts (3 x 3 < 10) while at least one is accepted (3 x 4 > 10):
/// the provider sees the message partly accepted and retries it. Afterwards the number must
/// have exactly one reassembled message, every reference all its parts, no part accepted twice.
#[tokio::test(flavor = "multi_thread")]
async fn throttle_mid_message_leaves_no_orphan_fragment() {
    const N: usize = 1;
    const THROTTLED: usize = 10;
    let mut smsc = Smsc::start(&[]);
    let f = cluster(smsc.provider(|_| {})).await;
    f.contacts(N, "alle").await;
    smsc.peer.command(&format!("throttle {THROTTLED}"));
    let text =
        format!("Evakuer nå. {}", "Følg anvisningene fra politiet og hold dere unna området. ".repeat(6));
    let a = alert(&f, "multipart", "alle", sms(&text), at_once(&[Channel::Sms])).await;
    let done = wait_final(&f, a.id, 2).await;
    let c = counts(&done, Channel::Sms);
    assert_eq!((c.sent, c.failed), (N as u64, 0), "{c:?}");
    let submits = smsc.records("submit");
    let throttled = submits.iter().filter(|s| s["status"] == "throttled").count();
    assert_eq!(throttled, THROTTLED, "the SMSC throttled fewer submits than told");
    let mut references: BTreeMap<(String, u32), (u8, BTreeMap<u8, usize>)> = BTreeMap::new();
    for s in submits.iter().filter(|s| s["status"] == "accepted") {
        let (reference, total, seq) = concat_of(s).expect("a three-part text is sent with a UDH");
        let to = s["destination"].as_str().unwrap_or_default().to_string();
        *references.entry((to, reference)).or_insert((total, BTreeMap::new())).1.entry(seq).or_default() += 1;
    }
    let orphans: Vec<_> =
        references.iter().filter(|(_, (total, seqs))| seqs.len() < usize::from(*total)).collect();
    assert!(orphans.is_empty(), "orphan fragments at the handset: {orphans:?}");
    assert!(references.values().all(|(total, _)| *total == 3), "the text should take three parts");
    let repeated = references.values().flat_map(|(_, seqs)| seqs.values()).filter(|n| **n > 1).count();
    assert_eq!(repeated, 0, "a part was accepted twice");
    let by: BTreeMap<String, usize> = smsc.records("message").iter().fold(BTreeMap::new(), |mut by, m| {
        *by.entry(m["destination"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        by
    });
    assert_eq!(by.keys().cloned().collect::<BTreeSet<_>>(), numbers(N));
    assert!(by.values().all(|n| *n == 1), "a number got the message more than once: {by:?}");
}
