//! `varsel-chaos`: runs a chaos scenario against a cluster.
fn main() {}
