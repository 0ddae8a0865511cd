//! Errors of the Raft store.

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
