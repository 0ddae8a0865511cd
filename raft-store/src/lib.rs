//! Varsel's Raft storage: the openraft log in append-only segment files and the replicated
//! state machine on sled.
//!
//! # Layout
//!
//! - [`engine`]: the small storage trait ([`StorageEngine`], [`KvTree`]) and its engines, sled
//!   for production and memory for tests and measurements.
//! - [`log_store`]: openraft's [`RaftLogStorage`](openraft::storage::RaftLogStorage): log,
//!   vote, committed index. Syncs before acknowledging.
//! - [`segments`]: the log's entries in append-only segment files, outside the engine.
//! - [`state_machine`]: openraft's [`RaftStateMachine`](openraft::storage::RaftStateMachine):
//!   applies [`Request`]s, builds and installs snapshots.
//! - [`snapshot`]: the streamed snapshot file format.
//! - [`backup`]: the backup file format (a snapshot with a header and a SHA-256).
//! - [`restore`]: a new one-node cluster from a backup, or from the last node standing.
//! - [`types`]: the openraft type configuration and what travels in the log.
//! - [`format`]: the format version every persisted or replicated value starts with, and the
//!   store's own format marker.
//! - [`ops`]: domain operations as they travel in the log, and their answers.
//! - [`seq_set`]: the compact set of membership numbers a list sync removes in one entry.
//! - [`shards`]: how an alert's recipients are split into shards, the unit of sending work.
//! - [`delivery`]: the delivery engine's commands (leases, outcomes, receipts) and answers.
//! - [`webhooks`]: outbound webhooks: subscriptions, events, the outbox, attempts.
//! - [`write`]: what committing a request answers: [`Written`](write::Written), or a
//!   [`WriteError`](write::WriteError) that says whether it may have been applied.
//! - [`error`]: the crate's errors.
//!
//! There is no networking here; the node crate moves these types between sites.
//!
//! # Opening a store
//!
//! ```
//! # async fn demo() -> Result<(), varsel_raft_store::error::EngineError> {
//! let dir = tempfile::tempdir()?;
//! let store = varsel_raft_store::open_sled(dir.path(), &Default::default()).await?;
//! assert_eq!(store.state.reader().applied().last_applied, None);
//! # Ok(()) }
//! ```

pub mod backup;
pub mod delivery;
pub mod engine;
pub mod error;
pub mod format;
pub mod log_store;
pub mod ops;
pub mod replies;
pub mod restore;
pub mod segments;
pub mod seq_set;
pub mod shards;
pub mod snapshot;
pub mod state_machine;
pub mod types;
pub mod webhooks;
pub mod write;

use std::path::Path;

pub use engine::{DEFAULT_CACHE_CAPACITY_BYTES, KvTree, MemEngine, SledEngine, SledOptions, StorageEngine};
pub use log_store::LogStore;
pub use state_machine::{StateMachine, StateReader};
pub use types::*;

use error::EngineError;

/// A log store and a state machine sharing one engine.
#[derive(Debug, Clone)]
pub struct Store<E: StorageEngine> {
    /// The engine both live in.
    pub engine: E,
    /// The Raft log.
    pub log: LogStore<E>,
    /// The replicated state machine.
    pub state: StateMachine<E>,
}

/// Opens a store on `engine` with snapshot and log segment files under `dir`, after checking it: first its
/// format version ([`format::check_store`]; a new store is marked with this build's), then its
/// log and state.
pub async fn open<E: StorageEngine>(engine: E, dir: &Path) -> Result<Store<E>, EngineError> {
    format::check_store(&engine, dir).await?;
    let log = LogStore::open(engine.clone(), dir).await?;
    log.verify()?;
    let state = StateMachine::open(engine.clone(), dir).await?;
    Ok(Store { engine, log, state })
}

/// The sled database's directory inside a node's data dir.
pub const SLED_DIR: &str = "db";

/// Opens the sled store kept in `dir` (database in [`SLED_DIR`], snapshots in `dir/snapshots`,
/// the Raft log's segments in [`log_store::SEGMENT_DIR`]).
pub async fn open_sled(dir: &Path, options: &SledOptions) -> Result<Store<SledEngine>, EngineError> {
    let engine = SledEngine::open(&dir.join(SLED_DIR), options)?;
    open(engine, dir).await
}
