//! Configuration: one serde struct loadable from TOML or JSON, every field documented with
//! its default, and a `validate()` that names the field at fault and the accepted range.
//!
//! ```toml
//! listen = "127.0.0.1:8900"
//! seed = 42
//! callback_secret_file = "/run/secrets/sim-callback"
//! callback_urls = ["http://127.0.0.1:8101", "http://127.0.0.1:8102", "http://127.0.0.1:8103"]
//!
//! [[providers]]
//! name = "sms-primary"
//! channel = "sms"
//! latency_ms = 40
//! error_rate = 0.01
//! receipts = true
//! reply_rate = 0.1
//! ```

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

use hyper::Uri;
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    limits::{
        CALLBACK_DELAY_MS_MAX, CALLBACK_URLS_MAX, INBOX_DEFAULT, INBOX_MAX, KEYS_RECORDED_DEFAULT,
        KEYS_RECORDED_MAX, LATENCY_MS_MAX, PROVIDER_NAME_BYTES_MAX, PROVIDERS_MAX, RATE_PER_SECOND_MAX,
        REPLY_TEXT_BYTES_MAX, TIMEOUT_AFTER_ACCEPT_MS_MAX,
    },
};

/// A delivery channel; a provider serves exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Text message.
    Sms,
    /// Text-to-speech call.
    Voice,
    /// E-mail.
    Email,
    /// Mobile/web push.
    Push,
}

impl Channel {
    /// The name used on the wire and in idempotency keys.
    pub fn as_str(self) -> &'static str {
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

/// The whole simulator. `Default` is [`SimConfig::demo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Address [`crate::run`] binds. Default `127.0.0.1:8900`. [`crate::serve`] ignores it
    /// and uses the listener it is given.
    pub listen: SocketAddr,
    /// Seed of every random choice: error draws, latency jitter, replies, provider ids.
    /// Default 1. Printed at start; the same seed and the same arrivals per key give the same
    /// answers, whatever the interleaving of batches.
    pub seed: u64,
    /// Secret of the HMAC-SHA256 signature on receipt and reply callbacks.
    /// Default `"varsel-sim-dev-secret"`; ignored when `callback_secret_file` is set.
    pub callback_secret: String,
    /// File holding the callback secret (trailing whitespace trimmed). Default none.
    pub callback_secret_file: Option<PathBuf>,
    /// Base URLs (`https://host:port`, or `http://` for a plaintext cluster) of every node's
    /// inbound endpoint: when the callback URL a message came with fails, its receipts and
    /// replies go to these in turn. Default empty (only the message's own callback is tried).
    /// At most 16.
    pub callback_urls: Vec<String>,
    /// PEM file with the cluster's CA certificate: callbacks to `https://` URLs are verified
    /// against it, and nothing else. Default none (only `http://` callbacks work).
    pub callback_ca_file: Option<PathBuf>,
    /// Distinct full keys kept for `/admin/keys`; further keys are still counted exactly
    /// (by hash) but not listed. Default 100,000, at most 10,000,000.
    pub keys_recorded_max: usize,
    /// Deliveries kept with what the recipient saw (address, text, time) for `/admin/inbox`:
    /// the first ones, in arrival order; further deliveries are only counted. Default 10,000,
    /// at most 1,000,000.
    pub inbox_max: usize,
    /// The providers served, at most 8. Default: the five of [`SimConfig::demo`].
    pub providers: Vec<ProviderConfig>,
}

/// One simulated provider. Every field but `name` and `channel` can be changed at run time
/// through `POST /admin/providers/{name}` (see [`ProviderSettings`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name in URLs and provider ids: ASCII letters, digits, `-`, `_`. Required.
    pub name: String,
    /// The channel it serves; messages of another channel are rejected `permanent`.
    /// Default `sms`.
    pub channel: Channel,
    /// Starts in an outage (every batch 503). Default false.
    pub outage: bool,
    /// Time to answer a batch, after recording it. Default 0.
    pub latency_ms: u64,
    /// Latency varies uniformly within ± this, per batch. Default 0.
    pub latency_jitter_ms: u64,
    /// Fraction of messages answered `retryable`. Default 0.0.
    pub error_rate: f64,
    /// Fraction of messages answered `permanent`. Default 0.0. With `error_rate`, at most 1.
    pub permanent_error_rate: f64,
    /// Throughput cap in messages per second (whole batches beyond it get 429 with
    /// `Retry-After`); 0 is unlimited. Default 0.
    pub rate_per_second: u64,
    /// Answer a key this provider already accepted with the same provider id instead of
    /// delivering it again. Default true.
    pub honour_idempotency: bool,
    /// Send a delivery receipt for every newly accepted message. Default false.
    pub receipts: bool,
    /// Delay between acceptance and the receipt. Default 0.
    pub receipt_delay_ms: u64,
    /// Fraction of receipts that say `failed` (deterministic per key). Default 0.0.
    pub receipt_failure_rate: f64,
    /// Fraction of SMS recipients who reply (deterministic per key, see
    /// [`crate::will_reply`]); ignored for other channels. Default 0.0.
    pub reply_rate: f64,
    /// What they reply. Default `"OK"`.
    pub reply_text: String,
    /// Delay between acceptance and the reply. Default 0.
    pub reply_delay_ms: u64,
    /// Fraction of batches that are recorded and delivered (the handsets get them) and then
    /// not answered in time, drawn per batch from the seed and its first message's history:
    /// the client sees a failure although the provider took the messages. Default 0.0.
    pub timeout_after_accept_rate: f64,
    /// How such a batch is not answered: 0 closes the connection without an answer; more holds
    /// the answer this long (choose more than the client's timeout), at most 300,000.
    /// Default 0.
    pub timeout_after_accept_ms: u64,
    /// Fraction of batches of two or more messages throttled part-way: the first messages
    /// (a number drawn from the seed, at least one) are taken, the rest answered `retryable`
    /// with a throttling error, as a provider that hits its rate limit mid-batch does.
    /// Default 0.0.
    pub throttle_mid_batch_rate: f64,
    /// Re-send a receipt or reply whose every callback attempt failed (no 2xx): it is queued
    /// again for another round after [`crate::limits::CALLBACK_REDELIVERY_DELAY_MS`], up to
    /// [`crate::limits::CALLBACK_REDELIVERIES_MAX`] times, as real providers redeliver
    /// webhooks. Default false: given up after one round of attempts.
    pub redeliver_callbacks: bool,
    /// Fraction of acknowledged (2xx) receipts and replies sent once more anyway, drawn per
    /// key from the seed: real providers do, so receivers must be idempotent. Default 0.0.
    pub duplicate_callback_rate: f64,
}

/// A change to a provider's behaviour: the body of `POST /admin/providers/{name}`. Fields
/// left `None` keep their value; the meaning of each is that of [`ProviderConfig`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_jitter_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permanent_error_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honour_idempotency: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_failure_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_after_accept_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_after_accept_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_mid_batch_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redeliver_callbacks: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_callback_rate: Option<f64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::demo()
    }
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            name: String::new(),
            channel: Channel::Sms,
            outage: false,
            latency_ms: 0,
            latency_jitter_ms: 0,
            error_rate: 0.0,
            permanent_error_rate: 0.0,
            rate_per_second: 0,
            honour_idempotency: true,
            receipts: false,
            receipt_delay_ms: 0,
            receipt_failure_rate: 0.0,
            reply_rate: 0.0,
            reply_text: "OK".to_owned(),
            reply_delay_ms: 0,
            timeout_after_accept_rate: 0.0,
            timeout_after_accept_ms: 0,
            throttle_mid_batch_rate: 0.0,
            redeliver_callbacks: false,
            duplicate_callback_rate: 0.0,
        }
    }
}

impl ProviderConfig {
    /// A provider with every behaviour at its default: instant, error-free, unlimited.
    pub fn new(name: &str, channel: Channel) -> Self {
        ProviderConfig { name: name.to_owned(), channel, ..Default::default() }
    }
}

impl SimConfig {
    /// A simulator with the given providers and every other field at its default.
    pub fn with_providers(providers: Vec<ProviderConfig>) -> Self {
        SimConfig { providers, ..Self::demo() }
    }

    /// Five providers that behave like the real ones in `varsel dev`: two SMS providers with
    /// a little latency and rare errors, a voice provider capped at 200 calls a second whose
    /// receipts come after the call, e-mail and push. Benchmarks set what they measure.
    pub fn demo() -> Self {
        let provider = |name: &str, channel, latency_ms, jitter_ms, receipt_delay_ms| ProviderConfig {
            latency_ms,
            latency_jitter_ms: jitter_ms,
            receipts: true,
            receipt_delay_ms,
            ..ProviderConfig::new(name, channel)
        };
        let sms_primary = ProviderConfig {
            error_rate: 0.001,
            reply_rate: 0.05,
            reply_delay_ms: 5_000,
            ..provider("sms-primary", Channel::Sms, 40, 20, 2_000)
        };
        let sms_alt = ProviderConfig {
            error_rate: 0.002,
            reply_rate: 0.05,
            reply_delay_ms: 5_000,
            ..provider("sms-alt", Channel::Sms, 80, 40, 3_000)
        };
        let voice =
            ProviderConfig { rate_per_second: 200, ..provider("voice", Channel::Voice, 200, 100, 20_000) };
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8900)),
            seed: 1,
            callback_secret: "varsel-sim-dev-secret".to_owned(),
            callback_secret_file: None,
            callback_urls: Vec::new(),
            callback_ca_file: None,
            keys_recorded_max: KEYS_RECORDED_DEFAULT,
            inbox_max: INBOX_DEFAULT,
            providers: vec![
                sms_primary,
                sms_alt,
                voice,
                provider("email", Channel::Email, 50, 25, 1_000),
                provider("push", Channel::Push, 30, 10, 500),
            ],
        }
    }

    /// Reads a configuration file: JSON when the name ends in `.json`, TOML otherwise.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| Error::File { path: path.to_owned(), source })?;
        let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let config = if json { Self::from_json(&text) } else { Self::from_toml(&text) };
        config.map_err(|e| match e {
            Error::Config(message) => Error::Config(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    /// Parses and validates TOML.
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: SimConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: SimConfig = serde_json::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The CA certificate(s) callbacks are verified against, from `callback_ca_file`.
    pub fn callback_ca(&self) -> Result<Option<Vec<u8>>> {
        let Some(path) = &self.callback_ca_file else { return Ok(None) };
        std::fs::read(path).map(Some).map_err(|source| Error::File { path: path.clone(), source })
    }

    /// The callback secret, from `callback_secret_file` when it is set.
    pub fn secret(&self) -> Result<Vec<u8>> {
        let Some(path) = &self.callback_secret_file else {
            return Ok(self.callback_secret.as_bytes().to_vec());
        };
        let text =
            std::fs::read_to_string(path).map_err(|source| Error::File { path: path.clone(), source })?;
        let secret = text.trim_end().as_bytes().to_vec();
        if secret.is_empty() {
            return Err(Error::Config(format!("callback_secret_file: {} is empty", path.display())));
        }
        Ok(secret)
    }

    /// Checks every field; the error names the first one at fault.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::Config(msg));
        if self.providers.is_empty() {
            return fail("providers: at least one provider is needed".into());
        }
        if self.providers.len() > PROVIDERS_MAX {
            return fail(format!("providers: {} given, at most {PROVIDERS_MAX}", self.providers.len()));
        }
        for (i, provider) in self.providers.iter().enumerate() {
            provider.validate(&format!("providers[{i}]")).map_err(Error::Config)?;
            if self.providers[..i].iter().any(|p| p.name == provider.name) {
                return fail(format!("providers[{i}].name: {:?} is used twice", provider.name));
            }
        }
        if self.callback_secret.is_empty() && self.callback_secret_file.is_none() {
            return fail("callback_secret: empty (set it or callback_secret_file)".into());
        }
        if self.callback_urls.len() > CALLBACK_URLS_MAX {
            return fail(format!(
                "callback_urls: {} given, at most {CALLBACK_URLS_MAX}",
                self.callback_urls.len()
            ));
        }
        for (i, url) in self.callback_urls.iter().enumerate() {
            parse_base_url(url).map_err(|e| Error::Config(format!("callback_urls[{i}]: {e}")))?;
        }
        if self.keys_recorded_max > KEYS_RECORDED_MAX {
            return fail(format!(
                "keys_recorded_max: {} is above {KEYS_RECORDED_MAX}",
                self.keys_recorded_max
            ));
        }
        if self.inbox_max > INBOX_MAX {
            return fail(format!("inbox_max: {} is above {INBOX_MAX}", self.inbox_max));
        }
        Ok(())
    }
}

impl ProviderConfig {
    /// Checks every field; `field` is how the caller names this provider (`providers[2]`).
    pub(crate) fn validate(&self, field: &str) -> Result<(), String> {
        let name_ok = self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if self.name.is_empty() || self.name.len() > PROVIDER_NAME_BYTES_MAX || !name_ok {
            return Err(format!(
                "{field}.name: {:?} must be 1 to {PROVIDER_NAME_BYTES_MAX} ASCII letters, digits, '-' or '_'",
                self.name
            ));
        }
        check_max(field, "latency_ms", self.latency_ms, LATENCY_MS_MAX)?;
        check_max(field, "latency_jitter_ms", self.latency_jitter_ms, LATENCY_MS_MAX)?;
        check_max(field, "rate_per_second", self.rate_per_second, RATE_PER_SECOND_MAX)?;
        check_max(field, "receipt_delay_ms", self.receipt_delay_ms, CALLBACK_DELAY_MS_MAX)?;
        check_max(field, "reply_delay_ms", self.reply_delay_ms, CALLBACK_DELAY_MS_MAX)?;
        check_fraction(field, "error_rate", self.error_rate)?;
        check_fraction(field, "permanent_error_rate", self.permanent_error_rate)?;
        check_fraction(field, "receipt_failure_rate", self.receipt_failure_rate)?;
        check_fraction(field, "reply_rate", self.reply_rate)?;
        check_fraction(field, "timeout_after_accept_rate", self.timeout_after_accept_rate)?;
        check_max(
            field,
            "timeout_after_accept_ms",
            self.timeout_after_accept_ms,
            TIMEOUT_AFTER_ACCEPT_MS_MAX,
        )?;
        check_fraction(field, "throttle_mid_batch_rate", self.throttle_mid_batch_rate)?;
        check_fraction(field, "duplicate_callback_rate", self.duplicate_callback_rate)?;
        if self.error_rate + self.permanent_error_rate > 1.0 {
            return Err(format!(
                "{field}.error_rate + permanent_error_rate: {} + {} is above 1.0",
                self.error_rate, self.permanent_error_rate
            ));
        }
        if self.reply_text.len() > REPLY_TEXT_BYTES_MAX {
            return Err(format!(
                "{field}.reply_text: {} bytes, at most {REPLY_TEXT_BYTES_MAX}",
                self.reply_text.len()
            ));
        }
        Ok(())
    }

    /// This configuration with `change` applied; the caller validates the result.
    pub(crate) fn with(&self, change: &ProviderSettings) -> ProviderConfig {
        let c = change.clone();
        ProviderConfig {
            name: self.name.clone(),
            channel: self.channel,
            outage: c.outage.unwrap_or(self.outage),
            latency_ms: c.latency_ms.unwrap_or(self.latency_ms),
            latency_jitter_ms: c.latency_jitter_ms.unwrap_or(self.latency_jitter_ms),
            error_rate: c.error_rate.unwrap_or(self.error_rate),
            permanent_error_rate: c.permanent_error_rate.unwrap_or(self.permanent_error_rate),
            rate_per_second: c.rate_per_second.unwrap_or(self.rate_per_second),
            honour_idempotency: c.honour_idempotency.unwrap_or(self.honour_idempotency),
            receipts: c.receipts.unwrap_or(self.receipts),
            receipt_delay_ms: c.receipt_delay_ms.unwrap_or(self.receipt_delay_ms),
            receipt_failure_rate: c.receipt_failure_rate.unwrap_or(self.receipt_failure_rate),
            reply_rate: c.reply_rate.unwrap_or(self.reply_rate),
            reply_text: c.reply_text.unwrap_or_else(|| self.reply_text.clone()),
            reply_delay_ms: c.reply_delay_ms.unwrap_or(self.reply_delay_ms),
            timeout_after_accept_rate: c.timeout_after_accept_rate.unwrap_or(self.timeout_after_accept_rate),
            timeout_after_accept_ms: c.timeout_after_accept_ms.unwrap_or(self.timeout_after_accept_ms),
            throttle_mid_batch_rate: c.throttle_mid_batch_rate.unwrap_or(self.throttle_mid_batch_rate),
            redeliver_callbacks: c.redeliver_callbacks.unwrap_or(self.redeliver_callbacks),
            duplicate_callback_rate: c.duplicate_callback_rate.unwrap_or(self.duplicate_callback_rate),
        }
    }

    /// Every changeable field of this configuration as a change: applied to any provider, it
    /// gives it this behaviour (the chaos harness restores a shared simulator with it).
    pub fn as_settings(&self) -> ProviderSettings {
        let c = self.clone();
        ProviderSettings {
            outage: Some(c.outage),
            latency_ms: Some(c.latency_ms),
            latency_jitter_ms: Some(c.latency_jitter_ms),
            error_rate: Some(c.error_rate),
            permanent_error_rate: Some(c.permanent_error_rate),
            rate_per_second: Some(c.rate_per_second),
            honour_idempotency: Some(c.honour_idempotency),
            receipts: Some(c.receipts),
            receipt_delay_ms: Some(c.receipt_delay_ms),
            receipt_failure_rate: Some(c.receipt_failure_rate),
            reply_rate: Some(c.reply_rate),
            reply_text: Some(c.reply_text),
            reply_delay_ms: Some(c.reply_delay_ms),
            timeout_after_accept_rate: Some(c.timeout_after_accept_rate),
            timeout_after_accept_ms: Some(c.timeout_after_accept_ms),
            throttle_mid_batch_rate: Some(c.throttle_mid_batch_rate),
            redeliver_callbacks: Some(c.redeliver_callbacks),
            duplicate_callback_rate: Some(c.duplicate_callback_rate),
        }
    }
}

impl ProviderSettings {
    /// Checks the change on its own, as applied to a provider at its defaults; the error names
    /// `field` and the setting (`sim.providers.sms-primary.error_rate: 1.5 is outside ...`).
    /// The simulator checks again against the behaviour in force when it is applied.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        let probe = ProviderConfig { name: "probe".into(), ..ProviderConfig::default() };
        probe.with(self).validate(field)
    }
}

fn check_max(field: &str, name: &str, value: u64, max: u64) -> Result<(), String> {
    if value > max {
        return Err(format!("{field}.{name}: {value} is above {max}"));
    }
    Ok(())
}

fn check_fraction(field: &str, name: &str, value: f64) -> Result<(), String> {
    // `contains` is false for NaN, which JSON cannot carry but a Rust caller can.
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{field}.{name}: {value} is outside 0.0..=1.0"));
    }
    Ok(())
}

/// Checks a callback base URL: plain `http` (the nodes' inbound listener on a private
/// network or loopback) with a host.
pub(crate) fn parse_base_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(format!("{url:?} must look like https://host:port (or http:// for a plaintext cluster)"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the demo and the documented TOML example are valid, and a bad field is named.
    #[test]
    fn demo_valid_and_errors_name_the_field() {
        assert!(SimConfig::demo().validate().is_ok());
        let toml = "seed = 42\n[[providers]]\nname = \"sms-primary\"\nerror_rate = 1.5\n";
        let err = SimConfig::from_toml(toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("providers[0].error_rate"), "{err}");
        let err = SimConfig::from_toml("sed = 1").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("sed"), "{err}");
        let ok = SimConfig::from_toml("seed = 7\n[[providers]]\nname = \"p\"\nchannel = \"voice\"\n");
        assert!(ok.is_ok_and(|c| c.seed == 7 && c.providers[0].honour_idempotency));
    }
}
