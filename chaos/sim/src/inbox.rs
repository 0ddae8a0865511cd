//! What recipients received: the first `inbox_max` deliveries with their address, text and
//! arrival time, so a test can check what each handset showed (the language chosen, a
//! personalised name, nothing on an opted-out channel) and when (not before a scheduled start;
//! the rate a tenant got). Beyond the bound deliveries are only counted: at national scale the
//! exact per-key records of [`crate::recorder`] are what counts.

use crate::{
    protocol::Message,
    reports::{InboxListing, InboxMessage},
};

/// The kept deliveries.
#[derive(Debug)]
pub(crate) struct Inbox {
    messages: Vec<InboxMessage>,
    total: u64,
    max: usize,
}

/// Which deliveries a listing wants.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub(crate) alert: Option<u64>,
    pub(crate) to: Option<String>,
}

impl Inbox {
    pub(crate) fn new(max: usize) -> Self {
        Inbox { messages: Vec::new(), total: 0, max }
    }

    /// Whether a delivery would be kept (so the caller builds it only then).
    pub(crate) fn has_room(&self) -> bool {
        self.messages.len() < self.max
    }

    /// Records one delivery of `message` by `provider` at `at_ms`.
    pub(crate) fn push(&mut self, provider: &str, message: &Message<'_>, at_ms: u64) {
        self.total += 1;
        if !self.has_room() {
            return;
        }
        let (text, title, language) = shown(message);
        self.messages.push(InboxMessage {
            at_ms,
            provider: provider.to_owned(),
            key: message.key.to_string(),
            tenant: message.tenant,
            alert: message.alert,
            channel: message.channel,
            to: message.to.to_string(),
            text,
            title,
            language,
        });
    }

    /// The kept deliveries matching `filter`, at most `limit`, oldest first.
    pub(crate) fn listing(&self, filter: &Filter, limit: usize) -> InboxListing {
        let messages = self
            .messages
            .iter()
            .filter(|m| filter.alert.is_none_or(|a| m.alert == a))
            .filter(|m| filter.to.as_deref().is_none_or(|to| m.to == to))
            .take(limit)
            .cloned()
            .collect();
        InboxListing { messages, total: self.total, not_kept: self.total - self.messages.len() as u64 }
    }
}

/// (text, title, language) of what the recipient sees.
fn shown(message: &Message<'_>) -> (String, Option<String>, Option<String>) {
    if let Some(sms) = &message.sms {
        return (sms.text.to_string(), None, None);
    }
    if let Some(email) = &message.email {
        let text =
            if email.text.is_empty() { email.html.as_deref().unwrap_or_default() } else { &email.text };
        return (text.to_string(), Some(email.subject.to_string()), None);
    }
    if let Some(voice) = &message.voice {
        return (voice.script.to_string(), None, Some(voice.language.to_string()));
    }
    if let Some(push) = &message.push {
        return (push.body.to_string(), Some(push.title.to_string()), None);
    }
    (String::new(), None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Channel;

    /// Goal: the inbox keeps the first deliveries with what the recipient saw, counts the rest,
    /// and filters by alert and address. Method: push four sample messages into an inbox of
    /// three and list them with filters.
    #[test]
    fn keeps_first_and_counts_rest() {
        let mut inbox = Inbox::new(3);
        inbox.push("sms-primary", &Message::sample(1, 1, Channel::Sms, 0), 100);
        inbox.push("email", &Message::sample(1, 2, Channel::Email, 0), 101);
        inbox.push("voice", &Message::sample(2, 1, Channel::Voice, 0), 102);
        assert!(!inbox.has_room());
        inbox.push("push", &Message::sample(2, 2, Channel::Push, 0), 103);
        let all = inbox.listing(&Filter::default(), 10);
        assert_eq!((all.messages.len(), all.total, all.not_kept), (3, 4, 1));
        let first = &all.messages[0];
        assert_eq!(
            (first.at_ms, first.key.as_str(), first.text.as_str()),
            (100, "a1-c1-sms-0", "Evacuate now.")
        );
        assert_eq!(all.messages[1].title.as_deref(), Some("Alert"));
        assert_eq!(all.messages[2].language.as_deref(), Some("nb"));
        let alert_one = inbox.listing(&Filter { alert: Some(1), to: None }, 10);
        assert_eq!(alert_one.messages.len(), 2);
        let to = Filter { alert: None, to: Some("c2@example.org".into()) };
        assert_eq!(inbox.listing(&to, 10).messages[0].channel, Channel::Email);
        assert_eq!(inbox.listing(&Filter::default(), 1).messages.len(), 1);
    }
}
