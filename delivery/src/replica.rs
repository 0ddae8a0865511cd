//! What the engine needs of this node's Raft replica, and nothing more.
//!
//! The node implements [`Replica`] for its own replica (`varsel_node::replica`); tests can
//! implement it over a single in-memory state machine to drive the engine without a cluster.

use std::future::Future;
use std::pin::Pin;

use varsel_raft_store::engine::SledTree;
use varsel_raft_store::write::{WriteError, Written};
use varsel_raft_store::{NodeId, Request, StateReader};

/// A boxed future that borrows the replica.
pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<Written, WriteError>> + Send + 'a>>;

/// A boxed future of a read barrier: `Err` says why this node cannot tell that it is current.
pub type BarrierFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// This node's replica, as the delivery engine uses it.
pub trait Replica: Send + Sync + std::fmt::Debug + 'static {
    /// This node's id: the owner named in leases and records.
    fn id(&self) -> NodeId;

    /// Whether this node leads the cluster now, as far as it knows (the leader expires alerts).
    fn is_leader(&self) -> bool;

    /// The voting members now (a tenant's send rate is shared evenly by them; a voter that has
    /// not yet sent a heartbeat is given its share of a new alert).
    fn voters(&self) -> std::collections::BTreeSet<NodeId>;

    /// The applied state, read on this node.
    fn state(&self) -> &StateReader<SledTree>;

    /// The log's clock as this node can tell it (one per node: what it schedules by is what it
    /// reports as its clock offset).
    fn log_clock(&self) -> &crate::engine::LogClock;

    /// Commits `request` through the leader, from whichever node this is.
    fn write(&self, request: Request) -> WriteFuture<'_>;

    /// Returns once this node has applied every write committed before the call (a read
    /// index), so what it reads next is not stale: a lagging node must not decide from an
    /// old state (to which alert a reply belongs, say).
    fn read_barrier(&self) -> BarrierFuture<'_>;
}
