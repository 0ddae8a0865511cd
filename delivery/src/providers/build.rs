//! Building each channel's providers from the configuration, in configured order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use varsel_config::providers::{
    ProviderKind, SimulatorProviderConfig, SmppProviderConfig, SmtpProviderConfig, VoiceHttpConfig,
};
use varsel_config::secret::{SecretSource, read_secret};
use varsel_config::{DeliveryConfig, ProviderConfig};
use varsel_domain::model::Channel;

use super::http_sms::HttpSmsProvider;
use super::simulator::SimulatorProvider;
use super::voice::VoiceProvider;
use super::webpush::WebPushProvider;
use super::{InboundSink, Provider, ProviderEvents, ProviderSet, RetryPolicy, Slot};

/// A provider that could not be built; the node does not start.
#[derive(Debug, thiserror::Error)]
#[error("provider {provider}: {reason}")]
pub struct BuildError {
    /// The provider's name.
    pub provider: String,
    /// Why (a secret or key file that cannot be read, a missing callback URL).
    pub reason: String,
}

/// Builds the providers of every channel from the configuration, in configured order.
/// Providers that receive receipts or replies on their own connections hand them to `inbound`.
/// Fails when a provider's key or credential file cannot be read.
pub fn build_providers(
    configs: &[ProviderConfig],
    delivery: &DeliveryConfig,
    events: Arc<dyn ProviderEvents>,
    inbound: Arc<dyn InboundSink>,
) -> Result<BTreeMap<Channel, Arc<ProviderSet>>, BuildError> {
    let retry = RetryPolicy {
        attempts_max: delivery.retry_attempts_max,
        budget: Duration::from_millis(delivery.retry_budget_ms),
        ..RetryPolicy::default()
    };
    let mut slots: BTreeMap<Channel, Vec<Slot>> = Channel::ALL.iter().map(|c| (*c, Vec::new())).collect();
    for p in configs {
        let provider = build_one(p, delivery, &inbound)
            .map_err(|reason| BuildError { provider: p.name.clone(), reason })?;
        slots.entry(p.channel).or_default().push(Slot::new(provider, p.rate_per_second, p.concurrency));
    }
    Ok(slots.into_iter().map(|(c, s)| (c, Arc::new(ProviderSet::new(c, s, retry, events.clone())))).collect())
}

/// The provider `p` describes.
fn build_one(
    p: &ProviderConfig,
    delivery: &DeliveryConfig,
    inbound: &Arc<dyn InboundSink>,
) -> Result<Arc<dyn Provider>, String> {
    let timeout = Duration::from_millis(p.timeout_ms);
    let provider: Arc<dyn Provider> = match &p.kind {
        ProviderKind::Simulator(sim) => Arc::new(simulator(p, sim, delivery)),
        ProviderKind::HttpSms(c) => {
            Arc::new(HttpSmsProvider::new(&p.name, c, p.batch_max, timeout).map_err(|e| e.to_string())?)
        }
        ProviderKind::WebPush(c) => {
            // Push endpoints are tenants' data: only the operator's allowed internal ranges.
            let allowed = delivery.allowed_tenant_networks().map_err(|e| e.to_string())?;
            Arc::new(
                WebPushProvider::new(&p.name, c, p.batch_max, timeout, allowed, inbound.clone())
                    .map_err(|e| e.to_string())?,
            )
        }
        ProviderKind::VoiceHttp(c) => Arc::new(voice_provider(p, c, delivery)?),
        ProviderKind::Smpp(c) => Arc::new(smpp(p, c, inbound)?),
        ProviderKind::Smtp(c) => Arc::new(smtp(p, c)?),
    };
    Ok(provider)
}

fn simulator(
    p: &ProviderConfig,
    sim: &SimulatorProviderConfig,
    delivery: &DeliveryConfig,
) -> SimulatorProvider {
    SimulatorProvider::new(
        p.name.clone(),
        sim.remote_name.clone().unwrap_or_else(|| p.name.clone()),
        p.channel,
        sim.url.clone(),
        delivery.callback_url.clone(),
        p.batch_max,
        Duration::from_millis(p.timeout_ms),
    )
}

/// A voice provider: it must be able to call us back, signed.
fn voice_provider(
    p: &ProviderConfig,
    c: &VoiceHttpConfig,
    delivery: &DeliveryConfig,
) -> Result<VoiceProvider, String> {
    let Some(base) = c.callback_url.as_ref().or(delivery.callback_url.as_ref()) else {
        return Err("a voice provider reports calls through a callback; set delivery.callback_url or \
             providers.voice_http.callback_url"
            .into());
    };
    if p.inbound_secret_file.is_none() {
        return Err("a voice provider's callbacks are signed; set its inbound_secret_file".into());
    }
    VoiceProvider::new(&p.name, c, base, p.batch_max, Duration::from_millis(p.timeout_ms))
        .map_err(|e| e.to_string())
}

/// An SMSC over SMPP. Its password is read here (configuration validation read it once
/// already, so an error means the file changed since).
fn smpp(
    p: &ProviderConfig,
    c: &SmppProviderConfig,
    inbound: &Arc<dyn InboundSink>,
) -> Result<super::smpp::SmppProvider, String> {
    let password = read_secret("smpp.password", c.password_source()).map_err(|e| e.to_string())?;
    let timeout = Duration::from_millis(p.timeout_ms);
    super::smpp::SmppProvider::start(p.name.clone(), c, password, p.batch_max, timeout, inbound.clone())
}

/// An SMTP relay, with its secrets read as for [`smpp`].
fn smtp(p: &ProviderConfig, c: &SmtpProviderConfig) -> Result<super::smtp::SmtpProvider, String> {
    let read = |field: &str, source| read_secret(field, source).map_err(|e| e.to_string());
    let secrets = super::smtp::SmtpSecrets {
        password: c.username.as_ref().map(|_| read("smtp.password", c.password_source())).transpose()?,
        unsubscribe_secret: c
            .list_unsubscribe_secret_file
            .as_deref()
            .map(|f| read("smtp.list_unsubscribe_secret_file", SecretSource { file: Some(f), env: None }))
            .transpose()?,
        ca_pem: c
            .ca_file
            .as_ref()
            .map(|f| std::fs::read(f).map_err(|e| format!("smtp.ca_file {}: {e}", f.display())))
            .transpose()?,
    };
    super::smtp::SmtpProvider::new(
        p.name.clone(),
        c,
        secrets,
        p.batch_max,
        Duration::from_millis(p.timeout_ms),
    )
}
