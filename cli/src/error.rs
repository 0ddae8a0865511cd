//! Errors of the API commands (`tenant`, `contact`, `group`, `template`, `alert`, `audit`).
//!
//! A node's refusal is shown as `CODE: message` with the gRPC code in its canonical upper-case
//! name and the message untouched: the server's `INVALID_ARGUMENT` messages name the field and
//! the rule, and are the most useful thing the user can read.

use std::path::PathBuf;

use varsel_client::ClientError;

/// Why an API command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No token, or a token that cannot be sent (never includes the token itself).
    #[error("{0}")]
    Auth(String),
    /// A command-line value that cannot be used; names the option.
    #[error("{0}")]
    Input(String),
    /// A local file could not be read or parsed.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A node refused the request for good.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Rejected(tonic::Status),
    /// The endpoint list is unusable, or no node answered before the deadline.
    #[error("{0}")]
    Cluster(ClientError),
    /// A reply the server should not have sent (a missing field).
    #[error("unexpected reply from the server: {0}")]
    Reply(String),
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Rejected(status) => CliError::Rejected(status),
            other => CliError::Cluster(other),
        }
    }
}

impl CliError {
    /// A bad command-line value.
    pub fn input(message: impl Into<String>) -> Self {
        CliError::Input(message.into())
    }

    /// A local file problem.
    pub fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        CliError::File { path: path.into(), message: message.to_string() }
    }
}

/// The canonical name of a gRPC code (`INVALID_ARGUMENT`), as the gRPC specification and the
/// API documentation spell it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a server's INVALID_ARGUMENT message reaches the user intact, after the code name.
    /// Method: wrap a status the way `Cluster::call` returns it and format it.
    #[test]
    fn rejected_status_keeps_the_message() {
        let msg = "policy[1].after_seconds: must be after the previous step (300); title: is required";
        let e: CliError = ClientError::Rejected(tonic::Status::invalid_argument(msg)).into();
        assert_eq!(e.to_string(), format!("INVALID_ARGUMENT: {msg}"));
    }
}
