//! Errors of the node, and their one mapping onto gRPC status codes.
//!
//! Retryable and fatal are kept apart: [`ApiError::Unavailable`] and the retryable kinds of
//! [`ApiError::Write`] mean "try again, maybe on another node"; everything else is final for
//! that request. A failed write keeps its type ([`WriteError`]) up to the edge, where
//! [`ApiError::into_status`] is the one mapping onto gRPC status codes.

use varsel_config::ConfigError;
use varsel_domain::{Rule, ValidationError, ValidationErrors};
use varsel_raft_store::error::EngineError;
use varsel_raft_store::ops::{Refusal, RefusalCode};
use varsel_raft_store::write::WriteError;

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
    /// The delivery engine could not start (a provider's secret or key file, most often).
    #[error("delivery: {0}")]
    Delivery(#[from] varsel_delivery::engine::StartError),
    /// TLS could not be set up from the configured files.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
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
    /// A write that is not known to be committed; says whether it may have been applied.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Retryable: no leader, quorum unreachable, node shutting down, write outcome unknown.
    #[error("{0}")]
    Unavailable(String),
    /// The request is invalid: every field at fault, the rule it breaks and what to do.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The replicated rules refused the operation (the same answer on every node).
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// The request is invalid in a way the caller cannot fix by changing one field (a gRPC
    /// status relayed from another node).
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
        e.into_status()
    }
}

impl ApiError {
    /// The gRPC status of this error: the one place where errors become codes.
    pub fn into_status(self) -> tonic::Status {
        match self {
            ApiError::Write(w) => write_status(&w),
            ApiError::Invalid(e) => invalid_status(&e),
            ApiError::Refused(r) => refusal_status(r),
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

/// INVALID_ARGUMENT with every field at fault as `google.rpc.BadRequest` details (field, rule
/// as the violation's `reason`, message), so clients (and the REST API's problem details) can
/// name each field without parsing the message.
fn invalid_status(e: &ValidationErrors) -> tonic::Status {
    use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
    let violations: Vec<FieldViolation> = e
        .iter()
        .map(|v| FieldViolation {
            field: v.field.clone(),
            description: v.message.clone(),
            reason: v.rule.code().to_string(),
            localized_message: None,
        })
        .collect();
    tonic::Status::with_error_details(
        tonic::Code::InvalidArgument,
        e.to_string(),
        ErrorDetails::with_bad_request(violations),
    )
}

/// INVALID_ARGUMENT for one field (or element) breaking `rule`, with `google.rpc.BadRequest`
/// details like [`invalid_status`]'s.
pub fn field_status(field: &str, rule: &str, message: &str) -> tonic::Status {
    use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
    let violation = FieldViolation {
        field: field.to_string(),
        description: message.to_string(),
        reason: rule.to_string(),
        localized_message: None,
    };
    tonic::Status::with_error_details(
        tonic::Code::InvalidArgument,
        message,
        ErrorDetails::with_bad_request(vec![violation]),
    )
}

fn refusal_status(r: Refusal) -> tonic::Status {
    let m = r.message;
    match r.code {
        RefusalCode::InvalidArgument => tonic::Status::invalid_argument(m),
        RefusalCode::NotFound => tonic::Status::not_found(m),
        RefusalCode::AlreadyExists => tonic::Status::already_exists(m),
        RefusalCode::PermissionDenied => tonic::Status::permission_denied(m),
        RefusalCode::FailedPrecondition => tonic::Status::failed_precondition(m),
        RefusalCode::ResourceExhausted => tonic::Status::resource_exhausted(m),
    }
}

impl ApiError {
    /// Whether trying the same write again can succeed (no leader, the leader busy or lost):
    /// the errors that reach a client as UNAVAILABLE, for callers inside the node that retry
    /// themselves (an import's batches).
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Unavailable(_) => true,
            ApiError::Write(w) => w.is_retryable(),
            _ => false,
        }
    }

    /// Field `field` breaks `rule`; `message` says what is wrong and how to fix it.
    pub fn invalid(field: &str, rule: Rule, message: impl Into<String>) -> Self {
        ApiError::Invalid(ValidationError::new(field, rule, message).into())
    }
}

/// Retryable write failures are UNAVAILABLE (the client tries another node); a request too
/// large for one entry is RESOURCE_EXHAUSTED; a refused membership change FAILED_PRECONDITION.
fn write_status(w: &WriteError) -> tonic::Status {
    let m = w.to_string();
    match w {
        WriteError::NoLeader { .. }
        | WriteError::NotApplied { .. }
        | WriteError::OutcomeUnknown { .. }
        | WriteError::Stopping { .. } => tonic::Status::unavailable(m),
        WriteError::TooLarge { .. } => tonic::Status::resource_exhausted(m),
        WriteError::Refused(_) => tonic::Status::failed_precondition(m),
        WriteError::Internal(_) => tonic::Status::internal(m),
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
