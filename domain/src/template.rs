//! Message templates with `{{variables}}`.
//!
//! `Hei {{name}}, evakuer {{ area }} innen {{time}}` is parsed once, when the alert is
//! created, so that syntax errors and unknown variables are reported then and not when a
//! million messages are being rendered.
//!
//! Syntax: `{{`, optional whitespace, a name, optional whitespace, `}}`. A name is
//! `[A-Za-z_][A-Za-z0-9_.]*`, at most [`VARIABLE_NAME_CHARS_MAX`] characters. There is no
//! escaping: every `{{` opens a variable, so a literal `{{` cannot be written (crisis messages
//! have no need for one, and an escape syntax is one more thing to get wrong under stress).
//! A `}}` without an opening `{{`, and single braces, are literal text. Values are inserted
//! as they are and never parsed again, so a value containing `{{x}}` stays literal text.
//!
//! ```
//! use std::collections::BTreeMap;
//! use varsel_domain::template::Template;
//!
//! let template = Template::parse("sms.text", "Hei {{name}}, evakuer {{ area }}")?;
//! let vars = BTreeMap::from([("name", "Kari"), ("area", "Sentrum")]);
//! assert_eq!(template.render(&vars)?, "Hei Kari, evakuer Sentrum");
//! # Ok::<(), varsel_domain::error::ValidationError>(())
//! ```

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use crate::error::{Rule, ValidationError, quoted};

/// Most bytes in a template. The largest templates are e-mail bodies; a crisis e-mail is
/// plain text, and 64 KiB is far more than anyone reads in one.
pub const TEMPLATE_BYTES_MAX: usize = 64 * 1024;
/// Most `{{...}}` placeholders in one template, counting repeats: bounds the work of
/// rendering per recipient.
pub const TEMPLATE_PLACEHOLDERS_MAX: usize = 256;
/// Most characters in a variable name.
pub const VARIABLE_NAME_CHARS_MAX: usize = 64;
/// Most bytes in a rendered text, so that long values in many placeholders cannot build a
/// huge message.
pub const RENDERED_BYTES_MAX: usize = 256 * 1024;
/// Most names listed in an error message, so a tenant with thousands of known variables does
/// not get a page-long error.
const NAMES_LISTED_MAX: usize = 20;

/// One piece of a parsed template: byte ranges into the template's text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text copied as is.
    Literal(Range<usize>),
    /// The name of a variable (whitespace inside the braces already trimmed off).
    Variable(Range<usize>),
}

/// A parsed template, ready to render for many recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The field the template came from, named in every error.
    field: String,
    /// The template as written.
    text: String,
    /// The text cut into literals and variables, in order.
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`; the error names `field`, what is wrong and the character position.
    pub fn parse(field: &str, text: &str) -> Result<Template, ValidationError> {
        if text.len() > TEMPLATE_BYTES_MAX {
            let message = format!("is {} bytes long, more than {TEMPLATE_BYTES_MAX}", text.len());
            return Err(ValidationError::new(field, Rule::TooLong, message));
        }
        let syntax = |byte: usize, what: String| {
            // Positions counted in characters from 1, as an editor shows them.
            let position = text.get(..byte).map_or(0, |before| before.chars().count()) + 1;
            ValidationError::new(field, Rule::TemplateSyntax, format!("{what} at position {position}"))
        };
        let mut pieces = Vec::new();
        let mut cursor = 0;
        let mut placeholders = 0;
        while let Some(open) = text.get(cursor..).and_then(|rest| rest.find("{{")).map(|at| cursor + at) {
            let inner_start = open + 2;
            let Some(close) =
                text.get(inner_start..).and_then(|rest| rest.find("}}")).map(|at| inner_start + at)
            else {
                return Err(syntax(open, "'{{' is never closed by '}}'".to_owned()));
            };
            let name = trimmed_range(text, inner_start..close);
            check_name(text.get(name.clone()).unwrap_or_default()).map_err(|what| syntax(open, what))?;
            placeholders += 1;
            if placeholders > TEMPLATE_PLACEHOLDERS_MAX {
                let message = format!("has more than {TEMPLATE_PLACEHOLDERS_MAX} {{{{variables}}}}");
                return Err(ValidationError::new(field, Rule::TooMany, message));
            }
            if open > cursor {
                pieces.push(Piece::Literal(cursor..open));
            }
            pieces.push(Piece::Variable(name));
            cursor = close + 2;
        }
        if cursor < text.len() {
            pieces.push(Piece::Literal(cursor..text.len()));
        }
        Ok(Template { field: field.to_owned(), text: text.to_owned(), pieces })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The field named in errors.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Whether the variable `name` is used (without collecting them all, as
    /// [`Template::variables`] does).
    pub fn uses(&self, name: &str) -> bool {
        self.pieces
            .iter()
            .any(|piece| matches!(piece, Piece::Variable(r) if self.text.get(r.clone()) == Some(name)))
    }

    /// The distinct variable names used.
    pub fn variables(&self) -> BTreeSet<&str> {
        self.pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Variable(name) => self.text.get(name.clone()),
                Piece::Literal(_) => None,
            })
            .collect()
    }

    /// Checks every variable is one of `known` (at alert creation, against the variables the
    /// alert and the contacts provide); the error lists all unknown ones and the known ones.
    pub fn check_known<K: Borrow<str> + Ord>(&self, known: &BTreeSet<K>) -> Result<(), ValidationError> {
        let unknown: Vec<&str> = self.variables().into_iter().filter(|name| !known.contains(*name)).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let known_names = list_names(known.iter().map(Borrow::borrow));
        let message = format!("uses unknown variables {}; known are {known_names}", list_names(unknown));
        Err(ValidationError::new(&self.field, Rule::UnknownVariable, message))
    }

    /// Renders with the values in `vars` (e.g. a `BTreeMap<String, String>` or
    /// `BTreeMap<&str, &str>`). See [`Template::render_with`].
    pub fn render<K, V>(&self, vars: &BTreeMap<K, V>) -> Result<String, ValidationError>
    where
        K: Borrow<str> + Ord,
        V: AsRef<str>,
    {
        self.render_with(|name| vars.get(name).map(AsRef::as_ref))
    }

    /// Renders with the value `lookup` gives for each variable. Fails, listing every variable
    /// without a value, or when the text would exceed [`RENDERED_BYTES_MAX`].
    pub fn render_with<'v, F>(&self, lookup: F) -> Result<String, ValidationError>
    where
        F: Fn(&str) -> Option<&'v str>,
    {
        let mut out = String::with_capacity(self.text.len());
        let mut missing = BTreeSet::new();
        for piece in &self.pieces {
            let part = match piece {
                Piece::Literal(range) => self.text.get(range.clone()),
                Piece::Variable(range) => {
                    let name = self.text.get(range.clone()).unwrap_or_default();
                    let value = lookup(name);
                    if value.is_none() {
                        // Go on, so the error can list every missing variable at once.
                        missing.insert(name);
                    }
                    value
                }
            };
            out.push_str(part.unwrap_or_default());
            if out.len() > RENDERED_BYTES_MAX {
                let message = format!("would render to more than {RENDERED_BYTES_MAX} bytes");
                return Err(ValidationError::new(&self.field, Rule::TooLong, message));
            }
        }
        if !missing.is_empty() {
            let message = format!("has no value for {}", list_names(missing));
            return Err(ValidationError::new(&self.field, Rule::MissingValue, message));
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `range` of `text` without the whitespace at its ends.
fn trimmed_range(text: &str, range: Range<usize>) -> Range<usize> {
    let inner = text.get(range.clone()).unwrap_or_default();
    let start = range.start + (inner.len() - inner.trim_start().len());
    let end = range.end - (inner.len() - inner.trim_end().len());
    start..end.max(start)
}

/// Checks a variable name, saying what is wrong with it.
fn check_name(name: &str) -> Result<(), String> {
    let valid_start = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    let valid_rest = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if name.is_empty() {
        Err("empty '{{}}'".to_owned())
    } else if !valid_start || !valid_rest {
        Err(format!(
            "invalid variable name {}: names are letters, digits, '_' and '.', starting with a letter or '_'",
            quoted(name)
        ))
    } else if name.chars().count() > VARIABLE_NAME_CHARS_MAX {
        Err(format!("variable name longer than {VARIABLE_NAME_CHARS_MAX} characters"))
    } else {
        Ok(())
    }
}

/// Names for a message, `{{a}}, {{b}}`, cut after [`NAMES_LISTED_MAX`] with a count of the rest.
fn list_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        return "none".to_owned();
    }
    let mut listed: Vec<String> =
        names.iter().take(NAMES_LISTED_MAX).map(|n| format!("{{{{{n}}}}}")).collect();
    if names.len() > NAMES_LISTED_MAX {
        listed.push(format!("and {} more", names.len() - NAMES_LISTED_MAX));
    }
    listed.join(", ")
}

#[cfg(test)]
mod tests;
