//! Security tests: TLS on every listener, node identity on the Raft port, authenticated
//! administration, bounds on what the wire may ask; through three real node processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod t01_api_access;
mod t02_raft_identity;
mod t03_bounds;
mod t04_reload;
mod t05_http_certificate;
