//! From a CAP `info` to what a Varsel alert needs: priority, language and texts per channel.
//!
//! The same tables are in `cap/MAPPING.md` for the API reference.
//!
//! # Priority
//!
//! [`priority`] maps `urgency` × `severity` to a Varsel [`Priority`]. The rule: a significant
//! or extraordinary threat to life or property that needs action now or within the hour is a
//! crisis; a threat that is possible, or whose time is not yet, or whose severity is not
//! known but which needs action now, is urgent; what is past, minor, or neither soon nor
//! known to be serious is routine. `Past` is always routine: the specification says
//! responsive action is no longer required (an all-clear or a report after the fact).
//! `certainty` is not used: a sender who publishes a warning means it to be acted on, and
//! `Unlikely` warnings are rare enough not to need a rule.
//!
//! | urgency \ severity | Extreme | Severe | Moderate | Minor | Unknown |
//! |---|---|---|---|---|---|
//! | Immediate | crisis | crisis | urgent | routine | urgent |
//! | Expected  | crisis | crisis | urgent | routine | routine |
//! | Future    | urgent | urgent | routine | routine | routine |
//! | Unknown   | urgent | urgent | routine | routine | routine |
//! | Past      | routine | routine | routine | routine | routine |
//!
//! An alert with several `info` blocks takes the highest of theirs ([`CapAlert::priority`]).
//!
//! # Language
//!
//! [`language`] turns the CAP `language` (RFC 3066, `nb-NO`, `en-US`) into the tag Varsel
//! contacts carry: the primary language subtag, lowercase (`nb`, `en`), because contacts are
//! registered by language, not by country, and a region would make `en-GB` contacts miss an
//! `en-US` warning. Deprecated codes that RFC 3066-era senders still write are replaced: `no`
//! (Norwegian) by `nb` (Bokmål, the written standard Varsel contacts use for it), `iw` by `he`,
//! `in` by `id`, `ji` by `yi`. A tag whose primary subtag is not 2 or 3 letters (`i-klingon`,
//! `x-private`) is refused.
//!
//! # Texts per channel
//!
//! [`channel_texts`] makes every channel's text from one `info`; whitespace runs (the
//! indentation of the XML) become single spaces. The title is the `headline`, or the `event`
//! when there is no headline.
//!
//! | channel field | made of |
//! |---|---|
//! | `sms_text` | title, a line break and the `instruction`, when that fits in the SMS segment limit; else the title alone; an error when even the title does not fit |
//! | `email_subject` | title |
//! | `email_text` | paragraphs: title, `description`, `instruction`, the areas' `areaDesc`, `web`, `contact`, `senderName` (those present) |
//! | `email_html` | empty (the plain text is sent) |
//! | `voice_script` | title as a sentence, then the `instruction` (or the `description` when there is none) when the whole fits in [`SHORT_TEXT_CHARS_MAX`] characters; else the title alone |
//! | `push_title` | title |
//! | `push_body` | the `instruction`, else the `description`, when it fits in [`SHORT_TEXT_CHARS_MAX`] characters; else empty |
//!
//! Nothing is cut: a text that does not fit is left out in favour of a shorter form, and
//! when even the title does not fit, the error names the element and the limit. A text
//! containing `{{` is refused, because Varsel's templates read it as a variable.
//!
//! ```
//! use varsel_cap::mapping::{channel_texts, priority};
//! use varsel_cap::{Severity, Urgency};
//! use varsel_domain::model::Priority;
//!
//! assert_eq!(priority(Urgency::Immediate, Severity::Severe), Priority::Crisis);
//! let alert = varsel_cap::parse(include_str!("../tests/fixtures/a2_thunderstorm.xml")).unwrap();
//! let texts = channel_texts(&alert.infos[0], 1, 1).unwrap();
//! assert_eq!(texts.sms_text, "SEVERE THUNDERSTORM WARNING\nTAKE COVER IN A SUBSTANTIAL SHELTER UNTIL THE STORM PASSES.");
//! let err = channel_texts(&alert.infos[0], 1, 0).unwrap_err();
//! assert_eq!(err.path, "alert/info[1]/headline");
//! ```

use varsel_domain::alert_spec::SHORT_TEXT_CHARS_MAX;
use varsel_domain::model::Priority;
use varsel_domain::sms;
use varsel_domain::template::TEMPLATE_BYTES_MAX;

use crate::error::{CapError, CapRule, Result};
use crate::model::{CapAlert, Info, Severity, Urgency};

/// The Varsel priority of an `info` with this urgency and severity (see the table above).
pub fn priority(urgency: Urgency, severity: Severity) -> Priority {
    use Severity as S;
    use Urgency as U;
    match (urgency, severity) {
        (U::Past, _) => Priority::Routine,
        (U::Immediate | U::Expected, S::Extreme | S::Severe) => Priority::Crisis,
        (U::Future | U::Unknown, S::Extreme | S::Severe) => Priority::Urgent,
        (U::Immediate | U::Expected, S::Moderate) => Priority::Urgent,
        (U::Immediate, S::Unknown) => Priority::Urgent,
        _ => Priority::Routine,
    }
}

impl CapAlert {
    /// The highest [`priority`] of the alert's `info` blocks; routine when it has none (an
    /// `Ack`, `Error` or `Cancel` without `info`).
    pub fn priority(&self) -> Priority {
        self.infos.iter().map(|i| priority(i.urgency, i.severity)).max().unwrap_or(Priority::Routine)
    }
}

/// The Varsel language tag for `info` (see "Language" above); `info_number` is its 1-based
/// position in the alert, for the error's path.
pub fn language(info: &Info, info_number: usize) -> Result<String> {
    let primary = info.language.split('-').next().unwrap_or_default().to_ascii_lowercase();
    let replaced = match primary.as_str() {
        "no" => "nb",
        "iw" => "he",
        "in" => "id",
        "ji" => "yi",
        other => other,
    };
    let path = format!("alert/info[{info_number}]/language");
    varsel_domain::language::normalize_language(&path, replaced).map_err(|e| {
        let message = format!(
            "is {}; Varsel needs a language of 2 or 3 letters first, like nb-NO or en-US ({})",
            varsel_domain::error::quoted(&info.language),
            e.message
        );
        CapError::new(path.clone(), CapRule::Language, message)
    })
}

/// The text of each channel, one field per field of Varsel's `ChannelContent`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelTexts {
    /// SMS text.
    pub sms_text: String,
    /// E-mail subject.
    pub email_subject: String,
    /// E-mail plain-text body.
    pub email_text: String,
    /// E-mail HTML body: always empty (the plain text is sent).
    pub email_html: String,
    /// Text-to-speech script.
    pub voice_script: String,
    /// Push notification title.
    pub push_title: String,
    /// Push notification body.
    pub push_body: String,
}

/// The texts of every channel for `info` (see "Texts per channel" above). `info_number` is
/// its 1-based position, for errors; `sms_segments_max` the tenant's SMS segment limit.
pub fn channel_texts(info: &Info, info_number: usize, sms_segments_max: u32) -> Result<ChannelTexts> {
    let base = format!("alert/info[{info_number}]");
    check_no_template_syntax(info, &base)?;
    let (title_path, title) = match info.headline.as_deref().filter(|h| !h.trim().is_empty()) {
        Some(h) => (format!("{base}/headline"), collapse_whitespace(h)),
        None => (format!("{base}/event"), collapse_whitespace(&info.event)),
    };
    if title.chars().count() > SHORT_TEXT_CHARS_MAX {
        let message = format!("is longer than {SHORT_TEXT_CHARS_MAX} characters, too long for a title");
        return Err(CapError::new(title_path, CapRule::TooLong, message));
    }
    let instruction = present(info.instruction.as_deref());
    let description = present(info.description.as_deref());
    let sms_text = sms_text(&title, &title_path, instruction.as_deref(), sms_segments_max)?;
    let email_text = email_text(info, &title, description.as_deref(), instruction.as_deref());
    if email_text.len() > TEMPLATE_BYTES_MAX {
        let message = format!(
            "makes an e-mail of {} bytes, more than Varsel's limit of {TEMPLATE_BYTES_MAX}",
            email_text.len()
        );
        return Err(CapError::new(format!("{base}/description"), CapRule::TooLong, message));
    }
    let detail = instruction.as_deref().or(description.as_deref());
    let voice_script = match detail {
        Some(d) if fits(&format!("{} {d}", sentence(&title))) => format!("{} {d}", sentence(&title)),
        _ => sentence(&title),
    };
    let push_body = [instruction.as_deref(), description.as_deref()]
        .into_iter()
        .flatten()
        .find(|t| fits(t))
        .unwrap_or_default()
        .to_string();
    Ok(ChannelTexts {
        sms_text,
        email_subject: title.clone(),
        email_text,
        email_html: String::new(),
        voice_script,
        push_title: title,
        push_body,
    })
}

/// The title and the instruction when both fit the segment limit, else the title alone.
fn sms_text(title: &str, title_path: &str, instruction: Option<&str>, segments_max: u32) -> Result<String> {
    if let Some(instruction) = instruction {
        let both = format!("{title}\n{instruction}");
        if sms::check_segments("sms_text", &both, segments_max).is_ok() {
            return Ok(both);
        }
    }
    match sms::check_segments("sms_text", title, segments_max) {
        Ok(_) => Ok(title.to_string()),
        Err(e) => {
            let message = format!(
                "does not fit in an SMS even alone: it {}; shorten the headline or raise the tenant's SMS segment limit",
                e.message
            );
            Err(CapError::new(title_path, CapRule::SmsSegments, message))
        }
    }
}

fn email_text(info: &Info, title: &str, description: Option<&str>, instruction: Option<&str>) -> String {
    let areas: Vec<String> =
        info.areas.iter().map(|a| collapse_whitespace(&a.area_desc)).filter(|a| !a.is_empty()).collect();
    let areas = (!areas.is_empty()).then(|| areas.join("; "));
    let paragraphs = [
        Some(title.to_string()),
        description.map(str::to_string),
        instruction.map(str::to_string),
        areas,
        present(info.web.as_deref()),
        present(info.contact.as_deref()),
        present(info.sender_name.as_deref()),
    ];
    paragraphs.into_iter().flatten().collect::<Vec<_>>().join("\n\n")
}

/// Refuses `{{` in any text that goes into a channel: Varsel's templates have no escape for it.
fn check_no_template_syntax(info: &Info, base: &str) -> Result<()> {
    let texts = [
        ("event", Some(info.event.as_str())),
        ("senderName", info.sender_name.as_deref()),
        ("headline", info.headline.as_deref()),
        ("description", info.description.as_deref()),
        ("instruction", info.instruction.as_deref()),
        ("web", info.web.as_deref()),
        ("contact", info.contact.as_deref()),
    ];
    let areas = info
        .areas
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("area[{}]/areaDesc", i + 1), a.area_desc.as_str()));
    let all = texts.into_iter().filter_map(|(n, t)| t.map(|t| (n.to_string(), t))).chain(areas);
    for (name, text) in all {
        if text.contains("{{") {
            let message = "contains {{, which Varsel's message templates read as the start of a variable; \
                           write it otherwise (for example { {)";
            return Err(CapError::new(format!("{base}/{name}"), CapRule::TemplateSyntax, message));
        }
    }
    Ok(())
}

/// The text with every run of whitespace (line breaks and indentation included) made one
/// space, and none at the ends.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn present(text: Option<&str>) -> Option<String> {
    text.map(collapse_whitespace).filter(|t| !t.is_empty())
}

fn fits(text: &str) -> bool {
    text.chars().count() <= SHORT_TEXT_CHARS_MAX
}

/// The text ending in a full stop unless it already ends in punctuation, so a speech
/// synthesiser pauses after it.
fn sentence(text: &str) -> String {
    if text.ends_with(['.', '!', '?', ':']) { text.to_string() } else { format!("{text}.") }
}
