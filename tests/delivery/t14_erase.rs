use std::time::{Duration, Instant};

use serde_json::Value;
use varsel_proto::admin::{SearchStateReply, SearchStateRequest, SnapshotRequest};
use varsel_proto::api::{
    AlertStatus, Channel, Consistency, EraseContactRequest, ExportContactRequest, GetContactRequest,
    ListAuditRequest, ListRepliesRequest, Priority, Role, WhoAmIRequest, export_contact_request,
    get_contact_request,
};
use varsel_sim::ProviderConfig as SimProvider;

use crate::common::authed;
use crate::fixture::{Fixture, at_once, sim_config};

/// Recipients; all of them answer "OK" to the SMS.
const N: usize = 6;
/// The recipient erased (its data is `+4741000003`, `p3@example.no`, `Person 3`).
const ERASED: usize = 3;

/// Goal: after `varsel contact erase`, no byte of the person's phone number, e-mail address
/// or name remains in any node's state, in any node's Raft log, or in the snapshot files on
/// disk; the alert's counts are unchanged and the audit trail says who erased it. Before that,
/// `varsel contact export` shows the contact, its group, its messages and its reply, and
/// another tenant cannot export it. A second erase, and an erase without `--yes`, are refused.
/// Method: three real nodes and the provider simulator, whose SMS provider makes every
/// recipient reply "OK" and sends receipts. Each node is searched with the superadmin's
/// `SearchState` (records of the state and entries of the log containing the bytes); a guard
/// search before the erasure shows the bytes are found when present. The snapshot files are
/// read byte for byte after each node snapshotted on its own (it does after an erasure).
#[tokio::test(flavor = "multi_thread")]
async fn erase_leaves_no_trace_on_any_node() {
    let mut sim = sim_config();
    for p in &mut sim.providers {
        p.receipts = true;
        p.receipt_delay_ms = 50;
        if p.name == "sms-primary" {
            *p = SimProvider { reply_rate: 1.0, reply_text: "OK".into(), reply_delay_ms: 100, ..p.clone() };
        }
    }
    let f = Fixture::start(sim, |_| {}).await;
    f.contacts(N, "alle").await;
    let a = f.alert("gdpr", "alle", Priority::Crisis, at_once(&[Channel::Sms, Channel::Email])).await;
    let done = f.wait_final(a.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    wait_replies(&f, a.id).await;
    let progress = f.get(a.id, 1).await.progress.unwrap();
    assert_eq!(progress.acknowledged, N as u64, "every recipient replied OK");

    let victim = contact_id(&f, &format!("alle-{ERASED}")).await;
    let (phone, email, name) =
        (format!("+4741{ERASED:06}"), format!("p{ERASED}@example.no"), format!("Person {ERASED}"));
    let needles = [phone.clone(), phone[1..].to_string(), email.clone(), name.clone()];

    // Export: the whole record, through the CLI.
    let (ok, out, err) =
        f.c.varsel(&f.token, &["contact", "export", "--external-id", &format!("alle-{ERASED}")]).await;
    assert!(ok, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["contact"]["phone"], phone.as_str());
    assert_eq!(doc["contact"]["email"], email.as_str());
    assert_eq!(doc["groups"][0]["name"], "alle");
    let alert = &doc["alerts"][0];
    assert_eq!(alert["alert_id"], a.id);
    let channels: Vec<&str> =
        alert["messages"].as_array().unwrap().iter().map(|m| m["channel"].as_str().unwrap()).collect();
    assert_eq!(channels.len(), 2, "{alert}");
    assert!(channels.contains(&"sms") && channels.contains(&"email"), "{channels:?}");
    assert_eq!(alert["replies"][0]["from"], phone.as_str());
    assert_eq!(alert["replies"][0]["text"], "OK");
    assert!(alert["acknowledged"].is_object(), "{alert}");
    let (_, stranger) = f.c.tenant_with(1, "nabo", Role::Admin).await;
    let req = ExportContactRequest {
        key: Some(export_contact_request::Key::Id(victim)),
        consistency: Consistency::Linearizable as i32,
    };
    let err = f.c.api(2).contacts.export_contact(authed(&stranger, req)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "another tenant's contact looks like none");

    // Guard: the search finds the bytes while they are there (in the state and in the log).
    for id in 1..=3 {
        let s = search(&f, id, &phone).await;
        assert!(s.matches > 0 && s.log_matches > 0, "node {id}: {s:?}");
    }

    let (ok, _, err) = f.c.varsel(&f.token, &["contact", "erase", &victim.to_string()]).await;
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, out, err) =
        f.c.varsel(&f.token, &["contact", "erase", &victim.to_string(), "--yes", "--json"]).await;
    assert!(ok, "{err}");
    let erased: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((erased["alerts"].as_u64(), erased["replies"].as_u64()), (Some(1), Some(1)), "{erased}");
    let erase_index = erased["log_index"].as_u64().unwrap();
    let again = f.c.api(3).contacts.erase_contact(authed(&f.token, EraseContactRequest { id: victim })).await;
    let again = again.unwrap_err();
    assert_eq!(again.code(), tonic::Code::NotFound);
    assert!(again.message().contains(&format!("contact {victim}")), "{again:?}");

    assert_eq!(f.get(a.id, 3).await.progress.unwrap(), progress, "counts are kept");
    let audit = ListAuditRequest { consistency: Consistency::Linearizable as i32, ..Default::default() };
    let records = f.c.api(2).audit.list_audit(authed(&f.token, audit)).await.unwrap().into_inner().records;
    let entry = records.iter().find(|r| r.action == "contact.erase").expect("an audit entry of the erasure");
    assert_eq!(entry.target, format!("contact {victim}"));
    let me = f.c.api(1).tenants.who_am_i(authed(&f.token, WhoAmIRequest {})).await.unwrap().into_inner();
    assert_eq!(entry.credential_id, me.credential_id, "{entry:?}");
    assert!(entry.at_ms > 0);

    // Every node: no record of the state, and (once it snapshotted after the erasure) no entry of
    // its log, holds any of it; nor does its snapshot file.
    for id in 1..=3 {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let mut found = Vec::new();
            let mut applied = u64::MAX;
            for n in &needles {
                let s = search(&f, id, n).await;
                applied = applied.min(s.applied);
                if s.matches > 0 || s.log_matches > 0 {
                    found.push((n.clone(), s));
                }
            }
            if applied >= erase_index && found.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "node {id} still holds erased data: {found:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // A snapshot asked for now holds none of it either.
        f.c.admin(id).snapshot(SnapshotRequest {}).await.unwrap();
        let dir = f.c.lc.node(id).unwrap().config.data_dir.join("snapshots");
        let mut files = 0;
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            files += 1;
            assert!(bytes.windows(4).any(|w| w == b"alle"), "{path:?} holds the state");
            for n in &needles {
                assert!(!bytes.windows(n.len()).any(|w| w == n.as_bytes()), "{n} in {path:?}");
            }
        }
        assert!(files > 0, "node {id} has no snapshot");
    }
    // Nor does a backup taken now (it is a snapshot with a header).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("after-erase.varselbk");
    let endpoints = f.c.lc.endpoints().join(",");
    let args = ["backup", "create", "--out", out.to_str().unwrap(), "--endpoints", &endpoints];
    let (ok, stdout, stderr) = f.c.run_cli(&args).await;
    assert!(ok, "backup create: {stdout}\n{stderr}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.windows(4).any(|w| w == b"alle"), "the backup holds the state");
    for n in &needles {
        assert!(!bytes.windows(n.len()).any(|w| w == n.as_bytes()), "{n} in the backup");
    }
}

async fn search(f: &Fixture, id: u64, needle: &str) -> SearchStateReply {
    let req = SearchStateRequest { needle: needle.as_bytes().to_vec() };
    f.c.admin(id).search_state(req).await.unwrap().into_inner()
}

async fn contact_id(f: &Fixture, external: &str) -> u64 {
    let key = get_contact_request::Key::ExternalId(external.into());
    let req = GetContactRequest { key: Some(key), consistency: Consistency::Linearizable as i32 };
    f.c.api(1).contacts.get_contact(authed(&f.token, req)).await.unwrap().into_inner().contact.unwrap().id
}

/// Waits (bounded) until every recipient's reply is kept.
async fn wait_replies(f: &Fixture, alert: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let req = ListRepliesRequest {
            alert_id: alert,
            page_size: 100,
            consistency: Consistency::Linearizable as i32,
            ..Default::default()
        };
        let n =
            f.c.api(1).alerts.list_replies(authed(&f.token, req)).await.unwrap().into_inner().replies.len();
        if n >= N {
            return;
        }
        assert!(Instant::now() < deadline, "only {n} of {N} replies kept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
