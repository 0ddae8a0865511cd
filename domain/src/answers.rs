//! Answer options ("are you safe?"): the 2 to 9 answers an alert asks its recipients to choose
//! from, how a reply's text is read as one of them, and the recipient's response link.
//!
//! Options are numbered from 1 in the order given. A recipient answers by SMS reply (the
//! digit, the digit followed by anything, or an option's label in any of its languages), by
//! voice keypad (the digit), or on the response page reached by the link in the message
//! (`{{answer_link}}` in any text; e-mail and push carry it the same way), or by a push
//! notification's button (the link and the labels travel in the payload). An option marked
//! `acknowledges` counts as an acknowledgement: it stops the alert's escalation for that
//! recipient.
//!
//! The response link names the tenant, the alert and the recipient, and carries a 96-bit
//! HMAC-SHA-256 tag under a key drawn at random when the alert is accepted (replicated with
//! it): it cannot be guessed from another recipient's link, and nothing per recipient is stored
//! to make it.

use std::collections::{BTreeMap, BTreeSet};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Rule, ValidationError, ValidationErrors};
use crate::model::{AlertId, ContactId, Content, TenantId};

/// Fewest options an alert may carry (when it carries any).
pub const OPTIONS_MIN: usize = 2;
/// Most options: one per keypad digit 1-9.
pub const OPTIONS_MAX: usize = 9;
/// Longest option label, in characters.
pub const LABEL_CHARS_MAX: usize = 40;
/// The template variable that becomes the recipient's response link.
pub const LINK_VARIABLE: &str = "answer_link";
/// Characters an SMS is assumed to spend on the response link when its segments are counted at
/// acceptance (the node's base address, `/r/` and a token of at most 38 characters). A node's
/// base address is checked against it when the node starts.
pub const LINK_CHARS: usize = 80;
/// Length of the response link's tag, in bytes (96 bits).
const TAG_BYTES: usize = 12;

/// One answer option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerOption {
    /// Its label per language tag ("Trygg", "Safe"); the alert's default language is required.
    pub labels: BTreeMap<String, String>,
    /// Choosing it acknowledges the alert (stops escalation for the recipient).
    pub acknowledges: bool,
}

impl AnswerOption {
    /// The label for `language`, else the one for `default_language`, else any.
    pub fn label<'a>(&'a self, language: Option<&str>, default_language: &str) -> &'a str {
        language
            .and_then(|l| self.labels.get(l))
            .or_else(|| self.labels.get(default_language))
            .or_else(|| self.labels.values().next())
            .map_or("", String::as_str)
    }
}

/// An alert's options and the key of its response links, as replicated with the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertAnswers {
    /// The options, numbered from 1.
    pub options: Vec<AnswerOption>,
    /// The key of the response links' tags, drawn at random by the node that accepted the
    /// request.
    pub link_key: [u8; 32],
}

/// Checks `options` against the alert's `content` (its languages): 2-9 options, each with a
/// label in the default language, labels of at most [`LABEL_CHARS_MAX`] characters without
/// control characters, no two alike in one language, and no label that reads as a digit of
/// another option. No options at all is fine (the alert asks nothing), but then no text may
/// use `{{answer_link}}`.
pub fn validate(options: &[AnswerOption], content: &Content) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if options.is_empty() {
        for field in crate::alert_spec::fields_using(content, LINK_VARIABLE) {
            errors.push(ValidationError::new(
                field,
                Rule::UnknownVariable,
                format!(
                    "{{{{{LINK_VARIABLE}}}}} links to the answer page, so the alert needs answer_options"
                ),
            ));
        }
        return errors.into_result();
    }
    if options.len() < OPTIONS_MIN || options.len() > OPTIONS_MAX {
        errors.push(ValidationError::new(
            "answer_options",
            if options.len() < OPTIONS_MIN { Rule::Range } else { Rule::TooMany },
            format!(
                "give {OPTIONS_MIN} to {OPTIONS_MAX} options (one per keypad digit), not {}",
                options.len()
            ),
        ));
    }
    let mut seen: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (i, o) in options.iter().enumerate() {
        let field = format!("answer_options[{i}]");
        if !o.labels.contains_key(&content.default_language) {
            errors.push(ValidationError::new(
                format!("{field}.labels"),
                Rule::Required,
                format!("needs a label in the default language {:?}", content.default_language),
            ));
        }
        for (lang, label) in &o.labels {
            let f = format!("{field}.labels[{lang:?}]");
            if !content.variants.contains_key(lang) && *lang != content.default_language {
                errors.push(ValidationError::new(
                    &f,
                    Rule::Language,
                    format!("{lang:?} is not one of the alert's languages"),
                ));
            }
            let trimmed = label.trim();
            if trimmed.is_empty() {
                errors.push(ValidationError::new(&f, Rule::Required, "is empty"));
            } else if trimmed.chars().count() > LABEL_CHARS_MAX {
                errors.push(ValidationError::new(
                    &f,
                    Rule::TooLong,
                    format!("must be at most {LABEL_CHARS_MAX} characters"),
                ));
            } else if trimmed.chars().any(char::is_control) {
                errors.push(ValidationError::new(&f, Rule::Characters, "contains control characters"));
            } else if digit_of(&normalise(trimmed)).is_some_and(|d| d != i + 1) {
                errors.push(ValidationError::new(
                    &f,
                    Rule::Value,
                    format!(
                        "{trimmed:?} would read as another option's number; option {} is digit {}",
                        i + 1,
                        i + 1
                    ),
                ));
            } else if !seen.entry(lang.as_str()).or_default().insert(normalise(trimmed)) {
                errors.push(ValidationError::new(
                    &f,
                    Rule::Duplicate,
                    format!("{trimmed:?} is the label of another option in {lang:?}"),
                ));
            }
        }
    }
    errors.into_result()
}

fn normalise(text: &str) -> String {
    text.trim().trim_end_matches(['.', '!']).trim().to_lowercase()
}

/// The digit 1-9 a normalised text starts with, when it is the whole text or followed by a
/// space, a full stop or a comma ("2", "2 trenger hjelp", "2.").
fn digit_of(text: &str) -> Option<usize> {
    let mut chars = text.chars();
    let d = chars.next()?.to_digit(10).filter(|d| (1..=9).contains(d))?;
    match chars.next() {
        None | Some(' ' | '.' | ',') => Some(d as usize),
        Some(_) => None,
    }
}

/// The option (numbered from 1) a reply's `text` chooses: its leading digit, or an option's
/// label in any language (case and surrounding space ignored). `None` when it chooses none,
/// or a digit beyond the options.
pub fn match_reply(options: &[AnswerOption], text: &str) -> Option<u8> {
    let t = normalise(text);
    if let Some(d) = digit_of(&t) {
        return (d <= options.len()).then_some(d as u8);
    }
    let hits: BTreeSet<usize> = options
        .iter()
        .enumerate()
        .filter(|(_, o)| o.labels.values().any(|l| normalise(l) == t))
        .map(|(i, _)| i + 1)
        .collect();
    // Labels are unique per language, but one option's English label may be another's
    // Norwegian one: then the text chooses neither.
    match hits.len() {
        1 => hits.first().map(|d| *d as u8),
        _ => None,
    }
}

/// The response link token of `contact` for `alert` of `tenant`: URL-safe base64 (no padding)
/// of the three ids as LEB128 varints followed by the tag.
pub fn link_token(key: &[u8; 32], tenant: TenantId, alert: AlertId, contact: ContactId) -> String {
    let mut bytes = Vec::with_capacity(3 * 10 + TAG_BYTES);
    for v in [tenant, alert, contact] {
        put_varint(&mut bytes, v);
    }
    let tag = tag(key, tenant, alert, contact);
    bytes.extend_from_slice(&tag);
    base64url(&bytes)
}

/// The ids a response link token names, before its tag is checked (see [`link_valid`]).
/// `None` when the token is not one.
pub fn link_ids(token: &str) -> Option<(TenantId, AlertId, ContactId, [u8; TAG_BYTES])> {
    if token.len() > 64 {
        return None;
    }
    let bytes = unbase64url(token)?;
    let mut at = 0;
    let mut ids = [0u64; 3];
    for id in &mut ids {
        *id = get_varint(&bytes, &mut at)?;
    }
    let tag: [u8; TAG_BYTES] = bytes.get(at..)?.try_into().ok()?;
    Some((ids[0], ids[1], ids[2], tag))
}

/// Whether `tag` is the tag of these ids under `key` (compared in constant time).
pub fn link_valid(key: &[u8; 32], tenant: TenantId, alert: AlertId, contact: ContactId, tag: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
    feed(&mut mac, tenant, alert, contact);
    mac.verify_truncated_left(tag).is_ok()
}

fn feed(mac: &mut Hmac<Sha256>, tenant: TenantId, alert: AlertId, contact: ContactId) {
    mac.update(b"varsel answer link v1\0");
    for v in [tenant, alert, contact] {
        mac.update(&v.to_be_bytes());
    }
}

fn tag(key: &[u8; 32], tenant: TenantId, alert: AlertId, contact: ContactId) -> [u8; TAG_BYTES] {
    let mut out = [0u8; TAG_BYTES];
    // HMAC takes a key of any length, so this cannot fail for 32 bytes.
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) {
        feed(&mut mac, tenant, alert, contact);
        out.copy_from_slice(&mac.finalize().into_bytes()[..TAG_BYTES]);
    }
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn unbase64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero, so every token has one spelling.
    (acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChannelContent;

    fn content() -> Content {
        let v = ChannelContent { sms_text: Some("Er du trygg?".into()), ..Default::default() };
        Content {
            default_language: "nb".into(),
            variants: [("nb".to_string(), v.clone()), ("en".to_string(), v)].into(),
        }
    }

    fn option(nb: &str, en: &str, acknowledges: bool) -> AnswerOption {
        AnswerOption { labels: [("nb".into(), nb.into()), ("en".into(), en.into())].into(), acknowledges }
    }

    fn safe_help() -> Vec<AnswerOption> {
        vec![option("Trygg", "Safe", true), option("Trenger hjelp", "Need help", false)]
    }

    /// Goal: digits, digits with words after them, and labels in either language choose an
    /// option; other text, a digit beyond the options and "10" choose none.
    #[test]
    fn replies_choose_options() {
        let o = safe_help();
        for (text, want) in [
            ("1", Some(1)),
            (" 2 ", Some(2)),
            ("2 trenger hjelp!", Some(2)),
            ("1.", Some(1)),
            ("TRYGG", Some(1)),
            ("need help.", Some(2)),
            ("3", None),
            ("10", None),
            ("12", None),
            ("ok", None),
            ("", None),
            ("trygg og god", None),
        ] {
            assert_eq!(match_reply(&o, text), want, "{text:?}");
        }
    }

    /// Goal: one option's label in one language that is another's in a second language is
    /// ambiguous and chooses nothing.
    #[test]
    fn a_label_shared_across_languages_chooses_nothing() {
        let o = vec![option("Ja", "No", true), option("Nei", "Ja", false)];
        assert_eq!(match_reply(&o, "ja"), None);
        assert_eq!(match_reply(&o, "nei"), Some(2));
    }

    /// Goal: each rule names its field.
    #[test]
    fn validation_names_the_field_and_rule() {
        let c = content();
        assert!(validate(&[], &c).is_ok());
        assert!(validate(&safe_help(), &c).is_ok());
        let one = validate(&safe_help()[..1], &c).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(one.contains("answer_options") && one.contains("2 to 9"), "{one}");
        let ten: Vec<_> = (0..10).map(|i| option(&format!("a{i}"), &format!("b{i}"), false)).collect();
        assert!(validate(&ten, &c).is_err());
        let mut o = safe_help();
        o[1].labels.insert("nb".into(), "trygg".into());
        let dup = validate(&o, &c).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(dup.contains("answer_options[1].labels[\"nb\"]") && dup.contains("another option"), "{dup}");
        let mut o = safe_help();
        o[0].labels.remove("nb");
        let missing = validate(&o, &c).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.contains("answer_options[0].labels") && missing.contains("\"nb\""), "{missing}");
        let mut o = safe_help();
        o[0].labels.insert("sv".into(), "Säker".into());
        assert!(validate(&o, &c).err().map(|e| e.to_string()).unwrap_or_default().contains("\"sv\""));
        let mut o = safe_help();
        o[0].labels.insert("nb".into(), "2".into());
        assert!(
            validate(&o, &c)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("another option's number")
        );
        let mut o = safe_help();
        o[0].labels.insert("nb".into(), "x".repeat(LABEL_CHARS_MAX + 1));
        assert!(validate(&o, &c).is_err());
        let mut linked = content();
        if let Some(v) = linked.variants.get_mut("en") {
            v.sms_text = Some("Are you safe? {{ answer_link }}".into());
        }
        assert!(validate(&safe_help(), &linked).is_ok());
        let unlinked = validate(&[], &linked).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            unlinked.contains("content.variants[en].sms_text") && unlinked.contains("answer_options"),
            "{unlinked}"
        );
    }

    /// Goal: a token names its ids, its tag checks under the alert's key only, any change of
    /// id or tag fails, and it stays short.
    #[test]
    fn link_tokens_round_trip_and_cannot_be_forged() {
        let key = [7u8; 32];
        let token = link_token(&key, 3, 41, 5_000_000);
        assert!(token.len() <= 38, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let (t, a, c, tag) = link_ids(&token).expect("ids");
        assert_eq!((t, a, c), (3, 41, 5_000_000));
        assert!(link_valid(&key, t, a, c, &tag));
        assert!(!link_valid(&[8u8; 32], t, a, c, &tag));
        assert!(!link_valid(&key, t, a, c + 1, &tag));
        let other = link_token(&key, 3, 41, 5_000_001);
        let (_, _, c2, tag2) = link_ids(&other).expect("ids");
        assert!(!link_valid(&key, t, a, c2, &tag) && link_valid(&key, t, a, c2, &tag2));
        let long = link_token(&key, u64::MAX, u64::MAX, u64::MAX);
        assert!(long.len() <= 64 && link_ids(&long).is_some());
        for bad in ["", "!!!", "AAAA", &token[..token.len() - 1], &"A".repeat(65)] {
            assert!(link_ids(bad).is_none_or(|(t, a, c, tag)| !link_valid(&key, t, a, c, &tag)), "{bad}");
        }
    }
}
