//! Varsel's wire protocols, generated from `proto/*.proto` by `build.rs`.
//!
//! # Layout
//!
//! - [`raft`]: node-to-node Raft transport and internal cluster calls (raft port).
//! - [`admin`]: cluster administration (`varsel cluster …`), on the API port.
//! - [`kv`]: a small replicated key-value API that exercises the write and read paths.
//! - [`api`]: the public API: tenants, contacts, groups, templates, alerts, audit.
//! - [`json`]: how the public API's enum fields read and write as JSON (the REST API).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for gRPC server reflection.
//!
//! This crate holds generated code and nothing else.

#![allow(missing_debug_implementations, clippy::all, clippy::pedantic, rust_2018_idioms)]

pub mod json;

/// Node-to-node Raft transport.
pub mod raft {
    tonic::include_proto!("varsel.raft.v1");

    /// Shows everything but the caller's token, so no debug print or trace field carries it.
    impl std::fmt::Debug for ForwardedWrite {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ForwardedWrite")
                .field("request", &format_args!("{} bytes", self.request.len()))
                .field("hops", &self.hops)
                .field("bearer", &if self.bearer.is_empty() { "" } else { "<redacted>" })
                .field("traceparent", &self.traceparent)
                .finish_non_exhaustive()
        }
    }
}

/// Cluster administration.
pub mod admin {
    tonic::include_proto!("varsel.admin.v1");
}

/// Replicated key-value API.
pub mod kv {
    tonic::include_proto!("varsel.kv.v1");
}

/// The public API: tenants, contacts, groups, templates, alerts, audit.
pub mod api {
    tonic::include_proto!("varsel.v1");
}

/// Encoded file descriptors of every service, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("varsel_descriptor");
