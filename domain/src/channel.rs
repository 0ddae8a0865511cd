//! The delivery channels: how a message reaches a recipient.
//!
//! One small enum used across Varsel (contacts' opt-outs, alert content, escalation policy,
//! providers), so it lives apart from any one of them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A delivery channel. Serialised, displayed and parsed by its lowercase name (`sms`,
/// `voice`, `email`, `push`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Text message to a mobile phone.
    Sms,
    /// Text-to-speech phone call.
    Voice,
    /// E-mail.
    Email,
    /// Web Push notification to a browser or app.
    Push,
}

impl Channel {
    /// Every channel, in the order above.
    pub const ALL: [Channel; 4] = [Channel::Sms, Channel::Voice, Channel::Email, Channel::Push];

    /// The lowercase name, as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
            Channel::Email => "email",
            Channel::Push => "push",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {}: expected one of sms, voice, email, push", crate::error::quoted(.0))]
pub struct ParseChannelError(pub String);

impl FromStr for Channel {
    type Err = ParseChannelError;

    /// Parses a channel name, ignoring ASCII case and surrounding whitespace, because names come
    /// from people typing into spreadsheets and forms.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Channel::ALL
            .into_iter()
            .find(|channel| channel.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| ParseChannelError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: names round-trip through Display and FromStr, leniently on case and spaces.
    /// Method: every channel, then variants and a wrong name.
    #[test]
    fn names_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(channel.to_string().parse::<Channel>().unwrap(), channel);
        }
        assert_eq!(" SMS ".parse::<Channel>().unwrap(), Channel::Sms);
        assert!("E-mail".parse::<Channel>().unwrap_err().to_string().contains("\"E-mail\""));
    }
}
