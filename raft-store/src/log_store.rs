//! The Raft log, the vote and the committed index.
//!
//! Durability rule: nothing is acknowledged to openraft until it is on stable storage. An append
//! returns once written and calls `log_io_completed` only after its `fdatasync` (on the log's
//! sync thread, see [`crate::segments`]), and a vote is flushed before `save_vote` returns (a
//! vote that is forgotten after a crash lets a node vote twice in a term). The committed index is
//! persisted without a flush: losing it only means re-applying entries that are still in the log.
//!
//! Layout: the entries are in append-only segment files ([`crate::segments`]) in the store's
//! `raft-log` directory. The engine's tree `raft_meta` holds `vote`, `committed` and
//! `last_purged`. Stores written before the segment files kept the entries in the engine's tree
//! `log`; opening one moves them into a segment (see [`LogStore::open`]).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorVerb, RaftLogReader, StorageError, Vote};

use crate::engine::{KvTree, StorageEngine, WriteBatch};
use crate::error::{EngineError, IntoStorageError};
use crate::segments::SegmentLog;
use crate::types::{Entry, LogId, NodeId, TypeConfig, decode, encode};

/// The engine tree that held the log before segment files; emptied when a store is opened.
pub(crate) const LOG_TREE: &str = "log";
/// The tree holding the vote, the committed index and the purge point.
pub(crate) const META_TREE: &str = "raft_meta";
/// The directory of the segment files, inside the store's directory.
pub const SEGMENT_DIR: &str = "raft-log";

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// Default bound on the encoded entries in one append-entries RPC; see
/// [`LogStore::set_payload_bytes_max`].
pub const PAYLOAD_BYTES_MAX_DEFAULT: u64 = 1024 * 1024;

/// The Raft log store.
#[derive(Debug, Clone)]
pub struct LogStore<E: StorageEngine> {
    engine: E,
    entries: SegmentLog,
    meta: E::Tree,
    payload_bytes_max: u64,
}

/// A reader of the log, handed to openraft's replication tasks.
#[derive(Debug, Clone)]
pub struct LogReader {
    entries: SegmentLog,
    payload_bytes_max: u64,
}

fn get_meta<T: for<'de> serde::Deserialize<'de>, K: KvTree>(
    meta: &K,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, EngineError> {
    meta.get(key)?.map(|v| decode(what, &v)).transpose()
}

fn read_last_purged<K: KvTree>(meta: &K) -> Result<Option<LogId>, EngineError> {
    Ok(get_meta::<Option<LogId>, K>(meta, KEY_LAST_PURGED, "last purged log id")?.flatten())
}

impl<E: StorageEngine> LogStore<E> {
    /// Opens the log store on `engine`, its entries in `dir`'s [`SEGMENT_DIR`].
    ///
    /// A store written before segment files holds its entries in the engine's `log` tree; they
    /// are moved into a segment (written whole and synced before the tree is emptied, so a
    /// crash in between finds them in one place or the other, and the segment wins).
    pub async fn open(engine: E, dir: &Path) -> Result<Self, EngineError> {
        let meta = engine.open_tree(META_TREE)?;
        let last_purged = read_last_purged(&meta)?;
        let entries = SegmentLog::open(&dir.join(SEGMENT_DIR), last_purged)?;
        let legacy = engine.open_tree(LOG_TREE)?;
        if legacy.first()?.is_some() {
            if entries.is_empty()? {
                let purged = last_purged.map(|l| l.index);
                let old: Vec<Entry> = legacy
                    .range(Bound::Unbounded, Bound::Unbounded)
                    .map(|kv| kv.and_then(|(_, v)| decode::<Entry>("log entry", &v)))
                    .filter(|e| !matches!((e, purged), (Ok(e), Some(p)) if e.log_id.index <= p))
                    .collect::<Result<_, _>>()?;
                let moved = entries.adopt(old)?;
                tracing::info!(entries = moved, "moved the Raft log from the engine into segment files");
            }
            legacy.clear()?;
            engine.flush().await?;
        }
        Ok(Self { engine, entries, meta, payload_bytes_max: PAYLOAD_BYTES_MAX_DEFAULT })
    }

    /// Bounds the encoded entries replication sends in one append-entries RPC (at least one
    /// entry is always sent).
    ///
    /// openraft gives an append-entries RPC one heartbeat interval to complete, whatever its
    /// size. Bounded only by an entry count, a follower that fell behind during a large import
    /// (import entries of ~14 KB, up to 512 of them) was sent megabytes per RPC; none completed in
    /// time, so it never caught up and writes stopped committing.
    pub fn set_payload_bytes_max(&mut self, bytes: u64) {
        self.payload_bytes_max = bytes;
    }

    /// The segment files, for reading alongside openraft (erasure checks, disk figures).
    pub fn segments(&self) -> SegmentLog {
        self.entries.clone()
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &[u8],
        what: &'static str,
        v: &T,
    ) -> Result<(), EngineError> {
        let mut b = WriteBatch::new();
        b.insert(key, encode(what, v)?);
        self.meta.write(b)
    }

    fn last_purged(&self) -> Result<Option<LogId>, EngineError> {
        read_last_purged(&self.meta)
    }

    /// Checks what can be checked cheaply at start-up: the metadata decodes. (The entries were
    /// checked when the segments were opened: every record's checksum and index, and no gap.)
    /// A failure means the store is damaged and the node must be recovered from its peers.
    pub fn verify(&self) -> Result<(), EngineError> {
        let _vote: Option<Vote<NodeId>> = get_meta(&self.meta, KEY_VOTE, "vote")?;
        let _committed: Option<Option<LogId>> = get_meta(&self.meta, KEY_COMMITTED, "committed")?;
        let _purged = self.last_purged()?;
        Ok(())
    }

    /// Starts the log of a cluster restored from a backup at `log_id`: nothing in it, everything
    /// up to `log_id` counted as purged (the state machine holds it), and this node's vote in
    /// `log_id`'s term, so its first election is in a later term than any entry it holds. For
    /// `varsel restore` on a new data dir, before the node starts.
    pub async fn restore_at(&self, log_id: LogId, node: NodeId) -> Result<(), EngineError> {
        if !self.entries.is_empty()? || self.last_purged()?.is_some() {
            return Err(EngineError::Backup("restore needs an empty Raft log".into()));
        }
        self.put_meta(KEY_LAST_PURGED, "last purged log id", &Some(log_id))?;
        self.put_meta(KEY_COMMITTED, "committed", &Some(log_id))?;
        self.put_meta(KEY_VOTE, "vote", &Vote::new(log_id.leader_id.term, node))?;
        self.engine.flush().await?;
        self.entries.purge(log_id)
    }

    /// The number of bytes the engine and the segment files occupy on disk.
    pub fn size_on_disk(&self) -> Result<u64, EngineError> {
        Ok(self.engine.size_on_disk()? + self.entries.size_on_disk()?)
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        self.entries.read(range, None).on_logs(ErrorVerb::Read)
    }

    /// What replication sends: bounded by bytes as well as by openraft's entry count.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        self.entries.read(start..end, Some(self.payload_bytes_max)).on_logs(ErrorVerb::Read)
    }
}

impl<E: StorageEngine> RaftLogReader<TypeConfig> for LogStore<E> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        self.entries.read(range, None).on_logs(ErrorVerb::Read)
    }
}

impl<E: StorageEngine> RaftLogStorage<TypeConfig> for LogStore<E> {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id = self.last_purged().on_logs(ErrorVerb::Read)?;
        let last_log_id = self.entries.last_log_id().on_logs(ErrorVerb::Read)?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader { entries: self.entries.clone(), payload_bytes_max: self.payload_bytes_max }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.put_meta(KEY_VOTE, "vote", vote).on_vote(ErrorVerb::Write)?;
        self.engine.flush().await.on_vote(ErrorVerb::Write)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        get_meta(&self.meta, KEY_VOTE, "vote").on_vote(ErrorVerb::Read)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError<NodeId>> {
        self.put_meta(KEY_COMMITTED, "committed", &committed).on_logs(ErrorVerb::Write)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError<NodeId>> {
        Ok(get_meta::<Option<LogId>, _>(&self.meta, KEY_COMMITTED, "committed")
            .on_logs(ErrorVerb::Read)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        // Returns once the entries are written; the callback runs once they are synced. openraft
        // replicates them meanwhile, so the leader's sync overlaps its followers' (as etcd's).
        self.entries
            .append_then(entries, Box::new(move |r| callback.log_io_completed(r)))
            .on_logs(ErrorVerb::Write)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "truncate log from");
        self.entries.truncate(log_id.index).await.on_logs(ErrorVerb::Delete)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "purge log up to");
        // Record the purge point first, and make it (and the state machine, which shares the
        // engine) durable: if we crash half-way, the entries left below it are never read again,
        // whereas the opposite order would lose the log's start.
        self.put_meta(KEY_LAST_PURGED, "last purged log id", &Some(log_id)).on_logs(ErrorVerb::Delete)?;
        self.engine.flush().await.on_logs(ErrorVerb::Delete)?;
        self.entries.purge(log_id).on_logs(ErrorVerb::Delete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MemEngine;
    use openraft::storage::RaftLogStorageExt;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn blank(i: u64) -> Entry {
        Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), i), payload: EntryPayload::Blank }
    }

    fn err(e: StorageError<NodeId>) -> EngineError {
        EngineError::Damaged(e.to_string())
    }

    /// Goal: replication reads stop at the byte bound, yet always return at least one entry,
    /// and never more than the range asked for.
    #[tokio::test]
    async fn replication_reads_are_bounded_by_bytes() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let mut store = LogStore::open(MemEngine::new(), dir.path()).await?;
        store.blocking_append((1..=10).map(blank)).await.map_err(err)?;
        let one = encode("entry", &blank(1))?.len() as u64;
        let indexes = |v: Vec<Entry>| v.iter().map(|e| e.log_id.index).collect::<Vec<_>>();

        store.set_payload_bytes_max(3 * one);
        let mut reader = store.get_log_reader().await;
        assert_eq!(indexes(reader.limited_get_log_entries(2, 11).await.map_err(err)?), vec![2, 3, 4]);
        assert_eq!(indexes(reader.limited_get_log_entries(9, 11).await.map_err(err)?), vec![9, 10]);

        store.set_payload_bytes_max(1);
        let mut reader = store.get_log_reader().await;
        assert_eq!(indexes(reader.limited_get_log_entries(5, 11).await.map_err(err)?), vec![5]);
        // The unbounded read openraft uses elsewhere is unaffected.
        assert_eq!(reader.try_get_log_entries(1..=10).await.map_err(err)?.len(), 10);
        Ok(())
    }

    /// Goal: a store written before segment files (entries in the engine's `log` tree) opens
    /// with every entry after its purge point moved into a segment and the tree emptied; the
    /// purge point and the log state are what they were.
    #[tokio::test]
    async fn entries_kept_in_the_engine_move_into_segments() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let engine = MemEngine::new();
        let mut old = WriteBatch::new();
        for i in 3..=9u64 {
            old.insert(i.to_be_bytes().to_vec(), encode("log entry", &blank(i))?);
        }
        engine.open_tree(LOG_TREE)?.write(old)?;
        let mut meta = WriteBatch::new();
        meta.insert(KEY_LAST_PURGED, encode("last purged", &Some(blank(4).log_id))?);
        engine.open_tree(META_TREE)?.write(meta)?;

        let mut store = LogStore::open(engine.clone(), dir.path()).await?;
        assert!(engine.open_tree(LOG_TREE)?.first()?.is_none(), "the old tree is emptied");
        let state = store.get_log_state().await.map_err(err)?;
        assert_eq!(state.last_purged_log_id, Some(blank(4).log_id));
        assert_eq!(state.last_log_id, Some(blank(9).log_id));
        let got = store.try_get_log_entries(0..100).await.map_err(err)?;
        assert_eq!(got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![5, 6, 7, 8, 9]);

        // Opened again, it is the same log (read from the segment this time).
        drop(store);
        let mut store = LogStore::open(engine, dir.path()).await?;
        assert_eq!(store.try_get_log_entries(0..100).await.map_err(err)?.len(), 5);
        assert_eq!(store.segments().segment_count()?, 1);
        Ok(())
    }
}
