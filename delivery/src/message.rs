//! A message ready for a provider: who, on which channel, what it says, and its key.

use serde::Serialize;
use varsel_domain::model::{AlertId, Channel, ContactId, Priority, TenantId};

/// What the message says, per channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageContent {
    /// SMS text.
    Sms {
        /// The text, already personalised.
        text: String,
    },
    /// E-mail.
    Email {
        /// Subject.
        subject: String,
        /// Plain-text body.
        text: Option<String>,
        /// HTML body.
        html: Option<String>,
    },
    /// Text-to-speech call.
    Voice {
        /// The script.
        script: String,
        /// Its language tag (for the speech engine).
        language: String,
    },
    /// Web Push notification.
    Push {
        /// Title.
        title: Option<String>,
        /// Body.
        body: Option<String>,
        /// Answer buttons, for an alert with answer options.
        answers: Option<PushAnswers>,
    },
}

/// The answer buttons of a push notification: the recipient's response link (where the
/// subscriber's service worker posts `option=N`) and the options' labels in the recipient's
/// language, option `N` at index `N - 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushAnswers {
    /// The recipient's response link (`{answer_url}/r/{token}`).
    pub url: String,
    /// The labels, in option order.
    pub labels: Vec<String>,
}

/// The number or short code each provider sends a tenant's messages from, by provider name
/// (from `delivery.reply_routes`): a recipient's reply then goes to a number routed to that
/// tenant. Providers not named send from their own configured sender.
pub type Senders = std::collections::BTreeMap<String, String>;

/// One message to one recipient on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Idempotency key, passed to the provider (`a{alert}-c{contact}-{channel}-{step}`).
    pub key: String,
    /// The alert.
    pub alert: AlertId,
    /// The alert's tenant.
    pub tenant: TenantId,
    /// The recipient.
    pub contact: ContactId,
    /// The channel.
    pub channel: Channel,
    /// The escalation step (the message's attempt number).
    pub step: u8,
    /// The alert's priority.
    pub priority: Priority,
    /// The address: E.164 number, e-mail address, or Web Push subscription JSON.
    pub to: String,
    /// What it says.
    pub content: MessageContent,
    /// Where its tenant's messages are sent from, per provider (shared by all messages of an
    /// alert; empty when the tenant has no reply routes).
    pub senders: std::sync::Arc<Senders>,
}

impl OutboundMessage {
    /// The number or short code `provider` should send this message from, if its tenant has
    /// one there.
    pub fn sender_at(&self, provider: &str) -> Option<&str> {
        self.senders.get(provider).map(String::as_str)
    }
}

impl OutboundMessage {
    /// The address with most of it hidden, for logs.
    pub fn masked_to(&self) -> String {
        match self.channel {
            Channel::Sms | Channel::Voice => format!("{}***", self.to.chars().take(4).collect::<String>()),
            Channel::Email => match self.to.split_once('@') {
                Some((_, domain)) => format!("***@{domain}"),
                None => "***".into(),
            },
            Channel::Push => "push-subscription".into(),
        }
    }
}
