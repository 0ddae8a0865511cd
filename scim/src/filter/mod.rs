//! SCIM filters (RFC 7644 §3.4.2.2): parsed into a [`Filter`] tree, evaluated against a
//! resource's JSON, and recognised as a point lookup when they are one.
//!
//! Attribute names and operators are case-insensitive. String comparisons ignore case unless
//! the attribute is case-exact in our schemas ([`is_case_exact`]: `id`, `externalId`,
//! `meta.location`, `meta.version`, `members.value`, `members.$ref`). `and` binds tighter than
//! `or`; `not` applies to a parenthesised filter.
//!
//! ```
//! use serde_json::json;
//! use varsel_scim::filter::{Filter, IndexedAttr};
//!
//! let f = Filter::parse(r#"emails[type eq "work" and value co "@example.com"]"#)?;
//! let user = json!({"emails": [{"type": "work", "value": "bjensen@EXAMPLE.com"}]});
//! assert!(f.matches(&user));
//!
//! let f = Filter::parse(r#"userName Eq "bjensen""#)?;
//! let lookup = f.point_lookup().unwrap();
//! assert_eq!((lookup.attr, lookup.value.as_str()), (IndexedAttr::UserName, "bjensen"));
//!
//! let e = Filter::parse(r#"userName eq"#).unwrap_err();
//! assert_eq!(e.scim_type, Some("invalidFilter"));
//! # Ok::<(), varsel_scim::ScimError>(())
//! ```

mod eval;
mod lexer;
mod parser;

use std::fmt;

use serde_json::Value;

use crate::error::ScimError;
use crate::{GROUP_SCHEMA, USER_SCHEMA};

/// Longest filter accepted, in bytes. An `or` of a hundred `userName eq "..."` terms with
/// 30-character names is about 3,000 bytes; longer filters are refused rather than parsed.
pub const FILTER_LENGTH_MAX: usize = 4096;

/// Deepest nesting of parentheses, `not` and `[...]` value filters. Real clients nest two or
/// three levels; the bound keeps the recursive parser's stack small on any input.
pub const FILTER_NESTING_MAX: usize = 16;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both filters match.
    And(Box<Filter>, Box<Filter>),
    /// Either filter matches.
    Or(Box<Filter>, Box<Filter>),
    /// The filter does not match.
    Not(Box<Filter>),
    /// `attrPath pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `attrPath op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal: a string, number, boolean or null.
        value: Value,
    },
    /// `attrPath[valFilter]`: some element of a multi-valued complex attribute matches the
    /// inner filter, whose paths are relative to the element.
    ValuePath {
        /// The multi-valued attribute.
        path: AttrPath,
        /// The filter each element is tested against.
        filter: Box<Filter>,
    },
}

/// A comparison operator (RFC 7644 §3.4.2.2, Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal to
    Ge,
    /// less than
    Lt,
    /// less than or equal to
    Le,
}

impl CompareOp {
    /// The operator named by `word`, ignoring case.
    pub fn from_word(word: &str) -> Option<CompareOp> {
        const OPS: [(&str, CompareOp); 9] = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        OPS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)).map(|(_, op)| *op)
    }
}

/// An attribute path: an optional schema URI, an attribute, an optional sub-attribute
/// (RFC 7644 §3.10, `[URI ":"]ATTRNAME["." subAttr]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URI prefix, if one was written (`urn:ietf:params:scim:schemas:core:2.0:User`).
    pub schema: Option<String>,
    /// The attribute name, as written.
    pub name: String,
    /// The sub-attribute name, as written.
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// Parses `[URI ":"]ATTRNAME["." subAttr]`. The error is the rule broken, for the caller
    /// to place in its own message.
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let (schema, rest) = match text.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("urn:") => match text.rfind(':') {
                Some(i) => (
                    Some(text.get(..i).unwrap_or_default().to_owned()),
                    text.get(i + 1..).unwrap_or_default(),
                ),
                None => (None, text),
            },
            _ => (None, text),
        };
        let mut parts = rest.split('.');
        let name = parts.next().unwrap_or_default();
        let sub_attr = parts.next();
        if parts.next().is_some() {
            return Err(format!(
                "attribute path '{text}' has more than one '.': only attr.subAttr is allowed"
            ));
        }
        check_attr_name(name, text)?;
        if let Some(sub) = sub_attr {
            check_attr_name(sub, text)?;
        }
        Ok(AttrPath { schema, name: name.to_owned(), sub_attr: sub_attr.map(str::to_owned) })
    }

    /// Whether the schema prefix is absent or names a core schema (User or Group), so the
    /// attribute is at the top of the resource rather than inside an extension object.
    pub fn is_core(&self) -> bool {
        self.schema
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case(USER_SCHEMA) || s.eq_ignore_ascii_case(GROUP_SCHEMA))
    }

    /// Whether this path names `name` (and no sub-attribute) in a core schema, ignoring case.
    pub fn is_simple(&self, name: &str) -> bool {
        self.is_core() && self.sub_attr.is_none() && self.name.eq_ignore_ascii_case(name)
    }

    /// `name` or `name.subAttr`, lower-cased: the key for [`is_case_exact`].
    pub fn dotted_lower(&self) -> String {
        match &self.sub_attr {
            Some(s) => format!("{}.{}", self.name, s).to_ascii_lowercase(),
            None => self.name.to_ascii_lowercase(),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.schema {
            write!(f, "{s}:")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(s) = &self.sub_attr {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA (RFC 7643 §2.1), plus
/// `$ref`, which the RFC's own schemas use.
fn check_attr_name(name: &str, whole: &str) -> Result<(), String> {
    let ok = name.eq_ignore_ascii_case("$ref")
        || (name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{whole}' is not an attribute path: a name starts with a letter and has only letters, digits, '-' and '_'"
        ))
    }
}

/// Attributes (lower-case, `attr` or `attr.sub`) whose string values compare case-exactly,
/// as our schemas in [`crate::discovery`] declare them (`caseExact: true`).
pub const CASE_EXACT_ATTRIBUTES: [&str; 7] =
    ["id", "externalid", "meta.location", "meta.version", "members.value", "members.$ref", "$ref"];

/// Whether string comparisons on this path (lower-case, dotted) are case-exact.
pub fn is_case_exact(dotted_lower: &str) -> bool {
    CASE_EXACT_ATTRIBUTES.contains(&dotted_lower)
}

/// An attribute the server can look up directly instead of scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedAttr {
    /// `id eq "..."` (case-exact).
    Id,
    /// `userName eq "..."` (Users; case-insensitive).
    UserName,
    /// `externalId eq "..."` (Users and Groups; case-exact).
    ExternalId,
    /// `displayName eq "..."` (Groups; case-insensitive).
    DisplayName,
}

impl IndexedAttr {
    /// Whether the server must compare the value case-exactly (otherwise ignoring case).
    pub fn case_exact(self) -> bool {
        matches!(self, IndexedAttr::Id | IndexedAttr::ExternalId)
    }
}

/// A filter that is exactly one `attr eq "value"` on an indexed attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointLookup {
    /// The attribute.
    pub attr: IndexedAttr,
    /// The value to look up.
    pub value: String,
}

impl Filter {
    /// Parses a filter, refusing it with 400 `invalidFilter` naming the position and rule.
    pub fn parse(input: &str) -> Result<Filter, ScimError> {
        parser::parse(input)
    }

    /// Whether `resource` (a User or Group as JSON) matches. A comparison that cannot apply
    /// (an absent attribute, `gt` on a boolean, `co` on a number) does not match.
    pub fn matches(&self, resource: &Value) -> bool {
        eval::matches(self, resource, None)
    }

    /// Whether one element of the multi-valued attribute `parent` matches this value filter
    /// (the inside of `parent[...]`), so case-exactness follows `parent.sub`.
    pub(crate) fn matches_element(&self, element: &Value, parent: &str) -> bool {
        eval::matches(self, element, Some(&parent.to_ascii_lowercase()))
    }

    /// The point lookup this filter is, if it is exactly `id`, `userName`, `externalId` or
    /// `displayName` `eq` a string. The server fetches that one record, and should still call
    /// [`Filter::matches`] on it (or compare by [`IndexedAttr::case_exact`]).
    pub fn point_lookup(&self) -> Option<PointLookup> {
        let Filter::Compare { path, op: CompareOp::Eq, value: Value::String(s) } = self else {
            return None;
        };
        let attrs = [
            ("id", IndexedAttr::Id),
            ("userName", IndexedAttr::UserName),
            ("externalId", IndexedAttr::ExternalId),
            ("displayName", IndexedAttr::DisplayName),
        ];
        let attr = attrs.iter().find(|(n, _)| path.is_simple(n)).map(|(_, a)| *a)?;
        Some(PointLookup { attr, value: s.clone() })
    }
}
