//! The replicated state machine: applies committed entries, builds and installs snapshots.
//!
//! # Layout on disk
//!
//! One tree, `sm`, holds the whole application state with a one-byte table prefix per kind of
//! record (see [`keys`]); its metadata (`applied`, `membership`) lives in the same tree so it is
//! written in the same atomic batch as the state it describes. Snapshots are files in
//! `<data_dir>/snapshots/` ([`crate::snapshot`]).
//!
//! # Concurrency
//!
//! openraft calls `apply` from one task and builds snapshots in another. Both take the apply
//! gate, so a snapshot is a consistent cut of the tree (sled has no point-in-time read). A
//! snapshot build therefore pauses applying on that node while the tree is copied to a file;
//! `varsel bench` reports how long that takes.
//!
//! Readers (API queries) read the tree directly through a [`StateReader`]; each apply group is
//! one atomic batch, so they never see half an entry.

pub mod delivery;
pub mod domain;
pub mod keys;
mod kv;
pub mod txn;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorVerb, RaftSnapshotBuilder, Snapshot, StorageError};
use tokio::sync::{Mutex, watch};

use crate::engine::{KvTree, StorageEngine, WriteBatch};
use crate::error::{EngineError, IntoStorageError};
use crate::snapshot;
use crate::types::{
    Entry, LogId, NodeId, Request, Response, SnapshotMeta, StoredMembership, TypeConfig, decode, encode,
};
pub use txn::Txn;

/// Largest number of log entries applied in one atomic batch; bounds the batch's memory.
pub const APPLY_GROUP_MAX: usize = 512;

/// A group is also closed after the entry that brings its pending writes to this many keys.
/// Entries differ a thousandfold in size (a 5,000-contact import writes about 35,000 keys): a
/// follower catching up on an import held hundreds of them in one batch, gigabytes of memory,
/// and applied it in one go.
pub const APPLY_GROUP_WRITES_MAX: usize = 50_000;

/// Records written per batch while installing a snapshot.
const INSTALL_BATCH_MAX: usize = 4096;

const CURRENT_SNAPSHOT: &str = "current.snap";

/// What a state machine reports after each applied group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedState {
    /// The last applied log id.
    pub last_applied: Option<LogId>,
    /// The state machine's clock: the latest log time seen in the log, in ms.
    pub clock_ms: u64,
    /// The state machine's lease clock: the latest lease time seen in the log, in ms.
    pub lease_ms: u64,
}

struct Shared<E: StorageEngine> {
    engine: E,
    tree: E::Tree,
    control: E::Tree,
    dir: PathBuf,
    gate: Mutex<()>,
    current: std::sync::Mutex<Option<SnapshotMeta>>,
    snapshot_seq: AtomicU64,
    applied_tx: watch::Sender<AppliedState>,
}

/// The state machine. Cheap to clone; clones share everything.
pub struct StateMachine<E: StorageEngine> {
    shared: Arc<Shared<E>>,
}

impl<E: StorageEngine> Clone for StateMachine<E> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<E: StorageEngine> std::fmt::Debug for StateMachine<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine").field("dir", &self.shared.dir).finish_non_exhaustive()
    }
}

/// Builds snapshots of a [`StateMachine`].
#[derive(Debug)]
pub struct SnapshotBuilder<E: StorageEngine> {
    sm: StateMachine<E>,
}

/// Read-only access to the applied state, for queries.
#[derive(Debug, Clone)]
pub struct StateReader<T: KvTree> {
    tree: T,
    applied_rx: watch::Receiver<AppliedState>,
}

impl<T: KvTree> StateReader<T> {
    /// Reads and decodes `key` from the applied state.
    pub fn get_as<V: for<'de> serde::Deserialize<'de>>(
        &self,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<V>, EngineError> {
        self.tree.get(key)?.map(|b| decode(what, &b)).transpose()
    }

    /// The value of a key in the replicated key-value map.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>, EngineError> {
        self.get_as("kv value", &keys::kv(key))
    }

    /// The applied state as of now.
    pub fn applied(&self) -> AppliedState {
        self.applied_rx.borrow().clone()
    }

    /// A receiver that changes whenever a group of entries is applied.
    pub fn subscribe(&self) -> watch::Receiver<AppliedState> {
        self.applied_rx.clone()
    }

    /// A transaction for reading (its writes, if any, are discarded).
    pub fn read_txn(&self) -> Txn<'_, T> {
        Txn::new(&self.tree)
    }

    /// A digest of the whole application state (CRC-32 over every key and value in order, the
    /// records a snapshot carries), used to check that replicas converged. Compare digests
    /// taken at the same applied index.
    pub fn digest(&self) -> Result<(u64, u32), EngineError> {
        let mut h = crc32fast::Hasher::new();
        let mut n = 0u64;
        for kv in self.tree.range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded) {
            let (k, v) = kv?;
            if !keys::in_snapshot(&k) {
                continue;
            }
            h.update(&(k.len() as u32).to_be_bytes());
            h.update(&k);
            h.update(&(v.len() as u32).to_be_bytes());
            h.update(&v);
            n += 1;
        }
        Ok((n, h.finalize()))
    }
}

impl<E: StorageEngine> StateMachine<E> {
    /// Opens the state machine on `engine`, with snapshot files under `dir`. Finishes a snapshot
    /// installation that a crash interrupted.
    pub async fn open(engine: E, dir: &Path) -> Result<Self, EngineError> {
        let tree = engine.open_tree("sm")?;
        let control = engine.open_tree("sm_control")?;
        let snap_dir = dir.join("snapshots");
        std::fs::create_dir_all(&snap_dir)?;
        remove_temporary_files(&snap_dir)?;
        let current_path = snap_dir.join(CURRENT_SNAPSHOT);
        let current = if current_path.exists() { Some(snapshot::verify_file(&current_path)?) } else { None };
        let applied = read_applied(&tree)?;
        let (applied_tx, _) = watch::channel(applied);
        let sm = Self {
            shared: Arc::new(Shared {
                engine,
                tree,
                control,
                dir: snap_dir,
                gate: Mutex::new(()),
                current: std::sync::Mutex::new(current),
                snapshot_seq: AtomicU64::new(unique_seed()),
                applied_tx,
            }),
        };
        if sm.shared.control.get(keys::INSTALLING)?.is_some() {
            tracing::warn!("a snapshot installation was interrupted; installing it again");
            sm.load_current_snapshot().await?;
        }
        Ok(sm)
    }

    /// A reader of the applied state.
    pub fn reader(&self) -> StateReader<E::Tree> {
        StateReader { tree: self.shared.tree.clone(), applied_rx: self.shared.applied_tx.subscribe() }
    }

    fn snapshot_path(&self) -> PathBuf {
        self.shared.dir.join(CURRENT_SNAPSHOT)
    }

    /// Applies `entries` in groups, each one atomic batch, publishing progress after each.
    fn apply_all(&self, entries: &[Entry]) -> Result<Vec<Response>, EngineError> {
        let mut out = Vec::with_capacity(entries.len());
        let mut rest = entries;
        while !rest.is_empty() {
            let (state, applied) = self.apply_group(rest, &mut out)?;
            self.shared.applied_tx.send_replace(state);
            rest = &rest[applied..];
        }
        Ok(out)
    }

    /// Applies a prefix of `entries` (at least one, at most [`APPLY_GROUP_MAX`] or until
    /// [`APPLY_GROUP_WRITES_MAX`] writes are pending) in one atomic batch. Returns the state
    /// after it and the number of entries applied.
    fn apply_group(
        &self,
        entries: &[Entry],
        out: &mut Vec<Response>,
    ) -> Result<(AppliedState, usize), EngineError> {
        let tree = &self.shared.tree;
        let mut txn = Txn::new(tree);
        let mut clock: u64 = txn.get_as("clock", keys::CLOCK)?.unwrap_or(0);
        let mut lease_clock: u64 = txn.get_as("lease clock", keys::LEASE_CLOCK)?.unwrap_or(0);
        let mut last: Option<LogId> = None;
        let mut applied = 0;
        for entry in entries.iter().take(APPLY_GROUP_MAX) {
            // openraft hands committed entries over in log order without gaps; the `applied`
            // marker written with this batch claims everything up to the last one.
            debug_assert!(
                last.is_none_or(|l| l.index + 1 == entry.log_id.index),
                "apply group not contiguous: {last:?} then {}",
                entry.log_id
            );
            last = Some(entry.log_id);
            let resp = match &entry.payload {
                EntryPayload::Blank => Response::None,
                EntryPayload::Normal(cmd) => {
                    // The clock only moves forward, whatever a new leader's clock says.
                    clock = clock.max(cmd.issued_at_ms);
                    lease_clock = lease_clock.max(cmd.lease_at_ms);
                    let ctx =
                        domain::Ctx { index: entry.log_id.index, now_ms: clock, lease_now_ms: lease_clock };
                    apply_request(&mut txn, ctx, &cmd.request)?
                }
                EntryPayload::Membership(m) => {
                    let stored = StoredMembership::new(Some(entry.log_id), m.clone());
                    txn.put_as("membership", keys::MEMBERSHIP, &stored)?;
                    Response::None
                }
            };
            out.push(resp);
            applied += 1;
            if txn.len() >= APPLY_GROUP_WRITES_MAX {
                break;
            }
        }
        txn.put_as("applied", keys::APPLIED, &last)?;
        txn.put_as("clock", keys::CLOCK, &clock)?;
        txn.put_as("lease clock", keys::LEASE_CLOCK, &lease_clock)?;
        txn.commit()?;
        Ok((AppliedState { last_applied: last, clock_ms: clock, lease_ms: lease_clock }, applied))
    }

    /// Installs the current snapshot file into the tree. The `installing` marker makes an
    /// interrupted installation restart from the file on the next open.
    async fn load_current_snapshot(&self) -> Result<SnapshotMeta, EngineError> {
        let mut mark = WriteBatch::new();
        mark.insert(keys::INSTALLING, b"1".to_vec());
        self.shared.control.write(mark)?;
        self.shared.engine.flush().await?;

        let tree = self.shared.tree.clone();
        let path = self.snapshot_path();
        let meta = tokio::task::spawn_blocking(move || install_file(&tree, &path))
            .await
            .map_err(|e| EngineError::Io(std::io::Error::other(e)))??;

        let mut unmark = WriteBatch::new();
        unmark.remove(keys::INSTALLING);
        self.shared.control.write(unmark)?;
        self.shared.engine.flush().await?;
        let applied = read_applied(&self.shared.tree)?;
        self.shared.applied_tx.send_replace(applied);
        Ok(meta)
    }

    async fn build(&self) -> Result<Snapshot<TypeConfig>, EngineError> {
        let gate = self.shared.gate.lock().await;
        let tree = self.shared.tree.clone();
        let last_applied: Option<LogId> = decode_opt(&tree, keys::APPLIED, "applied")?.flatten();
        let membership: StoredMembership =
            decode_opt(&tree, keys::MEMBERSHIP, "membership")?.unwrap_or_default();
        let seq = self.shared.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, seq),
            None => format!("empty-{seq}"),
        };
        let meta = SnapshotMeta { last_log_id: last_applied, last_membership: membership, snapshot_id };
        let tmp = self.shared.dir.join(format!("building-{seq}.tmp"));
        let final_path = self.snapshot_path();
        let m = meta.clone();
        let started = std::time::Instant::now();
        let records = tokio::task::spawn_blocking(move || {
            let iter = tree
                .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
                .filter(|kv| kv.as_ref().map_or(true, |(k, _)| keys::in_snapshot(k)));
            let n = snapshot::write_file(&tmp, &m, iter)?;
            std::fs::rename(&tmp, &final_path)?;
            sync_dir(final_path.parent())?;
            Ok::<u64, EngineError>(n)
        })
        .await
        .map_err(|e| EngineError::Io(std::io::Error::other(e)))??;
        drop(gate);
        tracing::info!(snapshot = %meta.snapshot_id, records, elapsed_ms = started.elapsed().as_millis() as u64, "snapshot built");
        self.set_current(meta.clone());
        let file = tokio::fs::File::open(self.snapshot_path()).await?;
        Ok(Snapshot { meta, snapshot: Box::new(file) })
    }

    fn set_current(&self, meta: SnapshotMeta) {
        if let Ok(mut cur) = self.shared.current.lock() {
            *cur = Some(meta);
        }
    }

    fn current_meta(&self) -> Option<SnapshotMeta> {
        self.shared.current.lock().ok().and_then(|c| c.clone())
    }
}

fn decode_opt<T: KvTree, V: for<'de> serde::Deserialize<'de>>(
    tree: &T,
    key: &[u8],
    what: &'static str,
) -> Result<Option<V>, EngineError> {
    tree.get(key)?.map(|b| decode(what, &b)).transpose()
}

fn read_applied<T: KvTree>(tree: &T) -> Result<AppliedState, EngineError> {
    Ok(AppliedState {
        last_applied: decode_opt::<_, Option<LogId>>(tree, keys::APPLIED, "applied")?.flatten(),
        clock_ms: decode_opt(tree, keys::CLOCK, "clock")?.unwrap_or(0),
        lease_ms: decode_opt(tree, keys::LEASE_CLOCK, "lease clock")?.unwrap_or(0),
    })
}

/// Replaces the tree's content with the snapshot at `path` (already verified).
fn install_file<T: KvTree>(tree: &T, path: &Path) -> Result<SnapshotMeta, EngineError> {
    tree.clear()?;
    let mut batch = WriteBatch::new();
    let meta = snapshot::read_file(path, |k, v| {
        batch.insert(k, v);
        if batch.len() >= INSTALL_BATCH_MAX {
            tree.write(std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    batch.insert(keys::APPLIED, encode("applied", &meta.last_log_id)?);
    batch.insert(keys::MEMBERSHIP, encode("membership", &meta.last_membership)?);
    tree.write(batch)?;
    Ok(meta)
}

/// A starting point for snapshot sequence numbers that differs between runs, so snapshot ids
/// (which openraft uses to tell transfers apart) are not reused after a restart.
fn unique_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn remove_temporary_files(dir: &Path) -> Result<(), EngineError> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: Option<&Path>) -> Result<(), EngineError> {
    if let Some(d) = dir {
        std::fs::File::open(d)?.sync_all()?;
    }
    Ok(())
}

/// Applies one request. Errors returned here are storage failures (fatal for the node); a
/// request that is refused by the rules is a normal [`Response`].
fn apply_request<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: domain::Ctx,
    request: &Request,
) -> Result<Response, EngineError> {
    match request {
        Request::Kv(cmd) => kv::apply(txn, cmd),
        Request::Domain(req) => Ok(Response::Domain(domain::apply(txn, ctx, req)?)),
        Request::Delivery(cmd) => Ok(Response::Delivery(delivery::apply(txn, ctx, cmd)?)),
    }
}

impl<E: StorageEngine> RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder<E> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        self.sm.build().await.on_snapshot(ErrorVerb::Write)
    }
}

impl<E: StorageEngine> RaftStateMachine<TypeConfig> for StateMachine<E> {
    type SnapshotBuilder = SnapshotBuilder<E>;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError<NodeId>> {
        let tree = &self.shared.tree;
        let applied =
            decode_opt::<_, Option<LogId>>(tree, keys::APPLIED, "applied").on_sm(ErrorVerb::Read)?;
        let membership = decode_opt(tree, keys::MEMBERSHIP, "membership").on_sm(ErrorVerb::Read)?;
        Ok((applied.flatten(), membership.unwrap_or_default()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let _gate = self.shared.gate.lock().await;
        let entries: Vec<Entry> = entries.into_iter().collect();
        // Applying is synchronous storage work, up to hundreds of milliseconds for an import:
        // on a runtime worker it would hold up Raft heartbeats and the API behind it.
        let sm = self.clone();
        tokio::task::spawn_blocking(move || sm.apply_all(&entries))
            .await
            .map_err(|e| EngineError::Io(std::io::Error::other(e)))
            .and_then(|r| r)
            .on_sm(ErrorVerb::Write)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { sm: self.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError<NodeId>> {
        let seq = self.shared.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let path = self.shared.dir.join(format!("incoming-{seq}.tmp"));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .on_snapshot(ErrorVerb::Write)?;
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError<NodeId>> {
        self.install(meta, snapshot).await.on_snapshot(ErrorVerb::Write)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let Some(meta) = self.current_meta() else { return Ok(None) };
        let file = tokio::fs::File::open(self.snapshot_path()).await.on_snapshot(ErrorVerb::Read)?;
        Ok(Some(Snapshot { meta, snapshot: Box::new(file) }))
    }
}

impl<E: StorageEngine> StateMachine<E> {
    async fn install(&self, meta: &SnapshotMeta, mut data: Box<tokio::fs::File>) -> Result<(), EngineError> {
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        let _gate = self.shared.gate.lock().await;
        let seq = self.shared.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.shared.dir.join(format!("installing-{seq}.tmp"));
        // Copy what was received into a file of our own, check it, then make it current.
        data.seek(std::io::SeekFrom::Start(0)).await?;
        let mut out = tokio::fs::File::create(&tmp).await?;
        tokio::io::copy(&mut data, &mut out).await?;
        out.flush().await?;
        out.sync_all().await?;
        drop(out);
        drop(data);
        let checked = tmp.clone();
        let file_meta = tokio::task::spawn_blocking(move || snapshot::verify_file(&checked))
            .await
            .map_err(|e| EngineError::Io(std::io::Error::other(e)))??;
        if file_meta.last_log_id != meta.last_log_id || file_meta.last_membership != meta.last_membership {
            return Err(EngineError::Damaged(format!(
                "received snapshot says {:?}, its sender said {:?}",
                file_meta.last_log_id, meta.last_log_id
            )));
        }
        std::fs::rename(&tmp, self.snapshot_path())?;
        sync_dir(Some(&self.shared.dir))?;
        remove_temporary_files(&self.shared.dir)?;
        self.load_current_snapshot().await?;
        self.set_current(meta.clone());
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot installed");
        Ok(())
    }
}
