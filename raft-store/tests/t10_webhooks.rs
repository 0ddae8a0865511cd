//! Goal: the webhook rules of the state machine: who may subscribe, the events an alert's life
//! appends (deterministic ids, Standard Webhooks payloads), ordering per alert, retries,
//! disabling a dead endpoint and enabling it again.
//!
//! Method: apply entries directly with chosen leader timestamps, as in `t05_delivery_rules`,
//! and read the outbox the way the node's worker does (`webhooks::due`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use varsel_domain::model::{
    AlertSpec, Channel, ChannelContent, ContactInput, Content, EscalationStep, GroupRef, Limits, Priority,
    Role,
};
use varsel_raft_store::delivery::{DeliveryCommand, DeliveryReply, LEASE_MS, ShardProgress, ShardRef};
use varsel_raft_store::ops::{Caller, DomainReply, DomainRequest, Op, RefusalCode};
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::webhooks::{self as wh, NewWebhook};
use varsel_raft_store::webhooks::{DISABLE_AFTER_FAILURES, DueEntry, EventKind, WebhookResult};
use varsel_raft_store::{Command, Entry, MemEngine, Request, Response, StateMachine, Store};

struct H {
    store: Store<MemEngine>,
    sm: StateMachine<MemEngine>,
    index: u64,
    now: u64,
    _dir: tempfile::TempDir,
}

impl H {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = varsel_raft_store::open(MemEngine::new(), dir.path()).await.unwrap();
        let sm = store.state.clone();
        Self { store, sm, index: 0, now: 1_767_225_600_000, _dir: dir }
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

    /// A tenant with an admin and an operator, and `n` contacts in group "alle".
    async fn tenant(&mut self, n: u32) -> (Caller, Caller) {
        let op =
            Op::CreateTenant { name: "t".into(), limits: Limits::default(), idempotency_key: String::new() };
        let DomainReply::Tenant(t) = self.domain(Caller::SUPERADMIN, op).await else { panic!() };
        let mut callers = Vec::new();
        for role in [Role::Admin, Role::Operator] {
            let op = Op::CreateCredential {
                tenant: t.id,
                name: role.as_str().into(),
                role,
                secret_hash: [0; 32],
                idempotency_key: String::new(),
            };
            let DomainReply::Credential(c) = self.domain(Caller::SUPERADMIN, op).await else { panic!() };
            callers.push(Caller { tenant: t.id, credential: c.id, role });
        }
        let contacts = (0..n)
            .map(|i| ContactInput {
                external_id: format!("e{i}"),
                phone: Some(format!("+4790{i:06}")),
                groups: vec!["alle".into()],
                ..Default::default()
            })
            .collect();
        self.domain(callers[0], Op::UpsertContacts { contacts }).await;
        (callers[0], callers[1])
    }

    async fn alert(&mut self, actor: Caller, key: &str) -> u64 {
        let variant = ChannelContent { sms_text: Some("x".into()), ..Default::default() };
        let spec = AlertSpec {
            idempotency_key: key.into(),
            title: format!("Flom {key}"),
            priority: Priority::Crisis,
            content: Content {
                default_language: "nb".into(),
                variants: BTreeMap::from([("nb".into(), variant)]),
            },
            variables: BTreeMap::new(),
            groups: vec![GroupRef::Name("alle".into())],
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
        alert.id
    }

    /// Node 2 takes every shard of `alert` and records its one step to the end.
    async fn finish(&mut self, alert: u64) {
        let a = dq::alert(&self.store.state.reader().read_txn(), alert).unwrap().unwrap();
        let refs = (0..a.shards).map(|shard| ShardRef { alert, shard }).collect();
        let beat = DeliveryCommand::Heartbeat { node: 2, renew: vec![], acquire: refs, lease_ms: LEASE_MS };
        let DeliveryReply::Leases { granted, .. } = self.delivery(beat).await else { panic!() };
        for g in granted {
            let range = dq::shard_range(&a, g.lease.shard.shard).unwrap();
            let (from, to) = (dq::range_start(&range), dq::range_end(&range));
            let p = ShardProgress {
                lease: g.lease,
                step: 0,
                channel: Channel::Sms,
                from,
                to,
                recipients: (to - from) as u32,
                outcomes: vec![],
                skipped: vec![],
            };
            self.delivery(DeliveryCommand::Record { node: 2, items: vec![p] }).await;
        }
    }

    fn due(&self) -> Vec<DueEntry> {
        wh::due(&self.store.state.reader().read_txn(), self.now, 100, 100).unwrap()
    }

    async fn answer(&mut self, d: &DueEntry, ok: bool) -> DeliveryReply {
        let r = WebhookResult {
            tenant: d.tenant,
            webhook: d.webhook,
            event: d.event,
            status: if ok { 204 } else { 500 },
            ok,
            error: if ok { String::new() } else { "status 500".into() },
            duration_ms: 3,
            retry_in_ms: 1_000,
        };
        self.delivery(DeliveryCommand::WebhookResults { node: 1, items: vec![r] }).await
    }
}

fn new_hook(url: &str, events: Vec<EventKind>, key: &str) -> Op {
    Op::CreateWebhook(NewWebhook {
        url: url.into(),
        events,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        allow_insecure: true,
        description: String::new(),
        idempotency_key: key.into(),
    })
}

fn refusal(r: &DomainReply) -> RefusalCode {
    match r {
        DomainReply::Refused(r) => r.code,
        other => panic!("not refused: {other:?}"),
    }
}

/// Goal: only an admin subscribes; the URL rule and the idempotency key hold. Method: an
/// operator's create is refused; plain http to another host is refused; the same key twice
/// answers the first subscription; the same key with another URL is refused.
#[tokio::test]
async fn only_admins_subscribe_and_creates_are_idempotent() {
    let mut h = H::new().await;
    let (admin, operator) = h.tenant(1).await;
    let all = EventKind::ALL.to_vec();
    let r = h.domain(operator, new_hook("https://a.example/h", all.clone(), "")).await;
    assert_eq!(refusal(&r), RefusalCode::PermissionDenied);
    let r = h.domain(admin, new_hook("http://a.example/h", all.clone(), "")).await;
    assert_eq!(refusal(&r), RefusalCode::InvalidArgument);
    let r = h.domain(admin, new_hook("https://a.example/h", vec![], "")).await;
    assert_eq!(refusal(&r), RefusalCode::InvalidArgument);
    let DomainReply::Webhook(first) =
        h.domain(admin, new_hook("https://a.example/h", all.clone(), "k1")).await
    else {
        panic!()
    };
    let again = h.domain(admin, new_hook("https://a.example/h", all.clone(), "k1")).await;
    assert_eq!(again, DomainReply::Replayed(Box::new(DomainReply::Webhook(first.clone()))));
    let other = h.domain(admin, new_hook("https://b.example/h", all, "k1")).await;
    assert_eq!(refusal(&other), RefusalCode::FailedPrecondition);
    assert_eq!(wh::list(&h.store.state.reader().read_txn(), admin.tenant).unwrap().len(), 1);
}

/// Goal: an alert's life appends its events, in order, with ids from the log index and the
/// Standard Webhooks payload; only subscriptions that name a kind get it; the next event of
/// an alert is not due before the previous one was delivered. Method: two subscriptions (all
/// kinds; completions only), an alert run to completion, then deliver in the order `due`
/// offers.
#[tokio::test]
async fn an_alerts_events_are_queued_in_order_and_released_one_by_one() {
    let mut h = H::new().await;
    let (admin, _) = h.tenant(3).await;
    let DomainReply::Webhook(all) =
        h.domain(admin, new_hook("https://a.example/h", EventKind::ALL.to_vec(), "")).await
    else {
        panic!()
    };
    let DomainReply::Webhook(done) =
        h.domain(admin, new_hook("https://b.example/h", vec![EventKind::AlertCompleted], "")).await
    else {
        panic!()
    };
    let created_index = h.index + 1;
    let alert = h.alert(admin, "a1").await;
    h.now += 1_000;
    h.finish(alert).await;
    // Only the first event of the alert is due for the catch-all endpoint; the completion
    // alone for the other.
    let due = h.due();
    assert_eq!(due.len(), 2, "{due:?}");
    assert_eq!((due[0].webhook, due[0].event.msg_id()), (all.id, format!("msg_{created_index}_0")));
    assert_eq!(due[1].webhook, done.id);
    let mut kinds = Vec::new();
    for _ in 0..10 {
        let Some(d) = h.due().into_iter().find(|d| d.webhook == all.id) else { break };
        let ev = wh::event(&h.store.state.reader().read_txn(), d.event).unwrap().unwrap();
        let body: serde_json::Value = serde_json::from_str(&ev.body).unwrap();
        assert_eq!(body["data"]["alert_id"], alert);
        assert!(body["timestamp"].as_str().unwrap().starts_with("2026-01-01T00:00:"), "{body}");
        kinds.push(body["type"].as_str().unwrap().to_string());
        assert_eq!(h.answer(&d, true).await, DeliveryReply::Recorded { accepted: vec![true] });
        // The same result again (a worker that died before seeing it applied) changes nothing.
        assert_eq!(h.answer(&d, true).await, DeliveryReply::Recorded { accepted: vec![false] });
    }
    assert_eq!(kinds, ["alert.created", "alert.step_started", "alert.completed"]);
    let hook = wh::get(&h.store.state.reader().read_txn(), admin.tenant, all.id).unwrap().unwrap();
    assert_eq!((hook.delivered, hook.attempts), (3, 3));
    let tried = wh::attempts(&h.store.state.reader().read_txn(), admin.tenant, all.id, None, 10).unwrap();
    assert_eq!(tried.len(), 3);
    assert!(tried.iter().all(|(_, a)| a.ok && a.status == 204));
}

/// Goal: a failing endpoint is retried after the delay its worker asked for and disabled after
/// `DISABLE_AFTER_FAILURES` consecutive failures, with an audit record; enabling it makes its
/// waiting events due again. Method: answer 500 to every attempt, stepping the log's clock
/// past each retry delay.
#[tokio::test]
async fn a_dead_endpoint_is_disabled_after_the_documented_failures() {
    let mut h = H::new().await;
    let (admin, _) = h.tenant(1).await;
    let DomainReply::Webhook(hook) =
        h.domain(admin, new_hook("https://dead.example/h", vec![EventKind::AlertCreated], "")).await
    else {
        panic!()
    };
    h.alert(admin, "a1").await;
    for i in 0..DISABLE_AFTER_FAILURES {
        let due = h.due();
        assert_eq!(due.len(), 1, "attempt {i}");
        h.answer(&due[0], false).await;
        assert!(h.due().is_empty(), "retried before its delay");
        h.now += 1_000;
    }
    let w = wh::get(&h.store.state.reader().read_txn(), admin.tenant, hook.id).unwrap().unwrap();
    let disabled = w.disabled.expect("disabled");
    assert!(disabled.reason.contains("8 consecutive failed attempts"), "{}", disabled.reason);
    assert!(h.due().is_empty(), "a disabled endpoint gets nothing");
    // New events are not queued for it.
    h.alert(admin, "a2").await;
    let w = wh::get(&h.store.state.reader().read_txn(), admin.tenant, hook.id).unwrap().unwrap();
    assert_eq!(w.dropped, 1);
    let reenabled = h.domain(admin, Op::EnableWebhook { id: hook.id }).await;
    assert!(matches!(reenabled, DomainReply::Webhook(w) if w.disabled.is_none()));
    assert_eq!(h.due().len(), 1, "the waiting event goes out again");
}

/// Goal: a node's circuit change reaches every tenant subscribed to provider events, and only
/// those. Method: two tenants, one subscribed to `provider.circuit_open`, one to alert events
/// only; a `Circuit` entry; the first has one due entry naming the node and provider.
#[tokio::test]
async fn circuit_changes_go_to_the_tenants_subscribed_to_them() {
    let mut h = H::new().await;
    let (a, _) = h.tenant(1).await;
    let op =
        Op::CreateTenant { name: "t2".into(), limits: Limits::default(), idempotency_key: String::new() };
    let DomainReply::Tenant(t2) = h.domain(Caller::SUPERADMIN, op).await else { panic!() };
    let op = Op::CreateCredential {
        tenant: t2.id,
        name: "a".into(),
        role: Role::Admin,
        secret_hash: [0; 32],
        idempotency_key: String::new(),
    };
    let DomainReply::Credential(c) = h.domain(Caller::SUPERADMIN, op).await else { panic!() };
    let b = Caller { tenant: t2.id, credential: c.id, role: Role::Admin };
    h.domain(a, new_hook("https://a.example/h", vec![EventKind::CircuitOpen], "")).await;
    h.domain(b, new_hook("https://b.example/h", vec![EventKind::AlertCreated], "")).await;
    let cmd =
        DeliveryCommand::Circuit { node: 2, channel: "sms".into(), provider: "smsc-a".into(), open: true };
    h.delivery(cmd).await;
    let due = h.due();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].tenant, a.tenant);
    let ev = wh::event(&h.store.state.reader().read_txn(), due[0].event).unwrap().unwrap();
    let body: serde_json::Value = serde_json::from_str(&ev.body).unwrap();
    assert_eq!(body["type"], "provider.circuit_open");
    assert_eq!(
        (body["data"]["node_id"].as_u64(), body["data"]["provider"].as_str()),
        (Some(2), Some("smsc-a"))
    );
}
