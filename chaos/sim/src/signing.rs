//! Signatures on receipt and reply callbacks, so a node can tell them from forgeries and
//! replays: `X-Varsel-Webhook-Id: <id>`, `X-Varsel-Timestamp: <unix seconds>` and
//! `X-Varsel-Signature: sha256=<hex(HMAC-SHA256(secret, id + "." + timestamp + "." + body))>`.
//! The timestamp is signed so a captured request cannot be replayed later than the node's
//! tolerance; the id is signed so that within the tolerance a node that already accepted the
//! callback recognises a copy and does nothing.
//!
//! A callback keeps its id on every retry ([`webhook_id`] derives it from the request's path
//! and body, which a retry sends unchanged), so a retry after a lost answer, sent to the same
//! node, is recognised as already accepted.

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

/// Header carrying the callback's id.
pub const ID_HEADER: &str = "x-varsel-webhook-id";

/// Header carrying the Unix time in seconds at which the request was signed.
pub const TIMESTAMP_HEADER: &str = "x-varsel-timestamp";

/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-varsel-signature";

/// Hex digits of the digest in an id: 128 bits, so two different callbacks never share one.
const ID_HEX_DIGITS: usize = 32;

/// The id of the callback that posts `body` to `path` (`/inbound/v1/{provider}/{kind}`):
/// `sim-` and the first 128 bits of SHA-256 over both, in hex. The same on every retry of the
/// callback, to any node; different for different callbacks, since every body names the
/// provider ids of its messages, each of which the simulator hands out once (two callbacks
/// with the same body would say the same thing, and a node may take the second for a copy).
pub fn webhook_id(path: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update((path.len() as u64).to_be_bytes());
    digest.update(path.as_bytes());
    digest.update(body);
    let hex = hex::encode(digest.finalize());
    format!("sim-{}", &hex[..ID_HEX_DIGITS])
}

/// The value of [`SIGNATURE_HEADER`] for callback `id` with `body`, signed at `timestamp`.
pub fn signature(secret: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC pads or hashes keys of any length; this branch cannot be taken.
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the signature is HMAC-SHA256 over `id "." timestamp "." body`, hex, prefixed, and
    /// depends on the id and the timestamp. Method: compare with the MAC of the concatenation.
    #[test]
    fn signs_id_dot_timestamp_dot_body() {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(b"Jefe") else { unreachable!() };
        mac.update(b"evt-1.12.body");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature(b"Jefe", "evt-1", 12, b"body"), expected);
        assert_ne!(signature(b"Jefe", "evt-1", 13, b"body"), expected);
        assert_ne!(signature(b"Jefe", "evt-2", 12, b"body"), expected);
    }

    /// Goal: a callback's id is the same on every retry and differs between callbacks; it is a
    /// valid id for a node (1-128 visible ASCII characters, no '.'). Method: the same path and
    /// body twice, then another body and another path.
    #[test]
    fn ids_follow_the_callback() {
        let id = webhook_id("/inbound/v1/sms/receipts", br#"{"receipts":[]}"#);
        assert_eq!(id, webhook_id("/inbound/v1/sms/receipts", br#"{"receipts":[]}"#));
        assert_ne!(id, webhook_id("/inbound/v1/sms/receipts", br#"{"receipts":[1]}"#));
        assert_ne!(id, webhook_id("/inbound/v1/sms/replies", br#"{"receipts":[]}"#));
        assert_eq!(id.len(), 4 + ID_HEX_DIGITS);
        assert!(id.bytes().all(|b| b.is_ascii_graphic() && b != b'.'));
    }
}
