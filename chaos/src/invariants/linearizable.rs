//! The history of alert operations the clients observed is linearizable.
//!
//! The object is the set of alerts by idempotency key: `Create(key)` returns the alert's id,
//! the same id for the same key every time (a retried create must never make a second alert);
//! `Get(key, id)` (a linearizable read) must find an alert whose create has returned. Keys are
//! independent objects, so the history is checked key by key (linearizability is
//! compositional), each with the `consistency_model` crate's tester (stateright's
//! linearizability tester). Operations that failed have an unknown outcome: they stay
//! invoked and never return, which the tester treats as "may have taken effect at any later
//! point or never".

use std::collections::BTreeMap;

use consistency_model::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use super::{Evidence, Verdict, first};
use crate::load::{Op, OpKind, OpResult};

/// Name in reports.
pub const NAME: &str = "client history is linearizable";

/// The sequential specification of one idempotency key.
#[derive(Debug, Clone, Default)]
pub struct KeySpec {
    id: Option<u64>,
}

/// An operation on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOp {
    /// Create with the key.
    Create,
    /// Read by id.
    Get(u64),
}

/// What it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRet {
    /// The id of the alert.
    Created(u64),
    /// Found.
    Found,
    /// Not found.
    NotFound,
}

impl SequentialSpec for KeySpec {
    type Op = KeyOp;
    type Ret = KeyRet;

    fn invoke(&mut self, op: &KeyOp) -> KeyRet {
        match op {
            // Only an operation that never returned is invoked this way: if the alert does not
            // exist yet, its id is unknown and whatever a later create returns decides it.
            KeyOp::Create => KeyRet::Created(self.id.unwrap_or(0)),
            KeyOp::Get(id) => {
                if self.id == Some(*id) {
                    KeyRet::Found
                } else {
                    KeyRet::NotFound
                }
            }
        }
    }

    fn is_valid_step(&mut self, op: &KeyOp, ret: &KeyRet) -> bool {
        match (op, ret) {
            (KeyOp::Create, KeyRet::Created(id)) => match self.id {
                Some(existing) => existing == *id,
                None => {
                    self.id = Some(*id);
                    true
                }
            },
            (KeyOp::Get(id), KeyRet::Found) => self.id == Some(*id),
            (KeyOp::Get(id), KeyRet::NotFound) => self.id != Some(*id),
            _ => false,
        }
    }
}

fn spec_op(op: &Op) -> (String, KeyOp) {
    match &op.kind {
        OpKind::Create { key, .. } => (key.clone(), KeyOp::Create),
        OpKind::Get { key, id } => (key.clone(), KeyOp::Get(*id)),
    }
}

fn spec_ret(op: &Op) -> Option<KeyRet> {
    match op.result {
        OpResult::Created(id) => Some(KeyRet::Created(id)),
        OpResult::Found => Some(KeyRet::Found),
        OpResult::NotFound => Some(KeyRet::NotFound),
        OpResult::Failed(_) => None,
    }
}

/// Checks a history; returns the keys whose history is not linearizable.
pub fn violations(ops: &[Op]) -> Result<Vec<String>, String> {
    // Every operation is its own "thread": clients retry, and a failed operation never
    // returns, so one client can have several operations open. Real-time order comes from
    // feeding invocations and returns in time order; within one millisecond invocations go
    // first, so operations that may have overlapped are treated as concurrent.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoked_ms, true, i));
        if spec_ret(op).is_some() {
            events.push((op.returned_ms, false, i));
        }
    }
    events.sort_by_key(|(t, invoke, i)| (*t, !*invoke, *i));
    let mut testers: BTreeMap<String, LinearizabilityTester<usize, KeySpec>> = BTreeMap::new();
    for (_, invoke, i) in events {
        let (key, op) = spec_op(&ops[i]);
        let t = testers.entry(key).or_insert_with(|| LinearizabilityTester::new(KeySpec::default()));
        if invoke {
            t.on_invoke(i, op).map_err(|e| format!("operation {i}: {e}"))?;
        } else if let Some(ret) = spec_ret(&ops[i]) {
            t.on_return(i, ret).map_err(|e| format!("operation {i}: {e}"))?;
        }
    }
    Ok(testers.into_iter().filter(|(_, t)| !t.is_consistent()).map(|(k, _)| k).collect())
}

/// Checks it.
pub async fn check(e: &Evidence) -> Verdict {
    let failed = e.ops.iter().filter(|o| !o.ok()).count();
    match violations(&e.ops) {
        Ok(bad) if bad.is_empty() => Verdict::new(
            NAME,
            true,
            format!("{} operations ({failed} with unknown outcome) linearizable", e.ops.len()),
        ),
        Ok(bad) => {
            let detail: Vec<String> = bad
                .iter()
                .take(3)
                .map(|k| {
                    let of_key: Vec<String> = e
                        .ops
                        .iter()
                        .filter(|o| spec_op(o).0 == *k)
                        .map(|o| {
                            format!("{:?}@{}..{}={:?}", spec_op(o).1, o.invoked_ms, o.returned_ms, o.result)
                        })
                        .collect();
                    format!("{k}: {}", of_key.join("; "))
                })
                .collect();
            Verdict::new(NAME, false, format!("{} keys not linearizable: {}", bad.len(), first(&detail, 3)))
        }
        Err(err) => Verdict::new(NAME, false, format!("history malformed: {err}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn op(kind: OpKind, at: (u64, u64), result: OpResult) -> Op {
        Op { client: 0, kind, invoked_ms: at.0, returned_ms: at.1, result, failed_attempts: 0 }
    }
    fn create(key: &str, at: (u64, u64), result: OpResult) -> Op {
        op(OpKind::Create { key: key.into(), group: "g".into() }, at, result)
    }
    fn get(key: &str, id: u64, at: (u64, u64), result: OpResult) -> Op {
        op(OpKind::Get { key: key.into(), id }, at, result)
    }

    /// Goal: a correct history passes, including a failed create and concurrent repeats.
    #[test]
    fn accepts_a_correct_history() {
        let ops = vec![
            create("k1", (0, 10), OpResult::Created(7)),
            create("k1", (5, 30), OpResult::Created(7)),
            get("k1", 7, (11, 12), OpResult::Found),
            create("k2", (0, 100), OpResult::Failed("timeout".into())),
            create("k2", (120, 130), OpResult::Created(8)),
        ];
        assert_eq!(violations(&ops).unwrap(), Vec::<String>::new());
    }

    /// Goal: a retried create that made a second alert is caught.
    #[test]
    fn catches_a_second_alert_for_one_key() {
        let ops =
            vec![create("k", (0, 10), OpResult::Created(7)), create("k", (20, 30), OpResult::Created(9))];
        assert_eq!(violations(&ops).unwrap(), vec!["k".to_string()]);
    }

    /// Goal: a stale read (not found after the create returned) is caught; the same read
    /// concurrent with the create is allowed.
    #[test]
    fn catches_a_stale_read_only_after_the_create_returned() {
        let stale =
            vec![create("k", (0, 10), OpResult::Created(7)), get("k", 7, (11, 12), OpResult::NotFound)];
        assert_eq!(violations(&stale).unwrap(), vec!["k".to_string()]);
        let concurrent =
            vec![create("k", (0, 10), OpResult::Created(7)), get("k", 7, (5, 8), OpResult::NotFound)];
        assert!(violations(&concurrent).unwrap().is_empty());
    }
}
