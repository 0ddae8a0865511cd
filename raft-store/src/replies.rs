//! Recipients' replies as they travel in the log ([`crate::delivery::DeliveryCommand::Replies`])
//! and as they are kept.
//!
//! Every reply a provider hands over is kept, whether it acknowledges an alert or not and
//! whether it could be attributed or not: an operator must be able to read "I need help" and
//! the replies nobody could place. The node that received a reply attributes it from its
//! applied state before proposing it (see the delivery engine's receipts actor); applying only
//! stores it, acknowledges when it says so, and ignores a copy of a reply already stored, so a
//! provider that sends a reply again (after a 503, or because it redelivers) never applies it
//! twice.

use serde::{Deserialize, Serialize};
use varsel_domain::model::{AlertId, Channel, ContactId, TenantId};

use crate::delivery::bounded_text;

/// Longest reply text kept, in bytes (a concatenated SMS of four or five parts); longer texts
/// are cut at a character boundary and end with `…`.
pub const REPLY_TEXT_BYTES_MAX: usize = 640;

/// Longest address (number, short code, sender name), provider name or provider id kept, in
/// bytes.
pub const REPLY_FIELD_BYTES_MAX: usize = 128;

/// Most replies in one log entry (each is at most about 1.2 KiB encoded, so an entry stays far
/// under the 1 MiB a log entry may hold).
pub const REPLIES_PER_ENTRY_MAX: usize = 500;

/// Most tenants an unattributed reply is shown to.
pub const REPLY_TENANTS_MAX: usize = 16;

/// One reply to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyItem {
    /// The provider that received it.
    pub provider: String,
    /// The provider's own id for the reply, if it gives one: a copy with the same provider and
    /// id is stored once.
    pub id: Option<String>,
    /// The number it came from (E.164).
    pub from: String,
    /// The number, short code or sender name it was sent to, if the provider says.
    pub to: Option<String>,
    /// What the recipient wrote.
    pub text: String,
    /// SMS, or voice for a keypad press.
    pub channel: Channel,
    /// When the recipient sent it, if the provider says (ms since the Unix epoch).
    pub sent_at_ms: Option<u64>,
    /// To which alert it belongs.
    pub attribution: ReplyAttribution,
}

/// To which alert a reply belongs, as decided by the node that received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyAttribution {
    /// This alert and recipient.
    Alert {
        /// The alert.
        alert: AlertId,
        /// The recipient.
        contact: ContactId,
        /// The text is an acknowledgement ("OK", "1", "ja", …): the recipient is marked as
        /// having answered, which stops escalation.
        acknowledges: bool,
        /// How it was placed.
        by: AttributedBy,
    },
    /// Not without doubt: it acknowledges nothing.
    Unmatched {
        /// Why, as in the `reason` label of `varsel_delivery_replies_unattributed_total`.
        reason: String,
        /// The tenants it may be for (whose alerts reached the number), shown to each;
        /// empty when none is: then only the superadmin sees it.
        tenants: Vec<TenantId>,
    },
}

/// How a reply was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributedBy {
    /// The provider named the message replied to (our key, or its id for our message).
    Reference,
    /// The number it was sent to is routed to one tenant, whose latest alert to the person it
    /// answers.
    Route,
    /// Only one tenant's alerts reached the number within the reply window; its latest is
    /// the one answered.
    Latest,
}

impl AttributedBy {
    /// As shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributedBy::Reference => "reference",
            AttributedBy::Route => "route",
            AttributedBy::Latest => "latest",
        }
    }
}

impl ReplyItem {
    /// The item with every text cut to its bound ([`REPLY_TEXT_BYTES_MAX`],
    /// [`REPLY_FIELD_BYTES_MAX`]) and at most [`REPLY_TENANTS_MAX`] tenants.
    pub fn bounded(mut self) -> Self {
        let field = |s: String| bounded_text(s, REPLY_FIELD_BYTES_MAX);
        self.provider = field(self.provider);
        self.id = self.id.map(field);
        self.from = field(self.from);
        self.to = self.to.map(field);
        self.text = bounded_text(self.text, REPLY_TEXT_BYTES_MAX);
        if let ReplyAttribution::Unmatched { reason, tenants } = &mut self.attribution {
            *reason = bounded_text(std::mem::take(reason), REPLY_FIELD_BYTES_MAX);
            tenants.truncate(REPLY_TENANTS_MAX);
        }
        self
    }

    /// What identifies a copy of this reply: the provider's id for it when it gives one,
    /// otherwise who sent what to whom when (only with the time the recipient sent it: without
    /// it, two "OK"s from one person are two replies, and acknowledging twice is harmless).
    pub fn identity(&self) -> Option<String> {
        match (&self.id, self.sent_at_ms) {
            (Some(id), _) => Some(format!("{}\0id\0{id}", self.provider)),
            (None, Some(at)) => {
                let to = self.to.as_deref().unwrap_or("");
                let digest = fnv1a(&[self.from.as_bytes(), to.as_bytes(), self.text.as_bytes()]);
                Some(format!("{}\0at\0{at}\0{digest:016x}", self.provider))
            }
            (None, None) => None,
        }
    }
}

/// A reply as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReply {
    /// When it was recorded (log clock, ms).
    pub at_ms: u64,
    /// The reply.
    pub item: ReplyItem,
}

/// FNV-1a, 64 bits: the same on every node and every version (unlike the standard library's
/// hasher), which the log needs.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(id: Option<&str>, sent_at_ms: Option<u64>, text: &str) -> ReplyItem {
        ReplyItem {
            provider: "sms".into(),
            id: id.map(String::from),
            from: "+4790000001".into(),
            to: Some("2222".into()),
            text: text.into(),
            channel: Channel::Sms,
            sent_at_ms,
            attribution: ReplyAttribution::Unmatched { reason: "x".into(), tenants: vec![] },
        }
    }

    /// Goal: a copy is recognised by the provider's id, else by sender, time and text; a reply
    /// without either has no identity (so is never taken for another).
    #[test]
    fn identity_of_a_reply() {
        assert_eq!(reply(Some("mo-1"), None, "OK").identity(), reply(Some("mo-1"), Some(5), "Ja").identity());
        assert_ne!(reply(Some("mo-1"), None, "OK").identity(), reply(Some("mo-2"), None, "OK").identity());
        assert_eq!(reply(None, Some(5), "OK").identity(), reply(None, Some(5), "OK").identity());
        assert_ne!(reply(None, Some(5), "OK").identity(), reply(None, Some(6), "OK").identity());
        assert_ne!(reply(None, Some(5), "OK").identity(), reply(None, Some(5), "Nei").identity());
        assert_eq!(reply(None, None, "OK").identity(), None);
    }

    /// Goal: every text is cut to its documented bound, and the tenant list too.
    #[test]
    fn bounded_reply() {
        let mut r = reply(Some(&"i".repeat(500)), None, &"ø".repeat(1_000));
        r.attribution = ReplyAttribution::Unmatched { reason: "r".repeat(300), tenants: (0..40).collect() };
        let r = r.bounded();
        assert!(r.text.len() <= REPLY_TEXT_BYTES_MAX && r.text.ends_with('…'));
        assert!(r.id.as_ref().is_some_and(|i| i.len() <= REPLY_FIELD_BYTES_MAX));
        let ReplyAttribution::Unmatched { reason, tenants } = &r.attribution else { unreachable!() };
        assert!(reason.len() <= REPLY_FIELD_BYTES_MAX);
        assert_eq!(tenants.len(), REPLY_TENANTS_MAX);
    }
}
