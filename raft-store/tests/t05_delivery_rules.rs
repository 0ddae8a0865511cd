//! Goal: the delivery rules of the state machine: leases granted and expired by the log's
//! clock, fencing of a node whose lease was taken over, cursor continuity, escalation steps,
//! completion, receipts and expiry.
//!
//! Method: apply entries directly with chosen leader timestamps, as in `t04_domain_rules`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use varsel_domain::model::{
    AlertSpec, AlertStatus, Channel, ChannelContent, ContactInput, Content, EscalationStep, GroupRef, Limits,
    Priority, Role,
};
use varsel_raft_store::delivery::{
    DeliveryCommand, DeliveryReply, LEASE_MS, LeaseRef, Outcome, OutcomeResult, ReceiptItem, ShardProgress,
    ShardRef,
};
use varsel_raft_store::ops::{Caller, DomainReply, DomainRequest, Op};
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::domain::query;
use varsel_raft_store::{Command, Entry, MemEngine, Request, Response, StateMachine, Store};

struct H {
    store: Store<MemEngine>,
    sm: StateMachine<MemEngine>,
    index: u64,
    now: u64,
    /// How far the log's time has been stepped ahead of the lease time (a correction towards
    /// the cluster's wall clocks).
    step: u64,
    /// The operator of the tenant [`H::alert`] made.
    operator: Option<Caller>,
    /// Whether records are applied packed, as a leader logs them once every member reads that.
    packed: bool,
    _dir: tempfile::TempDir,
}

impl H {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = varsel_raft_store::open(MemEngine::new(), dir.path()).await.unwrap();
        let sm = store.state.clone();
        Self { store, sm, index: 0, now: 1_000_000, step: 0, operator: None, packed: false, _dir: dir }
    }

    async fn apply(&mut self, request: Request) -> Response {
        self.index += 1;
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), self.index),
            payload: EntryPayload::Normal(Command {
                issued_at_ms: self.now + self.step,
                lease_at_ms: self.now,
                request,
            }),
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
        let cmd = match cmd.packed_record() {
            Some(packed) if self.packed => packed.unwrap(),
            _ => cmd,
        };
        match self.apply(Request::Delivery(Box::new(cmd))).await {
            Response::Delivery(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// Node 3 takes every shard of `alert` and records both steps (SMS, then voice) of each,
    /// with an SMS outcome per recipient when `outcomes`; every record must be accepted.
    async fn finish_on_node_3(&mut self, alert: u64, shards: u32, outcomes: bool) {
        let refs: Vec<ShardRef> = (0..shards).map(|shard| ShardRef { alert, shard }).collect();
        let beat = DeliveryCommand::Heartbeat { node: 3, renew: vec![], acquire: refs, lease_ms: LEASE_MS };
        let leases = granted(&self.delivery(beat).await);
        let a = dq::alert(&self.store.state.reader().read_txn(), alert).unwrap().unwrap();
        for lease in &leases {
            let range = dq::shard_range(&a, lease.shard.shard).unwrap();
            let (start, end) = (dq::range_start(&range), dq::range_end(&range));
            for (step, channel) in [(0u8, Channel::Sms), (1, Channel::Voice)] {
                let sms = step == 0;
                let p = ShardProgress {
                    lease: *lease,
                    step,
                    channel,
                    from: start,
                    to: end,
                    recipients: if sms { (end - start) as u32 } else { 0 },
                    outcomes: if sms && outcomes {
                        (start..end).map(|p| sent(p, p)).collect()
                    } else {
                        vec![]
                    },
                    skipped: vec![],
                };
                assert_eq!(
                    self.delivery(DeliveryCommand::Record { node: 3, items: vec![p] }).await,
                    DeliveryReply::Recorded { accepted: vec![true] }
                );
            }
        }
    }

    /// A tenant with `n` contacts in group "alle" and an alert to them with two steps
    /// (SMS now, voice after 60 s). Returns the alert id and the number of shards.
    async fn alert(&mut self, n: u32) -> (u64, u32) {
        let DomainReply::Tenant(t) = self
            .domain(
                Caller::SUPERADMIN,
                Op::CreateTenant {
                    name: "t".into(),
                    limits: Limits::default(),
                    idempotency_key: String::new(),
                },
            )
            .await
        else {
            panic!()
        };
        let op = Op::CreateCredential {
            tenant: t.id,
            name: "o".into(),
            role: Role::Operator,
            secret_hash: [0; 32],
            idempotency_key: String::new(),
        };
        let DomainReply::Credential(c) = self.domain(Caller::SUPERADMIN, op).await else { panic!() };
        let actor = Caller { tenant: t.id, credential: c.id, role: Role::Operator };
        self.operator = Some(actor);
        let contacts = (0..n)
            .map(|i| ContactInput {
                external_id: format!("e{i}"),
                phone: Some(format!("+4790{i:06}")),
                groups: vec!["alle".into()],
                ..Default::default()
            })
            .collect();
        self.domain(actor, Op::UpsertContacts { contacts }).await;
        let variant = ChannelContent {
            sms_text: Some("x".into()),
            voice_script: Some("y".into()),
            ..Default::default()
        };
        let spec = AlertSpec {
            idempotency_key: "k".into(),
            title: "t".into(),
            priority: Priority::Crisis,
            content: Content {
                default_language: "nb".into(),
                variants: BTreeMap::from([("nb".into(), variant)]),
            },
            variables: BTreeMap::new(),
            groups: vec![GroupRef::Name("alle".into())],
            contacts: vec![],
            policy: vec![
                EscalationStep { channels: vec![Channel::Sms], after_seconds: 0 },
                EscalationStep { channels: vec![Channel::Voice], after_seconds: 60 },
            ],
            send_at_ms: None,
            expires_at_ms: None,
        };
        let DomainReply::Alert { alert, .. } =
            self.domain(actor, Op::CreateAlert { spec, trace: None }).await
        else {
            panic!()
        };
        (alert.id, alert.shards)
    }
}

fn granted(r: &DeliveryReply) -> Vec<LeaseRef> {
    match r {
        DeliveryReply::Leases { granted, .. } => granted.iter().map(|g| g.lease).collect(),
        other => panic!("{other:?}"),
    }
}

fn sent(pos: u64, contact: u64) -> Outcome {
    Outcome {
        pos,
        contact,
        channel: Channel::Sms,
        result: OutcomeResult::Sent { provider_id: format!("p{pos}") },
        provider: "sim".into(),
        at_ms: 5,
    }
}

/// Goal: a step of the log's time (the leader following the cluster's wall clocks, here a
/// whole day) does not end a lease early: leases run on the lease clock. Method: node 1 takes
/// a shard; the log's time steps 25 h ahead; node 2 asks for the shard just before the lease
/// ends by the lease clock (refused) and just after (granted).
#[tokio::test]
async fn a_step_of_the_logs_time_does_not_end_a_lease_early() {
    let mut h = H::new().await;
    let (alert, _) = h.alert(1000).await;
    let s0 = ShardRef { alert, shard: 0 };
    let hb = |node, acquire: Vec<ShardRef>| DeliveryCommand::Heartbeat {
        node,
        renew: vec![],
        acquire,
        lease_ms: LEASE_MS,
    };
    assert_eq!(granted(&h.delivery(hb(1, vec![s0])).await).len(), 1);
    h.step = 25 * 3_600_000;
    h.now += LEASE_MS - 1;
    assert!(
        granted(&h.delivery(hb(2, vec![s0])).await).is_empty(),
        "the lease still runs by the lease clock"
    );
    h.now += 2;
    assert_eq!(granted(&h.delivery(hb(2, vec![s0])).await).len(), 1, "the lease ended by the lease clock");
    let applied = h.sm.reader().applied();
    assert_eq!(applied.clock_ms, h.now + h.step);
    assert_eq!(applied.lease_ms, h.now);
}

/// Goal: a lease is exclusive until it expires by the log clock; the taker gets a new epoch,
/// the old holder's renewals and records are refused from then on.
#[tokio::test]
async fn leases_expire_by_log_clock_and_fence_the_old_holder() {
    fencing(false).await
}

/// Goal: as [`leases_expire_by_log_clock_and_fence_the_old_holder`], with every record logged
/// packed (`RecordPacked`): fencing, cursor continuity and progress hold the same.
#[tokio::test]
async fn packed_records_are_fenced_and_counted_alike() {
    fencing(true).await
}

async fn fencing(packed: bool) {
    let mut h = H::new().await;
    h.packed = packed;
    let (alert, shards) = h.alert(1000).await;
    assert_eq!(shards, 2, "1,000 recipients, span 500");
    let s0 = ShardRef { alert, shard: 0 };
    let g1 = granted(
        &h.delivery(DeliveryCommand::Heartbeat {
            node: 1,
            renew: vec![],
            acquire: vec![s0],
            lease_ms: LEASE_MS,
        })
        .await,
    );
    assert_eq!(g1.len(), 1);
    // Node 2 cannot take it while the lease runs.
    h.now += LEASE_MS - 1;
    assert!(
        granted(
            &h.delivery(DeliveryCommand::Heartbeat {
                node: 2,
                renew: vec![],
                acquire: vec![s0],
                lease_ms: LEASE_MS
            })
            .await
        )
        .is_empty()
    );
    // After expiry (by the entry's time) node 2 gets it with a higher epoch.
    h.now += 2;
    let g2 = granted(
        &h.delivery(DeliveryCommand::Heartbeat {
            node: 2,
            renew: vec![],
            acquire: vec![s0],
            lease_ms: LEASE_MS,
        })
        .await,
    );
    assert_eq!(g2.len(), 1);
    assert!(g2[0].epoch > g1[0].epoch);
    // Node 1 wakes up: its renewal is refused and so is its record.
    let r = h
        .delivery(DeliveryCommand::Heartbeat {
            node: 1,
            renew: g1.clone(),
            acquire: vec![],
            lease_ms: LEASE_MS,
        })
        .await;
    assert!(matches!(r, DeliveryReply::Leases { ref lost, .. } if lost == &g1));
    let stale = ShardProgress {
        lease: g1[0],
        step: 0,
        channel: Channel::Sms,
        from: 0,
        to: 10,
        recipients: 10,
        outcomes: vec![sent(0, 1)],
        skipped: vec![],
    };
    assert_eq!(
        h.delivery(DeliveryCommand::Record { node: 1, items: vec![stale] }).await,
        DeliveryReply::Recorded { accepted: vec![false] }
    );
    // The new holder records from the cursor; a gap or a replay is refused.
    let ok = ShardProgress {
        lease: g2[0],
        step: 0,
        channel: Channel::Sms,
        from: 0,
        to: 10,
        recipients: 10,
        outcomes: vec![sent(0, 1)],
        skipped: vec![(Channel::Sms, 2)],
    };
    assert_eq!(
        h.delivery(DeliveryCommand::Record { node: 2, items: vec![ok.clone()] }).await,
        DeliveryReply::Recorded { accepted: vec![true] }
    );
    assert_eq!(
        h.delivery(DeliveryCommand::Record { node: 2, items: vec![ok] }).await,
        DeliveryReply::Recorded { accepted: vec![false] }
    );
    let gap = ShardProgress {
        lease: g2[0],
        step: 0,
        channel: Channel::Sms,
        from: 20,
        to: 30,
        recipients: 0,
        outcomes: vec![],
        skipped: vec![],
    };
    assert_eq!(
        h.delivery(DeliveryCommand::Record { node: 2, items: vec![gap] }).await,
        DeliveryReply::Recorded { accepted: vec![false] }
    );
    let t = h.store.state.reader();
    let p = query::progress(&t.read_txn(), alert).unwrap();
    assert_eq!((p.recipients, p.channels[&Channel::Sms].sent, p.channels[&Channel::Sms].skipped), (10, 1, 2));
}

/// Goal: shards walk through every step; the alert completes when every shard is done; receipts
/// count once.
#[tokio::test]
async fn steps_completion_and_receipts() {
    let mut h = H::new().await;
    let (alert, shards) = h.alert(600).await;
    h.finish_on_node_3(alert, shards, false).await;
    let r = h.store.state.reader();
    let a = dq::alert(&r.read_txn(), alert).unwrap().unwrap();
    assert_eq!(a.status, AlertStatus::Completed);
    assert!(query::open_alerts(&r.read_txn()).unwrap().is_empty());
    assert!(
        dq::shard_states(&r.read_txn(), alert, shards).unwrap().iter().all(|s| s.done && s.owner.is_none())
    );

    let receipt = ReceiptItem {
        alert,
        contact: 1,
        channel: Channel::Sms,
        delivered: true,
        provider_id: "p".into(),
        error: None,
    };
    h.delivery(DeliveryCommand::Receipts { items: vec![receipt.clone(), receipt] }).await;
    assert_eq!(query::progress(&r.read_txn(), alert).unwrap().channels[&Channel::Sms].delivered, 1);
}

/// Goal: an alert expires by the log clock, not before; expired work is counted.
#[tokio::test]
async fn expiry_by_log_clock() {
    let mut h = H::new().await;
    let (alert, _) = h.alert(10).await;
    let a = dq::alert(&h.store.state.reader().read_txn(), alert).unwrap().unwrap();
    h.now = a.expires_ms - 1;
    h.delivery(DeliveryCommand::Expire { alert }).await;
    assert_eq!(
        dq::alert(&h.store.state.reader().read_txn(), alert).unwrap().unwrap().status,
        AlertStatus::Active
    );
    h.now = a.expires_ms;
    h.delivery(DeliveryCommand::Expire { alert }).await;
    let r = h.store.state.reader();
    assert_eq!(dq::alert(&r.read_txn(), alert).unwrap().unwrap().status, AlertStatus::Expired);
    assert_eq!(query::progress(&r.read_txn(), alert).unwrap().channels[&Channel::Voice].expired, 10);
    // Nobody can take a shard of an expired alert.
    let g = granted(
        &h.delivery(DeliveryCommand::Heartbeat {
            node: 1,
            renew: vec![],
            acquire: vec![ShardRef { alert, shard: 0 }],
            lease_ms: LEASE_MS,
        })
        .await,
    );
    assert!(g.is_empty());
}

/// Goal: a push subscription reported gone is marked invalid on the contact, only while the
/// contact still has that subscription; re-importing the same subscription keeps the mark, a
/// new subscription starts valid.
/// Method: a contact with a subscription, PushGone for another subscription (no change), then
/// for its own (marked), then upserts with the same and with a new subscription.
#[tokio::test]
async fn push_gone_marks_only_the_reported_subscription() {
    let mut h = H::new().await;
    let (alert, _) = h.alert(1).await;
    let a = dq::alert(&h.store.state.reader().read_txn(), alert).unwrap().unwrap();
    let actor = h.operator.unwrap();
    let upsert = |push: &str| Op::UpsertContacts {
        contacts: vec![ContactInput {
            external_id: "e0".into(),
            phone: Some("+4790000000".into()),
            push: Some(push.into()),
            groups: vec!["alle".into()],
            ..Default::default()
        }],
    };
    h.domain(actor, upsert(r#"{"endpoint":"https://p/1"}"#)).await;
    let contact = |h: &H| {
        let r = h.store.state.reader();
        let txn = r.read_txn();
        let id = query::contacts_by_phone(&txn, "+4790000000").unwrap()[0].1;
        query::contact(&txn, a.tenant, id).unwrap().unwrap().0
    };
    let id = contact(&h).id;
    let gone = |subscription: &str| DeliveryCommand::PushGone {
        items: vec![varsel_raft_store::delivery::PushGoneItem {
            alert,
            contact: id,
            subscription: subscription.into(),
        }],
    };
    h.delivery(gone(r#"{"endpoint":"https://p/other"}"#)).await;
    assert!(!contact(&h).push_invalid, "another subscription was reported");
    h.delivery(gone(r#"{"endpoint":"https://p/1"}"#)).await;
    assert!(contact(&h).push_invalid);
    h.domain(actor, upsert(r#"{"endpoint":"https://p/1"}"#)).await;
    assert!(contact(&h).push_invalid, "re-importing the dead subscription revived it");
    h.domain(actor, upsert(r#"{"endpoint":"https://p/2"}"#)).await;
    assert!(!contact(&h).push_invalid, "a new subscription must start valid");
}

/// Goal: every reply is kept once, however often a provider sends it; one that acknowledges
/// acknowledges its alert (once); one that does not is kept without acknowledging; replies
/// attributed to no alert are shown to the tenants they may be for (or to nobody but the
/// superadmin), and one naming an alert that does not exist is kept as unmatched.
#[tokio::test]
async fn replies_are_kept_once_and_acknowledge_once() {
    use varsel_raft_store::replies::{AttributedBy, ReplyAttribution, ReplyItem};
    use varsel_raft_store::state_machine::delivery::replies as rq;

    let mut h = H::new().await;
    let (alert, _) = h.alert(10).await;
    let tenant = h.operator.unwrap().tenant;
    let reply = |id: &str, text: &str, attribution: ReplyAttribution| ReplyItem {
        provider: "sms-primary".into(),
        id: Some(id.into()),
        from: "+4790000001".into(),
        to: Some("2222".into()),
        text: text.into(),
        channel: Channel::Sms,
        sent_at_ms: None,
        attribution,
    };
    let to_alert =
        |acknowledges| ReplyAttribution::Alert { alert, contact: 1, acknowledges, by: AttributedBy::Route };
    let ok = reply("mo-1", "OK", to_alert(true));
    let help = reply("mo-2", "Trenger hjelp", to_alert(false));
    let doubt = reply(
        "mo-3",
        "OK",
        ReplyAttribution::Unmatched {
            reason: "open alerts of several tenants".into(),
            tenants: vec![tenant, 77],
        },
    );
    let nowhere = reply("mo-4", "OK", ReplyAttribution::Unmatched { reason: "none".into(), tenants: vec![] });
    let gone = reply(
        "mo-5",
        "OK",
        ReplyAttribution::Alert { alert: 999_999, contact: 1, acknowledges: true, by: AttributedBy::Latest },
    );
    let all = vec![ok.clone(), help, doubt, nowhere, gone];
    h.delivery(DeliveryCommand::Replies { items: all.clone() }).await;
    // The provider sends everything again, and the acknowledgement a third time.
    h.delivery(DeliveryCommand::Replies { items: all }).await;
    h.delivery(DeliveryCommand::Replies { items: vec![ok] }).await;

    let r = h.store.state.reader();
    let txn = r.read_txn();
    assert_eq!(query::progress(&txn, alert).unwrap().acknowledged, 1);
    let kept = rq::for_alert(&txn, alert, None, 100).unwrap();
    let texts: Vec<&str> = kept.iter().map(|(_, s)| s.item.text.as_str()).collect();
    assert_eq!(texts, ["Trenger hjelp", "OK"], "newest first, each once");
    let mine = rq::unmatched(&txn, tenant, None, 100).unwrap();
    assert_eq!(mine.iter().map(|(_, s)| s.item.id.as_deref().unwrap()).collect::<Vec<_>>(), ["mo-3"]);
    assert_eq!(rq::unmatched(&txn, 77, None, 100).unwrap().len(), 1);
    let operators: Vec<String> =
        rq::unmatched(&txn, 0, None, 100).unwrap().into_iter().map(|(_, s)| s.item.id.unwrap()).collect();
    assert_eq!(operators, ["mo-5", "mo-4"]);
    // Paging: the page after the newest holds the older one.
    let first = rq::for_alert(&txn, alert, None, 1).unwrap();
    let second = rq::for_alert(&txn, alert, Some(first[0].0), 1).unwrap();
    assert_eq!(second[0].1.item.text, "OK");
}

/// Records of `table` for `alert` (tables keyed by alert first).
fn count_of(h: &H, table: u8, alert: u64) -> usize {
    use varsel_raft_store::state_machine::keys::Key;
    let r = h.store.state.reader();
    let prefix = Key::new(table).u64(alert).done();
    r.read_txn().scan_prefix(&prefix, None, usize::MAX).unwrap().len()
}

/// Records of `table`, all of them.
fn table_len(h: &H, table: u8) -> usize {
    h.store.state.reader().read_txn().scan_prefix(&[table], None, usize::MAX).unwrap().len()
}

/// A reply by SMS from contact 1 to `alert`, and one from an unknown number kept for `tenant`.
fn two_replies(alert: u64, tenant: u64) -> Vec<varsel_raft_store::replies::ReplyItem> {
    use varsel_raft_store::replies::{AttributedBy, ReplyAttribution, ReplyItem};
    let reply = |id: &str, from: &str, attribution| ReplyItem {
        provider: "sms-primary".into(),
        id: Some(id.into()),
        from: from.into(),
        to: Some("2222".into()),
        text: "OK".into(),
        channel: Channel::Sms,
        sent_at_ms: None,
        attribution,
    };
    let placed = ReplyAttribution::Alert { alert, contact: 1, acknowledges: false, by: AttributedBy::Route };
    let unplaced = ReplyAttribution::Unmatched { reason: "no alert".into(), tenants: vec![tenant] };
    vec![reply("mo-1", "+4790000001", placed), reply("mo-2", "+4790000009", unplaced)]
}

/// Goal: retention removes a finished alert's details, then the whole alert and old audit
/// entries, on the log's clock, in steps of at most the budget, never before they are due, and
/// leaves no index entry of a purged reply behind; a retention shorter than a running alert's
/// lifetime is refused. Method: an alert to 600
/// recipients; retention refused while it runs; it completes with an outcome per recipient and
/// a receipt; retention of 2 and 10 minutes set; purges applied before and after each is due.
#[tokio::test]
async fn retention_purges_details_then_the_alert_in_bounded_steps() {
    use varsel_domain::model::Retention;
    use varsel_raft_store::state_machine::keys::{
        ACK, AUDIT, OUTCOME_PACKED, RECEIPT, REPLY_BY_CONTACT, REPLY_BY_PHONE, REPLY_SEEN, SHARD,
    };
    let mut h = H::new().await;
    let (alert, shards) = h.alert(600).await;
    let operator = h.operator.unwrap();
    let retention = Retention { details_ms: 120_000, alerts_ms: 600_000 };
    let set = Op::SetRetention { tenant: operator.tenant, retention };
    match h.domain(Caller::SUPERADMIN, set.clone()).await {
        DomainReply::Refused(r) => {
            assert!(
                r.message.contains(&format!("alert {alert}")) && r.message.contains("retention.details"),
                "{r:?}"
            )
        }
        other => panic!("a retention shorter than a running alert's lifetime was accepted: {other:?}"),
    }
    let bad = Op::SetRetention {
        tenant: operator.tenant,
        retention: Retention { details_ms: 1_000, alerts_ms: 600_000 },
    };
    assert!(matches!(h.domain(Caller::SUPERADMIN, bad).await, DomainReply::Refused(_)));

    h.finish_on_node_3(alert, shards, true).await;
    let receipt = ReceiptItem {
        alert,
        contact: 1,
        channel: Channel::Sms,
        delivered: true,
        provider_id: "p".into(),
        error: None,
    };
    h.delivery(DeliveryCommand::Receipts { items: vec![receipt] }).await;
    let r = h.store.state.reader();
    let done = dq::alert(&r.read_txn(), alert).unwrap().unwrap();
    assert_eq!(done.status, AlertStatus::Completed);
    let finished = done.finished_at_ms.unwrap();
    // A reply to the alert and one that could not be placed: each leaves an index entry (by
    // contact, by sender) and the record of its identity, which must go with it.
    h.now = finished;
    let reply_tables = [REPLY_SEEN, REPLY_BY_CONTACT, REPLY_BY_PHONE];
    h.delivery(DeliveryCommand::Replies { items: two_replies(alert, operator.tenant) }).await;
    assert_eq!(reply_tables.map(|t| table_len(&h, t)), [2, 1, 1], "seen, by contact, by sender");
    assert!(matches!(h.domain(Caller::SUPERADMIN, set).await, DomainReply::Retention(_)));
    let details =
        |h: &H| [OUTCOME_PACKED, RECEIPT, ACK, SHARD].iter().map(|t| count_of(h, *t, alert)).sum::<usize>();
    assert!(
        count_of(&h, OUTCOME_PACKED, alert) > 0
            && count_of(&h, RECEIPT, alert) == 1
            && count_of(&h, SHARD, alert) > 0
    );

    // Not yet due: nothing goes.
    h.now = finished + 119_000;
    assert_eq!(
        h.delivery(DeliveryCommand::Purge { budget: 100 }).await,
        DeliveryReply::Purged { records: 0, more: false }
    );
    assert!(details(&h) > 0);

    // Due: the details go, at most 3 records a step, the summary stays.
    h.now = finished + 120_000;
    let before = details(&h);
    let mut steps = 0;
    loop {
        let DeliveryReply::Purged { records, more } = h.delivery(DeliveryCommand::Purge { budget: 3 }).await
        else {
            panic!()
        };
        assert!(records <= 3, "a step removed {records} records");
        steps += 1;
        assert!(steps < 1_000, "the purge never ends");
        if !more {
            break;
        }
    }
    assert_eq!(details(&h), 0, "details left after their retention");
    assert_eq!(reply_tables.map(|t| table_len(&h, t)), [0, 0, 0], "reply index entries outlived the replies");
    assert!(steps >= before / 3, "{before} records in {steps} steps of at most 3");
    let kept = dq::alert(&h.store.state.reader().read_txn(), alert).unwrap().unwrap();
    assert_eq!(kept.status, AlertStatus::Completed);
    assert_eq!(query::progress(&h.store.state.reader().read_txn(), alert).unwrap().recipients, 600);

    // The whole alert, and audit entries as old, go after the alerts retention.
    h.now = finished + 599_000;
    h.delivery(DeliveryCommand::Purge { budget: 100 }).await;
    assert!(dq::alert(&h.store.state.reader().read_txn(), alert).unwrap().is_some());
    let audit_before = count_of(&h, AUDIT, operator.tenant);
    assert!(audit_before > 0);
    h.now = finished + 600_000 + 1;
    h.delivery(DeliveryCommand::Purge { budget: 100 }).await;
    let r = h.store.state.reader();
    assert!(dq::alert(&r.read_txn(), alert).unwrap().is_none(), "the alert outlived its retention");
    assert!(query::progress(&r.read_txn(), alert).unwrap_or_default().recipients == 0);
    assert!(count_of(&h, AUDIT, operator.tenant) < audit_before, "no old audit entry went");
}

/// Every key and value of the state machine.
fn dump(h: &H) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.store.state.reader().read_txn().scan_prefix(&[], None, usize::MAX).unwrap()
}

/// Goal: a record logged packed is applied exactly as the record it was made from: the same
/// answers, and the same state, key for key and byte for byte (the packed outcomes stored as
/// they came are the bytes the plain record's are packed into).
///
/// Method: the same entries on two stores, one with records as they came, one with each made
/// `RecordPacked`: an alert of 1,000 recipients finished by node 3 with an outcome per
/// recipient (two steps, completion), then a record for a shard already done (refused).
#[tokio::test]
async fn a_packed_record_applies_as_the_record_it_was_made_from() {
    let mut states = Vec::new();
    for packed in [false, true] {
        let mut h = H::new().await;
        h.packed = packed;
        let (alert, shards) = h.alert(1000).await;
        h.finish_on_node_3(alert, shards, true).await;
        let late = ShardProgress {
            lease: LeaseRef { shard: ShardRef { alert, shard: 0 }, epoch: 1 },
            step: 0,
            channel: Channel::Sms,
            from: 0,
            to: 1,
            recipients: 1,
            outcomes: vec![sent(0, 1)],
            skipped: vec![],
        };
        let refused = h.delivery(DeliveryCommand::Record { node: 3, items: vec![late] }).await;
        assert_eq!(refused, DeliveryReply::Recorded { accepted: vec![false] });
        let r = h.store.state.reader();
        let got = dq::outcomes(&r.read_txn(), alert, 0, 0).unwrap();
        assert_eq!(got.len(), 500, "shard 0 holds 500 positions, one SMS outcome each");
        assert_eq!(got[7], sent(got[7].pos, got[7].pos));
        states.push(dump(&h));
    }
    assert!(states[0].len() > 10);
    assert_eq!(states[0], states[1], "the same state, key for key");
}

/// Goal: a packed record whose outcomes do not decode is refused like a fenced range, and the
/// state machine goes on applying: the shard's cursor stays, and the plain record after it is
/// taken.
///
/// Method: node 3 holds shard 0; apply a `RecordPacked` whose packed bytes are cut short and one
/// holding a byte no build writes, then the same range as a plain `Record`.
#[tokio::test]
async fn a_packed_record_that_does_not_decode_is_refused_not_fatal() {
    let mut h = H::new().await;
    let (alert, _) = h.alert(1000).await;
    let s0 = ShardRef { alert, shard: 0 };
    let beat = DeliveryCommand::Heartbeat { node: 3, renew: vec![], acquire: vec![s0], lease_ms: LEASE_MS };
    let lease = granted(&h.delivery(beat).await)[0];
    let p = ShardProgress {
        lease,
        step: 0,
        channel: Channel::Sms,
        from: 0,
        to: 3,
        recipients: 3,
        outcomes: (0..3).map(|i| sent(i, i + 1)).collect(),
        skipped: vec![],
    };
    let good = p.packed().unwrap().outcomes;
    for bad in [good[..good.len() - 2].to_vec(), vec![0u8; 5]] {
        let item = p.with_outcomes(bad);
        let r = h.delivery(DeliveryCommand::RecordPacked { node: 3, items: vec![item] }).await;
        assert_eq!(r, DeliveryReply::Recorded { accepted: vec![false] });
    }
    let r = h.store.state.reader();
    assert!(dq::outcomes(&r.read_txn(), alert, 0, 0).unwrap().is_empty(), "nothing of them stored");
    assert_eq!(
        h.delivery(DeliveryCommand::Record { node: 3, items: vec![p] }).await,
        DeliveryReply::Recorded { accepted: vec![true] },
        "the cursor did not move: the range is taken from its start"
    );
    assert_eq!(dq::outcomes(&r.read_txn(), alert, 0, 0).unwrap().len(), 3);
}
