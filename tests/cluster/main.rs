//! Cluster tests: three (or more) real `varsel` processes on loopback, OS-chosen ports, data in
//! temporary directories. Each file holds one area; each test says its goal and method.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod t01_replication;
mod t02_leader_failover;
mod t03_snapshot_catch_up;
mod t04_membership;
mod t05_bad_input;
mod t06_snapshot_under_writes;
mod t07_scheduled_backups;
mod t08_batched_writes;
