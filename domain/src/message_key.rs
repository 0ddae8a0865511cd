//! Message keys: the idempotency key of one message (`a{alert}-c{contact}-{channel}-{step}`),
//! passed to providers as their client reference and read back from their receipts, replies
//! and the simulator's records.

use crate::channel::Channel;
use crate::model::{AlertId, ContactId};

/// The idempotency key of one message: the same recipient, channel and step always give the
/// same key, so a provider that honours it never delivers a retry twice.
pub fn message_key(alert: AlertId, contact: ContactId, channel: Channel, step: u8) -> String {
    format!("a{alert}-c{contact}-{}-{step}", channel.as_str())
}

/// Parses a message key made by [`message_key`].
pub fn parse_message_key(key: &str) -> Option<(AlertId, ContactId, Channel, u8)> {
    let mut parts = key.split('-');
    let alert = parts.next()?.strip_prefix('a')?.parse().ok()?;
    let contact = parts.next()?.strip_prefix('c')?.parse().ok()?;
    let channel = parts.next()?.parse().ok()?;
    let step = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((alert, contact, channel, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: message keys round-trip and reject anything else.
    #[test]
    fn message_keys() {
        let k = message_key(12, 345, Channel::Voice, 1);
        assert_eq!(k, "a12-c345-voice-1");
        assert_eq!(parse_message_key(&k), Some((12, 345, Channel::Voice, 1)));
        for bad in ["", "a1-c2-sms", "a1-c2-fax-0", "ax-c2-sms-0", "a1-c2-sms-0-9", "a1-c2-sms-300"] {
            assert_eq!(parse_message_key(bad), None, "{bad}");
        }
    }
}
