//! The HTTP surfaces (crate `varsel-http`): the REST/JSON API and its OpenAPI document,
//! through three real node processes over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod t01_rest;
mod t02_conformance;
mod t04_cap;
