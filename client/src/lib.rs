//! How programs reach a Varsel cluster, and how to start one on this machine.
//!
//! # Layout
//!
//! - [`failover`]: [`Cluster`], a client given every node's address that sends each call to
//!   the node that answered last and moves on to the next when one is down, within a deadline.
//!   The CLI, the benchmarks, the chaos harness and the tests all call through it.
//! - [`access`]: whom a client trusts ([`Trust`]: the cluster CA; `http://` for a plaintext
//!   cluster) and the token it sends with every call ([`Bearer`]).
//! - [`pki`]: the cluster's certificates: CA, node and client certificates (`varsel certs`).
//! - [`local_cluster`]: [`LocalCluster`], real `varsel` node processes on loopback, one per
//!   simulated site, each with its own configuration file, data directory and log (for
//!   `varsel dev`, `varsel bench`, the black-box tests and the chaos harness's process mode).
//!
//! This crate knows the configuration's types (`varsel_config`) and the API's messages
//! (`varsel_proto`), not the node: it starts the node as a program.

pub mod access;
pub mod failover;
pub mod local_cluster;
pub mod pki;

pub use access::{AdminClient, Authed, Bearer, Trust, admin, admin_connected};
pub use failover::{Answered, ClientError, Cluster, retryable};
pub use local_cluster::{LocalCluster, LocalNode, Ports, Spec};
