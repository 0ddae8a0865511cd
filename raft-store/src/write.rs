//! What committing a [`Request`](crate::Request) through Raft answers: the committed result,
//! or why it is not known to be committed.
//!
//! The one distinction every caller acts on is [`WriteError::may_have_been_applied`]: a write
//! that provably never reached a log can be sent again as it is; one whose outcome is unknown
//! can be sent again only because requests carry idempotency keys (or, for the delivery
//! engine's records, a cursor and an epoch), so a second copy applies nothing.

use crate::types::{NodeId, Response};

/// A committed write.
#[derive(Debug, Clone)]
pub struct Written {
    /// Log index it was committed at.
    pub log_index: u64,
    /// What applying it produced.
    pub response: Response,
}

/// Why a write is not known to be committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// No leader was known within the wait (an election, or no quorum reachable); nothing was
    /// appended.
    #[error(
        "node {node} knows no leader after {waited_ms} ms (term {term}): it cannot reach a quorum of sites"
    )]
    NoLeader {
        /// The node that waited.
        node: NodeId,
        /// How long it waited.
        waited_ms: u64,
        /// The term it is in.
        term: u64,
    },
    /// The write was never appended to any log (leadership moved before it, or the leader
    /// could not be reached at all), and the time to try again ran out.
    #[error("write not committed within {timeout_ms} ms ({reason}); it was not applied")]
    NotApplied {
        /// The write timeout.
        timeout_ms: u64,
        /// The last reason it could not be appended.
        reason: String,
    },
    /// The write may be in a log and may yet commit, or may not: retry with the same
    /// idempotency key.
    #[error("{reason}; the outcome is unknown (retry with the same idempotency key)")]
    OutcomeUnknown {
        /// What happened.
        reason: String,
    },
    /// The request is larger than one log entry may be.
    #[error("request of {bytes} bytes exceeds the limit of {limit} bytes per write; split it")]
    TooLarge {
        /// Its encoded size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The node that was to commit it is stopping. It may have appended the write first.
    #[error("node {node} is stopping: {reason}")]
    Stopping {
        /// The node.
        node: NodeId,
        /// What Raft said.
        reason: String,
    },
    /// Raft refused the request as such (a membership change that is not allowed now).
    #[error("{0}")]
    Refused(String),
    /// A bug or a storage failure (the request could not be encoded, the answer not decoded).
    #[error("{0}")]
    Internal(String),
}

impl WriteError {
    /// Whether the write may have been applied (or may still be): only then is a blind retry
    /// unsafe without an idempotency key.
    pub fn may_have_been_applied(&self) -> bool {
        matches!(self, Self::OutcomeUnknown { .. } | Self::Stopping { .. } | Self::Internal(_))
    }

    /// Whether trying again later (maybe through another node) can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::NoLeader { .. }
                | Self::NotApplied { .. }
                | Self::OutcomeUnknown { .. }
                | Self::Stopping { .. }
        )
    }

    /// A short, stable name of the kind, carried in a gRPC header when a forwarded write fails
    /// on the leader, so the follower can rebuild the same kind ([`Self::from_kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoLeader { .. } => "no-leader",
            Self::NotApplied { .. } => "not-applied",
            Self::OutcomeUnknown { .. } => "outcome-unknown",
            Self::TooLarge { .. } => "too-large",
            Self::Stopping { .. } => "stopping",
            Self::Refused(_) => "refused",
            Self::Internal(_) => "internal",
        }
    }

    /// The error a node relays when the leader it forwarded to answered with `kind` and
    /// `message`. Kinds that say nothing was appended stay so; anything else (an unknown
    /// kind, an old leader that sends none) is taken as outcome unknown, the safe side.
    pub fn from_kind(kind: Option<&str>, message: &str) -> Self {
        match kind {
            Some("no-leader" | "not-applied") => {
                Self::NotApplied { timeout_ms: 0, reason: format!("the leader answered: {message}") }
            }
            Some("refused") => Self::Refused(message.to_string()),
            Some("too-large") => Self::Refused(message.to_string()),
            _ => Self::OutcomeUnknown { reason: format!("the leader answered: {message}") },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the kinds that say nothing was appended survive the trip through a header; the
    /// rest, and anything unrecognised, come back as "may have been applied".
    #[test]
    fn kinds_round_trip_to_the_safe_side() {
        let not = WriteError::NotApplied { timeout_ms: 5, reason: "x".into() };
        assert!(!not.may_have_been_applied());
        assert!(!WriteError::from_kind(Some(not.kind()), "m").may_have_been_applied());
        let unknown = WriteError::OutcomeUnknown { reason: "x".into() };
        assert!(WriteError::from_kind(Some(unknown.kind()), "m").may_have_been_applied());
        assert!(WriteError::from_kind(None, "m").may_have_been_applied());
        assert!(WriteError::from_kind(Some("something-new"), "m").may_have_been_applied());
        assert!(!WriteError::from_kind(Some("refused"), "m").is_retryable());
    }
}
