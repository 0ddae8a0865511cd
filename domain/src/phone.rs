//! Phone numbers in E.164 international format.
//!
//! A number is `+`, the country code and the subscriber number: 7 to 15 digits, the first
//! (the country code's) not 0. Spaces, dashes, dots and parentheses are accepted as visual
//! separators and removed. There is no national format: without the `+` we cannot know the
//! country, and in a crisis a guessed country messages a stranger.
//!
//! ```
//! use varsel_domain::phone::normalize_e164;
//!
//! assert_eq!(normalize_e164("phone", " +47 912 34 567 ").unwrap(), "+4791234567");
//! assert!(normalize_e164("phone", "91234567").is_err());
//! ```

use crate::error::{Rule, ValidationError, quoted};

/// Most digits in an E.164 number (ITU-T E.164 §6).
pub const E164_DIGITS_MAX: usize = 15;

/// Fewest digits we accept, country code included. E.164 sets no minimum; the shortest numbers
/// in service are 7 digits (Niue +683 and Tokelau +690 with 4-digit subscriber numbers), so
/// anything shorter is certainly a typing error. Norway is 10 (+47 and 8 digits).
pub const E164_DIGITS_MIN: usize = 7;

/// Longest input we look at, in bytes: 15 digits with generous separators fit many times
/// over, and a bound keeps an untrusted megabyte from being scanned.
pub const PHONE_INPUT_BYTES_MAX: usize = 64;

/// What every phone error message ends with, so the user sees the whole rule.
const RULE: &str = "E.164 is + then 7 to 15 digits, country code first, not starting with 0";

/// Normalises `input` to E.164 (`+4791234567`) or explains what is wrong with it.
///
/// Surrounding whitespace is ignored; spaces (also no-break spaces, as pasted from office
/// documents), `-`, `.`, `(` and `)` between the digits are removed. The national trunk
/// prefix written as `(0)` (`+44 (0)20 ...`) is rejected, not removed: it means "dial 0
/// nationally", and we do not guess which reading the writer intended.
pub fn normalize_e164(field: &str, input: &str) -> Result<String, ValidationError> {
    let fail = |what: String| Err(ValidationError::new(field, Rule::Phone, what));
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(
            field,
            Rule::Required,
            format!("is empty; {RULE}, e.g. +4791234567"),
        ));
    }
    if trimmed.len() > PHONE_INPUT_BYTES_MAX {
        let message = format!("is {} bytes long, more than {PHONE_INPUT_BYTES_MAX}", trimmed.len());
        return Err(ValidationError::new(field, Rule::TooLong, message));
    }
    let Some(rest) = trimmed.strip_prefix('+') else {
        return fail(missing_plus(trimmed));
    };
    if rest.replace(' ', "").contains("(0)") {
        return fail(format!(
            "has the national prefix \"(0)\", which is not dialled after the country code; remove it: got {}",
            quoted(trimmed)
        ));
    }
    let digits = digits_of(rest).or_else(|what| fail(format!("{what}; {RULE}: got {}", quoted(trimmed))))?;
    if digits.len() > E164_DIGITS_MAX || digits.len() < E164_DIGITS_MIN {
        return fail(format!("has {} digits; {RULE}: got {}", digits.len(), quoted(trimmed)));
    }
    if digits.starts_with('0') {
        return fail(format!("country code must not start with 0; {RULE}: got {}", quoted(trimmed)));
    }
    Ok(format!("+{digits}"))
}

/// The message for a number without the leading `+`, with a hint for the `00` habit.
fn missing_plus(trimmed: &str) -> String {
    let hint = if trimmed.starts_with("00") {
        "write the international prefix 00 as +, e.g. +47... for 0047..."
    } else {
        "must start with + and the country code (we cannot guess the country), e.g. +4791234567"
    };
    format!("{hint}; {RULE}: got {}", quoted(trimmed))
}

/// The digits of `rest` (the number after `+`) without separators, or what is wrong.
fn digits_of(rest: &str) -> Result<String, String> {
    let mut digits = String::with_capacity(E164_DIGITS_MAX);
    for (index, c) in rest.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '\u{A0}' | '-' | '.' | '(' | ')' => {}
            '+' => return Err("has a second +".to_owned()),
            _ => {
                // Position counted from 1 and including the +, as the user sees the text.
                return Err(format!(
                    "has {c:?} at position {}, where only digits and separators may be",
                    index + 2
                ));
            }
        }
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ok(input: &str) -> String {
        normalize_e164("phone", input).unwrap()
    }

    fn err(input: &str) -> ValidationError {
        normalize_e164("phone", input).unwrap_err()
    }

    /// Goal: the ways people write numbers normalise to one form. Method: separators, spaces.
    #[test]
    fn accepts_and_normalises() {
        assert_eq!(ok("+4791234567"), "+4791234567");
        assert_eq!(ok("  +47 912 34 567\t"), "+4791234567");
        assert_eq!(ok("+47-912-34-567"), "+4791234567");
        assert_eq!(ok("+1 (415) 555.2671"), "+14155552671");
        assert_eq!(ok("+47\u{A0}22\u{A0}12\u{A0}34\u{A0}56"), "+4722123456");
        assert_eq!(ok("+6834002"), "+6834002", "7 digits: Niue");
        assert_eq!(ok("+123456789012345"), "+123456789012345", "15 digits");
    }

    /// Goal: every kind of wrong number is refused with a message saying why.
    /// Method: one input per rule, checking rule and message.
    #[test]
    fn rejects_with_reasons() {
        assert_eq!(err("").rule, Rule::Required);
        assert_eq!(err("   ").rule, Rule::Required);
        assert!(err("91234567").message.starts_with("must start with + and the country code"));
        assert!(err("004791234567").message.starts_with("write the international prefix 00 as +"));
        assert_eq!(
            err("+0471234").to_string(),
            "phone: country code must not start with 0; E.164 is + then 7 to 15 digits, country code \
             first, not starting with 0: got \"+0471234\""
        );
        assert!(err("+47 123").message.starts_with("has 5 digits"));
        assert!(err("+1234567890123456").message.starts_with("has 16 digits"));
        assert!(err("+47 91A34567").message.starts_with("has 'A' at position 7"));
        assert!(err("+47+91234567").message.starts_with("has a second +"));
        assert!(err("+44 (0)20 7946 0000").message.contains("(0)"));
        assert_eq!(err(&format!("+47{}", "1".repeat(100))).rule, Rule::TooLong);
        assert_eq!(err("+").rule, Rule::Phone);
    }
}
