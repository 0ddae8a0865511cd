//! Checking a webhook's signature, timestamp and id.
//!
//! Headers: `X-Varsel-Webhook-Id` (1 to [`ID_BYTES_MAX`] printable ASCII characters, no `.`
//! and no space), `X-Varsel-Timestamp` (Unix seconds, decimal digits) and `X-Varsel-Signature:
//! sha256=<hex HMAC-SHA256(secret, id + "." + timestamp + "." + body)>`. Neither the id nor
//! the timestamp can contain a `.`, so the signed string splits one way only: a signature made
//! for one id, time and body fits no other. Each header must appear once.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The webhook's id header.
pub const ID_HEADER: &str = "x-varsel-webhook-id";
/// The signing time header.
pub const TIMESTAMP_HEADER: &str = "x-varsel-timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-varsel-signature";

/// Longest webhook id: room for a UUID, a ULID or a provider's own event id with a prefix,
/// and small enough that remembering ids costs a bounded amount (they are remembered by
/// digest, see [`super::replay`]).
pub const ID_BYTES_MAX: usize = 128;

/// Most digits in a timestamp: `u64::MAX` has 20.
pub const TIMESTAMP_DIGITS_MAX: usize = 20;

/// Largest accepted difference between a request's timestamp and this node's clock.
pub const SKEW_MAX_S: u64 = 300;

/// What a verified request carries besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The webhook's id, unique per webhook of the provider (the same on every retry of it).
    pub id: String,
    /// When it was signed, Unix seconds.
    pub timestamp_s: u64,
}

/// Why a request's signature does not hold; for the log (the caller answers 401 to them all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header is absent.
    #[error("{0} missing")]
    Missing(&'static str),
    /// A header appears more than once.
    #[error("{0} appears more than once")]
    Repeated(&'static str),
    /// A header holds bytes other than visible ASCII.
    #[error("{0} is not printable ASCII")]
    NotAscii(&'static str),
    /// The id is empty, too long, or has characters it must not.
    #[error("{ID_HEADER} must be 1 to {ID_BYTES_MAX} printable ASCII characters other than '.' and space")]
    BadId,
    /// The timestamp is not decimal digits.
    #[error("{TIMESTAMP_HEADER} must be Unix seconds in at most {TIMESTAMP_DIGITS_MAX} decimal digits")]
    BadTimestamp,
    /// The timestamp is too far from this node's clock.
    #[error("timestamp {timestamp_s} is more than {SKEW_MAX_S} s from now ({now_s})")]
    Stale {
        /// The request's.
        timestamp_s: u64,
        /// This node's.
        now_s: u64,
    },
    /// The signature is not `sha256=` and hex.
    #[error("{SIGNATURE_HEADER} must be sha256=<hex>")]
    BadSignatureFormat,
    /// The signature is not the MAC of this id, time and body with the provider's secret.
    #[error("signature does not match")]
    Mismatch,
}

/// The single value of header `name`, as text.
fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(VerifyError::Missing(name))?;
    if values.next().is_some() {
        return Err(VerifyError::Repeated(name));
    }
    value.to_str().map_err(|_| VerifyError::NotAscii(name))
}

/// Whether `id` is a usable webhook id (see the module doc).
pub fn id_ok(id: &str) -> bool {
    (1..=ID_BYTES_MAX).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic() && b != b'.')
}

/// The MAC of a webhook: HMAC-SHA256 over `id "." timestamp "." body`.
pub fn mac(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` fails for none.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
        mac.update(part);
    }
    mac
}

/// Checks a request's id, timestamp (against `now_s`) and signature with the provider's
/// `secret`; returns the id and time.
pub fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8], now_s: u64) -> Result<Signed, VerifyError> {
    let id = header(headers, ID_HEADER)?;
    if !id_ok(id) {
        return Err(VerifyError::BadId);
    }
    let ts = header(headers, TIMESTAMP_HEADER)?;
    let digits = (1..=TIMESTAMP_DIGITS_MAX).contains(&ts.len()) && ts.bytes().all(|b| b.is_ascii_digit());
    let timestamp_s = ts.parse::<u64>().ok().filter(|_| digits).ok_or(VerifyError::BadTimestamp)?;
    if timestamp_s.abs_diff(now_s) > SKEW_MAX_S {
        return Err(VerifyError::Stale { timestamp_s, now_s });
    }
    let sig = header(headers, SIGNATURE_HEADER)?;
    let hex_sig = sig.strip_prefix("sha256=").ok_or(VerifyError::BadSignatureFormat)?;
    let given = hex::decode(hex_sig).map_err(|_| VerifyError::BadSignatureFormat)?;
    mac(secret, id, ts, body).verify_slice(&given).map_err(|_| VerifyError::Mismatch)?;
    Ok(Signed { id: id.to_string(), timestamp_s })
}
