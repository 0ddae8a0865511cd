//! The node's metrics: the shared registry ([`varsel_observe::metrics`], re-exported here so
//! every component of the node registers into one), the gRPC layer that counts, times and
//! traces every call the node serves ([`grpc`]), and the node's own Raft, storage, process and
//! telemetry-export figures ([`node`]).

pub mod grpc;
pub mod node;

pub use varsel_observe::metrics::*;
