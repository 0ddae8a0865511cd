//! A write transaction over the state-machine tree: reads see the transaction's own writes, and
//! everything is written in one atomic batch at the end.
//!
//! Applying a group of log entries happens in one [`Txn`], so a crash never leaves half of an
//! entry (or half of a group) applied together with an `applied` marker that claims otherwise.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::engine::{KvPair, KvTree, WriteBatch, prefix_range};
use crate::error::EngineError;
use crate::types::{decode, encode};

/// What a key looked like in the overlay before a write inside a savepoint: `None` when the
/// overlay did not hold it.
type Undo = (Vec<u8>, Option<Option<Vec<u8>>>);

/// Pending writes over a tree.
#[derive(Debug)]
pub struct Txn<'a, T: KvTree> {
    tree: std::borrow::Cow<'a, T>,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    undo: Option<Vec<Undo>>,
}

impl<'a, T: KvTree> Txn<'a, T> {
    /// Starts a transaction on `tree`.
    pub fn new(tree: &'a T) -> Self {
        Self { tree: std::borrow::Cow::Borrowed(tree), pending: BTreeMap::new(), undo: None }
    }

    /// Starts a transaction on a tree of its own (a handle: sled trees are shared).
    pub fn owned(tree: T) -> Self {
        Self { tree: std::borrow::Cow::Owned(tree), pending: BTreeMap::new(), undo: None }
    }

    /// The keys this transaction would write or remove.
    pub fn pending_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.pending.keys().map(Vec::as_slice)
    }

    /// The value of `key` as this transaction sees it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        match self.pending.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.tree.get(key),
        }
    }

    /// Reads and decodes `key`.
    pub fn get_as<V: for<'de> serde::Deserialize<'de>>(
        &self,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<V>, EngineError> {
        self.get(key)?.map(|b| decode(what, &b)).transpose()
    }

    /// Sets `key`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: Vec<u8>) {
        self.write(key.into(), Some(value));
    }

    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        let previous = self.pending.insert(key.clone(), value);
        if let Some(undo) = &mut self.undo {
            undo.push((key, previous));
        }
    }

    /// Starts recording writes so they can be undone with [`Txn::rollback`]: an operation
    /// the rules refuse half-way must leave nothing behind. Savepoints do not nest.
    pub fn savepoint(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// Undoes every write since [`Txn::savepoint`].
    pub fn rollback(&mut self) {
        for (key, previous) in self.undo.take().unwrap_or_default().into_iter().rev() {
            match previous {
                Some(v) => self.pending.insert(key, v),
                None => self.pending.remove(&key),
            };
        }
    }

    /// Keeps every write since [`Txn::savepoint`].
    pub fn release(&mut self) {
        self.undo = None;
    }

    /// Encodes and sets `key`.
    pub fn put_as<V: serde::Serialize>(
        &mut self,
        what: &'static str,
        key: impl Into<Vec<u8>>,
        value: &V,
    ) -> Result<(), EngineError> {
        let bytes = encode(what, value)?;
        self.put(key, bytes);
        Ok(())
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.write(key.into(), None);
    }

    /// Pairs whose key starts with `prefix`, in key order, as this transaction sees them, up to
    /// `limit` pairs, starting after `after` when given.
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KvPair>, EngineError> {
        let (start, end) = prefix_range(prefix);
        let start = match after {
            Some(a) => Bound::Excluded(a.to_vec()),
            None => start,
        };
        let mut out: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        // Read up to `limit + overlay removals` from the tree so removals cannot shorten a page.
        let removed_in_range =
            self.pending.range((start.clone(), end.clone())).filter(|(_, v)| v.is_none()).count();
        for kv in self.tree.range(start.clone(), end.clone()).take(limit + removed_in_range) {
            let (k, v) = kv?;
            out.insert(k, v);
        }
        for (k, v) in self.pending.range((start, end)) {
            match v {
                Some(v) => out.insert(k.clone(), v.clone()),
                None => out.remove(k),
            };
        }
        Ok(out.into_iter().take(limit).collect())
    }

    /// Calls `f` with each pair whose key is in `start..end`, in key order, as this
    /// transaction sees them, without collecting them: for scans of millions of keys (an
    /// area's cells), which a page in memory would not hold cheaply.
    pub fn for_each_in(
        &self,
        start: &[u8],
        end: &[u8],
        mut f: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), EngineError> {
        let range = (Bound::Included(start.to_vec()), Bound::Excluded(end.to_vec()));
        let mut pending = self.pending.range(range.clone()).peekable();
        for kv in self.tree.range(range.0, range.1) {
            let (k, v) = kv?;
            // Pending writes before this stored key come first; one on this key replaces it.
            while let Some((pk, pv)) = pending.next_if(|(pk, _)| pk.as_slice() <= k.as_slice()) {
                if let Some(pv) = pv {
                    f(pk, pv);
                }
                if pk.as_slice() == k.as_slice() {
                    break;
                }
            }
            if self.pending.contains_key(&k) {
                continue;
            }
            f(&k, &v);
        }
        for (pk, pv) in pending {
            if let Some(pv) = pv {
                f(pk, pv);
            }
        }
        Ok(())
    }

    /// Like [`Txn::scan_prefix`] in descending key order, starting before `before` when
    /// given. Reads stored data only: for queries, which write nothing.
    pub fn scan_prefix_rev(
        &self,
        prefix: &[u8],
        before: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KvPair>, EngineError> {
        let (start, end) = prefix_range(prefix);
        let end = match before {
            Some(b) => Bound::Excluded(b.to_vec()),
            None => end,
        };
        self.tree.range_rev(start, end).take(limit).collect()
    }

    /// The tree under the transaction (stored data, without pending writes).
    pub fn tree(&self) -> &T {
        &self.tree
    }

    /// Number of pending writes.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Writes everything atomically.
    pub fn commit(self) -> Result<(), EngineError> {
        let mut batch = WriteBatch::new();
        for (k, v) in self.pending {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.tree.write(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemEngine, StorageEngine};

    /// Goal: a scan sees the transaction's own inserts and removals merged with stored data.
    #[test]
    fn scan_merges_overlay() -> Result<(), EngineError> {
        let tree = MemEngine::new().open_tree("t")?;
        let mut b = WriteBatch::new();
        for k in [b"p1", b"p2", b"p3"] {
            b.insert(k.to_vec(), b"old".to_vec());
        }
        tree.write(b)?;
        let mut t = Txn::new(&tree);
        t.remove(b"p2".to_vec());
        t.put(b"p4".to_vec(), b"new".to_vec());
        let keys: Vec<_> = t.scan_prefix(b"p", None, 10)?.into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"p1".to_vec(), b"p3".to_vec(), b"p4".to_vec()]);
        let page: Vec<_> = t.scan_prefix(b"p", Some(b"p1"), 2)?.into_iter().map(|(k, _)| k).collect();
        assert_eq!(page, vec![b"p3".to_vec(), b"p4".to_vec()]);
        t.commit()?;
        assert_eq!(tree.get(b"p2")?, None);
        Ok(())
    }

    /// Goal: a rollback restores the overlay exactly, including keys written twice.
    #[test]
    fn rollback_undoes_savepoint_writes() -> Result<(), EngineError> {
        let tree = MemEngine::new().open_tree("t")?;
        let mut t = Txn::new(&tree);
        t.put(b"a".to_vec(), b"1".to_vec());
        t.savepoint();
        t.put(b"a".to_vec(), b"2".to_vec());
        t.put(b"a".to_vec(), b"3".to_vec());
        t.put(b"b".to_vec(), b"x".to_vec());
        t.remove(b"c".to_vec());
        t.rollback();
        assert_eq!(t.get(b"a")?, Some(b"1".to_vec()));
        assert_eq!(t.get(b"b")?, None);
        assert_eq!(t.len(), 1);
        Ok(())
    }
}
