//! Language tags for contacts and content: the common subset of BCP 47.
//!
//! A tag is a primary language subtag of 2 or 3 letters (`nb`, `nn`, `se`, `en`, `smj`)
//! followed by optional subtags of 1 to 8 letters or digits, separated by `-` (`en-GB`,
//! `sr-Latn-RS`). Tags are not checked against the IANA registry: Varsel only compares them
//! with the languages an alert has content in, so a well-formed unknown tag does no harm.
//!
//! ```
//! use varsel_domain::language::normalize_language;
//!
//! assert_eq!(normalize_language("language", "EN-gb").unwrap(), "en-GB");
//! ```

use crate::error::{Rule, ValidationError, quoted};

/// Most characters in a tag. BCP 47 sets no limit; 35 holds every tag in practical use
/// (RFC 5646 §4.4.1 advises that implementations support at least 35).
pub const LANGUAGE_TAG_CHARS_MAX: usize = 35;

/// Checks `input` is a language tag and returns it in the conventional case: primary subtag
/// lowercase, 2-letter region uppercase, 4-letter script titlecase, other subtags lowercase.
/// Tags compare equal ignoring case, so one spelling per tag keeps comparisons simple.
pub fn normalize_language(field: &str, input: &str) -> Result<String, ValidationError> {
    let tag = input.trim();
    if tag.is_empty() {
        return Err(ValidationError::new(field, Rule::Required, "is empty"));
    }
    if tag.len() > LANGUAGE_TAG_CHARS_MAX {
        let message =
            format!("is {} characters long, more than {LANGUAGE_TAG_CHARS_MAX}", tag.chars().count());
        return Err(ValidationError::new(field, Rule::TooLong, message));
    }
    let fail = |what: &str| {
        let message = format!("{what}; a language tag is like nb, en or en-GB: got {}", quoted(tag));
        ValidationError::new(field, Rule::Language, message)
    };
    if tag.contains('_') {
        return Err(fail("has '_'; separate the parts with '-'"));
    }
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or_default();
    if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(fail("must start with a language code of 2 or 3 letters"));
    }
    let mut out = primary.to_ascii_lowercase();
    for subtag in subtags {
        if !(1..=8).contains(&subtag.len()) || !subtag.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(fail("has a part that is not 1 to 8 letters or digits"));
        }
        out.push('-');
        out.push_str(&conventional_case(subtag));
    }
    Ok(out)
}

/// A subtag after the primary one in its conventional case (RFC 5646 §2.1.1).
fn conventional_case(subtag: &str) -> String {
    let is_alpha = subtag.chars().all(|c| c.is_ascii_alphabetic());
    match subtag.len() {
        2 if is_alpha => subtag.to_ascii_uppercase(),
        4 if is_alpha => {
            let lower = subtag.to_ascii_lowercase();
            let (first, rest) = lower.split_at(1);
            format!("{}{rest}", first.to_ascii_uppercase())
        }
        _ => subtag.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ok(input: &str) -> String {
        normalize_language("language", input).unwrap()
    }

    /// Goal: the tags our users write are accepted in their conventional case.
    /// Method: Norwegian, Sami and English tags in various cases.
    #[test]
    fn accepts_common_tags() {
        assert_eq!(ok("nb"), "nb");
        assert_eq!(ok("NN"), "nn");
        assert_eq!(ok(" se "), "se");
        assert_eq!(ok("smj"), "smj");
        assert_eq!(ok("en-gb"), "en-GB");
        assert_eq!(ok("SR-latn-rs"), "sr-Latn-RS");
        assert_eq!(ok("es-419"), "es-419");
    }

    /// Goal: malformed tags are refused with a reason. Method: one per rule.
    #[test]
    fn rejects_malformed_tags() {
        let err = |input: &str| normalize_language("language", input).unwrap_err();
        assert_eq!(err("").rule, Rule::Required);
        assert!(err("en_GB").message.starts_with("has '_'"));
        assert!(err("e").message.starts_with("must start with a language code"));
        assert!(err("norsk").message.starts_with("must start with a language code"));
        assert!(err("n1").message.starts_with("must start with a language code"));
        assert!(err("en-").message.starts_with("has a part"));
        assert!(err("en-toolongsubtag").message.starts_with("has a part"));
        assert!(err("nb-ø").message.starts_with("has a part"));
        assert_eq!(err(&"a".repeat(36)).rule, Rule::TooLong);
    }
}
