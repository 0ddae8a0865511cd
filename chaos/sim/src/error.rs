//! The crate's error type. Problems in a request to the simulator are not errors of this
//! kind: they are HTTP answers (400, 413, 429, 503) that name the field at fault.

use std::path::PathBuf;

/// Errors of the library: configuration, start-up and the admin client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; the message names the field and the accepted range.
    /// Fatal: fix the file.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A configuration or secret file could not be read. Fatal.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file that was asked for.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },

    /// Binding or serving the listening socket failed. Fatal for the server.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),

    /// The client could not reach the simulator (refused, reset, timed out). Retryable.
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The URL that was asked.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// The simulator answered with a status the client call does not expect.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The URL that was asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The answer body (the simulator's `{"error": ..}`).
        body: String,
    },

    /// An answer could not be decoded into the expected type.
    #[error("cannot decode the answer from {url}: {reason}")]
    Decode {
        /// The URL that was asked.
        url: String,
        /// The decoder's message.
        reason: String,
    },

    /// [`crate::SimClient::wait_for`] gave up.
    #[error("condition not met within {timeout_ms} ms")]
    Timeout {
        /// How long it waited.
        timeout_ms: u64,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
