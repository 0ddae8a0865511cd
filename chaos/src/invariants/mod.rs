//! The checks made after every run, one per file. Each reads what the clients were told
//! ([`Evidence::ops`]), what the cluster holds and what the provider simulator received, and
//! returns a [`Verdict`].

pub mod accepted_exist;
pub mod acks;
pub mod cancel;
pub mod converged;
pub mod expired_early;
pub mod handset;
pub mod late_handover;
pub mod linearizable;
pub mod no_loss;
pub mod no_message_after_ack;
pub mod replies;
pub mod sending_gap;

use std::collections::BTreeMap;

use serde::Serialize;
use varsel_domain::message_key::parse_message_key;
use varsel_proto::api::Alert;
use varsel_sim::{ReceiptRecord, ReplyRecord, SimClient};

use crate::backend::NodeInfo;
use crate::load::{Op, OpKind, OpResult};
use crate::scenario::FaultKind;

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
    /// Receipts that a node accepted.
    pub receipts: Vec<ReceiptRecord>,
    /// The neighbour tenant (same people, alerts of its own), when the load has one.
    pub neighbour: Option<Tenant>,
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
    /// Every fault injected (not skipped), of any kind, with when it was in force.
    pub faults: Vec<FaultWindow>,
    /// The alerts the `cancel` faults cancelled.
    pub cancelled: Vec<u64>,
    /// Some provider ignored idempotency keys during the run (the scenario's `[sim]`).
    pub keys_ignored: bool,
    /// Some provider timed out after accepting during the whole run (the scenario's `[sim]`).
    pub provider_timeouts: bool,
    /// Per alert, when the settle phase first saw it finished, ms since the run's start.
    pub final_seen_ms: BTreeMap<u64, u64>,
    /// Per node, its `varsel_delivery_late_handovers_total` at the end of the run (or why it
    /// could not be read).
    pub late_at_end: Vec<(u64, Result<u64, String>)>,
    /// Per kill, the victim and its counter read just before (`None`: it did not answer).
    pub late_before_kills: Vec<(u64, Option<u64>)>,
}

/// A tenant of the run other than the main one: its operator token and its accepted alerts
/// read back after the run.
#[derive(Debug)]
pub struct Tenant {
    /// Its operator token.
    pub token: String,
    /// Its accepted alerts, by id.
    pub alerts: BTreeMap<u64, Alert>,
}

/// One injected fault and when it was in force, ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultWindow {
    /// What it was.
    pub kind: FaultKind,
    /// Injected.
    pub from_ms: u64,
    /// Undone (a cancel: when its cancels had answered).
    pub to_ms: u64,
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

/// The alert and contact ids in a message key as the simulator records it (the key the node
/// gave the message). Parsed by [`parse_message_key`], the one definition of the key format,
/// so the checks read keys exactly as the nodes make them; `None` for anything else.
pub fn alert_and_contact(key: &str) -> Option<(u64, u64)> {
    parse_message_key(key).map(|(alert, contact, _, _)| (alert, contact))
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

#[cfg(test)]
mod tests {
    use varsel_domain::channel::Channel;
    use varsel_domain::message_key::message_key;

    use super::*;

    /// Goal: the checks read exactly the keys the nodes make. Method: keys made by
    /// `message_key` give their alert and contact back; anything else gives `None`.
    #[test]
    fn alert_and_contact_reads_node_keys() {
        assert_eq!(alert_and_contact(&message_key(12, 345, Channel::Sms, 0)), Some((12, 345)));
        assert_eq!(alert_and_contact(&message_key(7, 8, Channel::Voice, 1)), Some((7, 8)));
        for bad in ["", "a1-c2", "x1-c2-sms-0", "a1-cx-sms-0", "a1-c2-fax-0", "a1-c2-sms-0-9"] {
            assert_eq!(alert_and_contact(bad), None, "{bad}");
        }
    }
}
