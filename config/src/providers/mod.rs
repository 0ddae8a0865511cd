//! `[[providers]]`: the providers of each channel, in order of preference.
//!
//! In the file a provider is its common fields plus exactly one kind table
//! (`[providers.smpp]`, `[providers.http_sms]`, …). In code it is [`ProviderConfig`] with one
//! [`ProviderKind`]: a provider without a kind, or with two, cannot be represented. Each kind's
//! settings and rules are in the module of the same name; the delivery engine's provider of
//! that kind (`varsel_delivery::providers`) reads them.

pub mod http_sms;
pub mod mapping;
pub mod simulator;
pub mod smpp;
pub mod smtp;
pub mod voice_http;
pub mod webpush;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use varsel_domain::Channel;

pub use http_sms::HttpSmsConfig;
pub use simulator::SimulatorProviderConfig;
pub use smpp::{SmppLongMessage, SmppProviderConfig, SmppReceiptIdFormat};
pub use smtp::{SmtpProviderConfig, SmtpTls};
pub use voice_http::VoiceHttpConfig;
pub use webpush::WebPushConfig;

use crate::check::check_name;
use crate::error::ConfigError;

/// One provider of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProviderTable", into = "ProviderTable")]
pub struct ProviderConfig {
    /// A unique name, used in metrics, logs and delivery records.
    pub name: String,
    /// The channel it carries.
    pub channel: Channel,
    /// Most messages per second sent to it from this node (0: no limit).
    pub rate_per_second: u32,
    /// Calls to it in flight at once from this node.
    pub concurrency: usize,
    /// Most messages per call (providers that take one message per call ignore it).
    pub batch_max: usize,
    /// Time allowed for one call.
    pub timeout_ms: u64,
    /// File with the secret this provider signs its receipt and reply webhooks with (see
    /// `node/src/inbound/mod.rs`). Without it, the provider's webhooks are refused.
    pub inbound_secret_file: Option<PathBuf>,
    /// What kind of provider it is, with that kind's settings.
    pub kind: ProviderKind,
}

/// The kinds of provider, each with its own settings table.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderKind {
    /// `[providers.simulator]`: the provider simulator (`varsel sim`), for tests, benchmarks and
    /// `varsel dev`.
    Simulator(SimulatorProviderConfig),
    /// `[providers.smpp]`: an SMS centre over SMPP 3.4 (`channel = "sms"`).
    Smpp(SmppProviderConfig),
    /// `[providers.smtp]`: an SMTP relay (`channel = "email"`).
    Smtp(SmtpProviderConfig),
    /// `[providers.http_sms]`: a generic HTTP JSON SMS provider.
    HttpSms(HttpSmsConfig),
    /// `[providers.webpush]`: Web Push (RFC 8030, VAPID, aes128gcm) to contacts' push
    /// subscriptions.
    WebPush(WebPushConfig),
    /// `[providers.voice_http]`: an HTTP text-to-speech voice-call provider.
    VoiceHttp(VoiceHttpConfig),
}

/// The names of the kind tables, as written in the file.
pub const KIND_TABLES: [&str; 6] = ["simulator", "smpp", "smtp", "http_sms", "webpush", "voice_http"];

impl ProviderKind {
    /// The name of this kind's table in the file (`smpp` for `[providers.smpp]`).
    pub fn table(&self) -> &'static str {
        match self {
            Self::Simulator(_) => "simulator",
            Self::Smpp(_) => "smpp",
            Self::Smtp(_) => "smtp",
            Self::HttpSms(_) => "http_sms",
            Self::WebPush(_) => "webpush",
            Self::VoiceHttp(_) => "voice_http",
        }
    }
}

const NEEDS_ONE_KIND: &str = "needs exactly one provider kind table, e.g. [providers.simulator]";

/// Checks, before the file is typed, that every `[[providers]]` entry has exactly one kind
/// table, so the error can name the entry (`providers[2].kind`).
pub(crate) fn check_kind_tables(file: &toml::Table) -> Result<(), ConfigError> {
    let Some(toml::Value::Array(entries)) = file.get("providers") else { return Ok(()) };
    for (i, entry) in entries.iter().enumerate() {
        let Some(table) = entry.as_table() else { continue };
        let kinds: Vec<&str> = KIND_TABLES.iter().copied().filter(|k| table.contains_key(*k)).collect();
        if kinds.len() != 1 {
            let found = if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") };
            return Err(ConfigError::invalid(
                format!("providers[{i}].kind"),
                format!("{NEEDS_ONE_KIND}; found {found}"),
            ));
        }
    }
    Ok(())
}

/// A provider as written in the file: the common fields and one optional table per kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderTable {
    name: String,
    channel: Channel,
    #[serde(default)]
    rate_per_second: u32,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    #[serde(default = "default_batch_max")]
    batch_max: usize,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inbound_secret_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    simulator: Option<SimulatorProviderConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    smpp: Option<SmppProviderConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    smtp: Option<SmtpProviderConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_sms: Option<HttpSmsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webpush: Option<WebPushConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    voice_http: Option<VoiceHttpConfig>,
}

impl TryFrom<ProviderTable> for ProviderConfig {
    type Error = String;

    fn try_from(t: ProviderTable) -> Result<Self, String> {
        let kind = match (t.simulator, t.smpp, t.smtp, t.http_sms, t.webpush, t.voice_http) {
            (Some(k), None, None, None, None, None) => ProviderKind::Simulator(k),
            (None, Some(k), None, None, None, None) => ProviderKind::Smpp(k),
            (None, None, Some(k), None, None, None) => ProviderKind::Smtp(k),
            (None, None, None, Some(k), None, None) => ProviderKind::HttpSms(k),
            (None, None, None, None, Some(k), None) => ProviderKind::WebPush(k),
            (None, None, None, None, None, Some(k)) => ProviderKind::VoiceHttp(k),
            _ => return Err(format!("provider {:?} {NEEDS_ONE_KIND}", t.name)),
        };
        Ok(Self {
            name: t.name,
            channel: t.channel,
            rate_per_second: t.rate_per_second,
            concurrency: t.concurrency,
            batch_max: t.batch_max,
            timeout_ms: t.timeout_ms,
            inbound_secret_file: t.inbound_secret_file,
            kind,
        })
    }
}

impl From<ProviderConfig> for ProviderTable {
    fn from(p: ProviderConfig) -> Self {
        let mut t = ProviderTable {
            name: p.name,
            channel: p.channel,
            rate_per_second: p.rate_per_second,
            concurrency: p.concurrency,
            batch_max: p.batch_max,
            timeout_ms: p.timeout_ms,
            inbound_secret_file: p.inbound_secret_file,
            simulator: None,
            smpp: None,
            smtp: None,
            http_sms: None,
            webpush: None,
            voice_http: None,
        };
        match p.kind {
            ProviderKind::Simulator(k) => t.simulator = Some(k),
            ProviderKind::Smpp(k) => t.smpp = Some(k),
            ProviderKind::Smtp(k) => t.smtp = Some(k),
            ProviderKind::HttpSms(k) => t.http_sms = Some(k),
            ProviderKind::WebPush(k) => t.webpush = Some(k),
            ProviderKind::VoiceHttp(k) => t.voice_http = Some(k),
        }
        t
    }
}

fn default_concurrency() -> usize {
    16
}
fn default_batch_max() -> usize {
    500
}
fn default_timeout_ms() -> u64 {
    10_000
}

impl ProviderConfig {
    /// A provider with the default limits (16 calls at once, 500 messages per call, 10 s per
    /// call, no rate limit) and no webhook secret.
    pub fn new(name: impl Into<String>, channel: Channel, kind: ProviderKind) -> Self {
        Self {
            name: name.into(),
            channel,
            rate_per_second: 0,
            concurrency: default_concurrency(),
            batch_max: default_batch_max(),
            timeout_ms: default_timeout_ms(),
            inbound_secret_file: None,
            kind,
        }
    }

    /// Checks the common fields and the kind's own rules; `i` is its place in the file.
    pub(crate) fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let field = |f: &str| format!("providers[{i}].{f}");
        check_name(&field("name"), &self.name)?;
        if self.concurrency == 0 || self.batch_max == 0 || self.timeout_ms == 0 {
            let rule = "concurrency, batch_max and timeout_ms must be positive";
            return Err(ConfigError::invalid(field("concurrency"), rule));
        }
        let prefix = field(self.kind.table());
        match &self.kind {
            ProviderKind::Simulator(k) => k.validate(&prefix),
            ProviderKind::HttpSms(k) => k.validate(&prefix, self.channel),
            ProviderKind::WebPush(k) => k.validate(&prefix, self.channel),
            ProviderKind::VoiceHttp(k) => k.validate(&prefix, self.channel),
            ProviderKind::Smpp(k) => {
                check_channel(i, self.channel, Channel::Sms, "smpp")?;
                k.validate_with_secret(&prefix)
            }
            ProviderKind::Smtp(k) => {
                check_channel(i, self.channel, Channel::Email, "smtp")?;
                k.validate_with_secrets(&prefix)
            }
        }
    }
}

fn check_channel(i: usize, channel: Channel, wanted: Channel, kind: &str) -> Result<(), ConfigError> {
    if channel == wanted {
        return Ok(());
    }
    let rule =
        format!("must be {} for a [providers.{kind}] provider, got {}", wanted.as_str(), channel.as_str());
    Err(ConfigError::invalid(format!("providers[{i}].channel"), rule))
}
