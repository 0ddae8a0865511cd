//! The gRPC services every node serves on its API port.

pub mod admin;
pub mod kv;
