//! The checks made after every run, one per file. Each reads what the clients were told
//! ([`Evidence::ops`]), what the cluster holds and what the provider simulator received, and
//! returns a [`Verdict`].

pub mod accepted_exist;
pub mod acks;
pub mod converged;
pub mod linearizable;
pub mod no_loss;
pub mod no_message_after_ack;

use std::collections::BTreeMap;

use serde::Serialize;
use varsel_proto::api::Alert;
use varsel_sim::{ReplyRecord, SimClient};

use crate::backend::NodeInfo;
use crate::load::{Op, OpKind, OpResult};

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The invariant.
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was checked and, when it failed, the first offenders.
    pub detail: String,
}

impl Verdict {
    /// A verdict that held when `ok`.
    pub fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Self { name, ok, detail: detail.into() }
    }
}

/// What the checks look at.
#[derive(Debug)]
pub struct Evidence {
    /// Every client operation.
    pub ops: Vec<Op>,
    /// The alerts read back after the run (linearizably, through any node), by id.
    pub alerts: BTreeMap<u64, Alert>,
    /// The nodes.
    pub nodes: Vec<NodeInfo>,
    /// The tenant operator's token.
    pub token: String,
    /// The simulator.
    pub sim: SimClient,
    /// Replies (acknowledgements) that a node accepted.
    pub replies: Vec<ReplyRecord>,
    /// Recipients of every alert.
    pub recipients: u64,
    /// Seconds after which the voice step starts (0: no voice step).
    pub escalate_after_s: u32,
    /// One node's bound on messages handed to providers and not yet recorded.
    pub window_per_node: u64,
    /// Site faults injected (each can make one node's window be sent again).
    pub site_faults: u64,
    /// When site faults were in force, ms since the Unix epoch (from, to).
    pub fault_windows: Vec<(u64, u64)>,
}

impl Evidence {
    /// The creates clients were told were accepted: alert id, idempotency key, group.
    fn created(&self) -> impl Iterator<Item = (u64, &str, &str)> {
        self.ops.iter().filter_map(|op| match (&op.kind, &op.result) {
            (OpKind::Create { key, group }, OpResult::Created(id)) => {
                Some((*id, key.as_str(), group.as_str()))
            }
            _ => None,
        })
    }

    /// The alerts clients were told were accepted: id and idempotency key.
    pub fn accepted(&self) -> BTreeMap<u64, String> {
        self.created().map(|(id, key, _)| (id, key.to_string())).collect()
    }

    /// The group each accepted alert went to.
    pub fn groups(&self) -> BTreeMap<u64, String> {
        self.created().map(|(id, _, group)| (id, group.to_string())).collect()
    }
}

/// The alert and contact ids in a simulator key.
pub fn alert_and_contact(key: &str) -> Option<(u64, u64)> {
    let mut parts = key.split('-');
    let alert = parts.next()?.strip_prefix('a')?.parse().ok()?;
    let contact = parts.next()?.strip_prefix('c')?.parse().ok()?;
    Some((alert, contact))
}

/// Lists at most `n` items of `items` for an error message.
pub fn first<T: std::fmt::Debug>(items: &[T], n: usize) -> String {
    let shown: Vec<String> = items.iter().take(n).map(|i| format!("{i:?}")).collect();
    if items.len() > n {
        format!("{} … ({} in all)", shown.join(", "), items.len())
    } else {
        shown.join(", ")
    }
}
