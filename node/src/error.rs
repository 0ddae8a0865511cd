//! Errors of the node, and their one mapping onto gRPC status codes.
//!
//! Retryable and fatal are kept apart: [`ApiError::Unavailable`] means "try again, maybe on
//! another node"; everything else is final for that request.

use std::path::PathBuf;

use varsel_raft_store::error::EngineError;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a field has the wrong type, is unknown or is missing.
    #[error("configuration: {0}")]
    Toml(String),
    /// A field breaks a rule.
    #[error("configuration field `{field}` {rule}")]
    Invalid {
        /// The field, as a path (`raft.heartbeat_interval_ms`, `peers[1].id`).
        field: String,
        /// The rule it breaks.
        rule: String,
    },
    /// An environment override names a field that cannot be set that way.
    #[error("environment variable {0} does not name a configuration field")]
    Env(String),
}

/// Why a node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened or failed.
    #[error("storage: {0}")]
    Storage(#[from] EngineError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Raft could not start.
    #[error("raft: {0}")]
    Raft(String),
    /// A server failed.
    #[error("server: {0}")]
    Server(String),
}

/// The failure of one API request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Retryable: no leader, quorum unreachable, node shutting down, write outcome unknown.
    #[error("{0}")]
    Unavailable(String),
    /// The request is invalid; names the field and the rule.
    #[error("{0}")]
    InvalidArgument(String),
    /// The thing asked for does not exist (or belongs to someone else).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A limit was exceeded; names the limit.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A deadline passed; the outcome may be unknown.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A bug or a storage failure on this node.
    #[error("{0}")]
    Internal(String),
    /// No valid bearer token.
    #[error("{0}")]
    Unauthenticated(String),
    /// The credential's role or tenant does not allow the call.
    #[error("{0}")]
    PermissionDenied(String),
    /// A name or key is already taken.
    #[error("{0}")]
    AlreadyExists(String),
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unavailable(m) => tonic::Status::unavailable(m),
            ApiError::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            ApiError::NotFound(m) => tonic::Status::not_found(m),
            ApiError::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            ApiError::ResourceExhausted(m) => tonic::Status::resource_exhausted(m),
            ApiError::DeadlineExceeded(m) => tonic::Status::deadline_exceeded(m),
            ApiError::Internal(m) => tonic::Status::internal(m),
            ApiError::Unauthenticated(m) => tonic::Status::unauthenticated(m),
            ApiError::PermissionDenied(m) => tonic::Status::permission_denied(m),
            ApiError::AlreadyExists(m) => tonic::Status::already_exists(m),
        }
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        let m = s.message().to_string();
        match s.code() {
            tonic::Code::InvalidArgument => ApiError::InvalidArgument(m),
            tonic::Code::NotFound => ApiError::NotFound(m),
            tonic::Code::FailedPrecondition => ApiError::FailedPrecondition(m),
            tonic::Code::ResourceExhausted => ApiError::ResourceExhausted(m),
            tonic::Code::DeadlineExceeded => ApiError::DeadlineExceeded(m),
            tonic::Code::Internal => ApiError::Internal(m),
            tonic::Code::Unauthenticated => ApiError::Unauthenticated(m),
            tonic::Code::PermissionDenied => ApiError::PermissionDenied(m),
            tonic::Code::AlreadyExists => ApiError::AlreadyExists(m),
            _ => ApiError::Unavailable(format!("{}: {m}", s.code())),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError::Internal(format!("storage: {e}"))
    }
}

/// Result of an API operation.
pub type ApiResult<T> = Result<T, ApiError>;
