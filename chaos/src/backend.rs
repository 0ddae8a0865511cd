//! What a chaos run needs of a cluster: where its nodes and simulator are, and the faults it
//! can inject. Two implementations: [`crate::process::ProcessBackend`] (three `varsel`
//! processes on loopback, faults by signals and the nodes' fault-injection layer) and
//! [`crate::compose::ComposeBackend`] (the three-site `docker compose` deployment, faults
//! through the Docker engine).

use std::future::Future;

use varsel_sim::SimClient;

/// One node as the harness reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Raft node id.
    pub id: u64,
    /// Its site (data centre).
    pub site: String,
    /// Its gRPC API, `host:port`, reachable from the harness.
    pub api: String,
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
/// `set_latency(n)`/`set_latency(0)`).
pub trait Backend: Send {
    /// `"processes"` or `"compose"`.
    fn mode(&self) -> &'static str;
    /// The nodes, by id.
    fn nodes(&self) -> Vec<NodeInfo>;
    /// The provider simulator every node sends through.
    fn sim(&self) -> SimClient;
    /// A superadmin bearer token for the cluster.
    fn superadmin_token(&self) -> String;
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
    /// Stops what the backend started (processes, not a compose project it did not start).
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send;
}
