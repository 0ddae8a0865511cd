//! Two state machines fed the same log entries, for the rules tests: what one decides, the
//! other must too (every node applies the same entries).
#![allow(dead_code, clippy::unwrap_used)]

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use varsel_domain::model::{Limits, Role};
use varsel_raft_store::engine::MemTree;
use varsel_raft_store::ops::{Caller, DomainReply, DomainRequest, Op};
use varsel_raft_store::{Command, Entry, MemEngine, Request, Response, StateMachine, StateReader, Store};

pub struct Node {
    pub reader: StateReader<MemTree>,
    pub sm: StateMachine<MemEngine>,
    _store: Store<MemEngine>,
    _dir: tempfile::TempDir,
}

/// Two stores fed the same entries: what one decides, the other must too.
pub struct Pair {
    pub nodes: [Node; 2],
    pub index: u64,
    pub now_ms: u64,
}

impl Pair {
    pub async fn new() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let store = varsel_raft_store::open(MemEngine::new(), dir.path()).await.unwrap();
            nodes.push(Node {
                reader: store.state.reader(),
                sm: store.state.clone(),
                _store: store,
                _dir: dir,
            });
        }
        let [a, b] = <[Node; 2]>::try_from(nodes).ok().unwrap();
        Self { nodes: [a, b], index: 0, now_ms: 1_800_000_000_000 }
    }

    /// Applies `op` on both stores; the replies must be equal.
    pub async fn apply(&mut self, actor: Caller, op: Op) -> DomainReply {
        match self.command(Request::Domain(Box::new(DomainRequest { actor, op }))).await {
            Response::Domain(r) => r,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Applies a request on both stores, 10 ms after the last; the answers must be equal.
    pub async fn command(&mut self, request: Request) -> Response {
        self.index += 1;
        self.now_ms += 10;
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), self.index),
            payload: EntryPayload::Normal(Command {
                issued_at_ms: self.now_ms,
                lease_at_ms: self.now_ms,
                request,
            }),
        };
        let mut replies = Vec::new();
        for n in &mut self.nodes {
            replies.push(n.sm.apply([entry.clone()]).await.unwrap().pop().unwrap());
        }
        assert_eq!(
            format!("{:?}", replies[0]),
            format!("{:?}", replies[1]),
            "the stores answered differently"
        );
        replies.pop().unwrap()
    }

    pub fn txn(&self) -> varsel_raft_store::state_machine::Txn<'_, MemTree> {
        self.nodes[0].reader.read_txn()
    }

    /// A tenant and its operator.
    pub async fn tenant(&mut self) -> Caller {
        let limits = Limits { max_alerts_per_minute: 100, ..Limits::default() };
        let op = Op::CreateTenant { name: "kommune".into(), limits, idempotency_key: String::new() };
        let DomainReply::Tenant(t) = self.apply(Caller::SUPERADMIN, op).await else { panic!() };
        let op = Op::CreateCredential {
            tenant: t.id,
            name: "ops".into(),
            role: Role::Operator,
            secret_hash: [1; 32],
            idempotency_key: String::new(),
        };
        let DomainReply::Credential(c) = self.apply(Caller::SUPERADMIN, op).await else { panic!() };
        Caller { tenant: t.id, credential: c.id, role: Role::Operator }
    }
}
