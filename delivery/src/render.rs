//! Personalising an alert's content for one recipient on one channel.
//!
//! Templates are parsed once per alert and language ([`Renderer`] caches them); each
//! recipient gets the variant of their language (falling back per channel to the default),
//! the alert's variables and their own `{{name}}` and `{{external_id}}`. An SMS that needs more
//! segments than the tenant allows once personalised is refused for that recipient with the
//! reason, never truncated.

use std::collections::HashMap;
use std::sync::Arc;

use varsel_domain::answers::AnswerOption;
use varsel_domain::model::{Alert, Channel, ChannelContent, Contact};
use varsel_domain::sms;
use varsel_domain::template::Template;
use varsel_raft_store::delivery::message_key;

use crate::message::{MessageContent, OutboundMessage, PushAnswers, Senders};

/// Why a recipient cannot be messaged on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSendable {
    /// Opted out of the channel.
    OptedOut,
    /// No address for the channel (or a dead push subscription).
    NoAddress,
    /// The content cannot be rendered for them (e.g. too long once personalised).
    Content(String),
}

/// Parsed templates of one alert, and where its tenant's messages are sent from.
#[derive(Debug, Default)]
pub struct Renderer {
    /// Parsed fields by language and field name; `None` for a field the variant leaves empty.
    cache: HashMap<String, HashMap<&'static str, Option<Arc<Template>>>>,
    senders: Arc<Senders>,
    answer_links: Option<AnswerLinks>,
}

/// Where an alert's response links point, the key of their tags, and the options (for push
/// notifications' buttons).
#[derive(Debug, Clone)]
struct AnswerLinks {
    base: String,
    key: [u8; 32],
    options: Vec<AnswerOption>,
}

impl Renderer {
    /// A renderer whose messages are sent from `senders` (per provider).
    pub fn with_senders(senders: Senders) -> Self {
        Self { cache: HashMap::new(), senders: Arc::new(senders), answer_links: None }
    }

    /// Fills `{{answer_link}}` with `{base}/r/{token}`, the token tagged under the alert's link
    /// key (see `varsel_domain::answers`), and gives push notifications a button per option.
    #[must_use]
    pub fn with_answers(mut self, base: &str, asked: &varsel_domain::answers::AlertAnswers) -> Self {
        self.answer_links = Some(AnswerLinks {
            base: base.trim_end_matches('/').to_string(),
            key: asked.link_key,
            options: asked.options.clone(),
        });
        self
    }

    /// The response link of `contact` for `alert`; empty when the alert has no options.
    pub fn answer_link(&self, alert: &Alert, contact: &Contact) -> String {
        self.answer_links.as_ref().map_or_else(String::new, |l| {
            let token = varsel_domain::answers::link_token(&l.key, alert.tenant, alert.id, contact.id);
            format!("{}/r/{token}", l.base)
        })
    }

    /// The buttons of a push notification to `contact`, labelled in `lang` (the language of
    /// the text they come with); `None` when the alert has no options.
    fn push_answers(&self, alert: &Alert, contact: &Contact, lang: &str) -> Option<PushAnswers> {
        let links = self.answer_links.as_ref()?;
        let default = alert.spec.content.default_language.as_str();
        Some(PushAnswers {
            url: self.answer_link(alert, contact),
            labels: links.options.iter().map(|o| o.label(Some(lang), default).to_string()).collect(),
        })
    }

    fn field(
        &mut self,
        lang: &str,
        name: &'static str,
        text: Option<&String>,
    ) -> Result<Option<Arc<Template>>, String> {
        // Looked up without building a key: this runs for every message.
        if let Some(t) = self.cache.get(lang).and_then(|fields| fields.get(name)) {
            return Ok(t.clone());
        }
        let parsed =
            text.map(|t| Template::parse(name, t)).transpose().map_err(|e| e.to_string())?.map(Arc::new);
        self.cache.entry(lang.to_owned()).or_default().insert(name, parsed.clone());
        Ok(parsed)
    }

    fn text(
        &mut self,
        lang: &str,
        name: &'static str,
        raw: Option<&String>,
        alert: &Alert,
        contact: &Contact,
    ) -> Result<Option<String>, String> {
        let Some(t) = self.field(lang, name, raw)? else { return Ok(None) };
        let link = if t.uses(varsel_domain::answers::LINK_VARIABLE) {
            self.answer_link(alert, contact)
        } else {
            String::new()
        };
        let rendered = t.render_with(|v| match v {
            "name" => Some(contact.name.as_deref().unwrap_or("")),
            "external_id" => Some(contact.external_id.as_str()),
            varsel_domain::answers::LINK_VARIABLE => Some(link.as_str()),
            other => alert.spec.variables.get(other).map(String::as_str),
        });
        rendered.map(Some).map_err(|e| e.to_string())
    }

    /// The message for `contact` on `channel` in escalation step `step`.
    pub fn message(
        &mut self,
        alert: &Alert,
        contact: &Contact,
        channel: Channel,
        step: u8,
        max_sms_segments: u32,
    ) -> Result<OutboundMessage, NotSendable> {
        if contact.opt_out.contains(&channel) {
            return Err(NotSendable::OptedOut);
        }
        let to = address(contact, channel).ok_or(NotSendable::NoAddress)?;
        let variant = alert.spec.content.variant_for(contact.language.as_deref(), channel);
        let Some(v) = variant else { return Err(NotSendable::Content("no content in any language".into())) };
        let lang = variant_language(alert, v);
        let content =
            self.content(alert, contact, channel, v, lang, max_sms_segments).map_err(NotSendable::Content)?;
        Ok(OutboundMessage {
            key: message_key(alert.id, contact.id, channel, step),
            alert: alert.id,
            tenant: alert.tenant,
            contact: contact.id,
            channel,
            step,
            priority: alert.spec.priority,
            to,
            content,
            senders: self.senders.clone(),
        })
    }

    fn content(
        &mut self,
        alert: &Alert,
        contact: &Contact,
        channel: Channel,
        v: &ChannelContent,
        lang: &str,
        max_sms_segments: u32,
    ) -> Result<MessageContent, String> {
        let mut t = |name, raw: &Option<String>| self.text(lang, name, raw.as_ref(), alert, contact);
        match channel {
            Channel::Sms => {
                let text = t("sms_text", &v.sms_text)?.unwrap_or_default();
                sms::check_segments("sms_text", &text, max_sms_segments)
                    .map_err(|e| format!("after personalisation: {e}"))?;
                Ok(MessageContent::Sms { text })
            }
            Channel::Email => Ok(MessageContent::Email {
                subject: t("email_subject", &v.email_subject)?.unwrap_or_default(),
                text: t("email_text", &v.email_text)?,
                html: t("email_html", &v.email_html)?,
            }),
            Channel::Voice => Ok(MessageContent::Voice {
                script: t("voice_script", &v.voice_script)?.unwrap_or_default(),
                language: lang.to_string(),
            }),
            Channel::Push => Ok(MessageContent::Push {
                title: t("push_title", &v.push_title)?,
                body: t("push_body", &v.push_body)?,
                answers: self.push_answers(alert, contact, lang),
            }),
        }
    }
}

/// The language tag of the variant chosen (for the cache and the speech engine).
fn variant_language<'a>(alert: &'a Alert, v: &ChannelContent) -> &'a str {
    alert
        .spec
        .content
        .variants
        .iter()
        .find(|(_, candidate)| std::ptr::eq(*candidate, v))
        .map_or(alert.spec.content.default_language.as_str(), |(l, _)| l.as_str())
}

/// The contact's address on a channel.
pub fn address(c: &Contact, channel: Channel) -> Option<String> {
    match channel {
        Channel::Sms | Channel::Voice => c.phone.clone(),
        Channel::Email => c.email.clone(),
        Channel::Push if c.push_invalid => None,
        Channel::Push => c.push.clone(),
    }
}
