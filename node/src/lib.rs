//! The Varsel node: everything one site runs. The `varsel` command (`varsel-cli`) calls [`run`].
//!
//! # Layout
//!
//! - [`run`]: the whole node: open the store, start Raft, serve until told to stop.
//! - The configuration file, its environment overrides and validation are `varsel_config`.
//! - [`raft`]: starting openraft; the Raft transport over tonic (client [`raft::network`],
//!   server [`raft::service`]) and its fault-injection hook.
//! - [`replica`]: this node's replica: writes from any node (forwarded to the leader), reads
//!   (local or linearizable), cluster administration. It implements `varsel_delivery::Replica`, through which the delivery engine
//!   (`varsel_delivery`: supervised actors that send every alert from all sites at once,
//!   providers with failover) reads the state and writes outcomes.
//! - [`api`]: the gRPC services on the API port.
//! - [`auth`]: bearer tokens: the configured superadmin token and credential tokens.
//! - [`server`]: listeners (API, Raft, HTTP), health and reflection services, shutdown.
//! - [`tls`]: TLS on every listener and between nodes, node identity from certificates,
//!   reloading certificates on a live node.
//! - [`http`]: `/metrics`, `/healthz` and `/readyz` for operators' tools.
//! - [`console_view`]: what the operator console (`varsel_console`, merged at `/console/` on
//!   the HTTP listener) shows of the cluster, from this node's replica and metrics.
//! - [`inbound`]: signed webhooks for delivery receipts, replies and voice call results, on the HTTP
//!   listener.
//! - [`health`]: the readiness rule behind `/readyz` and the gRPC health service.
//! - [`metrics`]: the metrics registry, the gRPC layer that counts and traces calls, and the
//!   node's own Raft, storage and process figures.
//! - [`telemetry`]: logs (text or JSON), OTLP trace export, trace context across nodes, and
//!   masking of personal data for logs.
//! - [`error`]: errors and their mapping onto gRPC status codes.

pub mod api;
pub mod auth;
pub mod console_view;
pub mod disk;
pub mod error;
pub mod health;
pub mod http;
pub mod inbound;
pub mod metrics;
pub mod raft;
pub mod replica;
pub mod respond;
pub mod server;
pub mod telemetry;
pub mod tls;

pub use error::{ApiError, NodeError};
pub use server::{NodeHandle, bind_and_start, start, start_with};
pub use varsel_config::NodeConfig;

/// Runs a node until `shutdown` completes, then stops it in order.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let node = bind_and_start(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    node.stop().await
}
