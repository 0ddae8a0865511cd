//! The Raft log, the vote and the committed index, on a [`StorageEngine`].
//!
//! Durability rule: nothing is acknowledged to openraft until it is on stable storage. An append
//! calls [`StorageEngine::flush`] before `log_io_completed`, and a vote is flushed before
//! `save_vote` returns (a vote that is forgotten after a crash lets a node vote twice in a term).
//! The committed index is persisted without a flush: losing it only means re-applying entries
//! that are still in the log.
//!
//! Layout: tree `log` maps the big-endian `u64` index to the encoded entry, so key order is log
//! order and a range of indexes is a range of keys. Tree `raft_meta` holds `vote`, `committed`
//! and `last_purged`.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorVerb, RaftLogReader, StorageError, Vote};

use crate::engine::{KvTree, StorageEngine, WriteBatch};
use crate::error::{EngineError, IntoStorageError};
use crate::types::{Entry, LogId, NodeId, TypeConfig, decode, encode};

/// The tree holding the log.
pub(crate) const LOG_TREE: &str = "log";
/// The tree holding the vote, the committed index and the purge point.
pub(crate) const META_TREE: &str = "raft_meta";

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// Bound on the entries removed per batch when truncating or purging, so one call never builds
/// an unbounded batch in memory.
pub const REMOVE_BATCH_MAX: usize = 4096;

/// Default bound on the encoded entries in one append-entries RPC; see
/// [`LogStore::set_payload_bytes_max`].
pub const PAYLOAD_BYTES_MAX_DEFAULT: u64 = 1024 * 1024;

/// The Raft log store.
#[derive(Debug, Clone)]
pub struct LogStore<E: StorageEngine> {
    engine: E,
    log: E::Tree,
    meta: E::Tree,
    payload_bytes_max: u64,
}

/// A reader of the log, handed to openraft's replication tasks.
#[derive(Debug, Clone)]
pub struct LogReader<T: KvTree> {
    log: T,
    payload_bytes_max: u64,
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn bound_key(b: Bound<&u64>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(i) => Bound::Included(index_key(*i).to_vec()),
        Bound::Excluded(i) => Bound::Excluded(index_key(*i).to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn read_entries<T: KvTree, RB: RangeBounds<u64>>(log: &T, range: RB) -> Result<Vec<Entry>, EngineError> {
    let from = bound_key(range.start_bound());
    let to = bound_key(range.end_bound());
    log.range(from, to).map(|kv| kv.and_then(|(k, v)| decode_at(&k, &v))).collect()
}

/// Decodes the entry stored under `key`. An entry is only ever written under its own index
/// (`append`); one found under another key means the log was damaged or written by a bug, and
/// handing it to openraft would replicate or apply the wrong entry.
fn decode_at(key: &[u8], value: &[u8]) -> Result<Entry, EngineError> {
    let entry = decode::<Entry>("log entry", value)?;
    debug_assert_eq!(
        key,
        index_key(entry.log_id.index),
        "log entry {} stored under another key",
        entry.log_id
    );
    Ok(entry)
}

/// Entries from `start` (inclusive) to `end` (exclusive) whose encoded sizes add up to at most
/// `bytes_max`, and always at least the first one.
fn read_entries_bounded<T: KvTree>(
    log: &T,
    start: u64,
    end: u64,
    bytes_max: u64,
) -> Result<Vec<Entry>, EngineError> {
    let mut out = Vec::new();
    let mut bytes = 0u64;
    for kv in log.range(Bound::Included(index_key(start).to_vec()), Bound::Excluded(index_key(end).to_vec()))
    {
        let (k, v) = kv?;
        bytes += v.len() as u64;
        if bytes > bytes_max && !out.is_empty() {
            break;
        }
        out.push(decode_at(&k, &v)?);
    }
    Ok(out)
}

impl<E: StorageEngine> LogStore<E> {
    /// Opens the log store on `engine`.
    pub fn open(engine: E) -> Result<Self, EngineError> {
        let log = engine.open_tree(LOG_TREE)?;
        let meta = engine.open_tree(META_TREE)?;
        Ok(Self { engine, log, meta, payload_bytes_max: PAYLOAD_BYTES_MAX_DEFAULT })
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

    fn get_meta<T: for<'de> serde::Deserialize<'de>>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, EngineError> {
        self.meta.get(key)?.map(|v| decode(what, &v)).transpose()
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
        Ok(self.get_meta::<Option<LogId>>(KEY_LAST_PURGED, "last purged log id")?.flatten())
    }

    /// Checks what can be checked cheaply at start-up: the metadata decodes, the last entry
    /// decodes, and the log has no gap. A failure
    /// means the store is damaged and the node must be recovered from its peers. (Where the log
    /// starts is not checked: a node that received a snapshot may start its log after it.)
    pub fn verify(&self) -> Result<(), EngineError> {
        let _vote: Option<Vote<NodeId>> = self.get_meta(KEY_VOTE, "vote")?;
        let _committed: Option<Option<LogId>> = self.get_meta(KEY_COMMITTED, "committed")?;
        let _purged = self.last_purged()?;
        let (Some((first, _)), Some((last, last_v))) = (self.log.first()?, self.log.last()?) else {
            return Ok(());
        };
        let first = key_index(&first)?;
        let last = key_index(&last)?;
        decode::<Entry>("last log entry", &last_v)?;
        let count = self.log.range(Bound::Unbounded, Bound::Unbounded).count() as u64;
        if count != last - first + 1 {
            return Err(EngineError::Damaged(format!(
                "log holds {count} entries between {first} and {last}: it has gaps"
            )));
        }
        Ok(())
    }

    /// Starts the log of a cluster restored from a backup at `log_id`: nothing in it, everything
    /// up to `log_id` counted as purged (the state machine holds it), and this node's vote in
    /// `log_id`'s term, so its first election is in a later term than any entry it holds. For
    /// `varsel restore` on a new data dir, before the node starts.
    pub async fn restore_at(&self, log_id: LogId, node: NodeId) -> Result<(), EngineError> {
        if self.log.range(Bound::Unbounded, Bound::Unbounded).next().is_some()
            || self.last_purged()?.is_some()
        {
            return Err(EngineError::Backup("restore needs an empty Raft log".into()));
        }
        self.put_meta(KEY_LAST_PURGED, "last purged log id", &Some(log_id))?;
        self.put_meta(KEY_COMMITTED, "committed", &Some(log_id))?;
        self.put_meta(KEY_VOTE, "vote", &Vote::new(log_id.leader_id.term, node))?;
        self.engine.flush().await
    }

    /// The number of bytes the engine occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, EngineError> {
        self.engine.size_on_disk()
    }

    fn remove_range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> Result<(), EngineError> {
        loop {
            let mut batch = WriteBatch::new();
            for kv in self.log.range(from.clone(), to.clone()).take(REMOVE_BATCH_MAX) {
                batch.remove(kv?.0);
            }
            if batch.is_empty() {
                return Ok(());
            }
            self.log.write(batch)?;
        }
    }
}

fn key_index(key: &[u8]) -> Result<u64, EngineError> {
    let arr: [u8; 8] =
        key.try_into().map_err(|_| EngineError::Damaged(format!("log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(arr))
}

impl<T: KvTree> RaftLogReader<TypeConfig> for LogReader<T> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        read_entries(&self.log, range).on_logs(ErrorVerb::Read)
    }

    /// What replication sends: bounded by bytes as well as by openraft's entry count.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        read_entries_bounded(&self.log, start, end, self.payload_bytes_max).on_logs(ErrorVerb::Read)
    }
}

impl<E: StorageEngine> RaftLogReader<TypeConfig> for LogStore<E> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        read_entries(&self.log, range).on_logs(ErrorVerb::Read)
    }
}

impl<E: StorageEngine> RaftLogStorage<TypeConfig> for LogStore<E> {
    type LogReader = LogReader<E::Tree>;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id = self.last_purged().on_logs(ErrorVerb::Read)?;
        let last = match self.log.last().on_logs(ErrorVerb::Read)? {
            Some((_, v)) => Some(decode::<Entry>("log entry", &v).on_logs(ErrorVerb::Read)?.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState { last_purged_log_id, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader { log: self.log.clone(), payload_bytes_max: self.payload_bytes_max }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.put_meta(KEY_VOTE, "vote", vote).on_vote(ErrorVerb::Write)?;
        self.engine.flush().await.on_vote(ErrorVerb::Write)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.get_meta(KEY_VOTE, "vote").on_vote(ErrorVerb::Read)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError<NodeId>> {
        self.put_meta(KEY_COMMITTED, "committed", &committed).on_logs(ErrorVerb::Write)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError<NodeId>> {
        Ok(self.get_meta::<Option<LogId>>(KEY_COMMITTED, "committed").on_logs(ErrorVerb::Read)?.flatten())
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
        let mut batch = WriteBatch::new();
        for entry in entries {
            let bytes = encode("log entry", &entry).on_logs(ErrorVerb::Write)?;
            batch.insert(index_key(entry.log_id.index), bytes);
        }
        let written = self.log.write(batch);
        let flushed = match written {
            Ok(()) => self.engine.flush().await,
            Err(e) => Err(e),
        };
        match flushed {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let io = std::io::Error::other(e.to_string());
                callback.log_io_completed(Err(io));
                Err(e).on_logs(ErrorVerb::Write)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "truncate log from");
        self.remove_range(Bound::Included(index_key(log_id.index).to_vec()), Bound::Unbounded)
            .on_logs(ErrorVerb::Delete)?;
        self.engine.flush().await.on_logs(ErrorVerb::Delete)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "purge log up to");
        // Record the purge point first: if we crash half-way, the entries left below it are
        // never read again, whereas the opposite order would lose the log's start.
        self.put_meta(KEY_LAST_PURGED, "last purged log id", &Some(log_id)).on_logs(ErrorVerb::Delete)?;
        self.remove_range(Bound::Unbounded, Bound::Included(index_key(log_id.index).to_vec()))
            .on_logs(ErrorVerb::Delete)?;
        self.engine.flush().await.on_logs(ErrorVerb::Delete)
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

    /// Goal: a log with a hole is reported as damaged; one that starts late is not.
    #[tokio::test]
    async fn verify_finds_gaps_only() -> Result<(), EngineError> {
        let mut store = LogStore::open(MemEngine::new())?;
        store.blocking_append((5..=10).map(blank)).await.map_err(|e| EngineError::Damaged(e.to_string()))?;
        store.verify()?;
        let mut hole = WriteBatch::new();
        hole.remove(index_key(7).to_vec());
        store.log.write(hole)?;
        assert!(matches!(store.verify(), Err(EngineError::Damaged(_))));
        Ok(())
    }

    /// Goal: replication reads stop at the byte bound, yet always return at least one entry,
    /// and never more than the range asked for.
    #[tokio::test]
    async fn replication_reads_are_bounded_by_bytes() -> Result<(), EngineError> {
        let mut store = LogStore::open(MemEngine::new())?;
        store.blocking_append((1..=10).map(blank)).await.map_err(|e| EngineError::Damaged(e.to_string()))?;
        let one = encode("entry", &blank(1))?.len() as u64;
        let err = |e: StorageError<NodeId>| EngineError::Damaged(e.to_string());
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
}
