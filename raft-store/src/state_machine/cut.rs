//! A point-in-time cut of the state tree while applying goes on (sled has none of its own).
//!
//! A snapshot build starts a [`Cut`] under the apply gate, at the applied index it describes,
//! and lets the gate go at once. From then on, before each apply group writes its batch, it
//! hands the cut the keys it is about to change ([`Cut::before_write`]); the cut keeps the
//! value each had at the cut (its *before image*, absent when the key did not exist), once per
//! key. The builder walks the live tree in key order and passes every pair through
//! [`Cut::resolve`]: a key with a before image is written as it was at the cut (or left out, if
//! it did not exist then), any other as it is. Keys removed after the cut that the walk never
//! met are added at the end ([`Cut::unmet`]).
//!
//! Why this is exact: the apply thread is the only writer, and it records a key's before image
//! (reading the tree, under the cut's lock) before it writes the key. When the builder resolves
//! a key it has read, either the image was recorded before (it is used, whatever the read
//! saw), or it was not, and then the write that follows it came after the builder's read, so
//! the read saw the value at the cut. The walk's position is kept under the same lock, so a key
//! changed behind the walk is known to be met already, and a key changed ahead of it is marked
//! met when the walk reaches it.
//!
//! The cost: one extra read per key written while a build runs, and memory for one before
//! image per distinct key changed meanwhile (reported by [`Cut::images`]).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::engine::KvTree;
use crate::error::EngineError;

#[derive(Debug)]
struct Image {
    /// The value at the cut, `None` when the key did not exist.
    before: Option<Vec<u8>>,
    /// The walk has passed this key (written or left out), so [`Cut::unmet`] skips it.
    met: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// The last key the walk resolved (empty before the first: no key is empty, and
    /// nothing sorts before the empty key). Reused, not reallocated, for each of the
    /// millions of keys a build walks.
    walked_to: Vec<u8>,
    images: HashMap<Vec<u8>, Image>,
    bytes: usize,
}

/// Before images of the keys changed since the cut. See the module doc.
#[derive(Debug, Default)]
pub struct Cut {
    inner: Mutex<Inner>,
}

impl Cut {
    /// A cut of the tree as it is now (call it while nothing is applied).
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the value at the cut of each of `keys`, which the caller is about to write to
    /// `tree` (the caller is the only writer).
    pub fn before_write<'k, T: KvTree>(
        &self,
        tree: &T,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> Result<(), EngineError> {
        let mut inner = self.lock();
        for key in keys {
            if inner.images.contains_key(key) {
                continue;
            }
            let before = tree.get(key)?;
            let met = !inner.walked_to.is_empty() && key <= inner.walked_to.as_slice();
            inner.bytes += key.len() + before.as_ref().map_or(0, Vec::len);
            inner.images.insert(key.to_vec(), Image { before, met });
        }
        Ok(())
    }

    /// What the snapshot holds for `key`, read from the live tree as `value` by the walk (keys
    /// in ascending order): its value at the cut, or nothing if it did not exist then.
    pub fn resolve(&self, key: Vec<u8>, value: Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut inner = self.lock();
        inner.walked_to.clear();
        inner.walked_to.extend_from_slice(&key);
        match inner.images.get_mut(&key) {
            Some(image) => {
                image.met = true;
                image.before.clone().map(|b| (key, b))
            }
            None => Some((key, value)),
        }
    }

    /// Keys that existed at the cut and that the walk never met (removed before it got there),
    /// with their values at the cut. Call once the walk is over.
    pub fn unmet(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let inner = self.lock();
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = inner
            .images
            .iter()
            .filter(|(_, i)| !i.met)
            .filter_map(|(k, i)| i.before.clone().map(|b| (k.clone(), b)))
            .collect();
        out.sort();
        out
    }

    /// Before images kept, and their bytes (keys and values).
    pub fn images(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.images.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemEngine, StorageEngine, WriteBatch};

    fn put(tree: &impl KvTree, cut: Option<&Cut>, ops: &[(&str, Option<&str>)]) {
        if let Some(c) = cut {
            c.before_write(tree, ops.iter().map(|(k, _)| k.as_bytes())).expect("image");
        }
        let mut b = WriteBatch::new();
        for (k, v) in ops {
            match v {
                Some(v) => b.insert(k.as_bytes().to_vec(), v.as_bytes().to_vec()),
                None => b.remove(k.as_bytes().to_vec()),
            }
        }
        tree.write(b).expect("write");
    }

    /// Goal: the walk yields exactly the tree as it was at the cut, whatever is written
    /// meanwhile: changes and removals behind the walk, ahead of it, of keys that are met
    /// later, keys added after the cut, a key written twice. Method: a walk over the live tree
    /// interleaved with writes, compared with a copy taken at the cut.
    #[test]
    fn the_walk_sees_the_cut_whatever_is_written_meanwhile() {
        let tree = MemEngine::new().open_tree("t").expect("tree");
        let initial: Vec<(String, Option<&str>)> =
            (0..20).map(|i| (format!("k{i:02}"), Some("v0"))).collect();
        let ops: Vec<(&str, Option<&str>)> = initial.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        put(&tree, None, &ops);
        let at_cut: Vec<(Vec<u8>, Vec<u8>)> = tree
            .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
            .map(|kv| kv.expect("kv"))
            .collect();

        let cut = Cut::new();
        let mut walked = Vec::new();
        let mut step = 0;
        let mut from = std::ops::Bound::Unbounded;
        loop {
            // The walk reads one key at a time (the live tree changes between reads).
            let Some(kv) = tree.range(from.clone(), std::ops::Bound::Unbounded).next() else { break };
            let (k, v) = kv.expect("kv");
            from = std::ops::Bound::Excluded(k.clone());
            walked.extend(cut.resolve(k, v));
            step += 1;
            match step {
                3 => {
                    put(&tree, Some(&cut), &[("k01", Some("changed behind")), ("k10", Some("changed ahead"))])
                }
                5 => put(&tree, Some(&cut), &[("k12", None), ("k00", None), ("k055", Some("new"))]),
                7 => put(
                    &tree,
                    Some(&cut),
                    &[("k10", Some("changed twice")), ("k15", None), ("k99", Some("new"))],
                ),
                _ => {}
            }
        }
        walked.extend(cut.unmet());
        walked.sort();
        assert_eq!(walked, at_cut);
        assert_eq!(cut.images().0, 7);
    }
}
