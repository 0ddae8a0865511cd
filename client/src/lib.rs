//! How programs reach a Varsel cluster, and how to start one on this machine.
//!
//! # Layout
//!
//! - [`failover`]: [`Cluster`], a client given every node's address that sends each call to
//!   the node that answered last and moves on to the next when one is down, within a deadline.
//!   The CLI, the benchmarks, the chaos harness and the tests all call through it.
//! - [`local_cluster`]: [`LocalCluster`], real `varsel` node processes on loopback, one per
//!   simulated site, each with its own configuration file, data directory and log (for
//!   `varsel dev`, `varsel bench`, the black-box tests and the chaos harness's process mode).
//!
//! This crate knows the configuration's types (`varsel_config`) and the API's messages
//! (`varsel_proto`), not the node: it starts the node as a program.

pub mod failover;
pub mod local_cluster;

pub use failover::{Answered, ClientError, Cluster, retryable};
pub use local_cluster::{LocalCluster, LocalNode, Ports, Spec};
