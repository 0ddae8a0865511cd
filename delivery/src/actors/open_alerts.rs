//! The scheduler's view of the unfinished alerts, kept between ticks.
//!
//! Every tick the scheduler needs each unfinished alert's priority, start, expiry, shard count
//! and planned recipients. Those never change once an alert is accepted, and an alert leaves
//! the unfinished index in the same entry that makes it final, so they are decoded once per
//! alert and kept here; a tick reads only the index's keys (alert id and tenant), not every
//! alert record. Before this, each tick decoded every open alert three times, and a tenant
//! with thousands of alerts scheduled a day ahead made every tick dearer on every node.

use std::collections::HashMap;

use varsel_domain::model::{Alert, AlertId, Priority, TenantId};
use varsel_raft_store::KvTree;
use varsel_raft_store::state_machine::Txn;
use varsel_raft_store::state_machine::domain::query;

/// What the scheduler reads of an unfinished alert: the parts fixed at acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAlert {
    /// Its id.
    pub id: AlertId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its priority.
    pub priority: Priority,
    /// When sending starts (log clock).
    pub start_ms: u64,
    /// When sending stops (log clock).
    pub expires_ms: u64,
    /// Its number of shards.
    pub shards: u32,
    /// Upper bound of its recipients.
    pub recipients_planned: u64,
}

impl From<&Alert> for OpenAlert {
    fn from(a: &Alert) -> Self {
        Self {
            id: a.id,
            tenant: a.tenant,
            priority: a.spec.priority,
            start_ms: a.start_ms,
            expires_ms: a.expires_ms,
            shards: a.shards,
            recipients_planned: a.recipients_planned,
        }
    }
}

/// The unfinished alerts as of the last [`OpenAlerts::refresh`].
#[derive(Debug, Default)]
pub struct OpenAlerts {
    known: HashMap<AlertId, OpenAlert>,
    /// Alert records decoded so far (a figure for tests: one per alert, not one per tick).
    decoded: u64,
}

impl OpenAlerts {
    /// Brings the view up to the applied state read by `txn` and returns the unfinished
    /// alerts in id order. Only alerts not seen before are decoded; ones that left the index
    /// (finished, cancelled, expired, held) are forgotten. A read error leaves the view as it
    /// was, so a passing storage fault does not stop the work already known.
    pub fn refresh<T: KvTree>(&mut self, txn: &Txn<'_, T>) -> Vec<OpenAlert> {
        let ids = match query::open_alerts(txn) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "unfinished alerts not read; using the last view");
                let mut out: Vec<_> = self.known.values().copied().collect();
                out.sort_by_key(|a| a.id);
                return out;
            }
        };
        let mut next = HashMap::with_capacity(ids.len());
        let mut out = Vec::with_capacity(ids.len());
        for (id, tenant) in ids {
            let seen = self.known.get(&id).copied();
            let open = match seen {
                Some(a) => Some(a),
                None => {
                    self.decoded += 1;
                    query::alert(txn, tenant, id).ok().flatten().map(|a| OpenAlert::from(&a))
                }
            };
            if let Some(a) = open {
                next.insert(id, a);
                out.push(a);
            }
        }
        self.known = next;
        out
    }

    /// Alert records decoded since this view was made.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use openraft::storage::RaftStateMachine;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};
    use varsel_domain::model::{
        AlertSpec, Channel, ChannelContent, ContactInput, Content, EscalationStep, GroupRef, Limits, Role,
    };
    use varsel_raft_store::ops::{Caller, DomainReply, DomainRequest, Op};
    use varsel_raft_store::{Command, Entry, MemEngine, Request, Response, StateMachine};

    use super::*;

    async fn apply(sm: &mut StateMachine<MemEngine>, index: &mut u64, actor: Caller, op: Op) -> DomainReply {
        *index += 1;
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), *index),
            payload: EntryPayload::Normal(Command {
                issued_at_ms: 1_000_000,
                lease_at_ms: 1_000_000,
                request: Request::Domain(Box::new(DomainRequest { actor, op })),
            }),
        };
        match sm.apply([entry]).await.unwrap().pop().unwrap() {
            Response::Domain(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn spec(key: &str, send_at_ms: Option<u64>) -> AlertSpec {
        let variant = ChannelContent { sms_text: Some("x".into()), ..Default::default() };
        AlertSpec {
            idempotency_key: key.into(),
            title: key.into(),
            priority: Priority::Routine,
            content: Content {
                default_language: "nb".into(),
                variants: BTreeMap::from([("nb".into(), variant)]),
            },
            variables: BTreeMap::new(),
            groups: vec![GroupRef::Name("alle".into())],
            contacts: vec![],
            policy: vec![EscalationStep { channels: vec![Channel::Sms], after_seconds: 0 }],
            send_at_ms,
            expires_at_ms: None,
        }
    }

    /// Many alerts scheduled ahead, refreshed tick after tick: each record is decoded once,
    /// and a cancelled alert leaves the view.
    #[tokio::test]
    async fn each_alert_is_decoded_once_and_forgotten_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = varsel_raft_store::open(MemEngine::new(), dir.path()).await.unwrap();
        let mut sm = store.state.clone();
        let mut index = 0;
        let su = Caller::SUPERADMIN;
        let limits = Limits { max_alerts_per_minute: 100, ..Limits::default() };
        let op = Op::CreateTenant { name: "t".into(), limits, idempotency_key: String::new() };
        let DomainReply::Tenant(t) = apply(&mut sm, &mut index, su, op).await else { panic!() };
        let op = Op::CreateCredential {
            tenant: t.id,
            name: "o".into(),
            role: Role::Operator,
            secret_hash: [0; 32],
            idempotency_key: String::new(),
        };
        let DomainReply::Credential(c) = apply(&mut sm, &mut index, su, op).await else { panic!() };
        let actor = Caller { tenant: t.id, credential: c.id, role: Role::Operator };
        let contact = ContactInput {
            external_id: "e".into(),
            phone: Some("+4790000001".into()),
            groups: vec!["alle".into()],
            ..Default::default()
        };
        apply(&mut sm, &mut index, actor, Op::UpsertContacts { contacts: vec![contact] }).await;
        let mut ids = Vec::new();
        for i in 0..20 {
            let op =
                Op::CreateAlert { spec: spec(&format!("k{i}"), Some(1_000_000 + 86_400_000)), trace: None };
            let reply = apply(&mut sm, &mut index, actor, op).await;
            let DomainReply::Alert { alert, .. } = reply else { panic!("alert {i}: {reply:?}") };
            ids.push(alert.id);
        }

        let mut view = OpenAlerts::default();
        for _ in 0..5 {
            let open = view.refresh(&store.state.reader().read_txn());
            assert_eq!(open.iter().map(|a| a.id).collect::<Vec<_>>(), ids);
            assert!(open.iter().all(|a| a.start_ms == 1_000_000 + 86_400_000 && a.tenant == t.id));
        }
        assert_eq!(view.decoded(), 20, "one decode per alert, not one per refresh");

        let op = Op::CancelAlert { id: ids[3], idempotency_key: String::new() };
        apply(&mut sm, &mut index, actor, op).await;
        let open = view.refresh(&store.state.reader().read_txn());
        assert_eq!(open.len(), 19);
        assert!(open.iter().all(|a| a.id != ids[3]));
        assert_eq!(view.decoded(), 20, "nothing new to decode after a cancel");
    }
}
