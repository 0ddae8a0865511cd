//! Goal: the domain rules of the state machine: authorisation and tenant isolation, contact
//! upserts with groups, recipient sets frozen at acceptance, idempotency keys, tenant limits,
//! cancellation and acknowledgements.
//!
//! Method: apply log entries directly to a store (no cluster) as openraft would, with explicit
//! log indexes and leader timestamps, and read the results back through the query functions.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use varsel_domain::model::{
    AlertSpec, AlertStatus, Channel, ChannelContent, ContactInput, ContactRef, Content, GroupRef, Limits,
    Priority, Role,
};
use varsel_raft_store::ops::{Caller, DirectoryAttributes, DomainReply, DomainRequest, Op, RefusalCode};
use varsel_raft_store::state_machine::domain::query;
use varsel_raft_store::{
    Command, Entry, MemEngine, Request, Response, StateMachine, StorageEngine as _, Store,
};

struct Harness {
    store: Store<MemEngine>,
    sm: StateMachine<MemEngine>,
    index: u64,
    now_ms: u64,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = varsel_raft_store::open(MemEngine::new(), dir.path()).await.unwrap();
        let sm = store.state.clone();
        Self { store, sm, index: 0, now_ms: 1_700_000_000_000, _dir: dir }
    }

    /// The next log entry, carrying `op` by `actor`, 10 ms after the previous one.
    fn entry(&mut self, actor: Caller, op: Op) -> Entry {
        self.index += 1;
        self.now_ms += 10;
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), self.index),
            payload: EntryPayload::Normal(Command {
                issued_at_ms: self.now_ms,
                lease_at_ms: self.now_ms,
                request: Request::Domain(Box::new(DomainRequest { actor, op })),
            }),
        }
    }

    async fn apply(&mut self, actor: Caller, op: Op) -> DomainReply {
        let entry = self.entry(actor, op);
        match self.sm.apply([entry]).await.unwrap().pop() {
            Some(Response::Domain(r)) => r,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn refusal(reply: &DomainReply) -> Option<RefusalCode> {
        match reply {
            DomainReply::Refused(r) => Some(r.code),
            _ => None,
        }
    }

    /// Creates a tenant and an operator credential; returns the operator actor.
    async fn tenant(&mut self, name: &str, limits: Limits) -> Caller {
        let DomainReply::Tenant(t) = self
            .apply(
                Caller::SUPERADMIN,
                Op::CreateTenant { name: name.into(), limits, idempotency_key: String::new() },
            )
            .await
        else {
            panic!("tenant not created")
        };
        let op = Op::CreateCredential {
            tenant: t.id,
            name: "ops".into(),
            role: Role::Operator,
            secret_hash: [1; 32],
            idempotency_key: String::new(),
        };
        let DomainReply::Credential(c) = self.apply(Caller::SUPERADMIN, op).await else {
            panic!("no credential")
        };
        Caller { tenant: t.id, credential: c.id, role: Role::Operator }
    }

    async fn contacts(&mut self, actor: Caller, ids: std::ops::Range<u32>, group: &str) {
        let contacts = ids
            .map(|i| ContactInput {
                external_id: format!("e{i}"),
                phone: Some(format!("+4790{i:06}")),
                groups: vec![group.into()],
                ..Default::default()
            })
            .collect();
        let r = self.apply(actor, Op::UpsertContacts { contacts }).await;
        assert!(matches!(r, DomainReply::Upserted(_)), "{r:?}");
    }
}

fn spec(key: &str, group: &str) -> AlertSpec {
    let variant = ChannelContent { sms_text: Some("Evakuer nå".into()), ..Default::default() };
    AlertSpec {
        idempotency_key: key.into(),
        title: "Flom".into(),
        priority: Priority::Crisis,
        content: Content {
            default_language: "nb".into(),
            variants: BTreeMap::from([("nb".into(), variant)]),
        },
        variables: BTreeMap::new(),
        groups: vec![GroupRef::Name(group.into())],
        contacts: vec![],
        policy: vec![],
        send_at_ms: None,
        expires_at_ms: None,
    }
}

/// Goal: roles and tenants are enforced by the state machine itself.
#[tokio::test]
async fn authorisation_and_isolation() {
    let mut h = Harness::new().await;
    let a = h.tenant("kommune-a", Limits::default()).await;
    let b = h.tenant("kommune-b", Limits::default()).await;
    // A tenant operator cannot create tenants.
    let r = h
        .apply(
            a,
            Op::CreateTenant { name: "x".into(), limits: Limits::default(), idempotency_key: String::new() },
        )
        .await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::PermissionDenied));
    // A viewer cannot write.
    let op = Op::CreateCredential {
        tenant: a.tenant,
        name: "v".into(),
        role: Role::Viewer,
        secret_hash: [2; 32],
        idempotency_key: String::new(),
    };
    let DomainReply::Credential(v) = h.apply(Caller::SUPERADMIN, op).await else { panic!() };
    let viewer = Caller { tenant: a.tenant, credential: v.id, role: Role::Viewer };
    let r = h.apply(viewer, Op::CreateGroup { name: "g".into(), idempotency_key: String::new() }).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::PermissionDenied));
    // Claiming a higher role than stored does not help.
    let r = h
        .apply(
            Caller { role: Role::Admin, ..viewer },
            Op::CreateGroup { name: "g".into(), idempotency_key: String::new() },
        )
        .await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::PermissionDenied));
    // A credential used for another tenant is refused.
    let r = h
        .apply(
            Caller { tenant: b.tenant, ..a },
            Op::CreateGroup { name: "g".into(), idempotency_key: String::new() },
        )
        .await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::PermissionDenied));
    // Tenant B cannot see or touch tenant A's contacts.
    h.contacts(a, 0..3, "alle").await;
    let txn = h.store.state.reader();
    let t = txn.read_txn();
    let id_a = query::contact_id(&t, a.tenant, "e1").unwrap().unwrap();
    assert!(query::contact(&t, b.tenant, id_a).unwrap().is_none());
    let r = h.apply(b, Op::DeleteContact { id: id_a, idempotency_key: String::new() }).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::NotFound));
    // Revoked credentials stop working at once.
    let op = Op::RevokeCredential { id: a.credential };
    assert!(matches!(h.apply(Caller::SUPERADMIN, op).await, DomainReply::Credential(_)));
    let r = h.apply(a, Op::CreateGroup { name: "late".into(), idempotency_key: String::new() }).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::PermissionDenied));
}

/// Goal: an alert's recipients are frozen when accepted, whatever happens to the group after.
#[tokio::test]
async fn recipients_frozen_at_acceptance() {
    let mut h = Harness::new().await;
    let a = h.tenant("t", Limits::default()).await;
    h.contacts(a, 0..10, "alle").await;
    let DomainReply::Alert { alert, existing: false } =
        h.apply(a, Op::CreateAlert { spec: spec("k1", "alle"), trace: None }).await
    else {
        panic!()
    };
    assert_eq!(alert.recipients_planned, 10);
    assert_eq!(alert.status, AlertStatus::Active);
    // Later: one member removed, five added.
    let reader = h.store.state.reader();
    let gid = query::group_id(&reader.read_txn(), a.tenant, "alle").unwrap().unwrap();
    let op = Op::ChangeMembers { group: gid, add: vec![], remove: vec![ContactRef::External("e3".into())] };
    h.apply(a, op).await;
    h.contacts(a, 10..15, "alle").await;

    let t = reader.read_txn();
    let snap = alert.groups[0];
    let members = query::memberships(&t, a.tenant, gid, 0, snap.seq_end, 1000).unwrap();
    let frozen: Vec<_> = members.iter().filter(|(_, m)| m.active_at(alert.accepted_index)).collect();
    assert_eq!(frozen.len(), 10, "the removal after acceptance does not shrink the alert");
    let e3 = query::contact_id(&t, a.tenant, "e3").unwrap().unwrap();
    let e12 = query::contact_id(&t, a.tenant, "e12").unwrap().unwrap();
    assert!(query::is_recipient(&t, &alert, e3).unwrap());
    assert!(!query::is_recipient(&t, &alert, e12).unwrap(), "a member added later is not a recipient");
    assert_eq!(query::group(&t, a.tenant, gid).unwrap().unwrap().member_count, 14);
}

/// Goal: idempotency keys: same request → same alert; different request → refused.
#[tokio::test]
async fn idempotency_key() {
    let mut h = Harness::new().await;
    let a = h.tenant("t", Limits::default()).await;
    h.contacts(a, 0..3, "alle").await;
    let DomainReply::Alert { alert: first, .. } =
        h.apply(a, Op::CreateAlert { spec: spec("k", "alle"), trace: None }).await
    else {
        panic!()
    };
    let DomainReply::Alert { alert: again, existing } =
        h.apply(a, Op::CreateAlert { spec: spec("k", "alle"), trace: None }).await
    else {
        panic!()
    };
    assert!(existing);
    assert_eq!(first.id, again.id);
    let mut other = spec("k", "alle");
    other.title = "Something else".into();
    let r = h.apply(a, Op::CreateAlert { spec: other, trace: None }).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::FailedPrecondition));
    assert_eq!(query::alerts(&h.store.state.reader().read_txn(), a.tenant, None, 10).unwrap().len(), 1);
}

fn key(k: &str) -> String {
    k.to_string()
}

/// Goal: every create, delete and cancel that takes an idempotency key answers a retry with
/// what the first request did (marked `Replayed`), refuses the key with another request, keeps
/// keys apart per tenant and per operation, records nothing for a refused request, and keeps
/// the old answers when no key is given.
/// Method: apply each operation twice with one key (and variations) and compare the answers
/// and the state (ids, counts, audit records) after each.
#[tokio::test]
async fn idempotent_creates_deletes_and_cancel() {
    let mut h = Harness::new().await;
    let a = h.tenant("a", Limits::default()).await;
    let b = h.tenant("b", Limits::default()).await;
    let create_tenant = |name: &str, k: &str| Op::CreateTenant {
        name: name.into(),
        limits: Limits::default(),
        idempotency_key: key(k),
    };
    let DomainReply::Tenant(t) = h.apply(Caller::SUPERADMIN, create_tenant("c", "t-1")).await else {
        panic!()
    };
    let r = h.apply(Caller::SUPERADMIN, create_tenant("c", "t-1")).await;
    assert_eq!(r, DomainReply::Replayed(Box::new(DomainReply::Tenant(t.clone()))));
    let r = h.apply(Caller::SUPERADMIN, create_tenant("d", "t-1")).await;
    let DomainReply::Refused(refusal) = r else { panic!("{r:?}") };
    assert_eq!(refusal.code, RefusalCode::FailedPrecondition);
    assert!(refusal.message.starts_with("idempotency_key: already used for tenant.create"), "{refusal:?}");
    // Without a key, the old answer.
    let r = h.apply(Caller::SUPERADMIN, create_tenant("c", "")).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::AlreadyExists));
    assert_eq!(query::tenants(&h.store.state.reader().read_txn()).unwrap().len(), 3);

    // Groups: the same key in two tenants names two requests.
    let group = |name: &str, k: &str| Op::CreateGroup { name: name.into(), idempotency_key: key(k) };
    let DomainReply::Group(g) = h.apply(a, group("alle", "g-1")).await else { panic!() };
    let DomainReply::Replayed(again) = h.apply(a, group("alle", "g-1")).await else { panic!() };
    assert!(matches!(*again, DomainReply::Group(ref g2) if g2.id == g.id), "{again:?}");
    let DomainReply::Group(gb) = h.apply(b, group("alle", "g-1")).await else { panic!() };
    assert_ne!(gb.id, g.id);
    assert_eq!(
        Harness::refusal(&h.apply(a, group("other", "g-1")).await),
        Some(RefusalCode::FailedPrecondition)
    );
    assert_eq!(Harness::refusal(&h.apply(a, group("alle", "")).await), Some(RefusalCode::AlreadyExists));

    // A refused request records nothing: the key still works for a valid one.
    assert_eq!(Harness::refusal(&h.apply(a, group("", "g-2")).await), Some(RefusalCode::InvalidArgument));
    assert!(matches!(h.apply(a, group("ny", "g-2")).await, DomainReply::Group(_)));

    // Deletes: the retry answers success, without a key the old NOT_FOUND. The same key for a
    // delete is another request than for the create.
    let delete = |id: u64, k: &str| Op::DeleteGroup { id, idempotency_key: key(k) };
    let audit_before = query::audit(&h.store.state.reader().read_txn(), a.tenant, None, 1000).unwrap().len();
    assert_eq!(h.apply(a, delete(g.id, "g-1")).await, DomainReply::Deleted);
    assert_eq!(h.apply(a, delete(g.id, "g-1")).await, DomainReply::Replayed(Box::new(DomainReply::Deleted)));
    assert_eq!(Harness::refusal(&h.apply(a, delete(g.id, "")).await), Some(RefusalCode::NotFound));
    // The group created with "g-1" is gone: its retry says so instead of creating it again.
    let r = h.apply(a, group("alle", "g-1")).await;
    let DomainReply::Refused(refusal) = r else { panic!("{r:?}") };
    assert_eq!(refusal.code, RefusalCode::FailedPrecondition);
    assert!(refusal.message.contains(&format!("group {}", g.id)) && refusal.message.contains("gone"));
    let audit_after = query::audit(&h.store.state.reader().read_txn(), a.tenant, None, 1000).unwrap().len();
    assert_eq!(audit_after, audit_before + 1, "only the first delete is audited");

    h.contacts(a, 0..3, "liste").await;
    let c0 = query::contact_id(&h.store.state.reader().read_txn(), a.tenant, "e0").unwrap().unwrap();
    let delete_contact = |id: u64, k: &str| Op::DeleteContact { id, idempotency_key: key(k) };
    assert_eq!(h.apply(a, delete_contact(c0, "c-1")).await, DomainReply::Deleted);
    assert_eq!(
        h.apply(a, delete_contact(c0, "c-1")).await,
        DomainReply::Replayed(Box::new(DomainReply::Deleted))
    );
    assert_eq!(Harness::refusal(&h.apply(a, delete_contact(c0, "")).await), Some(RefusalCode::NotFound));

    // Cancel: the retry answers the cancelled alert; another alert with the same key is refused.
    let DomainReply::Alert { alert: x, .. } =
        h.apply(a, Op::CreateAlert { spec: spec("x", "liste"), trace: None }).await
    else {
        panic!()
    };
    let DomainReply::Alert { alert: y, .. } =
        h.apply(a, Op::CreateAlert { spec: spec("y", "liste"), trace: None }).await
    else {
        panic!()
    };
    let cancel = |id: u64, k: &str| Op::CancelAlert { id, idempotency_key: key(k) };
    let DomainReply::Alert { alert: first, .. } = h.apply(a, cancel(x.id, "stopp")).await else { panic!() };
    assert_eq!(first.status, AlertStatus::Cancelled);
    let DomainReply::Replayed(again) = h.apply(a, cancel(x.id, "stopp")).await else { panic!() };
    let DomainReply::Alert { alert: again, existing: true } = *again else { panic!("{again:?}") };
    assert_eq!((again.id, again.status, again.cancelled), (x.id, AlertStatus::Cancelled, first.cancelled));
    assert_eq!(Harness::refusal(&h.apply(a, cancel(x.id, "")).await), Some(RefusalCode::FailedPrecondition));
    assert_eq!(
        Harness::refusal(&h.apply(a, cancel(y.id, "stopp")).await),
        Some(RefusalCode::FailedPrecondition)
    );
    let t = h.store.state.reader();
    assert_eq!(query::alert(&t.read_txn(), a.tenant, y.id).unwrap().unwrap().status, AlertStatus::Active);

    // Bad keys are refused by the state machine too, naming the field.
    for bad in ["a\u{7}b".to_string(), "k".repeat(129)] {
        let r = h.apply(a, group("z", &bad)).await;
        let DomainReply::Refused(refusal) = r else { panic!("{r:?}") };
        assert_eq!(refusal.code, RefusalCode::InvalidArgument);
        assert!(refusal.message.starts_with("idempotency_key: "), "{refusal:?}");
    }
}

/// Goal: a retried credential creation never makes a second live credential, and says which
/// credential exists and what to do, since its token cannot be shown again.
/// Method: create with a key, retry with the same key and another secret hash (as a node does
/// for every attempt), then with another role; check the refusals and that the tenant holds
/// one credential with the first hash.
#[tokio::test]
async fn credential_retry_is_refused_not_duplicated() {
    let mut h = Harness::new().await;
    let a = h.tenant("a", Limits::default()).await;
    let create = |role: Role, hash: u8, k: &str| Op::CreateCredential {
        tenant: a.tenant,
        name: "ci".into(),
        role,
        secret_hash: [hash; 32],
        idempotency_key: key(k),
    };
    // A refused first attempt records nothing.
    let r = h.apply(Caller::SUPERADMIN, create(Role::SuperAdmin, 7, "cred-1")).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::InvalidArgument));
    let DomainReply::Credential(c) = h.apply(Caller::SUPERADMIN, create(Role::Admin, 8, "cred-1")).await
    else {
        panic!()
    };
    let r = h.apply(Caller::SUPERADMIN, create(Role::Admin, 9, "cred-1")).await;
    let DomainReply::Refused(refusal) = r else { panic!("{r:?}") };
    assert_eq!(refusal.code, RefusalCode::AlreadyExists);
    for part in [&format!("credential {}", c.id), "cannot be returned again", "revoke credential"] {
        assert!(refusal.message.contains(part), "{part:?} missing from {:?}", refusal.message);
    }
    let r = h.apply(Caller::SUPERADMIN, create(Role::Viewer, 9, "cred-1")).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::FailedPrecondition));
    let creds = query::credentials(&h.store.state.reader().read_txn(), a.tenant).unwrap();
    let ci: Vec<_> = creds.iter().filter(|x| x.name == "ci").collect();
    assert_eq!(ci.len(), 1, "{creds:?}");
    assert_eq!(ci[0].secret_hash, [8; 32], "the retry's secret was not stored");
    // Without a key, each request is a new credential, as before.
    assert!(matches!(
        h.apply(Caller::SUPERADMIN, create(Role::Admin, 10, "")).await,
        DomainReply::Credential(_)
    ));
}

/// Goal: tenant limits are refused with RESOURCE_EXHAUSTED naming the limit.
#[tokio::test]
async fn limits_are_enforced() {
    let mut h = Harness::new().await;
    let limits = Limits {
        max_recipients_per_alert: 5,
        max_alerts_per_minute: 2,
        max_contacts: 8,
        ..Limits::default()
    };
    let a = h.tenant("t", limits).await;
    h.contacts(a, 0..6, "big").await;
    let r = h.apply(a, Op::CreateAlert { spec: spec("k1", "big"), trace: None }).await;
    let DomainReply::Refused(refusal) = r else { panic!("{r:?}") };
    assert_eq!(refusal.code, RefusalCode::ResourceExhausted);
    assert!(refusal.message.contains("max_recipients_per_alert"), "{}", refusal.message);

    h.contacts(a, 6..7, "small").await;
    for k in ["k2", "k3"] {
        assert!(matches!(
            h.apply(a, Op::CreateAlert { spec: spec(k, "small"), trace: None }).await,
            DomainReply::Alert { .. }
        ));
    }
    let DomainReply::Refused(r) =
        h.apply(a, Op::CreateAlert { spec: spec("k4", "small"), trace: None }).await
    else {
        panic!()
    };
    assert!(r.message.contains("max_alerts_per_minute"), "{}", r.message);
    h.now_ms += 61_000;
    assert!(matches!(
        h.apply(a, Op::CreateAlert { spec: spec("k4", "small"), trace: None }).await,
        DomainReply::Alert { .. }
    ));

    // max_contacts: 7 exist, a batch of 3 new gets 1 created and 2 refused; nothing else lost.
    let contacts =
        (100..103).map(|i| ContactInput { external_id: format!("n{i}"), ..Default::default() }).collect();
    let DomainReply::Upserted(rep) = h.apply(a, Op::UpsertContacts { contacts }).await else { panic!() };
    assert_eq!((rep.created, rep.refused.len()), (1, 2));
    assert!(rep.refused[0].1.contains("max_contacts"));
}

/// Goal: cancellation and acknowledgement rules.
#[tokio::test]
async fn cancel_and_acknowledge() {
    let mut h = Harness::new().await;
    let a = h.tenant("t", Limits::default()).await;
    h.contacts(a, 0..3, "alle").await;
    h.contacts(a, 3..4, "other").await;
    let DomainReply::Alert { alert, .. } =
        h.apply(a, Op::CreateAlert { spec: spec("k", "alle"), trace: None }).await
    else {
        panic!()
    };
    let t = h.store.state.reader();
    let (c0, c3) = {
        let r = t.read_txn();
        (
            query::contact_id(&r, a.tenant, "e0").unwrap().unwrap(),
            query::contact_id(&r, a.tenant, "e3").unwrap().unwrap(),
        )
    };
    let ack = |c| Op::Acknowledge { alert: alert.id, contact: c, channel: Some(Channel::Sms) };
    assert_eq!(h.apply(a, ack(c0)).await, DomainReply::Acknowledged { already: false });
    assert_eq!(h.apply(a, ack(c0)).await, DomainReply::Acknowledged { already: true });
    assert_eq!(Harness::refusal(&h.apply(a, ack(c3)).await), Some(RefusalCode::NotFound));
    assert_eq!(query::progress(&t.read_txn(), alert.id).unwrap().acknowledged, 1);

    let DomainReply::Alert { alert: c, .. } =
        h.apply(a, Op::CancelAlert { id: alert.id, idempotency_key: String::new() }).await
    else {
        panic!()
    };
    assert_eq!(c.status, AlertStatus::Cancelled);
    assert_eq!(
        Harness::refusal(&h.apply(a, Op::CancelAlert { id: alert.id, idempotency_key: String::new() }).await),
        Some(RefusalCode::FailedPrecondition)
    );
    assert!(query::open_alerts(&t.read_txn()).unwrap().is_empty());
    let audit = query::audit(&t.read_txn(), a.tenant, None, 100).unwrap();
    let actions: Vec<&str> = audit.iter().map(|(_, r)| r.action.as_str()).collect();
    assert_eq!(actions.first(), Some(&"alert.cancel"), "{actions:?}");
    assert!(actions.contains(&"alert.create") && actions.contains(&"alert.acknowledge"));
}

/// Goal: a backlog of large imports applied in one call (as a follower catching up receives
/// it) is split into several atomic batches by their writes, and the result is the same as
/// applying them one by one: every contact, one id each, every membership, the right counts.
#[tokio::test]
async fn large_backlog_applies_across_groups() {
    let mut h = Harness::new().await;
    let a = h.tenant("t", Limits::default()).await;
    // The largest upsert the state machine takes in one entry.
    let per_entry = 5_000u32;
    let entries_n = 4u32;
    // Each contact writes 6 keys (record, external id, phone, membership and its two indexes).
    let writes = (per_entry * entries_n * 6) as usize;
    let group_max = varsel_raft_store::state_machine::APPLY_GROUP_WRITES_MAX;
    assert!(writes > 2 * group_max);
    let entries: Vec<Entry> = (0..entries_n)
        .map(|e| {
            let contacts = (e * per_entry..(e + 1) * per_entry)
                .map(|i| ContactInput {
                    external_id: format!("b{i}"),
                    phone: Some(format!("+4791{i:06}")),
                    groups: vec!["alle".into()],
                    ..Default::default()
                })
                .collect();
            h.entry(a, Op::UpsertContacts { contacts })
        })
        .collect();
    let replies = h.sm.apply(entries).await.unwrap();
    assert_eq!(replies.len(), entries_n as usize);
    for r in &replies {
        let Response::Domain(DomainReply::Upserted(u)) = r else { panic!("{r:?}") };
        assert_eq!((u.created, u.updated, u.refused.len()), (u64::from(per_entry), 0, 0));
    }
    // No batch went past the bound by more than the entry that reached it (and a few keys of
    // bookkeeping), so the backlog was not written in one go.
    let largest = h.store.engine.open_tree("sm").unwrap().largest_batch();
    let one_entry = per_entry as usize * 6 + 16;
    assert!(largest < group_max + one_entry, "largest batch {largest} writes");
    assert!(largest < writes, "largest batch {largest} of {writes} writes");

    let t = h.store.state.reader();
    let t = t.read_txn();
    let total = u64::from(per_entry * entries_n);
    assert_eq!(query::contact_count(&t, a.tenant).unwrap(), total);
    let gid = query::group_id(&t, a.tenant, "alle").unwrap().unwrap();
    assert_eq!(query::group(&t, a.tenant, gid).unwrap().unwrap().member_count, total);
    let last = query::contact_id(&t, a.tenant, &format!("b{}", total - 1)).unwrap().unwrap();
    let first = query::contact_id(&t, a.tenant, "b0").unwrap().unwrap();
    assert_eq!(last - first + 1, total, "ids are dense: no id was handed out twice across groups");
}

fn directory_op(external_id: &str, directory_id: Option<&str>, inactive: bool) -> Op {
    Op::UpsertContactDirectory {
        contact: ContactInput {
            external_id: external_id.into(),
            phone: Some("+4791000001".into()),
            groups: vec!["alle".into()],
            ..Default::default()
        },
        directory: Some(DirectoryAttributes { directory_id: directory_id.map(str::to_string), inactive }),
        replace: None,
        create_only: false,
    }
}

/// Goal: an upsert with directory attributes writes the contact, its directory id index and
/// its activity in one entry; `create_only`, `replace` and directory-id uniqueness refuse as
/// documented; deleting the contact forgets its directory id.
/// Method: apply `UpsertContactDirectory` entries and read back through the query functions.
#[tokio::test]
async fn directory_attributes_in_one_entry() {
    let mut h = Harness::new().await;
    let a = h.tenant("t", Limits::default()).await;
    let DomainReply::Upserted(u) = h.apply(a, directory_op("anna", Some("OID-1"), false)).await else {
        panic!()
    };
    let id = u.ids[0];
    let reader = h.store.state.reader();
    {
        let t = reader.read_txn();
        assert_eq!(query::contact_by_directory_id(&t, a.tenant, "OID-1").unwrap(), Some(id));
        assert_eq!(query::contact_by_directory_id(&t, a.tenant, "oid-1").unwrap(), None, "case-exact");
        let d = query::directory(&t, a.tenant, id).unwrap().unwrap();
        assert_eq!(
            (d.directory_id.as_deref(), d.inactive, d.created_at_ms),
            (Some("OID-1"), false, h.now_ms)
        );
    }
    // create_only: the external id is taken.
    let mut op = directory_op("anna", None, false);
    if let Op::UpsertContactDirectory { create_only, .. } = &mut op {
        *create_only = true;
    }
    assert_eq!(Harness::refusal(&h.apply(a, op).await), Some(RefusalCode::AlreadyExists));
    // Another contact may not take the same directory id; nothing of that entry stays.
    let r = h.apply(a, directory_op("berit", Some("OID-1"), false)).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::AlreadyExists));
    assert_eq!(query::contact_id(&reader.read_txn(), a.tenant, "berit").unwrap(), None);
    // replace renames the external id and moves the directory id.
    let mut op = directory_op("anna.new", Some("OID-9"), false);
    if let Op::UpsertContactDirectory { replace, .. } = &mut op {
        *replace = Some(id);
    }
    let DomainReply::Upserted(u) = h.apply(a, op).await else { panic!() };
    assert_eq!((u.ids[0], u.updated), (id, 1));
    {
        let t = reader.read_txn();
        assert_eq!(query::contact_id(&t, a.tenant, "anna").unwrap(), None);
        assert_eq!(query::contact_id(&t, a.tenant, "anna.new").unwrap(), Some(id));
        assert_eq!(query::contact_by_directory_id(&t, a.tenant, "OID-1").unwrap(), None);
        assert_eq!(query::contact_by_directory_id(&t, a.tenant, "OID-9").unwrap(), Some(id));
    }
    assert!(matches!(
        h.apply(a, Op::DeleteContact { id, idempotency_key: String::new() }).await,
        DomainReply::Deleted
    ));
    let t = reader.read_txn();
    assert_eq!(query::contact_by_directory_id(&t, a.tenant, "OID-9").unwrap(), None);
    assert!(query::directory(&t, a.tenant, id).unwrap().is_none());
}

/// Goal: an inactive contact is no recipient of alerts accepted while it is inactive, through
/// a group or directly; alerts accepted before keep it; active again, it is a recipient again.
/// Method: ten contacts in a group; one made inactive by `UpsertContactDirectory`; alerts to
/// the group and to that contact directly; `recipients_planned`, the alert's direct contacts,
/// its excluded list and `is_recipient` read back.
#[tokio::test]
async fn inactive_contacts_are_no_recipients_of_later_alerts() {
    let mut h = Harness::new().await;
    let a = h.tenant("t", Limits::default()).await;
    h.contacts(a, 0..10, "alle").await;
    let reader = h.store.state.reader();
    let e3 = query::contact_id(&reader.read_txn(), a.tenant, "e3").unwrap().unwrap();
    let with_e3 = |key: &str| AlertSpec { contacts: vec![ContactRef::Id(e3)], ..spec(key, "alle") };
    let DomainReply::Alert { alert: before, .. } =
        h.apply(a, Op::CreateAlert { spec: with_e3("k0"), trace: None }).await
    else {
        panic!()
    };
    assert_eq!(before.recipients_planned, 11);

    let r = h.apply(a, directory_op("e3", Some("OID-3"), true)).await;
    assert!(matches!(r, DomainReply::Upserted(_)), "{r:?}");
    let DomainReply::Alert { alert, .. } =
        h.apply(a, Op::CreateAlert { spec: with_e3("k1"), trace: None }).await
    else {
        panic!()
    };
    assert_eq!(alert.recipients_planned, 9, "e3 counted neither in the group nor directly");
    assert!(alert.contacts.is_empty());
    let t = reader.read_txn();
    assert_eq!(query::alert_excluded(&t, alert.id).unwrap(), vec![e3]);
    assert!(!query::is_recipient(&t, &alert, e3).unwrap());
    assert!(query::is_recipient(&t, &before, e3).unwrap(), "an alert accepted before keeps it");
    drop(t);

    let r = h.apply(a, directory_op("e3", Some("OID-3"), false)).await;
    assert!(matches!(r, DomainReply::Upserted(_)), "{r:?}");
    let DomainReply::Alert { alert: after, .. } =
        h.apply(a, Op::CreateAlert { spec: with_e3("k2"), trace: None }).await
    else {
        panic!()
    };
    assert_eq!(after.recipients_planned, 11);
    let t = reader.read_txn();
    assert!(query::alert_excluded(&t, after.id).unwrap().is_empty());
    assert!(query::is_recipient(&t, &after, e3).unwrap());
    assert!(
        !query::is_recipient(&t, &alert, e3).unwrap(),
        "the alert accepted meanwhile still leaves it out"
    );
}

/// Goal: `UpdateGroup` renames a group (refused onto another group's name) and keeps its
/// directory id until the group is deleted.
/// Method: two groups; rename one onto the other's name, then to a free name with an id.
#[tokio::test]
async fn update_group_renames_and_keeps_a_directory_id() {
    let mut h = Harness::new().await;
    let a = h.tenant("t", Limits::default()).await;
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let DomainReply::Group(g) =
            h.apply(a, Op::CreateGroup { name: name.into(), idempotency_key: String::new() }).await
        else {
            panic!()
        };
        ids.push(g.id);
    }
    let r = h.apply(a, Op::UpdateGroup { id: ids[0], name: "b".into(), directory_id: None }).await;
    assert_eq!(Harness::refusal(&r), Some(RefusalCode::AlreadyExists));
    let r =
        h.apply(a, Op::UpdateGroup { id: ids[0], name: "c".into(), directory_id: Some("G-1".into()) }).await;
    assert!(matches!(r, DomainReply::Group(ref g) if g.name == "c"), "{r:?}");
    let reader = h.store.state.reader();
    let t = reader.read_txn();
    assert_eq!(query::group_id(&t, a.tenant, "c").unwrap(), Some(ids[0]));
    assert_eq!(query::group_id(&t, a.tenant, "a").unwrap(), None);
    assert_eq!(query::group_directory_id(&t, a.tenant, ids[0]).unwrap().as_deref(), Some("G-1"));
    drop(t);
    h.apply(a, Op::DeleteGroup { id: ids[0], idempotency_key: String::new() }).await;
    assert_eq!(query::group_directory_id(&reader.read_txn(), a.tenant, ids[0]).unwrap(), None);
}
