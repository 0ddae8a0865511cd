//! The replica: this node's Raft instance and everything that reads or writes through it.
//!
//! Every API service holds an `Arc<Replica>`. It offers:
//! - [`Replica::write`]: commit a request through the leader, from any node ([`write`]);
//! - [`Replica::read_barrier`]: make a following local read linearizable ([`read`]);
//! - cluster administration: bootstrap, membership, leader transfer, status ([`admin`]).

pub mod admin;
pub mod backup;
pub mod batch;
pub mod erasure;
pub mod forward;
pub mod read;
pub mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use varsel_raft_store::engine::SledTree;
use varsel_raft_store::{NodeId, Raft, SledEngine, StateReader, StorageEngine, VarselNode};

use crate::raft::faults::Faults;
use crate::raft::network::Peers;
use crate::tls::TlsState;
use varsel_config::NodeConfig;

/// This node's Raft replica and its neighbours.
pub struct Replica {
    /// This node's id.
    pub id: NodeId,
    /// The configuration it was started with.
    pub config: Arc<NodeConfig>,
    /// The Raft handle.
    pub raft: Raft,
    /// Read access to the applied state.
    pub state: StateReader<SledTree>,
    /// Channels to the other nodes.
    pub peers: Peers,
    /// Fault injection (inert unless enabled for tests).
    pub faults: Faults,
    /// This node's TLS (certificates, trust), shared with the listeners and [`Peers`].
    pub tls: Arc<TlsState>,
    /// The log's clock as this node tells it (see [`varsel_delivery::engine::LogClock`]).
    pub log_clock: varsel_delivery::engine::LogClock,
    /// What this node knows of the others' wall clocks (see [`crate::raft::clock`]).
    pub clocks: crate::raft::clock::ClockWatch,
    /// The state of its data disk (see [`crate::disk`]).
    pub disk: crate::disk::DiskGuard,
    engine: SledEngine,
    log: varsel_raft_store::segments::SegmentLog,
    election_gen: AtomicU64,
    /// Set on the leader while it hands leadership over: new writes wait (they are retried and
    /// then forwarded to the new leader), so the target can catch up and win the election.
    handing_over: std::sync::atomic::AtomicBool,
    /// Gathers concurrent writes into shared log entries while this node leads.
    batcher: batch::BatcherHandle,
    forwarding: forward::Forwarding,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .field("site", &self.config.site)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Wraps a started Raft instance.
    pub fn new(
        config: Arc<NodeConfig>,
        raft: Raft,
        state: StateReader<SledTree>,
        engine: SledEngine,
        log: varsel_raft_store::segments::SegmentLog,
        peers: Peers,
        faults: Faults,
    ) -> Self {
        let max_skew = config.raft.max_clock_skew_ms;
        let disk = crate::disk::DiskGuard::new(&config.data_dir, config.storage.min_free_bytes);
        disk.check();
        Self {
            id: config.node_id,
            config,
            raft,
            log_clock: varsel_delivery::engine::LogClock::new(&state),
            clocks: crate::raft::clock::ClockWatch::new(max_skew),
            disk,
            state,
            tls: peers.tls(),
            peers,
            faults,
            engine,
            log,
            election_gen: AtomicU64::new(0),
            handing_over: std::sync::atomic::AtomicBool::new(false),
            batcher: batch::BatcherHandle::new(),
            forwarding: forward::Forwarding::default(),
        }
    }

    /// This node's wall clock minus the log's clock as it tells it, ms (see
    /// `NodeStatus.clock_offset_ms`).
    pub fn clock_offset_ms(&self) -> i64 {
        let (wall, log) = (varsel_domain::clock::wall_ms(), self.log_clock.now_ms());
        if log == 0 {
            // Nothing applied yet: no log time to compare with.
            return 0;
        }
        wall as i64 - log as i64
    }

    /// The voters as this node knows them.
    pub fn voter_ids(&self) -> std::collections::BTreeSet<NodeId> {
        self.raft.metrics().borrow().membership_config.membership().voter_ids().collect()
    }

    /// This node as a member description.
    pub fn self_node(&self) -> VarselNode {
        VarselNode {
            site: self.config.site.clone(),
            api_addr: self.config.advertised_api(),
            raft_addr: self.config.advertised_raft(),
        }
    }

    /// The leader this node knows of, with its address.
    pub fn known_leader(&self) -> Option<(NodeId, VarselNode)> {
        let m = self.raft.metrics().borrow().clone();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?.clone();
        Some((id, node))
    }

    /// Whether this node is the leader right now (as far as it knows).
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// Bytes the store (engine and Raft log segments) occupies on disk.
    pub fn storage_bytes(&self) -> u64 {
        self.engine.size_on_disk().unwrap_or(0) + self.log.size_on_disk().unwrap_or(0)
    }

    /// Searches this node's Raft log for `needle`: entries read, entries containing it. A full
    /// scan, for checking an erasure; run it off the async runtime.
    pub fn search_log(&self, needle: &[u8]) -> Result<(u64, u64), varsel_raft_store::error::EngineError> {
        self.log.search(needle)
    }

    /// The write timeout from the configuration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.config.raft.write_timeout_ms)
    }

    /// Stops this node from starting elections for `duration` (0 resumes at once). A later
    /// call replaces an earlier one; suppression always ends by itself, so a transfer that
    /// dies half-way cannot leave the cluster unable to elect.
    pub fn suppress_elections(self: &Arc<Self>, duration: Duration) {
        let generation = self.election_gen.fetch_add(1, Ordering::SeqCst) + 1;
        if duration.is_zero() {
            self.raft.runtime_config().elect(true);
            return;
        }
        self.raft.runtime_config().elect(false);
        let me = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            if me.election_gen.load(Ordering::SeqCst) == generation {
                me.raft.runtime_config().elect(true);
            }
        });
    }
}

/// The delivery engine's view of this replica.
impl varsel_delivery::Replica for Replica {
    fn id(&self) -> NodeId {
        self.id
    }

    fn is_leader(&self) -> bool {
        Replica::is_leader(self)
    }

    fn voters(&self) -> std::collections::BTreeSet<NodeId> {
        self.voter_ids()
    }

    fn state(&self) -> &StateReader<SledTree> {
        &self.state
    }

    fn log_clock(&self) -> &varsel_delivery::engine::LogClock {
        &self.log_clock
    }

    fn write(&self, request: varsel_raft_store::Request) -> varsel_delivery::replica::WriteFuture<'_> {
        Box::pin(Replica::write(self, request))
    }

    fn read_barrier(&self) -> varsel_delivery::replica::BarrierFuture<'_> {
        Box::pin(async move { Replica::read_barrier(self).await.map(|_| ()).map_err(|e| e.to_string()) })
    }
}
