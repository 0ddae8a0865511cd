//! Errors of the codec, the session and the client.
//!
//! The split the SMS provider cares about is made in the types, not in strings:
//! for a submit, [`SubmitError`] says whether the message was **certainly not
//! sent** (safe to retry anywhere), **rejected** (with the status that says
//! whether retrying can help), or **perhaps sent** ([`SubmitError::OutcomeUnknown`]),
//! which the provider must count as a possible duplicate if it retries.

use crate::status::CommandStatus;
use std::time::Duration;

/// A PDU could not be decoded. Decoding never panics; every malformed input ends here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the header or its `command_length` announce. For a stream
    /// reader this means "read more"; for a complete frame it is an error.
    #[error("truncated PDU: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes needed for the next step of decoding.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// `command_length` is below the 16-byte header or above [`crate::pdu::MAX_COMMAND_LENGTH`].
    /// The stream cannot be resynchronised after this.
    #[error("invalid command_length {0}")]
    InvalidLength(u32),
    /// A fixed-size field runs past the end of the body.
    #[error("field {field} runs past the end of the PDU")]
    FieldTruncated {
        /// The field being read.
        field: &'static str,
    },
    /// A C-Octet string has no NUL terminator before the end of the body.
    #[error("field {field} has no NUL terminator")]
    MissingNul {
        /// The field being read.
        field: &'static str,
    },
    /// A C-Octet string is longer than the spec allows for its field.
    #[error("field {field} is longer than {max} octets")]
    CStringTooLong {
        /// The field being read.
        field: &'static str,
        /// Maximum length including the NUL terminator.
        max: usize,
    },
    /// `sm_length` is above 254 or beyond the end of the body.
    #[error("sm_length {0} is invalid")]
    InvalidSmLength(u8),
}

impl DecodeError {
    /// The status to put in a `generic_nack` or response for a PDU that failed this way.
    pub fn status(&self) -> CommandStatus {
        match self {
            DecodeError::InvalidLength(_) | DecodeError::Truncated { .. } => CommandStatus::ESME_RINVCMDLEN,
            DecodeError::InvalidSmLength(_) => CommandStatus::ESME_RINVMSGLEN,
            DecodeError::FieldTruncated { .. } => CommandStatus::ESME_RINVCMDLEN,
            DecodeError::MissingNul { .. } | DecodeError::CStringTooLong { .. } => {
                CommandStatus::ESME_RSYSERR
            }
        }
    }
}

/// A PDU could not be encoded: a field breaks an SMPP limit. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A C-Octet string is longer than its field allows.
    #[error("field {field} is {len} octets, at most {max} allowed")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length in octets, without terminator.
        len: usize,
        /// The maximum without terminator.
        max: usize,
    },
    /// A C-Octet string contains a NUL byte, which would end it early on the wire.
    #[error("field {field} contains a NUL byte")]
    InteriorNul {
        /// The field.
        field: &'static str,
    },
    /// `short_message` is longer than 254 octets; use `message_payload` instead.
    #[error("short_message is {0} octets, at most 254 allowed")]
    ShortMessageTooLong(usize),
    /// A TLV value does not fit its 16-bit length field.
    #[error("TLV 0x{tag:04X} is {len} octets, too long")]
    TlvTooLong {
        /// The tag.
        tag: u16,
        /// The value length.
        len: usize,
    },
    /// The whole PDU would exceed [`crate::pdu::MAX_COMMAND_LENGTH`].
    #[error("PDU would be {0} octets, above the maximum command_length")]
    PduTooLong(usize),
    /// `short_message` and the `message_payload` TLV are both set; SMSCs reject that (§5.3.2.32).
    #[error("short_message and message_payload are both set")]
    PayloadConflict,
    /// Long-message building was given segments it cannot send (see [`crate::concat`]).
    #[error("invalid segments: {0}")]
    Segments(String),
}

/// Connecting or binding a session failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect, read or write failed. Retryable.
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// No TCP connection or no bind response within the configured time. Retryable.
    #[error("{0} timed out after {1:?}")]
    Timeout(&'static str, Duration),
    /// The SMSC refused our credentials (`ESME_RINVPASWD` / `ESME_RINVSYSID`).
    /// Reconnecting quickly will not help; an operator must fix the configuration.
    #[error("bind rejected, bad credentials: {status}")]
    BadCredentials {
        /// The bind response status.
        status: CommandStatus,
    },
    /// The SMSC refused the bind for another reason (e.g. `ESME_RBINDFAIL`,
    /// `ESME_RALYBND` when the account's bind limit is reached). Retryable later.
    #[error("bind rejected: {status}")]
    BindRejected {
        /// The bind response status.
        status: CommandStatus,
    },
    /// The SMSC answered the bind with something we could not decode or did not expect.
    #[error("protocol error during bind: {0}")]
    Protocol(String),
    /// The configuration is invalid; see the message.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl ConnectError {
    /// `true` for the errors that a later reconnect may fix.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ConnectError::BadCredentials { .. } | ConnectError::Config(_))
    }
}

/// Why a submit's outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownReason {
    /// No `submit_sm_resp` within the response timeout.
    ResponseTimeout,
    /// The connection dropped (or the session closed) after the PDU was queued for sending.
    ConnectionLost,
    /// The SMSC answered `ESME_ROK` with a response we could not decode, so we
    /// have no message id although the message was probably accepted.
    MalformedResponse,
}

/// A `submit_sm` did not get an `ESME_ROK` response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The SMSC answered `ESME_RTHROTTLED` or `ESME_RMSGQFUL`. The message was
    /// **not** accepted: retry after a pause.
    #[error("throttled by SMSC: {status}")]
    Throttled {
        /// The response status.
        status: CommandStatus,
    },
    /// The SMSC rejected the message. [`CommandStatus::is_permanent`] tells whether
    /// it can ever succeed; the message was not accepted either way.
    #[error("rejected by SMSC: {status}")]
    Rejected {
        /// The response (or `generic_nack`) status.
        status: CommandStatus,
    },
    /// The PDU was (or may have been) written but no answer came: the message
    /// **may have been sent**. A retry risks a duplicate and must be counted as such.
    #[error("outcome unknown ({reason:?}): the message may have been sent")]
    OutcomeUnknown {
        /// Why we do not know.
        reason: UnknownReason,
    },
    /// No bound session could take the message (closed, unbinding, receiver-only,
    /// or none bound within the wait). Not sent: safe to retry.
    #[error("not bound: message not sent")]
    NotBound,
    /// No window slot became free within the configured wait. Not sent.
    #[error("window full for {0:?}: message not sent")]
    WindowTimeout(Duration),
    /// The message breaks an SMPP limit and can never be sent as is. Not sent.
    #[error("invalid message: {0}")]
    Invalid(#[from] EncodeError),
}

impl SubmitError {
    /// `true` when the SMSC may have accepted the message despite the error.
    pub fn may_have_been_sent(&self) -> bool {
        matches!(self, SubmitError::OutcomeUnknown { .. })
    }

    /// `true` when sending the same message again (later, or through another bind
    /// or provider) can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SubmitError::Rejected { status } => !status.is_permanent(),
            SubmitError::Invalid(_) => false,
            _ => true,
        }
    }

    /// `true` when the message itself is at fault and retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        !self.is_retryable()
    }
}

/// A session-level operation (such as `unbind`) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The session is already closed.
    #[error("session closed")]
    Closed,
    /// The SMSC did not answer in time; the session was closed anyway.
    #[error("{0} timed out")]
    Timeout(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the retry decision is right for each kind of failure. Method: table.
    #[test]
    fn retry_classification() {
        let unknown = SubmitError::OutcomeUnknown { reason: UnknownReason::ConnectionLost };
        assert!(unknown.is_retryable() && unknown.may_have_been_sent());
        let throttled = SubmitError::Throttled { status: CommandStatus::ESME_RTHROTTLED };
        assert!(throttled.is_retryable() && !throttled.may_have_been_sent());
        assert!(SubmitError::Rejected { status: CommandStatus::ESME_RINVDSTADR }.is_permanent());
        assert!(SubmitError::Rejected { status: CommandStatus::ESME_RSYSERR }.is_retryable());
        assert!(SubmitError::NotBound.is_retryable());
        assert!(SubmitError::Invalid(EncodeError::ShortMessageTooLong(300)).is_permanent());
        assert!(!ConnectError::BadCredentials { status: CommandStatus::ESME_RINVPASWD }.is_retryable());
    }
}
