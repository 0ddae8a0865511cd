//! Errors of the Raft store.

use std::path::PathBuf;

use openraft::{ErrorSubject, ErrorVerb, StorageError, StorageIOError};

use crate::types::NodeId;

/// A failure of the storage engine under the store.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// sled reported an error (I/O, or a problem it detected).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A file operation failed (snapshots live in plain files).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The store on disk is damaged and cannot be used as is. The node must be recovered from
    /// its peers (see `docs/runbooks/recover-damaged-node.md`).
    #[error("store damaged: {0} (recover this node from its peers: docs/runbooks/recover-damaged-node.md)")]
    Damaged(String),
    /// A backup cannot be used, or a restore cannot be carried out; nothing was written.
    #[error("{0}")]
    Backup(String),
    /// A lock was poisoned by a panic in another thread (memory engine only).
    #[error("memory engine lock poisoned")]
    Poisoned,
    /// A value could not be encoded (a type postcard cannot represent: a bug).
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's complaint.
        source: postcard::Error,
    },
    /// A stored value could not be decoded: written by another version, or damaged.
    #[error("cannot decode {what}: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's complaint.
        source: postcard::Error,
    },
    /// A record, message or snapshot file is in a format version newer than this build reads
    /// (see [`crate::format`]). Nothing was read from it: this node must be upgraded first.
    #[error(
        "{what} has format version {found}; this build reads up to {newest}: upgrade this node before the others"
    )]
    FormatTooNew {
        /// What was being read: "log entry", "snapshot file", "raft request"...
        what: &'static str,
        /// The version it carries.
        found: u32,
        /// The newest version this build reads.
        newest: u32,
    },
    /// A value has no format version, or one that no build ever wrote (`0`): it is damaged, or
    /// it is not a Varsel record (see [`crate::format`]).
    #[error("{what} has {}: damaged, or not a Varsel record", match found {
        Some(v) => format!("format version {v}, which no build writes"),
        None => "no format version (it is empty)".to_string(),
    })]
    FormatUnknown {
        /// What was being read.
        what: &'static str,
        /// The leading byte, if there was one.
        found: Option<u8>,
    },
    /// The store was written by a newer build (its format marker is newer than this build
    /// reads): this node was downgraded. Nothing was read from it.
    #[error("the store in {} has format version {found}; this build reads up to {newest}: run this node with a build at least as new as the one that wrote it", dir.display())]
    StoreTooNew {
        /// The store's directory.
        dir: PathBuf,
        /// The store's format version.
        found: u32,
        /// The newest version this build reads.
        newest: u32,
    },
    /// The store holds data but no format marker: it was written before format versions
    /// existed, and its values would be misread. No release wrote such a store, so there is no
    /// migration: it is recovered from its peers.
    #[error("the store in {} holds data but no format version: it was written before format versions existed (no release did); empty it and recover this node from its peers: docs/runbooks/recover-damaged-node.md", dir.display())]
    StoreUnversioned {
        /// The store's directory.
        dir: PathBuf,
    },
}

/// Result of the store's own operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Converts an engine error into openraft's storage error for the given subject and verb.
pub(crate) fn sto(subject: ErrorSubject<NodeId>, verb: ErrorVerb, e: EngineError) -> StorageError<NodeId> {
    StorageError::IO { source: StorageIOError::new(subject, verb, openraft::AnyError::new(&e)) }
}

/// Shorthands for mapping engine errors onto openraft's storage error subjects.
pub(crate) trait IntoStorageError<T> {
    fn on_logs(self, verb: ErrorVerb) -> std::result::Result<T, StorageError<NodeId>>;
    fn on_vote(self, verb: ErrorVerb) -> std::result::Result<T, StorageError<NodeId>>;
    fn on_sm(self, verb: ErrorVerb) -> std::result::Result<T, StorageError<NodeId>>;
    fn on_snapshot(self, verb: ErrorVerb) -> std::result::Result<T, StorageError<NodeId>>;
}

impl<T, E: Into<EngineError>> IntoStorageError<T> for std::result::Result<T, E> {
    fn on_logs(self, verb: ErrorVerb) -> std::result::Result<T, StorageError<NodeId>> {
        self.map_err(|e| sto(ErrorSubject::Logs, verb, e.into()))
    }
    fn on_vote(self, verb: ErrorVerb) -> std::result::Result<T, StorageError<NodeId>> {
        self.map_err(|e| sto(ErrorSubject::Vote, verb, e.into()))
    }
    fn on_sm(self, verb: ErrorVerb) -> std::result::Result<T, StorageError<NodeId>> {
        self.map_err(|e| sto(ErrorSubject::StateMachine, verb, e.into()))
    }
    fn on_snapshot(self, verb: ErrorVerb) -> std::result::Result<T, StorageError<NodeId>> {
        self.map_err(|e| sto(ErrorSubject::Snapshot(None), verb, e.into()))
    }
}
