//! Goal: erasing a contact (GDPR article 17) leaves no byte of its phone number, e-mail address
//! or name in any record of the state or of a snapshot built after it, keeps every count
//! (progress, acknowledgements), writes an audit entry naming who erased it and when, and is
//! refused for an unknown contact, another tenant's contact, a viewer, and while an alert that
//! reached the contact is unfinished. Exporting (article 15) shows everything before.
//!
//! Method: entries applied directly to an in-memory state machine with chosen leader times, as
//! in `t05_delivery_rules`: a tenant with contacts in a group, an alert by SMS and e-mail whose
//! outcomes are recorded (e-mail failures quote the address, as SMTP servers do), a receipt
//! quoting the number, attributed and unattributed replies from the number. Then every key and
//! value of the state, and every byte and record of a fresh snapshot file, is searched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use varsel_domain::model::{
    AlertSpec, AlertStatus, Channel, ChannelContent, ContactInput, Content, EscalationStep, GroupRef, Limits,
    Priority, Role,
};
use varsel_raft_store::delivery::{
    DeliveryCommand, DeliveryReply, LeaseRef, Outcome, OutcomeResult, RECORD_OUTCOMES_MAX, ReceiptItem,
    ShardProgress, ShardRef,
};
use varsel_raft_store::engine::KvTree;
use varsel_raft_store::ops::{Caller, DomainReply, DomainRequest, ERASED, Op, RefusalCode};
use varsel_raft_store::replies::{AttributedBy, ReplyAttribution, ReplyItem};
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::domain::{export, query};
use varsel_raft_store::{Command, Entry, MemEngine, Request, Response, StateMachine};

struct H {
    sm: StateMachine<MemEngine>,
    index: u64,
    now: u64,
    dir: tempfile::TempDir,
}

fn phone(i: u64) -> String {
    format!("+4791{i:07}")
}

fn email(i: u64) -> String {
    format!("person{i:07}@example.no")
}

fn name(i: u64) -> String {
    format!("Navn Nummer{i:07}")
}

impl H {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = varsel_raft_store::open(MemEngine::new(), dir.path()).await.unwrap();
        Self { sm: store.state, index: 0, now: 1_000_000, dir }
    }

    async fn apply(&mut self, request: Request) -> Response {
        self.index += 1;
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), self.index),
            payload: EntryPayload::Normal(Command { issued_at_ms: self.now, lease_at_ms: self.now, request }),
        };
        self.sm.apply([entry]).await.unwrap().pop().unwrap()
    }

    async fn domain(&mut self, actor: Caller, op: Op) -> DomainReply {
        match self.apply(Request::Domain(Box::new(DomainRequest { actor, op }))).await {
            Response::Domain(r) => r,
            other => panic!("{other:?}"),
        }
    }

    async fn delivery(&mut self, cmd: DeliveryCommand) -> DeliveryReply {
        match self.apply(Request::Delivery(Box::new(cmd))).await {
            Response::Delivery(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// A tenant and a credential of `role` in it.
    async fn tenant(&mut self, name: &str) -> Caller {
        let limits = Limits { max_alerts_per_minute: 10_000, ..Limits::default() };
        let op = Op::CreateTenant { name: name.into(), limits, idempotency_key: String::new() };
        let DomainReply::Tenant(t) = self.domain(Caller::SUPERADMIN, op).await else { panic!() };
        self.credential(t.id, Role::Operator).await
    }

    async fn credential(&mut self, tenant: u64, role: Role) -> Caller {
        let op = Op::CreateCredential {
            tenant,
            name: format!("{role:?}"),
            role,
            secret_hash: [0; 32],
            idempotency_key: String::new(),
        };
        let DomainReply::Credential(c) = self.domain(Caller::SUPERADMIN, op).await else { panic!() };
        Caller { tenant, credential: c.id, role }
    }

    /// `n` contacts in group "alle"; their ids in member order.
    async fn contacts(&mut self, actor: Caller, n: u64) -> Vec<u64> {
        let mut ids = Vec::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
            let contacts = chunk
                .iter()
                .map(|&i| ContactInput {
                    external_id: format!("ext-{i:07}"),
                    name: Some(name(i)),
                    phone: Some(phone(i)),
                    email: Some(email(i)),
                    groups: vec!["alle".into()],
                    ..Default::default()
                })
                .collect();
            let DomainReply::Upserted(u) = self.domain(actor, Op::UpsertContacts { contacts }).await else {
                panic!()
            };
            ids.extend(u.ids);
        }
        ids
    }

    /// An alert to "alle" by SMS and e-mail at once.
    async fn alert(&mut self, actor: Caller, key: &str) -> u64 {
        let variant = ChannelContent {
            sms_text: Some("Evakuer".into()),
            email_subject: Some("Varsel".into()),
            email_text: Some("Evakuer".into()),
            ..Default::default()
        };
        let spec = AlertSpec {
            idempotency_key: key.into(),
            title: "flom".into(),
            priority: Priority::Crisis,
            content: Content {
                default_language: "nb".into(),
                variants: BTreeMap::from([("nb".into(), variant)]),
            },
            variables: BTreeMap::new(),
            groups: vec![GroupRef::Name("alle".into())],
            contacts: vec![],
            policy: vec![EscalationStep { channels: vec![Channel::Sms, Channel::Email], after_seconds: 0 }],
            send_at_ms: None,
            expires_at_ms: None,
        };
        match self.domain(actor, Op::CreateAlert { spec, trace: None }).await {
            DomainReply::Alert { alert, .. } => alert.id,
            other => panic!("{other:?}"),
        }
    }

    /// Records every outcome of the alert: SMS sent, e-mail failed with a reason quoting the
    /// address. `ids[seq]` is the member with that sequence number.
    async fn complete(&mut self, alert: u64, ids: &[u64]) {
        let a = dq::alert(&self.sm.reader().read_txn(), alert).unwrap().unwrap();
        let acquire = (0..a.shards).map(|shard| ShardRef { alert, shard }).collect();
        let hb = DeliveryCommand::Heartbeat { node: 1, renew: vec![], acquire, lease_ms: 60_000 };
        let DeliveryReply::Leases { granted, .. } = self.delivery(hb).await else { panic!() };
        assert_eq!(granted.len(), a.shards as usize);
        for g in granted {
            let range = dq::shard_range(&a, g.lease.shard.shard).unwrap();
            self.record_range(g.lease, dq::range_start(&range), dq::range_end(&range), ids).await;
        }
        let a = dq::alert(&self.sm.reader().read_txn(), alert).unwrap().unwrap();
        assert_eq!(a.status, AlertStatus::Completed);
    }

    async fn record_range(&mut self, lease: LeaseRef, start: u64, end: u64, ids: &[u64]) {
        for (ch, channel) in [Channel::Sms, Channel::Email].into_iter().enumerate() {
            let mut from = start;
            while from < end {
                let to = (from + RECORD_OUTCOMES_MAX as u64 / 2).min(end);
                let outcomes = (from..to)
                    .map(|pos| Outcome {
                        pos,
                        contact: ids[pos as usize],
                        channel,
                        result: if ch == 0 {
                            OutcomeResult::Sent { provider_id: format!("sms-{pos}") }
                        } else {
                            OutcomeResult::Failed {
                                reason: format!("550 5.1.1 <{}>: no such user", email(pos)),
                            }
                        },
                        provider: "sim".into(),
                        at_ms: self.now,
                    })
                    .collect();
                let p = ShardProgress {
                    lease,
                    step: 0,
                    channel,
                    from,
                    to,
                    recipients: if ch == 0 { (to - from) as u32 } else { 0 },
                    outcomes,
                    skipped: vec![],
                };
                let r = self.delivery(DeliveryCommand::Record { node: 1, items: vec![p] }).await;
                assert_eq!(r, DeliveryReply::Recorded { accepted: vec![true] });
                from = to;
            }
        }
    }

    /// Every key and value of the state containing `needle`, with the table byte.
    fn state_hits(&self, needle: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let reader = self.sm.reader();
        let txn = reader.read_txn();
        let mut hits = Vec::new();
        for kv in txn.tree().range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded) {
            let (k, v) = kv.unwrap();
            if contains(&k, needle) || contains(&v, needle) {
                hits.push((k[0], k));
            }
        }
        hits
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn reply(from: &str, text: &str, id: &str, attribution: ReplyAttribution) -> ReplyItem {
    ReplyItem {
        provider: "sms-primary".into(),
        id: Some(id.into()),
        from: from.into(),
        to: Some("2222".into()),
        text: text.into(),
        channel: Channel::Sms,
        sent_at_ms: Some(5),
        attribution,
    }
}

/// Goal: see the module doc. Method: 1,200 contacts (3 shards), one erased; a neighbour's
/// records serve as the control that nothing else changed.
#[tokio::test]
async fn erase_removes_every_trace_and_keeps_the_counts() {
    let mut h = H::new().await;
    let op = h.tenant("kommune").await;
    let ids = h.contacts(op, 1_200).await;
    let alert = h.alert(op, "flom-1").await;
    let (k, other) = (700u64, 701u64);
    let (victim, neighbour) = (ids[k as usize], ids[other as usize]);
    let refused = h.domain(op, Op::EraseContact { id: victim }).await;
    let DomainReply::Refused(r) = refused else { panic!("{refused:?}") };
    assert_eq!(r.code, RefusalCode::FailedPrecondition);
    assert!(r.message.contains(&format!("alert {alert}")), "{}", r.message);

    h.complete(alert, &ids).await;
    let receipt = ReceiptItem {
        alert,
        contact: victim,
        channel: Channel::Sms,
        delivered: false,
        provider_id: format!("sms-{k}"),
        error: Some(format!("absent subscriber {}", phone(k))),
    };
    h.delivery(DeliveryCommand::Receipts { items: vec![receipt] }).await;
    let to =
        |contact| ReplyAttribution::Alert { alert, contact, acknowledges: true, by: AttributedBy::Reference };
    let unmatched = ReplyAttribution::Unmatched { reason: "no alert".into(), tenants: vec![op.tenant] };
    let items = vec![
        reply(&phone(k), &format!("OK, {} er hjemme", name(k)), "mo-1", to(victim)),
        reply(&phone(other), "OK", "mo-2", to(neighbour)),
        reply(&phone(k), &format!("skriv til {}", email(k)), "mo-3", unmatched),
    ];
    h.delivery(DeliveryCommand::Replies { items }).await;

    let reader = h.sm.reader();
    let txn = reader.read_txn();
    let before = export::export(&txn, op.tenant, victim).unwrap().unwrap();
    assert_eq!(before.contact.phone.as_deref(), Some(phone(k).as_str()));
    assert_eq!(before.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["alle"]);
    assert_eq!(before.alerts.len(), 1);
    let a = &before.alerts[0];
    assert_eq!(a.messages.len(), 2, "{a:?}");
    assert!(a.messages.iter().any(|m| m.reason.as_deref().is_some_and(|r| r.contains(&email(k)))));
    assert_eq!((a.receipts.len(), a.replies.len()), (1, 1));
    assert!(a.acknowledged.is_some());
    assert_eq!(before.unattributed_replies.len(), 1);
    assert!(before.directory.as_ref().is_some_and(|d| d.created_at_ms > 0), "{:?}", before.directory);
    let progress_before = query::progress(&txn, alert).unwrap();
    assert_eq!(progress_before.acknowledged, 2);
    let count_before = query::contact_count(&txn, op.tenant).unwrap();
    drop(txn);
    let needles = [phone(k), phone(k)[1..].to_string(), email(k), name(k), format!("ext-{k:07}")];
    for n in &needles {
        assert!(!h.state_hits(n.as_bytes()).is_empty(), "{n} is in the state before");
    }

    // Refusals: another tenant, a viewer, an unknown contact.
    let stranger = h.tenant("nabo").await;
    let viewer = h.credential(op.tenant, Role::Viewer).await;
    for (actor, code) in [(stranger, RefusalCode::NotFound), (viewer, RefusalCode::PermissionDenied)] {
        let DomainReply::Refused(r) = h.domain(actor, Op::EraseContact { id: victim }).await else {
            panic!()
        };
        assert_eq!(r.code, code, "{r:?}");
    }
    h.now += 1_000;
    let erase_index = h.index + 1;
    let reply = h.domain(op, Op::EraseContact { id: victim }).await;
    let DomainReply::Erased(report) = reply else { panic!("{reply:?}") };
    assert_eq!(
        (report.alerts, report.memberships, report.receipts, report.replies),
        (1, 1, 1, 2),
        "{report:?}"
    );
    assert_eq!(report.outcomes, 1, "the e-mail failure; the SMS provider id quotes nothing");
    let DomainReply::Refused(r) = h.domain(op, Op::EraseContact { id: victim }).await else { panic!() };
    assert_eq!(
        (r.code, r.message.as_str()),
        (RefusalCode::NotFound, format!("contact {victim} does not exist").as_str())
    );

    for n in &needles {
        assert_eq!(h.state_hits(n.as_bytes()), vec![], "{n} is still in the state after the erasure");
    }
    // Nor does any record say which groups it was in, its ended memberships' included.
    use varsel_raft_store::state_machine::keys::{CONTACT_GROUP, MEMBER_BY_CONTACT, u64_at};
    let state = h.sm.reader();
    let txn = state.read_txn();
    let groups_of_victim = txn
        .tree()
        .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
        .map(|kv| kv.unwrap().0)
        .filter(|k| {
            (k[0] == MEMBER_BY_CONTACT && u64_at(k, 17) == Some(victim))
                || (k[0] == CONTACT_GROUP && u64_at(k, 9) == Some(victim))
        })
        .count();
    drop(txn);
    assert_eq!(groups_of_victim, 0, "a record of the erased contact's groups is left");
    let txn = reader.read_txn();
    assert_eq!(query::progress(&txn, alert).unwrap(), progress_before, "counts are kept");
    assert!(query::ack(&txn, alert, victim).unwrap().is_some(), "the acknowledgement is kept");
    assert_eq!(query::contact_count(&txn, op.tenant).unwrap(), count_before - 1);
    assert_eq!(reader.erasures().unwrap(), 1, "nodes purge their logs when this grows");
    assert!(export::export(&txn, op.tenant, victim).unwrap().is_none());
    assert!(query::directory(&txn, op.tenant, victim).unwrap().is_none(), "its directory record goes too");
    let audit = query::audit(&txn, op.tenant, None, 10).unwrap();
    let (index, entry) = audit.iter().find(|(_, r)| r.action == "contact.erase").expect("an audit entry");
    assert_eq!((*index, entry.credential, entry.at_ms), (erase_index, op.credential, h.now));
    assert_eq!(entry.target, format!("contact {victim}"));
    // The neighbour's records are untouched.
    let n = export::export(&txn, op.tenant, neighbour).unwrap().unwrap();
    assert_eq!(n.alerts[0].replies[0].from, phone(other));
    assert!(
        n.alerts[0].messages.iter().any(|m| m.reason.as_deref().is_some_and(|r| r.contains(&email(other))))
    );
    let kept = varsel_raft_store::state_machine::delivery::replies::for_alert(&txn, alert, None, 10).unwrap();
    assert!(kept.iter().any(|(_, r)| r.item.from == ERASED && r.item.text == ERASED));
    drop(txn);

    // A snapshot built now holds none of it either, byte for byte and record by record.
    let mut builder = h.sm.get_snapshot_builder().await;
    builder.build_snapshot().await.unwrap();
    let file = h.dir.path().join("snapshots").join("current.snap");
    let bytes = std::fs::read(&file).unwrap();
    let mut records = Vec::new();
    varsel_raft_store::snapshot::read_file(&file, |k, v| {
        records.push((k, v));
        Ok(())
    })
    .unwrap();
    assert!(records.len() > 1_000);
    for n in &needles {
        assert!(!contains(&bytes, n.as_bytes()), "{n} is in the snapshot file");
        assert!(!records.iter().any(|(k, v)| contains(k, n.as_bytes()) || contains(v, n.as_bytes())));
    }
    assert!(contains(&bytes, phone(other).as_bytes()) || !records.is_empty());
}

/// Goal: the cost of one erasure on a large state, for `docs/performance.md`. Method: one
/// alert to `VARSEL_ERASE_N` contacts (default 200,000) plus 100 small alerts in the same
/// tenant, all outcomes recorded; one contact erased; the apply time printed.
/// Run: `VARSEL_ERASE_N=1000000 cargo test --release -p varsel-raft-store --test t08_erase -- --ignored --nocapture`
#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn erase_cost_on_a_large_state() {
    let n: u64 = std::env::var("VARSEL_ERASE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let mut h = H::new().await;
    let op = h.tenant("kommune").await;
    let started = Instant::now();
    let ids = h.contacts(op, n).await;
    let limits = Limits {
        max_recipients_per_alert: 10_000_000,
        max_messages_per_alert: 20_000_000,
        max_contacts: 10_000_000,
        max_alerts_per_minute: 10_000,
        ..Limits::default()
    };
    h.domain(Caller::SUPERADMIN, Op::SetLimits { tenant: op.tenant, limits }).await;
    let big = h.alert(op, "stor").await;
    h.complete(big, &ids).await;
    let built = started.elapsed();
    let k = n / 2 + 17;
    let small = h.contacts_small(op).await;
    for i in 0..100 {
        h.alert_to_group(op, &small, i).await;
    }
    let t = Instant::now();
    let reply = h.domain(op, Op::EraseContact { id: ids[k as usize] }).await;
    let took = t.elapsed();
    let DomainReply::Erased(report) = reply else { panic!("{reply:?}") };
    println!(
        "erase on a state of {n} contacts, one alert to all of them and 100 others: {} ms (state built in {} s): {report:?}",
        took.as_millis(),
        built.as_secs()
    );
    assert_eq!(report.outcomes, 1);
    assert!(h.state_hits(email(k).as_bytes()).is_empty());
}

impl H {
    /// A second, small group "få" of 10 contacts; the name.
    async fn contacts_small(&mut self, actor: Caller) -> String {
        let contacts = (0..10)
            .map(|i| ContactInput {
                external_id: format!("small-{i}"),
                phone: Some(format!("+4792{i:07}")),
                groups: vec!["få".into()],
                ..Default::default()
            })
            .collect();
        self.domain(actor, Op::UpsertContacts { contacts }).await;
        "få".into()
    }

    async fn alert_to_group(&mut self, actor: Caller, group: &str, i: u32) {
        let variant = ChannelContent { sms_text: Some("x".into()), ..Default::default() };
        let spec = AlertSpec {
            idempotency_key: format!("small-{i}"),
            title: "t".into(),
            priority: Priority::Routine,
            content: Content {
                default_language: "nb".into(),
                variants: BTreeMap::from([("nb".into(), variant)]),
            },
            variables: BTreeMap::new(),
            groups: vec![GroupRef::Name(group.into())],
            contacts: vec![],
            policy: vec![EscalationStep { channels: vec![Channel::Sms], after_seconds: 0 }],
            send_at_ms: None,
            expires_at_ms: None,
        };
        let DomainReply::Alert { alert, .. } =
            self.domain(actor, Op::CreateAlert { spec, trace: None }).await
        else {
            panic!()
        };
        self.now += 1;
        let id = alert.id;
        self.domain(actor, Op::CancelAlert { id, idempotency_key: String::new() }).await;
    }
}
