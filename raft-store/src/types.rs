//! The openraft type configuration and what travels in the log.
//!
//! A log entry's application payload is a [`Command`]: the [`Request`] a client asked for, plus
//! the leader's wall-clock time when it proposed it. The state machine derives its clock from
//! those times only (never from the local clock), so every node applies the same entry to the
//! same state with the same result.
//!
//! Requests are encoded with postcard, which encodes enum variants by position: new variants
//! are only ever appended, so old logs and snapshots stay readable. Every encoded value starts
//! with its format version ([`crate::format`]); [`encode`] and [`decode`] are re-exported here.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::delivery::{DeliveryCommand, DeliveryReply};
use crate::ops::{DomainReply, DomainRequest};

pub use crate::format::{FORMAT_VERSION, STORE_VERSION, decode, encode, encoded_len};

/// Identifies a node in the cluster. `0` is never a valid id.
pub type NodeId = u64;

/// Where a member lives and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarselNode {
    /// The data centre (site) the node runs in, e.g. `oslo`.
    pub site: String,
    /// Address of its client API (gRPC), `host:port`.
    pub api_addr: String,
    /// Address of its Raft and node-to-node transport, `host:port`.
    pub raft_addr: String,
}

impl fmt::Display for VarselNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(api {}, raft {})", self.site, self.api_addr, self.raft_addr)
    }
}

openraft::declare_raft_types!(
    /// Varsel's openraft type configuration.
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = NodeId,
        Node = VarselNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A log entry of this configuration.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id of this configuration.
pub type LogId = openraft::LogId<NodeId>;
/// Snapshot metadata of this configuration.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, VarselNode>;
/// Membership as stored.
pub type StoredMembership = openraft::StoredMembership<NodeId, VarselNode>;
/// The Raft handle of this configuration.
pub type Raft = openraft::Raft<TypeConfig>;

/// The application payload of a log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The log's time at proposal, ms since the Unix epoch, as the leader tells it: its log
    /// clock (the latest applied stamp plus its own monotonic time since), moved forward to the
    /// cluster's median wall clock when that is ahead by more than a quarter of
    /// `raft.max_clock_skew_ms`. Alert starts, expiry, escalation and everything shown to
    /// people are in this time. The state machine keeps the largest seen.
    pub issued_at_ms: u64,
    /// The lease time at proposal, ms: the leader's lease clock (the latest applied lease stamp
    /// plus its own monotonic time since). It is never stepped to follow wall clocks, so a
    /// correction of the log's time cannot make a lease lapse early. Leases and node liveness
    /// are in this time. The state machine keeps the largest seen.
    pub lease_at_ms: u64,
    /// What the client asked for.
    pub request: Request,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.request.name(), self.issued_at_ms)
    }
}

/// Every change the replicated state machine knows how to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// The small key-value map that exercises the write path.
    Kv(KvCommand),
    /// Tenants, credentials, contacts, groups, templates, alerts.
    Domain(Box<DomainRequest>),
    /// The delivery engine's leases, outcomes, receipts and acknowledgements.
    Delivery(Box<DeliveryCommand>),
    /// The cluster's own settings.
    Cluster(ClusterCommand),
    /// Several requests committed as one log entry (group commit on the leader, see
    /// `node::replica::batch`): applied in order in one transaction, each answered by the
    /// [`Response::Batch`] item at its position. At most one of them may be a request that
    /// does not [`share an entry`](Request::shares_entry).
    Batch(Vec<Request>),
}

/// The log features this build reads, sent with every answer to a Raft message: a leader puts
/// an entry of a feature into the log only once every member has said it reads that level.
pub const LOG_FEATURES: u32 = LOG_FEATURE_PACKED_RECORD;

/// Log feature 1: [`Request::Batch`] entries (group commit).
pub const LOG_FEATURE_BATCH: u32 = 1;

/// Log feature 2: [`DeliveryCommand::RecordPacked`](crate::delivery::DeliveryCommand::RecordPacked)
/// entries (outcomes packed in the log).
pub const LOG_FEATURE_PACKED_RECORD: u32 = 2;

/// Changes to the cluster's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClusterCommand {
    /// Name the cluster, unless it has a name already (the first one committed stays). Every
    /// backup carries it, and a cluster restored from a backup gets a new one.
    SetId {
        /// The id proposed.
        id: String,
    },
}

impl Request {
    /// A short name for logs and metrics; never includes user data.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Kv(KvCommand::Put { .. }) => "kv.put",
            Request::Kv(KvCommand::Delete { .. }) => "kv.delete",
            Request::Domain(d) => d.op.name(),
            Request::Delivery(d) => d.name(),
            Request::Cluster(ClusterCommand::SetId { .. }) => "cluster.set_id",
            Request::Batch(_) => "batch",
        }
    }

    /// Whether this request may share a log entry with others. Every request of one
    /// [`Request::Batch`] is applied with the same entry index (`Ctx::index`), which some use
    /// as an identity (the audit record's key, a reply's sequence). Those may not share: a
    /// batch holds any number of requests that do and at most one that does not. The ones
    /// here use the index at most as a point in time.
    pub fn shares_entry(&self) -> bool {
        match self {
            Request::Kv(_) => true,
            Request::Delivery(d) => matches!(
                **d,
                DeliveryCommand::Heartbeat { .. }
                    | DeliveryCommand::Release { .. }
                    | DeliveryCommand::Receipts { .. }
            ),
            Request::Domain(_) | Request::Cluster(_) | Request::Batch(_) => false,
        }
    }
}

/// Changes to the replicated key-value map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: String,
    },
}

/// What applying a [`Request`] produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Entries without an application payload (blank, membership).
    None,
    /// The value a key held before a key-value command.
    KvPrevious(Option<String>),
    /// The answer to a domain operation.
    Domain(DomainReply),
    /// The answer to a delivery command.
    Delivery(DeliveryReply),
    /// The cluster's id in force after a [`ClusterCommand::SetId`].
    ClusterId(String),
    /// The answers to a [`Request::Batch`], in its order.
    Batch(Vec<Response>),
}

/// The snapshot data type: a file, so snapshots stream from and to disk.
pub type SnapshotData = tokio::fs::File;
