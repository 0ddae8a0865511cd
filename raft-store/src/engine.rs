//! The small storage trait the Raft store is written against, and its engines.
//!
//! Everything above this module sees ordered byte-keyed trees with atomic batches and a
//! durability barrier ([`StorageEngine::flush`]). That is all the Raft log and the state machine
//! need, and it lets the engine under them be measured and swapped (see `varsel bench`) without
//! touching the rest.
//!
//! - [`SledEngine`]: the production engine, sled 0.34 with an explicit cache capacity.
//! - [`MemEngine`]: ordered maps in memory; for tests and for measuring what the disk costs.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::error::EngineError;

/// A key/value pair as stored.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// An iterator over a key range, in key order.
pub type KvIter = Box<dyn Iterator<Item = Result<KvPair, EngineError>> + Send>;

/// A set of writes applied atomically to one tree.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `key` to `value`.
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    /// Remove `key`.
    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), None));
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations in the order they were added; `None` is a removal.
    pub fn ops(&self) -> &[(Vec<u8>, Option<Vec<u8>>)] {
        &self.ops
    }
}

/// An engine holding named trees that share one durability barrier.
pub trait StorageEngine: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// A tree of this engine.
    type Tree: KvTree;

    /// Opens (creating when missing) the tree called `name`.
    fn open_tree(&self, name: &str) -> Result<Self::Tree, EngineError>;

    /// Returns once every write made before the call is on stable storage.
    fn flush(&self) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Bytes the engine occupies on disk (0 for memory engines).
    fn size_on_disk(&self) -> Result<u64, EngineError>;
}

/// An ordered map from byte keys to byte values.
pub trait KvTree: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError>;

    /// Applies every operation of `batch` atomically.
    fn write(&self, batch: WriteBatch) -> Result<(), EngineError>;

    /// Key/value pairs with keys inside the bounds, ascending.
    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter;

    /// Key/value pairs with keys inside the bounds, descending.
    fn range_rev(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter;

    /// The first pair in key order.
    fn first(&self) -> Result<Option<KvPair>, EngineError>;

    /// The last pair in key order.
    fn last(&self) -> Result<Option<KvPair>, EngineError>;

    /// Removes every key.
    fn clear(&self) -> Result<(), EngineError>;
}

/// Settings of the sled engine.
#[derive(Debug, Clone)]
pub struct SledOptions {
    /// Page-cache capacity. sled's default (1 GiB) is far too much for three nodes sharing a
    /// machine, so it is always set explicitly.
    pub cache_capacity_bytes: u64,
    /// How often sled fsyncs on its own. Acknowledged Raft writes never rely on this: the log
    /// store calls [`StorageEngine::flush`] before acknowledging.
    pub background_flush_ms: Option<u64>,
}

/// The page cache a node runs with unless `storage.cache_capacity_bytes` says otherwise (the
/// config's default is this constant, so tests, tools and nodes measure the same store).
pub const DEFAULT_CACHE_CAPACITY_BYTES: u64 = 32 * 1024 * 1024;

impl Default for SledOptions {
    fn default() -> Self {
        Self { cache_capacity_bytes: DEFAULT_CACHE_CAPACITY_BYTES, background_flush_ms: Some(500) }
    }
}

/// sled, the production engine.
#[derive(Debug, Clone)]
pub struct SledEngine {
    db: sled::Db,
}

impl SledEngine {
    /// Opens (or creates) the database in `dir`. A damaged database is reported as
    /// [`EngineError::Damaged`], never repaired silently.
    pub fn open(dir: &Path, options: &SledOptions) -> Result<Self, EngineError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_capacity_bytes)
            .flush_every_ms(options.background_flush_ms)
            .open()
            .map_err(|e| match e {
                sled::Error::Corruption { .. } => {
                    EngineError::Damaged(format!("sled database in {} is corrupt: {e}", dir.display()))
                }
                other => EngineError::from(other),
            })?;
        Ok(Self { db })
    }
}

impl StorageEngine for SledEngine {
    type Tree = SledTree;

    fn open_tree(&self, name: &str) -> Result<SledTree, EngineError> {
        Ok(SledTree { tree: self.db.open_tree(name)? })
    }

    async fn flush(&self) -> Result<(), EngineError> {
        self.db.flush_async().await?;
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, EngineError> {
        Ok(self.db.size_on_disk()?)
    }
}

/// A sled tree.
#[derive(Debug, Clone)]
pub struct SledTree {
    tree: sled::Tree,
}

fn sled_pair(r: sled::Result<(sled::IVec, sled::IVec)>) -> Result<KvPair, EngineError> {
    let (k, v) = r?;
    Ok((k.to_vec(), v.to_vec()))
}

impl KvTree for SledTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    fn write(&self, batch: WriteBatch) -> Result<(), EngineError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.tree.apply_batch(b)?;
        Ok(())
    }

    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter {
        Box::new(self.tree.range::<Vec<u8>, _>((from, to)).map(sled_pair))
    }

    fn range_rev(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter {
        Box::new(self.tree.range::<Vec<u8>, _>((from, to)).rev().map(sled_pair))
    }

    fn first(&self) -> Result<Option<KvPair>, EngineError> {
        Ok(self.tree.first()?.map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn last(&self) -> Result<Option<KvPair>, EngineError> {
        Ok(self.tree.last()?.map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn clear(&self) -> Result<(), EngineError> {
        Ok(self.tree.clear()?)
    }
}

/// Ordered maps in memory. Not durable: `flush` is a no-op.
#[derive(Debug, Clone, Default)]
pub struct MemEngine {
    trees: Arc<RwLock<BTreeMap<String, MemTree>>>,
}

impl MemEngine {
    /// A new, empty engine.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StorageEngine for MemEngine {
    type Tree = MemTree;

    fn open_tree(&self, name: &str) -> Result<MemTree, EngineError> {
        let mut trees = self.trees.write().map_err(|_| EngineError::Poisoned)?;
        Ok(trees.entry(name.to_string()).or_default().clone())
    }

    async fn flush(&self) -> Result<(), EngineError> {
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, EngineError> {
        Ok(0)
    }
}

/// One in-memory tree.
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
    largest_batch: Arc<std::sync::atomic::AtomicUsize>,
}

impl MemTree {
    /// The most operations any one [`KvTree::write`] batch carried so far: lets tests check
    /// how writes are grouped.
    pub fn largest_batch(&self) -> usize {
        self.largest_batch.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl KvTree for MemTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self.map.read().map_err(|_| EngineError::Poisoned)?.get(key).cloned())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), EngineError> {
        self.largest_batch.fetch_max(batch.ops.len(), std::sync::atomic::Ordering::Relaxed);
        let mut map = self.map.write().map_err(|_| EngineError::Poisoned)?;
        for (k, v) in batch.ops {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter {
        // Copied out under the lock: the iterator must not hold the lock across calls.
        let items: Vec<Result<KvPair, EngineError>> = match self.map.read() {
            Ok(map) => map.range((from, to)).map(|(k, v)| Ok((k.clone(), v.clone()))).collect(),
            Err(_) => vec![Err(EngineError::Poisoned)],
        };
        Box::new(items.into_iter())
    }

    fn range_rev(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter {
        let items: Vec<Result<KvPair, EngineError>> = match self.map.read() {
            Ok(map) => map.range((from, to)).rev().map(|(k, v)| Ok((k.clone(), v.clone()))).collect(),
            Err(_) => vec![Err(EngineError::Poisoned)],
        };
        Box::new(items.into_iter())
    }

    fn first(&self) -> Result<Option<KvPair>, EngineError> {
        let map = self.map.read().map_err(|_| EngineError::Poisoned)?;
        Ok(map.iter().next().map(|(k, v)| (k.clone(), v.clone())))
    }

    fn last(&self) -> Result<Option<KvPair>, EngineError> {
        let map = self.map.read().map_err(|_| EngineError::Poisoned)?;
        Ok(map.iter().next_back().map(|(k, v)| (k.clone(), v.clone())))
    }

    fn clear(&self) -> Result<(), EngineError> {
        self.map.write().map_err(|_| EngineError::Poisoned)?.clear();
        Ok(())
    }
}

/// Keys starting with `prefix`, as a range.
pub fn prefix_range(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let start = Bound::Included(prefix.to_vec());
    let mut end = prefix.to_vec();
    // The smallest key greater than every key with this prefix: increment the last byte that is
    // not 0xff and drop what follows it.
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return (start, Bound::Excluded(end));
        }
    }
    (start, Bound::Unbounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise<E: StorageEngine>(engine: E) -> Result<(), EngineError> {
        let t = engine.open_tree("t")?;
        let mut b = WriteBatch::new();
        b.insert(b"a/1".to_vec(), b"x".to_vec());
        b.insert(b"a/2".to_vec(), b"y".to_vec());
        b.insert(b"b/1".to_vec(), b"z".to_vec());
        t.write(b)?;
        let (from, to) = prefix_range(b"a/");
        let got: Vec<_> = t.range(from, to).collect::<Result<_, _>>()?;
        assert_eq!(got.len(), 2);
        assert_eq!(t.first()?.map(|p| p.0), Some(b"a/1".to_vec()));
        assert_eq!(t.last()?.map(|p| p.0), Some(b"b/1".to_vec()));
        let mut b = WriteBatch::new();
        b.remove(b"a/1".to_vec());
        t.write(b)?;
        assert_eq!(t.get(b"a/1")?, None);
        assert_eq!(t.get(b"a/2")?, Some(b"y".to_vec()));
        t.clear()?;
        assert!(t.first()?.is_none());
        Ok(())
    }

    /// Goal: both engines behave the same for the operations the store uses.
    #[test]
    fn engines_agree() -> Result<(), EngineError> {
        exercise(MemEngine::new())?;
        let dir = tempfile::tempdir().map_err(EngineError::Io)?;
        exercise(SledEngine::open(dir.path(), &SledOptions::default())?)
    }

    /// Goal: prefix ranges end right after the prefix, also when it ends in 0xff bytes.
    #[test]
    fn prefix_range_bounds() {
        assert_eq!(prefix_range(b"ab").1, Bound::Excluded(b"ac".to_vec()));
        assert_eq!(prefix_range(&[1, 0xff]).1, Bound::Excluded(vec![2]));
        assert_eq!(prefix_range(&[0xff, 0xff]).1, Bound::Unbounded);
    }
}
