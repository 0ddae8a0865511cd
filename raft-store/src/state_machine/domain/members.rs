//! A group's memberships, stored in runs of [`RUN_LEN`] consecutive sequence numbers.
//!
//! Memberships are numbered from 0 by their group and never removed (an ended one records when
//! it ended), so a group's memberships are dense: the run keyed by its first number `f` holds
//! those numbered `f`, `f + 1`, … in order, up to `f + RUN_LEN - 1`. One key per run instead of
//! one per membership: a national list of 5,000,000 is about 39,000 keys, not 5,000,000, which
//! is what an import writes, what sled keeps a descriptor for in memory, and what a send reads
//! back. A run's value is [`append_to_run`]'s: the memberships back to back after one version
//! byte, so a new member is added at the end without rewriting the others.
//!
//! Stores and snapshots written before runs existed keep one key per membership (table
//! [`MEMBER`]); [`upgrade`] rewrites those into runs, and is run on such a store when it is
//! opened and on such a snapshot when it is installed.

use std::ops::Bound;

use varsel_domain::model::{GroupId, Membership, TenantId};

use crate::engine::{KvTree, WriteBatch, prefix_range};
use crate::error::EngineError;
use crate::format::{append_to_run, decode, decode_run};
use crate::state_machine::Txn;
use crate::state_machine::keys::{Key, MEMBER, MEMBER_RUN, u64_at};

/// Memberships per run: about 1.2 KiB each (a membership takes 8-10 bytes), small enough to
/// copy on every append in a transaction and to stay far below sled's separate-file threshold.
pub const RUN_LEN: u64 = 128;

const WHAT: &str = "memberships";

fn run_key(tenant: TenantId, group: GroupId, first: u64) -> Vec<u8> {
    Key::new(MEMBER_RUN).u64(tenant).u64(group).u64(first).done()
}

fn first_of(seq: u64) -> u64 {
    seq - seq % RUN_LEN
}

/// The membership numbered `seq`, if the group has one.
pub(crate) fn get<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    seq: u64,
) -> Result<Option<Membership>, EngineError> {
    let first = first_of(seq);
    let Some(bytes) = txn.get(&run_key(tenant, group, first))? else { return Ok(None) };
    let run: Vec<Membership> = decode_run(WHAT, &bytes)?;
    Ok(run.into_iter().nth((seq - first) as usize))
}

/// Adds the membership numbered `seq`, which must be the group's next: one past the last.
pub(crate) fn append<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    seq: u64,
    m: &Membership,
) -> Result<(), EngineError> {
    let first = first_of(seq);
    let key = run_key(tenant, group, first);
    let bytes = txn.get(&key)?.unwrap_or_default();
    let held = if bytes.is_empty() { 0 } else { decode_run::<Membership>(WHAT, &bytes)?.len() as u64 };
    if held != seq - first {
        return Err(EngineError::Damaged(format!(
            "group {group} of tenant {tenant}: membership {seq} is next, but its run holds {held} from {first}"
        )));
    }
    txn.put(key, append_to_run(WHAT, m, bytes)?);
    Ok(())
}

/// Replaces the membership numbered `seq`; false when the group has none so numbered.
pub(crate) fn set<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    seq: u64,
    m: &Membership,
) -> Result<bool, EngineError> {
    let first = first_of(seq);
    let key = run_key(tenant, group, first);
    let Some(bytes) = txn.get(&key)? else { return Ok(false) };
    let mut run: Vec<Membership> = decode_run(WHAT, &bytes)?;
    let Some(slot) = run.get_mut((seq - first) as usize) else { return Ok(false) };
    *slot = *m;
    let mut out = Vec::with_capacity(bytes.len());
    for m in &run {
        out = append_to_run(WHAT, m, out)?;
    }
    txn.put(key, out);
    Ok(true)
}

/// Memberships numbered `from..end`, in order, at most `limit`: one ordered pass over the
/// runs (stored data; for reads, which write nothing).
pub(crate) fn range<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    from: u64,
    end: u64,
    limit: usize,
) -> Result<Vec<(u64, Membership)>, EngineError> {
    let end = end.min(from.saturating_add(limit as u64));
    let mut out = Vec::with_capacity(end.saturating_sub(from).min(RUN_LEN * 8) as usize);
    if from >= end {
        return Ok(out);
    }
    let start = Bound::Included(run_key(tenant, group, first_of(from)));
    let stop = Bound::Excluded(run_key(tenant, group, end));
    for kv in txn.tree().range(start, stop) {
        let (k, v) = kv?;
        let Some(first) = u64_at(&k, k.len() - 8) else { continue };
        let run: Vec<Membership> = decode_run(WHAT, &v)?;
        let seqs = (first..).zip(run);
        out.extend(seqs.filter(|(s, _)| (from..end).contains(s)));
    }
    Ok(out)
}

/// How many runs the group has.
#[cfg(test)]
pub(crate) fn count_runs<T: KvTree>(tree: &T, tenant: TenantId, group: GroupId) -> usize {
    let (a, b) = prefix_range(&Key::new(MEMBER_RUN).u64(tenant).u64(group).done());
    tree.range(a, b).count()
}

/// Memberships moved per batch by [`upgrade`] (each run's record and the keys it replaces are
/// always in the same batch, so a crash leaves every run either moved or not).
const UPGRADE_BATCH_OPS: usize = 16_384;

/// A run being gathered from one-key-per-membership records.
struct Gathering {
    tenant: TenantId,
    group: GroupId,
    first: u64,
    bytes: Vec<u8>,
    old_keys: Vec<Vec<u8>>,
}

impl Gathering {
    fn next_seq(&self) -> u64 {
        self.first + self.old_keys.len() as u64
    }

    fn into_batch(self, batch: &mut WriteBatch) {
        batch.insert(run_key(self.tenant, self.group, self.first), self.bytes);
        for k in self.old_keys {
            batch.remove(k);
        }
    }
}

/// Rewrites the memberships `tree` keeps one key each (table [`MEMBER`], as builds before runs
/// wrote them) into runs, in batches; returns how many it moved. Nothing to do on a store
/// without any. Stops at a gap in a group's numbers (a damaged store), naming the group.
pub fn upgrade<T: KvTree>(tree: &T) -> Result<u64, EngineError> {
    let (start, end) = prefix_range(&[MEMBER]);
    let mut moved = 0u64;
    let mut batch = WriteBatch::new();
    let mut current: Option<Gathering> = None;
    for kv in tree.range(start, end) {
        let (k, v) = kv?;
        let (Some(tenant), Some(group), Some(seq)) = (u64_at(&k, 1), u64_at(&k, 9), u64_at(&k, 17)) else {
            return Err(EngineError::Damaged(format!("membership key {k:?} is not tenant, group, number")));
        };
        let m: Membership = decode("membership", &v)?;
        let continues = current.as_ref().is_some_and(|g| {
            g.tenant == tenant && g.group == group && g.first == first_of(seq) && g.next_seq() == seq
        });
        if !continues {
            let gap = current
                .as_ref()
                .is_some_and(|g| (g.tenant, g.group) == (tenant, group) && g.next_seq() != seq);
            if let Some(done) = current.take() {
                done.into_batch(&mut batch);
                if batch.len() >= UPGRADE_BATCH_OPS {
                    tree.write(std::mem::take(&mut batch))?;
                }
            }
            if gap || seq != first_of(seq) {
                return Err(EngineError::Damaged(format!(
                    "group {group} of tenant {tenant}: membership {seq} follows a gap in the numbers"
                )));
            }
            current = Some(Gathering { tenant, group, first: seq, bytes: Vec::new(), old_keys: Vec::new() });
        }
        if let Some(g) = current.as_mut() {
            g.bytes = append_to_run(WHAT, &m, std::mem::take(&mut g.bytes))?;
            g.old_keys.push(k);
        }
        moved += 1;
    }
    if let Some(done) = current.take() {
        done.into_batch(&mut batch);
    }
    if !batch.is_empty() {
        tree.write(batch)?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemEngine, StorageEngine};
    use crate::format::encode;

    /// A membership's key as builds before runs wrote it.
    fn member_key_v1(tenant: TenantId, group: GroupId, seq: u64) -> Vec<u8> {
        Key::new(MEMBER).u64(tenant).u64(group).u64(seq).done()
    }

    fn m(contact: u64, added_at: u64) -> Membership {
        Membership { contact, added_at, removed_at: None }
    }

    /// Goal: appends land in runs of `RUN_LEN`, read back one by one and as ranges that cross
    /// runs; a replacement changes only its membership; an out-of-turn append is refused.
    #[test]
    fn runs_hold_dense_numbers() -> Result<(), EngineError> {
        let engine = MemEngine::new();
        let tree = engine.open_tree("t")?;
        let n = RUN_LEN * 2 + 5;
        let mut txn = Txn::new(&tree);
        for seq in 0..n {
            append(&mut txn, 7, 3, seq, &m(1000 + seq, seq))?;
        }
        assert!(append(&mut txn, 7, 3, n + 1, &m(1, 1)).is_err(), "a gap is refused");
        assert!(append(&mut txn, 7, 3, n - 1, &m(1, 1)).is_err(), "a number taken is refused");
        txn.commit()?;
        assert_eq!(count_runs(&tree, 7, 3), 3);
        let mut txn = Txn::new(&tree);
        assert_eq!(get(&txn, 7, 3, RUN_LEN)?, Some(m(1000 + RUN_LEN, RUN_LEN)));
        assert_eq!(get(&txn, 7, 3, n)?, None);
        assert_eq!(get(&txn, 7, 4, 0)?, None, "another group has none");
        let ended = Membership { removed_at: Some(99), ..m(1000 + 130, 130) };
        assert!(set(&mut txn, 7, 3, 130, &ended)?);
        assert!(!set(&mut txn, 7, 3, n, &ended)?);
        txn.commit()?;
        let txn = Txn::new(&tree);
        let got = range(&txn, 7, 3, RUN_LEN - 2, n, 5)?;
        let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (RUN_LEN - 2..RUN_LEN + 3).collect::<Vec<_>>());
        assert_eq!(range(&txn, 7, 3, 129, 131, 100)?, vec![(129, m(1129, 129)), (130, ended)]);
        assert_eq!(range(&txn, 7, 3, 0, u64::MAX, usize::MAX)?.len() as u64, n);
        assert!(range(&txn, 7, 3, n, n + 10, 10)?.is_empty());
        Ok(())
    }

    /// Goal: a store with one key per membership (as older builds wrote) is rewritten into
    /// runs holding the same memberships, the old keys gone; a second pass finds nothing.
    #[test]
    fn upgrade_moves_one_key_per_membership_into_runs() -> Result<(), EngineError> {
        let engine = MemEngine::new();
        let tree = engine.open_tree("t")?;
        let mut batch = WriteBatch::new();
        let groups = [(1u64, 10u64, RUN_LEN + 1), (1, 11, 3), (2, 10, RUN_LEN)];
        for &(tenant, group, n) in &groups {
            for seq in 0..n {
                let ended = Membership { removed_at: (seq % 5 == 0).then_some(seq + 9), ..m(seq * 3, seq) };
                batch.insert(member_key_v1(tenant, group, seq), encode("membership", &ended)?);
            }
        }
        tree.write(batch)?;
        let total: u64 = groups.iter().map(|g| g.2).sum();
        assert_eq!(upgrade(&tree)?, total);
        let (a, b) = prefix_range(&[MEMBER]);
        assert_eq!(tree.range(a, b).count(), 0, "no old key left");
        let txn = Txn::new(&tree);
        for &(tenant, group, n) in &groups {
            let got = range(&txn, tenant, group, 0, u64::MAX, usize::MAX)?;
            assert_eq!(got.len() as u64, n);
            for (seq, got) in got {
                assert_eq!(got.contact, seq * 3);
                assert_eq!(got.removed_at, (seq % 5 == 0).then_some(seq + 9));
            }
        }
        assert_eq!(upgrade(&tree)?, 0);
        Ok(())
    }

    /// Goal: a gap in a group's numbers (no build leaves one) stops the upgrade, naming the
    /// group, instead of shifting the memberships after it onto wrong numbers.
    #[test]
    fn upgrade_refuses_a_gap() -> Result<(), EngineError> {
        let engine = MemEngine::new();
        let tree = engine.open_tree("t")?;
        let mut batch = WriteBatch::new();
        for seq in (0..RUN_LEN).chain([RUN_LEN * 2]) {
            batch.insert(member_key_v1(1, 42, seq), encode("membership", &m(seq, seq))?);
        }
        tree.write(batch)?;
        match upgrade(&tree) {
            Err(EngineError::Damaged(msg)) => assert!(msg.contains("group 42"), "{msg}"),
            other => panic!("expected Damaged, got {other:?}"),
        }
        Ok(())
    }
}
