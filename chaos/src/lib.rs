//! Chaos harness for Varsel (see `chaos/README.md`).

pub mod backend;
pub mod compose;
