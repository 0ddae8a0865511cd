//! The replicated state machine: applies committed entries, builds and installs snapshots.
//!
//! # Layout on disk
//!
//! One tree holds the whole application state with a one-byte table prefix per kind of record
//! (see [`keys`]); its metadata (`applied`, `membership`) lives in the same tree so it is
//! written in the same atomic batch as the state it describes. There are two such trees, `sm`
//! and `sm_b`; the `active` key of the `sm_control` tree says which one holds the state (the
//! other is empty, or receives a snapshot being installed). Snapshots are files in
//! `<data_dir>/snapshots/` ([`crate::snapshot`]).
//!
//! # Concurrency
//!
//! openraft calls `apply` from one task and builds snapshots in another. A build takes the
//! apply gate only to start a point-in-time [`cut::Cut`] (microseconds), then walks the live
//! tree while applying goes on; the cut hands the walk each changed key's value as it was at
//! the cut. So building a snapshot does not pause applying, whatever the state's size.
//!
//! Installing a snapshot writes it into the inactive tree, then switches the `active` key and
//! the readers' tree at once: readers see the old state until the new one is complete, never a
//! half-installed or empty one. An interrupted installation starts again on the next open
//! (the `installing` marker), into the inactive tree, so the active one is never touched.
//!
//! Readers (API queries) read the active tree through a [`StateReader`]; each apply group is
//! one atomic batch, so they never see half an entry.

pub mod cut;
pub mod delivery;
pub mod domain;
pub mod keys;
mod kv;
pub mod retention;
pub mod txn;
pub mod webhooks;

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

/// The name of the current snapshot file in the snapshot directory.
pub const CURRENT_SNAPSHOT: &str = "current.snap";

/// How long readers may go on reading a replaced state tree before it is emptied.
const SPARE_CLEAR_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// The two state trees (see the module doc).
const TREE_A: &str = "sm";
const TREE_B: &str = "sm_b";

/// The tree whose `active` key names the active state tree.
pub(crate) const CONTROL_TREE: &str = "sm_control";

/// The name of the active state tree, as the control tree says.
pub(crate) fn active_tree_name<T: KvTree>(control: &T) -> Result<&'static str, EngineError> {
    let b_active = control.get(keys::ACTIVE_TREE)?.is_some_and(|v| v == TREE_B.as_bytes());
    Ok(if b_active { TREE_B } else { TREE_A })
}

/// Ends a snapshot build's cut when dropped, whether the build finished or failed.
struct CutGuard<'a>(&'a std::sync::RwLock<Option<Arc<cut::Cut>>>);

impl<'a> CutGuard<'a> {
    fn start(slot: &'a std::sync::RwLock<Option<Arc<cut::Cut>>>, cut: Arc<cut::Cut>) -> Self {
        *slot.write().unwrap_or_else(|p| p.into_inner()) = Some(cut);
        Self(slot)
    }
}

impl Drop for CutGuard<'_> {
    fn drop(&mut self) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

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
    /// The active tree (see the module doc), shared with every [`StateReader`].
    tree: Active<E::Tree>,
    /// The other tree: empty, or receiving a snapshot being installed.
    spare: std::sync::Mutex<E::Tree>,
    control: E::Tree,
    /// While a snapshot is built: the cut it reads through ([`cut::Cut`]).
    cut: std::sync::RwLock<Option<Arc<cut::Cut>>>,
    /// One build or installation at a time.
    snapshots: Mutex<()>,
    /// Installations so far (a pending clear of the spare tree checks it did not change).
    installs: AtomicU64,
    /// Longest time an apply waited for the gate, ms (since start); shared with readers.
    longest_apply_wait_ms: Arc<AtomicU64>,
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

/// The active state tree, switched at once when a snapshot has been installed.
#[derive(Debug)]
struct Active<T>(Arc<std::sync::RwLock<T>>);

impl<T: Clone> Active<T> {
    fn new(tree: T) -> Self {
        Self(Arc::new(std::sync::RwLock::new(tree)))
    }

    fn get(&self) -> T {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, tree: T) -> T {
        std::mem::replace(&mut *self.0.write().unwrap_or_else(|p| p.into_inner()), tree)
    }
}

impl<T> Clone for Active<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// Read-only access to the applied state, for queries.
#[derive(Debug, Clone)]
pub struct StateReader<T: KvTree> {
    tree: Active<T>,
    applied_rx: watch::Receiver<AppliedState>,
    longest_apply_wait_ms: Arc<AtomicU64>,
}

impl<T: KvTree> StateReader<T> {
    /// Reads and decodes `key` from the applied state.
    pub fn get_as<V: for<'de> serde::Deserialize<'de>>(
        &self,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<V>, EngineError> {
        self.tree.get().get(key)?.map(|b| decode(what, &b)).transpose()
    }

    /// The value of a key in the replicated key-value map.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>, EngineError> {
        self.get_as("kv value", &keys::kv(key))
    }

    /// The cluster's id, once its first leader has named it (see `ClusterCommand::SetId`).
    pub fn cluster_id(&self) -> Result<Option<String>, EngineError> {
        self.get_as("cluster id", keys::CLUSTER_ID)
    }

    /// The longest time applying waited for the apply gate since the store was opened, ms (a
    /// snapshot build or installation holds it; a build only to start its cut).
    pub fn longest_apply_wait_ms(&self) -> u64 {
        self.longest_apply_wait_ms.load(Ordering::Relaxed)
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
        Txn::owned(self.tree.get())
    }

    /// How many contacts have been erased in this state's history (see
    /// [`keys::ERASURES`]).
    pub fn erasures(&self) -> Result<u64, EngineError> {
        Ok(self.get_as("erasures", keys::ERASURES)?.unwrap_or(0))
    }

    /// Searches every record of the applied state (key and value) for `needle`: how many
    /// records were read, and how many contain it per table (the key's first byte). A full
    /// scan, for checking an erasure; run it off the async runtime.
    pub fn search(&self, needle: &[u8]) -> Result<(u64, std::collections::BTreeMap<u8, u64>), EngineError> {
        let mut found = std::collections::BTreeMap::new();
        let mut n = 0u64;
        for kv in self.tree.get().range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded) {
            let (k, v) = kv?;
            n += 1;
            if contains(&k, needle) || contains(&v, needle) {
                *found.entry(k.first().copied().unwrap_or(0)).or_insert(0) += 1;
            }
        }
        Ok((n, found))
    }

    /// A digest of the whole application state (CRC-32 over every key and value in order, the
    /// records a snapshot carries), used to check that replicas converged. Compare digests
    /// taken at the same applied index.
    pub fn digest(&self) -> Result<(u64, u32), EngineError> {
        let mut h = crc32fast::Hasher::new();
        let mut n = 0u64;
        for kv in self.tree.get().range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded) {
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
        let control = engine.open_tree(CONTROL_TREE)?;
        let active = active_tree_name(&control)?;
        let spare = if active == TREE_B { TREE_A } else { TREE_B };
        let tree = engine.open_tree(active)?;
        let spare = engine.open_tree(spare)?;
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
                tree: Active::new(tree),
                spare: std::sync::Mutex::new(spare),
                control,
                cut: std::sync::RwLock::new(None),
                snapshots: Mutex::new(()),
                installs: AtomicU64::new(0),
                longest_apply_wait_ms: Arc::default(),
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
        let tree = sm.shared.tree.get();
        if tree.get(keys::FORMAT)?.is_some_and(|m| m != [crate::format::STORE_VERSION]) {
            let started = std::time::Instant::now();
            let moved = domain::members::upgrade(&tree)?;
            let mut batch = WriteBatch::new();
            batch.insert(keys::FORMAT, vec![crate::format::STORE_VERSION]);
            tree.write(batch)?;
            sm.shared.engine.flush().await?;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::info!(
                moved,
                elapsed_ms,
                layout = crate::format::STORE_VERSION,
                "store upgraded (memberships rewritten into runs: {moved})"
            );
        }
        Ok(sm)
    }

    /// A reader of the applied state.
    pub fn reader(&self) -> StateReader<E::Tree> {
        StateReader {
            tree: self.shared.tree.clone(),
            applied_rx: self.shared.applied_tx.subscribe(),
            longest_apply_wait_ms: Arc::clone(&self.shared.longest_apply_wait_ms),
        }
    }

    /// The longest time an apply waited for the gate since this state machine was opened, ms
    /// (a snapshot build holds it only to start its cut).
    pub fn longest_apply_wait_ms(&self) -> u64 {
        self.shared.longest_apply_wait_ms.load(Ordering::Relaxed)
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
        let tree = self.shared.tree.get();
        let mut txn = Txn::new(&tree);
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
        let cut = self.shared.cut.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(cut) = cut {
            cut.before_write(&tree, txn.pending_keys())?;
        }
        txn.commit()?;
        Ok((AppliedState { last_applied: last, clock_ms: clock, lease_ms: lease_clock }, applied))
    }

    /// Installs the current snapshot file into the spare tree, then makes it the active one (on
    /// disk and for readers) in one step. The `installing` marker makes an interrupted
    /// installation start again from the file on the next open; until the switch the active
    /// tree is untouched.
    async fn load_current_snapshot(&self) -> Result<SnapshotMeta, EngineError> {
        let mut mark = WriteBatch::new();
        mark.insert(keys::INSTALLING, b"1".to_vec());
        self.shared.control.write(mark)?;
        self.shared.engine.flush().await?;

        let target = self.shared.spare.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let path = self.snapshot_path();
        let filled = target.clone();
        let meta = tokio::task::spawn_blocking(move || install_file(&filled, &path))
            .await
            .map_err(|e| EngineError::Io(std::io::Error::other(e)))??;
        // The new tree must be on disk before the switch names it.
        self.shared.engine.flush().await?;

        let b_active = active_tree_name(&self.shared.control)? == TREE_B;
        let mut switch = WriteBatch::new();
        switch.insert(keys::ACTIVE_TREE, if b_active { TREE_A } else { TREE_B }.as_bytes().to_vec());
        switch.remove(keys::INSTALLING);
        self.shared.control.write(switch)?;
        self.shared.engine.flush().await?;
        let applied = read_applied(&target)?;
        let old = self.shared.tree.set(target);
        self.shared.applied_tx.send_replace(applied);
        // The old state is now the spare. Readers that took it before the switch may still be
        // reading it, so it is emptied only after a grace period, and only if no installation
        // started meanwhile (that one empties it itself before filling it).
        *self.shared.spare.lock().unwrap_or_else(|p| p.into_inner()) = old;
        let generation = self.shared.installs.fetch_add(1, Ordering::AcqRel) + 1;
        // Weak: a store closed meanwhile is not kept open (nor its files locked) by this.
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            tokio::time::sleep(SPARE_CLEAR_GRACE).await;
            let Some(shared) = shared.upgrade() else { return };
            let _one = shared.snapshots.lock().await;
            if shared.installs.load(Ordering::Acquire) != generation {
                return;
            }
            let old = shared.spare.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let cleared = tokio::task::spawn_blocking(move || old.clear()).await;
            if !matches!(cleared, Ok(Ok(()))) {
                tracing::warn!(
                    "the replaced state tree could not be emptied; the next installation empties it"
                );
            }
        });
        Ok(meta)
    }

    async fn build(&self) -> Result<Snapshot<TypeConfig>, EngineError> {
        let _one = self.shared.snapshots.lock().await;
        // The gate is held only to read the metadata and start the cut: from then on apply
        // goes on, and the cut keeps what it changes as it was here.
        let gate = self.shared.gate.lock().await;
        let tree = self.shared.tree.get();
        let last_applied: Option<LogId> = decode_opt(&tree, keys::APPLIED, "applied")?.flatten();
        let membership: StoredMembership =
            decode_opt(&tree, keys::MEMBERSHIP, "membership")?.unwrap_or_default();
        let cut = Arc::new(cut::Cut::new());
        let ending = CutGuard::start(&self.shared.cut, Arc::clone(&cut));
        drop(gate);
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
        let walk = Arc::clone(&cut);
        let records = tokio::task::spawn_blocking(move || {
            let live =
                tree.range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded).filter_map(
                    |kv| match kv {
                        Ok((k, v)) if keys::in_snapshot(&k) => walk.resolve(k, v).map(Ok),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    },
                );
            // Evaluated once the walk is over.
            let unmet = std::iter::once(())
                .flat_map(|()| walk.unmet().into_iter().filter(|(k, _)| keys::in_snapshot(k)).map(Ok));
            let n = snapshot::write_file(&tmp, &m, live.chain(unmet))?;
            std::fs::rename(&tmp, &final_path)?;
            sync_dir(final_path.parent())?;
            Ok::<u64, EngineError>(n)
        })
        .await
        .map_err(|e| EngineError::Io(std::io::Error::other(e)))??;
        drop(ending);
        let (images, image_bytes) = cut.images();
        tracing::info!(
            snapshot = %meta.snapshot_id,
            records,
            elapsed_ms = started.elapsed().as_millis() as u64,
            changed_meanwhile = images,
            image_bytes,
            longest_apply_wait_ms = self.longest_apply_wait_ms(),
            "snapshot built while applying went on"
        );
        self.set_current(meta.clone());
        let file = tokio::fs::File::open(self.snapshot_path()).await?;
        Ok(Snapshot { meta, snapshot: Box::new(file) })
    }

    /// Fills this state machine, which must be empty, with the records `feed` hands over (a
    /// backup's state), as of `meta`; names the cluster `cluster_id` and holds every unfinished
    /// alert ([`AlertStatus::Held`](varsel_domain::model::AlertStatus::Held)), so nothing is
    /// sent until an operator resumes or cancels it. For `varsel restore` onto a new data dir,
    /// before the node starts. Returns the alerts held.
    pub async fn restore<F>(
        &self,
        meta: &SnapshotMeta,
        cluster_id: &str,
        feed: F,
    ) -> Result<Vec<varsel_domain::model::AlertId>, EngineError>
    where
        F: FnOnce(&mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<(), EngineError>) -> Result<(), EngineError>,
    {
        let tree = self.shared.tree.get();
        // Empty but for the store's format marker, written when it was opened.
        let mut held_keys = tree.range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        if held_keys.any(|kv| kv.map_or(true, |(k, _)| k != keys::FORMAT)) {
            return Err(EngineError::Backup("restore needs an empty state".into()));
        }
        let mut batch = WriteBatch::new();
        let mut put = |k: Vec<u8>, v: Vec<u8>| {
            // The backup's cluster id is replaced; `applied` and `membership` come from `meta`.
            if keys::in_snapshot(&k) && k != keys::CLUSTER_ID {
                batch.insert(k, v);
                if batch.len() >= INSTALL_BATCH_MAX {
                    tree.write(std::mem::take(&mut batch))?;
                }
            }
            Ok(())
        };
        feed(&mut put)?;
        batch.insert(keys::APPLIED, encode("applied", &meta.last_log_id)?);
        batch.insert(keys::MEMBERSHIP, encode("membership", &meta.last_membership)?);
        batch.insert(keys::CLUSTER_ID, encode("cluster id", &cluster_id.to_string())?);
        tree.write(batch)?;
        // A backup taken before memberships were kept in runs.
        domain::members::upgrade(&tree)?;
        let mut txn = Txn::new(&tree);
        let held = domain::alerts::hold_unfinished(&mut txn)?;
        txn.commit()?;
        self.shared.engine.flush().await?;
        self.shared.applied_tx.send_replace(read_applied(&tree)?);
        Ok(held)
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

/// Whether `needle` (not empty) occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
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

/// Replaces the tree's content with the snapshot at `path` (already verified). The tree is
/// marked with this build's store version ([`keys::FORMAT`]): snapshots do not carry the
/// sender's marker, and every value in this one is in a version this build reads (a newer one
/// was refused when the file was verified: its metadata carries the sender's version).
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
    batch.insert(keys::FORMAT, vec![crate::format::STORE_VERSION]);
    tree.write(batch)?;
    // A snapshot file of version 1 keeps memberships one key each.
    domain::members::upgrade(tree)?;
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
        // Each sees what the ones before it wrote (one transaction); a nested batch (no node
        // makes one) is applied the same way.
        Request::Batch(requests) => Ok(Response::Batch(
            requests.iter().map(|r| apply_request(txn, ctx, r)).collect::<Result<_, _>>()?,
        )),
        Request::Domain(req) => Ok(Response::Domain(domain::apply(txn, ctx, req)?)),
        Request::Delivery(cmd) => Ok(Response::Delivery(delivery::apply(txn, ctx, cmd)?)),
        Request::Cluster(crate::types::ClusterCommand::SetId { id }) => {
            let current: Option<String> = txn.get_as("cluster id", keys::CLUSTER_ID)?;
            let id = match current {
                Some(current) => current,
                None => {
                    txn.put_as("cluster id", keys::CLUSTER_ID.to_vec(), id)?;
                    id.clone()
                }
            };
            Ok(Response::ClusterId(id))
        }
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
        let tree = self.shared.tree.get();
        let applied =
            decode_opt::<_, Option<LogId>>(&tree, keys::APPLIED, "applied").on_sm(ErrorVerb::Read)?;
        let membership = decode_opt(&tree, keys::MEMBERSHIP, "membership").on_sm(ErrorVerb::Read)?;
        Ok((applied.flatten(), membership.unwrap_or_default()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let waited = std::time::Instant::now();
        let _gate = self.shared.gate.lock().await;
        self.shared.longest_apply_wait_ms.fetch_max(waited.elapsed().as_millis() as u64, Ordering::Relaxed);
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
        let _one = self.shared.snapshots.lock().await;
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
