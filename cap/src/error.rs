//! The one error of this crate: which element broke which rule.
//!
//! A [`CapError`] names the element as a path from the root, with a 1-based index on every
//! element that may repeat (`alert/info[2]/area[1]/polygon[1]`) and none on those that may
//! not (`alert/info[1]/headline`), a stable [`CapRule`] code that the HTTP layer puts in its
//! problem details, and a message that says what is wrong and what is expected. Input echoed
//! in a message is quoted and cut with [`varsel_domain::error::quoted`], so a hostile
//! document cannot put megabytes or control characters into a response or a log line.
//!
//! ```
//! let err = varsel_cap::parse("<alert xmlns='urn:oasis:names:tc:emergency:cap:1.1'/>").unwrap_err();
//! assert_eq!(err.path, "alert");
//! assert_eq!(err.rule, varsel_cap::CapRule::Namespace);
//! assert!(err.to_string().starts_with("alert (line 1): is in namespace"));
//! ```

use std::fmt;

/// The rule a CAP document broke: a stable, machine-readable code next to the message.
///
/// Shown as its [`code`](CapRule::code) (`"enumeration"`); clients match on it, so a code is
/// never changed, only added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CapRule {
    /// The bytes are not well-formed XML (or use a DTD, which is refused).
    Xml,
    /// The root is not `alert` in the CAP 1.2 namespace, or an element is in another namespace.
    Namespace,
    /// The document is larger than [`crate::DOCUMENT_BYTES_MAX`].
    TooLarge,
    /// An element repeats more often than its bound (a [`crate::limits`] constant) allows.
    TooMany,
    /// A required element is missing or empty.
    Required,
    /// An element that CAP 1.2 does not define here.
    UnknownElement,
    /// A CAP element in the wrong place: the schema fixes the order of elements.
    Order,
    /// An element that may appear once appears again.
    Repeated,
    /// An element that holds text has child elements.
    Content,
    /// Not one of the values the schema enumerates.
    Enumeration,
    /// Not a CAP dateTime (`2003-06-11T20:56:00-07:00`).
    DateTime,
    /// Characters that CAP forbids in the element (spaces, commas, `<`, `&`).
    Characters,
    /// `references` is not a list of `sender,identifier,sent` triples.
    References,
    /// Not a polygon: at least 4 `lat,lon` points, the first equal to the last.
    Polygon,
    /// Not a circle: `lat,lon radius` with the radius in km.
    Circle,
    /// A number out of range or not written as a decimal.
    Number,
    /// Not a language tag.
    Language,
    /// Combinations the specification forbids (`ceiling` without `altitude`, a private
    /// alert without `addresses`).
    Combination,
    /// A text does not fit the SMS segment limit even in its shortest form.
    SmsSegments,
    /// A text longer than the channel allows.
    TooLong,
    /// A text contains `{{`, which Varsel's templates read as a variable.
    TemplateSyntax,
}

impl CapRule {
    /// The stable code of the rule, as clients see it.
    pub const fn code(self) -> &'static str {
        match self {
            CapRule::Xml => "xml",
            CapRule::Namespace => "namespace",
            CapRule::TooLarge => "too_large",
            CapRule::TooMany => "too_many",
            CapRule::Required => "required",
            CapRule::UnknownElement => "unknown_element",
            CapRule::Order => "order",
            CapRule::Repeated => "repeated",
            CapRule::Content => "content",
            CapRule::Enumeration => "enumeration",
            CapRule::DateTime => "date_time",
            CapRule::Characters => "characters",
            CapRule::References => "references",
            CapRule::Polygon => "polygon",
            CapRule::Circle => "circle",
            CapRule::Number => "number",
            CapRule::Language => "language",
            CapRule::Combination => "combination",
            CapRule::SmsSegments => "sms_segments",
            CapRule::TooLong => "too_long",
            CapRule::TemplateSyntax => "template_syntax",
        }
    }
}

impl fmt::Display for CapRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A CAP document (or a text made from one) breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct CapError {
    /// The element at fault, e.g. `alert/info[2]/area[1]/polygon[1]`; `document` when the
    /// bytes are not XML at all.
    pub path: String,
    /// The rule broken.
    pub rule: CapRule,
    /// What is wrong and what is expected, for a person.
    pub message: String,
    /// The line of the document where the element starts, when known.
    pub line: Option<u32>,
}

impl CapError {
    /// An error at `path` with no line number.
    pub fn new(path: impl Into<String>, rule: CapRule, message: impl Into<String>) -> Self {
        CapError { path: path.into(), rule, message: message.into(), line: None }
    }

    /// The same error, located at `line`.
    pub fn at_line(mut self, line: u32) -> Self {
        self.line = Some(line);
        self
    }
}

/// The result of this crate's operations.
pub type Result<T, E = CapError> = std::result::Result<T, E>;
