//! What a chaos run needs of a cluster: where its nodes and simulator are, and the faults it
//! can inject. Two implementations: [`crate::process::ProcessBackend`] (three `varsel`
//! processes on loopback, faults by signals and the nodes' fault-injection layer) and
//! [`crate::compose::ComposeBackend`] (the three-site `docker compose` deployment, faults
//! through the Docker engine).

use std::future::Future;

use varsel_client::{AdminClient, ClientError, Trust};
use varsel_sim::SimClient;

/// One node as the harness reaches it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Raft node id.
    pub id: u64,
    /// Its site (data centre).
    pub site: String,
    /// Its gRPC API as a client writes it: `host:port` (TLS), or `http://host:port` for a
    /// plaintext cluster.
    pub api: String,
    /// How to reach it: the cluster CA and the superadmin token.
    pub access: Access,
    /// Its metrics endpoint (`GET /metrics` on its `http_addr`), if it has one.
    pub metrics: Option<MetricsEndpoint>,
}

/// Where a node serves `/metrics`, and the name its certificate is checked for.
#[derive(Debug, Clone)]
pub struct MetricsEndpoint {
    /// `ip:port` of its `http_addr`.
    pub addr: std::net::SocketAddr,
    /// The name its certificate must carry (an IP address written as text is checked as one);
    /// `None` for a plaintext cluster.
    pub tls_name: Option<String>,
}

/// What the harness needs to reach a cluster's nodes: the CA their certificates chain to and
/// the superadmin token (administration and the key-value service need it).
#[derive(Debug, Clone)]
pub struct Access {
    /// The cluster CA.
    pub trust: Trust,
    /// The superadmin token.
    pub superadmin: String,
}

impl NodeInfo {
    /// An administration client of this node (connects on first use).
    pub fn admin(&self) -> Result<AdminClient, ClientError> {
        varsel_client::admin(&self.api, &self.access.trust, &self.access.superadmin)
    }
}

/// Why a backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

impl BackendError {
    /// An error with this text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// A running cluster the harness can hurt. Every fault is undone by its counterpart
/// (`kill`/`restart`, `pause(true)`/`pause(false)`, `partition(true)`/`partition(false)`,
/// `set_latency(n)`/`set_latency(0)`, `set_clock_offset(n, ms)`/`set_clock_offset(n, 0)`,
/// `fill_disk(n, true)`/`fill_disk(n, false)`).
pub trait Backend: Send {
    /// `"processes"` or `"compose"`.
    fn mode(&self) -> &'static str;
    /// The nodes, by id.
    fn nodes(&self) -> Vec<NodeInfo>;
    /// The provider simulator every node sends through.
    fn sim(&self) -> SimClient;
    /// How to reach the cluster: its CA and a superadmin bearer token.
    fn access(&self) -> Access;
    /// Kills a node's process at once (SIGKILL / `docker kill`): its site is lost.
    fn kill(&mut self, node: u64) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Starts a killed node again on its old data.
    fn restart(&mut self, node: u64) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Freezes (SIGSTOP / `docker pause`) or thaws a node.
    fn pause(&mut self, node: u64, paused: bool) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Cuts a node's site off from the other sites (its own clients still reach it), or heals.
    fn partition(&mut self, node: u64, cut: bool) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Adds `ms` of latency between sites (0 removes it). `Ok(false)` when the mode cannot.
    fn set_latency(&mut self, ms: u32) -> impl Future<Output = Result<bool, BackendError>> + Send;
    /// Offsets node `node`'s wall clock by `offset_ms` (0 sets it right). `Ok(false)` when the
    /// mode cannot.
    fn set_clock_offset(
        &mut self,
        node: u64,
        offset_ms: i64,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;
    /// Fills node `node`'s data disk until less than half its `storage.min_free_bytes` is
    /// free (`full`), or frees what was filled. `Ok(Some(what was done))`; `Ok(None)` when the
    /// mode cannot.
    fn fill_disk(
        &mut self,
        node: u64,
        full: bool,
    ) -> impl Future<Output = Result<Option<String>, BackendError>> + Send;
    /// Stops what the backend started (processes, not a compose project it did not start).
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send;
}
