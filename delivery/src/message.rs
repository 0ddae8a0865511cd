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
    },
}

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
