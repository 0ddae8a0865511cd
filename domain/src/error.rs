//! Errors of the domain rules.
//!
//! [`ValidationError`] is the one answer to "this input breaks a rule": it names the field, a
//! stable [`Rule`] code that clients can match on, and a message a person can act on. Several
//! of them travel together as [`ValidationErrors`]. The other error types here are for
//! operations that are not validation: [`SmsError`] for the SMS encoders and decoders, and
//! [`ImportError`] for a CSV import that cannot go on at all.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest piece of offending input, in characters, echoed back in an error message.
///
/// Input is untrusted: an error must stay readable and must not carry megabytes into logs and
/// API responses. An echo that is cut says so and how much was left out (see [`quoted`]).
pub const ECHO_CHARS_MAX: usize = 64;

/// The rule a value broke: a stable, machine-readable code next to the human message.
///
/// Serialised as its [`code`](Rule::code) (`"too_long"`); API clients match on it, so a code is
/// never changed, only added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// A value is missing or empty.
    Required,
    /// A value is longer than its limit.
    TooLong,
    /// More items (rows, variables, groups) than the limit allows.
    TooMany,
    /// A value contains characters that are not allowed there (control characters).
    Characters,
    /// Not an E.164 phone number.
    Phone,
    /// Not an e-mail address we can deliver to.
    Email,
    /// Not a language tag.
    Language,
    /// Not a channel name.
    Channel,
    /// Not a Web Push subscription.
    PushSubscription,
    /// An SMS text needs more segments than allowed.
    SmsSegments,
    /// A template does not parse.
    TemplateSyntax,
    /// A template uses a variable that is not known.
    UnknownVariable,
    /// A template variable has no value when the template is rendered.
    MissingValue,
    /// The header row of a CSV file is not usable.
    CsvHeader,
    /// A CSV record is malformed (wrong number of fields).
    CsvRecord,
    /// Bytes that are not UTF-8.
    Utf8,
    /// A value that must be unique is repeated.
    Duplicate,
    /// A number or time outside its allowed range, or values in the wrong order.
    Range,
    /// Not one of the values or forms the field accepts (a role, a priority, a page token,
    /// `host:port`), or fields given together that exclude each other.
    Value,
}

impl Rule {
    /// Every rule, so the codes can be listed (API reference) and parsed back.
    pub const ALL: [Rule; 19] = [
        Rule::Required,
        Rule::TooLong,
        Rule::TooMany,
        Rule::Characters,
        Rule::Phone,
        Rule::Email,
        Rule::Language,
        Rule::Channel,
        Rule::PushSubscription,
        Rule::SmsSegments,
        Rule::TemplateSyntax,
        Rule::UnknownVariable,
        Rule::MissingValue,
        Rule::CsvHeader,
        Rule::CsvRecord,
        Rule::Utf8,
        Rule::Duplicate,
        Rule::Range,
        Rule::Value,
    ];

    /// The rule with this code, if any.
    pub fn from_code(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.code() == code)
    }

    /// The stable code, as serialised (`"too_long"`).
    pub const fn code(self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::TooLong => "too_long",
            Rule::TooMany => "too_many",
            Rule::Characters => "characters",
            Rule::Phone => "phone",
            Rule::Email => "email",
            Rule::Language => "language",
            Rule::Channel => "channel",
            Rule::PushSubscription => "push_subscription",
            Rule::SmsSegments => "sms_segments",
            Rule::TemplateSyntax => "template_syntax",
            Rule::UnknownVariable => "unknown_variable",
            Rule::MissingValue => "missing_value",
            Rule::CsvHeader => "csv_header",
            Rule::CsvRecord => "csv_record",
            Rule::Utf8 => "utf8",
            Rule::Duplicate => "duplicate",
            Rule::Range => "range",
            Rule::Value => "value",
        }
    }
}

// Serde goes through `code()` so that the wire name and the displayed code cannot drift apart.
impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Rule::from_code(&code).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown validation rule code {}", quoted(&code)))
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One value that breaks one rule.
///
/// Displays as `field: message`, e.g.
/// `contacts[3].phone: country code must not start with 0 (E.164: ...): got "+0471234"`,
/// or as the bare message when the field is empty (a problem of the whole input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ValidationError {
    /// Path of the offending field (`sms.text`, `contacts[3].phone`); empty for the whole input.
    pub field: String,
    /// The rule that was broken.
    pub rule: Rule,
    /// What is wrong and, where it helps, how to fix it. Echoes of input are cut to
    /// [`ECHO_CHARS_MAX`] characters.
    pub message: String,
}

impl ValidationError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, rule: Rule, message: impl Into<String>) -> Self {
        ValidationError { field: field.into(), rule, message: message.into() }
    }

    /// Puts `prefix` in front of the field path, so a validator can name its own field and the
    /// caller adds where that field sits: `phone` in `contacts[3]` becomes `contacts[3].phone`.
    #[must_use]
    pub fn in_field(mut self, prefix: &str) -> Self {
        self.field = join_path(prefix, &self.field);
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Joins a field path: `a` + `b` is `a.b`, `a` + `[3].b` is `a[3].b`, and an empty side
/// leaves the other as it is.
fn join_path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else if field.is_empty() {
        prefix.to_owned()
    } else if field.starts_with('[') {
        format!("{prefix}{field}")
    } else {
        format!("{prefix}.{field}")
    }
}

/// Several validation errors, reported at once so a user can fix everything in one go.
///
/// Serialises as a plain list of [`ValidationError`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
pub struct ValidationErrors(Vec<ValidationError>);

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        ValidationErrors(Vec::new())
    }

    /// Adds one error.
    pub fn push(&mut self, error: ValidationError) {
        self.0.push(error);
    }

    /// Keeps the error of `result`, if any, and hands back its value: lets a validator check
    /// every field and still collect all the problems.
    pub fn check<T>(&mut self, result: Result<T, ValidationError>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// True when there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The errors, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }

    /// The errors as a plain list.
    pub fn into_vec(self) -> Vec<ValidationError> {
        self.0
    }

    /// Puts `prefix` in front of every error's field path (see [`ValidationError::in_field`]).
    #[must_use]
    pub fn in_field(self, prefix: &str) -> Self {
        ValidationErrors(self.0.into_iter().map(|e| e.in_field(prefix)).collect())
    }

    /// `Ok(())` when there are no errors, else `Err(self)`: the end of a validator.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl From<ValidationError> for ValidationErrors {
    fn from(error: ValidationError) -> Self {
        ValidationErrors(vec![error])
    }
}

impl FromIterator<ValidationError> for ValidationErrors {
    fn from_iter<I: IntoIterator<Item = ValidationError>>(iter: I) -> Self {
        ValidationErrors(iter.into_iter().collect())
    }
}

impl IntoIterator for ValidationErrors {
    type Item = ValidationError;
    type IntoIter = std::vec::IntoIter<ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a ValidationError;
    type IntoIter = std::slice::Iter<'a, ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Quotes untrusted input for an error message: in double quotes, control characters and
/// quotes escaped (so the message stays one line and cannot forge log lines), cut after
/// [`ECHO_CHARS_MAX`] characters with a note of how many were left out.
pub fn quoted(input: &str) -> String {
    let mut out = String::with_capacity(input.len().min(ECHO_CHARS_MAX * 2) + 2);
    out.push('"');
    let mut chars = input.chars();
    for c in chars.by_ref().take(ECHO_CHARS_MAX) {
        out.extend(c.escape_debug());
    }
    out.push('"');
    let left_out = chars.count();
    if left_out > 0 {
        out.push_str(&format!(" (and {left_out} more characters)"));
    }
    out
}

/// A failure of the SMS encoders and decoders in [`crate::sms`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmsError {
    /// The text has a character outside the GSM 03.38 default alphabet and extension table;
    /// it must be sent as UCS-2 (which [`crate::sms::split_segments`] chooses by itself).
    #[error("character {ch:?} at index {index} is not in the GSM 03.38 alphabet; send the text as UCS-2")]
    NotGsm7 {
        /// The character.
        ch: char,
        /// Its index in the text, counted in characters from 0.
        index: usize,
    },
    /// A byte of an unpacked GSM-7 payload is above 0x7F, so it is no septet: the payload is
    /// packed, or in another encoding.
    #[error("byte 0x{byte:02X} at offset {offset} is not a GSM-7 septet (above 0x7F)")]
    NotSeptet {
        /// The byte.
        byte: u8,
        /// Its offset in the payload.
        offset: usize,
    },
    /// A UCS-2 payload with an odd number of bytes: cut, or not UCS-2.
    #[error("a UCS-2 payload of {len} bytes: UTF-16 needs an even number")]
    OddLength {
        /// The payload's length in bytes.
        len: usize,
    },
    /// A UCS-2 payload with half of a surrogate pair: cut inside an emoji, or not UCS-2.
    #[error("a UCS-2 payload with an unpaired surrogate 0x{unit:04X}")]
    UnpairedSurrogate {
        /// The lone surrogate.
        unit: u16,
    },
    /// The text needs more segments than a concatenated SMS can have.
    #[error("the text needs {segments} SMS segments; a concatenated SMS has at most {max}")]
    TooManySegments {
        /// Segments the text needs.
        segments: usize,
        /// The protocol's maximum ([`crate::sms::CONCATENATED_SEGMENTS_MAX`]).
        max: usize,
    },
}

/// A CSV contact import that cannot go on at all. Problems of single rows are not errors of
/// the import: they are reported in [`crate::csv_import::ImportParse::rejected`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The header row is missing or not usable; every problem with it is listed.
    #[error("the header row is not usable: {0}")]
    Header(ValidationErrors),
    /// The file has more rows than one import takes. Nothing is imported, rather than an
    /// arbitrary first part of the file.
    #[error("the file has more than {max} contact rows; split it into files of at most {max} rows each")]
    TooManyRows {
        /// The limit ([`crate::csv_import::IMPORT_ROWS_MAX`]).
        max: usize,
    },
    /// One record runs on past any sensible size, almost always because a double quote was
    /// opened and never closed. The rest of the file cannot be read reliably, so nothing is
    /// imported.
    #[error(
        "line {line}: a record runs on for more than {max_bytes} bytes, most likely a double quote that \
         is never closed; nothing was imported"
    )]
    RecordTooLarge {
        /// The line on which the runaway record starts.
        line: u64,
        /// The limit ([`crate::csv_import::RECORD_BYTES_MAX`]).
        max_bytes: usize,
    },
    /// Reading the input failed.
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: field paths compose the way API error paths are written. Method: prefix errors
    /// with plain, indexed and empty paths.
    #[test]
    fn in_field_builds_paths() {
        let e = ValidationError::new("phone", Rule::Phone, "bad");
        assert_eq!(e.clone().in_field("contacts[3]").field, "contacts[3].phone");
        assert_eq!(e.clone().in_field("").field, "phone");
        let indexed = ValidationError::new("[3]", Rule::Phone, "bad").in_field("contacts");
        assert_eq!(indexed.field, "contacts[3]");
        let whole = ValidationError::new("", Rule::Required, "empty").in_field("sms");
        assert_eq!(whole.to_string(), "sms: empty");
        assert_eq!(ValidationError::new("", Rule::Required, "empty").to_string(), "empty");
    }

    /// Goal: echoes of untrusted input are one line, bounded, and say when they are cut.
    /// Method: quote a control-laden string and an over-long one.
    #[test]
    fn quoted_escapes_and_bounds() {
        assert_eq!(quoted("a\"b\nc"), r#""a\"b\nc""#);
        let long = "x".repeat(ECHO_CHARS_MAX + 10);
        let q = quoted(&long);
        assert!(q.ends_with("(and 10 more characters)"), "{q}");
        assert!(q.len() < ECHO_CHARS_MAX + 40);
    }

    /// Goal: several errors display together. Method: collect two through `check` and `push`,
    /// display them, prefix them.
    #[test]
    fn errors_collect_and_display() {
        let mut errors = ValidationErrors::new();
        assert_eq!(errors.check(Ok::<_, ValidationError>(5)), Some(5));
        assert!(errors.check::<()>(Err(ValidationError::new("a", Rule::TooLong, "x"))).is_none());
        errors.push(ValidationError::new("b", Rule::Required, "y"));
        assert_eq!(errors.len(), 2);
        assert_eq!(errors.to_string(), "a: x; b: y");
        assert_eq!(errors.clone().in_field("row").iter().next().map(|e| e.field.as_str()), Some("row.a"));
        assert!(errors.into_result().is_err());
        assert!(ValidationErrors::new().into_result().is_ok());
    }

    /// Goal: rule codes are unique and parse back, so the wire format is a bijection.
    /// Method: walk `Rule::ALL`.
    #[test]
    fn rule_codes_are_unique_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in Rule::ALL {
            assert!(seen.insert(rule.code()), "duplicate code {}", rule.code());
            assert_eq!(Rule::from_code(rule.code()), Some(rule));
        }
        assert_eq!(Rule::PushSubscription.to_string(), "push_subscription");
        assert_eq!(Rule::from_code("nope"), None);
    }
}
