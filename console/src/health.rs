//! [`ClusterView`]: what the node tells the health page about the cluster, from its own
//! replica and metrics (the admin API needs the cluster's mTLS certificate, which a browser
//! session does not have).

/// The node-side view of the cluster the health page shows.
pub trait ClusterView: Send + Sync + 'static {
    /// This node's view now.
    fn health(&self) -> ClusterHealth;
}

/// One node's view of the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterHealth {
    /// The node that answered (the page's node).
    pub node_id: u64,
    pub site: String,
    /// Its Raft role: `leader`, `follower`, `candidate`, `learner`.
    pub role: String,
    pub term: u64,
    /// The leader it knows of.
    pub leader_id: Option<u64>,
    /// Whether it would take client traffic (`/readyz`), and why not.
    pub ready: bool,
    pub not_ready_reason: String,
    pub last_log_index: u64,
    pub applied_index: u64,
    /// The members, with their replication lag when this node leads (only the leader knows).
    pub members: Vec<MemberHealth>,
    /// This node's wall clock minus the log's clock, ms.
    pub clock_offset_ms: i64,
    /// This node's wall clock minus the cluster's median, ms; `None` when too few peers answered.
    pub clock_skew_ms: Option<i64>,
    pub clock_out_of_bounds: bool,
    pub disk_free_bytes: u64,
    pub disk_full: bool,
    /// Provider circuits as this node's delivery engine sees them.
    pub providers: Vec<ProviderHealth>,
}

/// A member of the cluster.
#[derive(Debug, Clone, Default)]
pub struct MemberHealth {
    pub id: u64,
    pub site: String,
    pub api_addr: String,
    pub voter: bool,
    /// Log entries it is behind the leader; `None` when this node does not lead (or has not
    /// heard from it yet).
    pub lag_entries: Option<u64>,
    /// Shards of unfinished alerts whose sending lease it holds (as this node has applied the
    /// log).
    pub shards_held: u64,
}

/// A provider's circuit breaker on this node.
#[derive(Debug, Clone)]
pub struct ProviderHealth {
    pub channel: String,
    pub provider: String,
    pub state: CircuitState,
}

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Messages go to the provider.
    Closed,
    /// A trial message goes through to see whether the provider is back.
    HalfOpen,
    /// The provider failed too often: messages go to the next provider of the channel.
    Open,
}
