//! E-mail over SMTP with `lettre`: one message per recipient, through a pool of connections to
//! one relay (plain, STARTTLS or implicit TLS with rustls; SMTP AUTH when configured).
//!
//! Each message carries the alert's subject and body (`multipart/alternative` when it has both
//! a plain-text and an HTML body), a `Message-ID` made from the message key
//! (`<a12-c34-email-0@from-domain>`, so a message resent after a failover is recognisably the
//! same one), `Date`, `Auto-Submitted: auto-generated` (RFC 3834: no auto-replies to an alert)
//! and, when configured, `List-Unsubscribe`. lettre encodes a non-ASCII subject or display name
//! as RFC 2047 words and picks quoted-printable or base64 for UTF-8 bodies.
//!
//! # Outcomes
//!
//! | the relay answers | message result |
//! |---|---|
//! | 2xx | `Accepted(Message-ID)` |
//! | 5xx (e.g. 550 no such user at `RCPT TO`) | `Permanent` for that message only |
//! | 4xx (e.g. 451 try again, greylisting) | `Retryable` |
//! | no connection, TLS failure, timeout, 421, or an authentication failure (530/534/535/454) | `Retryable`; every message of a batch failing so is `ProviderError::Unavailable`, so failover starts |
//!
//! A message whose `DATA` was sent but whose final reply was lost may have been delivered; a
//! retry sends it again with the same Message-ID, which mail clients use to show it once.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hmac::{Hmac, Mac};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use varsel_domain::model::Channel;

use super::{BoxFuture, Provider, ProviderError, SendResult};
use crate::message::{MessageContent, OutboundMessage};
use varsel_config::providers::smtp::{SmtpProviderConfig, SmtpTls};

/// Reply codes that mean our credentials or session are refused: the relay, not the message,
/// is the problem, so they count as the provider being unavailable.
const SESSION_REFUSED_CODES: [&str; 5] = ["421", "454", "530", "534", "535"];
/// Hex digits of the `{sig}` placeholder (128 bits of HMAC-SHA256).
pub const UNSUBSCRIBE_SIG_HEX_LEN: usize = 32;

/// An SMTP relay.
#[derive(Debug)]
pub struct SmtpProvider {
    name: String,
    batch_max: usize,
    pool_size: usize,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
    reply_to: Option<Mailbox>,
    unsubscribe: Option<Unsubscribe>,
}

/// The `List-Unsubscribe` template and the key that signs `{sig}`.
#[derive(Clone)]
struct Unsubscribe {
    template: String,
    secret: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for Unsubscribe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsubscribe").field("template", &self.template).finish_non_exhaustive()
    }
}

impl Unsubscribe {
    fn target(&self, key: &str) -> String {
        let mut out = self.template.replace("{key}", key);
        if let Some(secret) = &self.secret {
            out = out.replace("{sig}", &signature(secret, key));
        }
        out
    }
}

/// The `{sig}` of a key: HMAC-SHA256 with the configured secret, first 128 bits in hex. An
/// unsubscribe handler recomputes it to check a request came from a link we sent.
pub fn signature(secret: &[u8], key: &str) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(key.as_bytes());
    let mut sig = hex::encode(mac.finalize().into_bytes());
    sig.truncate(UNSUBSCRIBE_SIG_HEX_LEN);
    sig
}

/// The secrets an SMTP provider needs, already read.
#[derive(Default)]
pub struct SmtpSecrets {
    /// The password of `username`.
    pub password: Option<String>,
    /// The key that signs unsubscribe links.
    pub unsubscribe_secret: Option<String>,
    /// Extra CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpSecrets(<redacted>)")
    }
}

/// A header by name and value, for those lettre has no type for.
#[derive(Debug, Clone)]
struct Raw<const N: usize>(String);

/// Names of the [`Raw`] headers, by index.
const RAW_NAMES: [&str; 2] = ["List-Unsubscribe", "Auto-Submitted"];

impl<const N: usize> Header for Raw<N> {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(RAW_NAMES[N])
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

type ListUnsubscribe = Raw<0>;
type AutoSubmitted = Raw<1>;

impl<const N: usize> From<&str> for Raw<N> {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

fn tls_parameters(cfg: &SmtpProviderConfig, ca_pem: Option<&[u8]>) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(cfg.host.clone());
    if let Some(pem) = ca_pem {
        let cert = Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| format!("TLS settings: {e}"))
}

fn transport(
    cfg: &SmtpProviderConfig,
    secrets: &SmtpSecrets,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = match cfg.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters(cfg, secrets.ca_pem.as_deref())?),
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters(cfg, secrets.ca_pem.as_deref())?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
        .port(cfg.port())
        .tls(tls)
        .timeout(Some(timeout))
        .pool_config(PoolConfig::new().max_size(cfg.pool_size));
    if let (Some(user), Some(password)) = (&cfg.username, &secrets.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

impl SmtpProvider {
    /// A provider for the relay in `cfg`; connections are opened on first use.
    pub fn new(
        name: String,
        cfg: &SmtpProviderConfig,
        secrets: SmtpSecrets,
        batch_max: usize,
        timeout: Duration,
    ) -> Result<Self, String> {
        let address: lettre::Address = cfg.from_address.parse().map_err(|e| format!("from_address: {e}"))?;
        let domain = address.domain().to_string();
        let from = Mailbox::new(cfg.from_name.clone(), address);
        let reply_to =
            cfg.reply_to.as_deref().map(str::parse).transpose().map_err(|e| format!("reply_to: {e}"))?;
        let unsubscribe = cfg.list_unsubscribe.clone().map(|template| Unsubscribe {
            template,
            secret: secrets.unsubscribe_secret.as_deref().map(|s| Arc::from(s.as_bytes())),
        });
        Ok(Self {
            name,
            batch_max,
            pool_size: cfg.pool_size as usize,
            transport: transport(cfg, &secrets, timeout)?,
            from,
            domain,
            reply_to,
            unsubscribe,
        })
    }

    /// The Message-ID of the message with `key`.
    pub fn message_id(&self, key: &str) -> String {
        format!("<{key}@{}>", self.domain)
    }

    /// The e-mail for one message, or why it can never be sent.
    pub fn build(&self, m: &OutboundMessage) -> Result<Message, String> {
        let MessageContent::Email { subject, text, html } = &m.content else {
            return Err(format!("provider {} carries e-mail only", self.name));
        };
        let to: Mailbox = m.to.parse().map_err(|e| format!("recipient address: {e}"))?;
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject.clone())
            .message_id(Some(self.message_id(&m.key)))
            .date_now()
            .header(AutoSubmitted::from("auto-generated"));
        if let Some(r) = &self.reply_to {
            b = b.reply_to(r.clone());
        }
        if let Some(u) = &self.unsubscribe {
            b = b.header(ListUnsubscribe::from(format!("<{}>", u.target(&m.key)).as_str()));
        }
        let built = match (text, html) {
            (Some(t), Some(h)) => b.multipart(MultiPart::alternative_plain_html(t.clone(), h.clone())),
            (None, Some(h)) => b.singlepart(SinglePart::html(h.clone())),
            (t, None) => b.singlepart(SinglePart::plain(t.clone().unwrap_or_default())),
        };
        built.map_err(|e| format!("cannot build the e-mail: {e}"))
    }

    async fn send_one(&self, m: &OutboundMessage) -> (SendResult, bool) {
        let email = match self.build(m) {
            Ok(e) => e,
            Err(e) => return (SendResult::Permanent(e), false),
        };
        match self.transport.send(email).await {
            Ok(_) => (SendResult::Accepted(self.message_id(&m.key)), false),
            Err(e) => classify(&e),
        }
    }

    async fn send_batch(&self, batch: &[OutboundMessage]) -> Result<Vec<SendResult>, ProviderError> {
        // By index: a closure over `&OutboundMessage` would not be general enough for `Send`.
        let outcomes: Vec<(SendResult, bool)> = futures::stream::iter(0..batch.len())
            .map(|i| self.send_one(&batch[i]))
            .buffered(self.pool_size.max(1))
            .collect()
            .await;
        if !outcomes.is_empty() && outcomes.iter().all(|(_, relay_down)| *relay_down) {
            let why = match &outcomes[0].0 {
                SendResult::Retryable(e) => e.clone(),
                _ => "relay unavailable".into(),
            };
            return Err(ProviderError::Unavailable(why));
        }
        Ok(outcomes.into_iter().map(|(r, _)| r).collect())
    }
}

/// A failed send's result, and whether the relay rather than the message is at fault.
fn classify(e: &lettre::transport::smtp::Error) -> (SendResult, bool) {
    let code = e.status().map(|c| c.to_string());
    let session_refused = code.as_deref().is_some_and(|c| SESSION_REFUSED_CODES.contains(&c));
    if e.is_permanent() && !session_refused {
        return (SendResult::Permanent(format!("relay refused the message: {e}")), false);
    }
    if e.is_transient() && !session_refused {
        return (SendResult::Retryable(format!("relay deferred the message: {e}")), false);
    }
    (SendResult::Retryable(format!("relay unavailable: {e}")), true)
}

impl Provider for SmtpProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn batch_max(&self) -> usize {
        self.batch_max
    }

    fn send<'a>(
        &'a self,
        batch: &'a [OutboundMessage],
    ) -> BoxFuture<'a, Result<Vec<SendResult>, ProviderError>> {
        Box::pin(self.send_batch(batch))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move {
            match self.transport.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err(ProviderError::Unavailable("relay did not answer NOOP".into())),
                Err(e) => Err(ProviderError::Unavailable(e.to_string())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use varsel_domain::model::Priority;

    fn provider(cfg_extra: impl FnOnce(&mut SmtpProviderConfig)) -> SmtpProvider {
        let mut cfg = SmtpProviderConfig {
            host: "127.0.0.1".into(),
            port: Some(2525),
            tls: SmtpTls::None,
            ca_file: None,
            username: None,
            password_file: None,
            password_env: None,
            from_address: "varsel@kommune.no".into(),
            from_name: Some("Kommunen varsler".into()),
            reply_to: None,
            list_unsubscribe: Some("https://kommune.no/avmeld?m={key}&s={sig}".into()),
            list_unsubscribe_secret_file: None,
            pool_size: 2,
        };
        cfg_extra(&mut cfg);
        let secrets = SmtpSecrets { unsubscribe_secret: Some("k".into()), ..SmtpSecrets::default() };
        SmtpProvider::new("mail".into(), &cfg, secrets, 10, Duration::from_secs(5)).expect("valid")
    }

    fn message(text: Option<&str>, html: Option<&str>) -> OutboundMessage {
        OutboundMessage {
            key: "a7-c9-email-2".into(),
            alert: 7,
            tenant: 1,
            contact: 9,
            channel: Channel::Email,
            step: 2,
            priority: Priority::Crisis,
            to: "Ola Nordmann <ola@example.no>".into(),
            content: MessageContent::Email {
                subject: "Varsel: æøå".into(),
                text: text.map(Into::into),
                html: html.map(Into::into),
            },
            senders: Default::default(),
        }
    }

    /// Goal: the headers we promise are in the formatted e-mail. Method: format a message with
    /// both bodies and look for each header; the content is checked by a real server in
    /// `tests/channels`. (The connection pool needs a runtime, though nothing connects.)
    #[tokio::test]
    async fn headers() {
        let p = provider(|_| {});
        let raw = String::from_utf8(
            p.build(&message(Some("tekst"), Some("<p>tekst</p>"))).expect("builds").formatted(),
        )
        .expect("ASCII on the wire");
        assert!(raw.contains("Message-ID: <a7-c9-email-2@kommune.no>"), "{raw}");
        let sig = signature(b"k", "a7-c9-email-2");
        assert!(
            raw.contains(&format!("List-Unsubscribe: <https://kommune.no/avmeld?m=a7-c9-email-2&s={sig}>")),
            "{raw}"
        );
        assert!(raw.contains("Auto-Submitted: auto-generated") && raw.contains("Date: "));
        assert!(
            raw.contains("multipart/alternative") && raw.contains("Subject: Varsel: =?utf-8?b?"),
            "{raw}"
        );
        assert!(p.build(&OutboundMessage { to: "not an address".into(), ..message(None, None) }).is_err());
    }
}
