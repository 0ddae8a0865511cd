//! Evaluating a [`Filter`] against a resource's JSON.
//!
//! Multi-valued attributes match when any value does. A multi-valued complex attribute with
//! no sub-attribute named compares its elements' `value` (RFC 7644 §3.4.2.2: "emails co ..."
//! looks at the e-mail addresses). Strings compare ignoring case unless case-exact; `gt`,
//! `ge`, `lt`, `le` on strings compare lexicographically, which orders RFC 3339 timestamps
//! written in one form (as `meta.created` and `meta.lastModified` are).

use std::cmp::Ordering;

use serde_json::Value;

use super::{AttrPath, CompareOp, Filter, is_case_exact};
use crate::json::{attr, is_unassigned};

/// Whether `resource` matches `filter`; `parent` names the multi-valued attribute inside
/// whose value filter we are, so `members[value eq "x"]` knows `value` is `members.value`.
pub(super) fn matches(filter: &Filter, resource: &Value, parent: Option<&str>) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource, parent) && matches(b, resource, parent),
        Filter::Or(a, b) => matches(a, resource, parent) || matches(b, resource, parent),
        Filter::Not(f) => !matches(f, resource, parent),
        Filter::Present(path) => present(resource, path),
        Filter::Compare { path, op, value } => compare_path(resource, path, *op, value, parent),
        Filter::ValuePath { path, filter } => {
            let name = path.name.to_ascii_lowercase();
            raw(resource, path).is_some_and(|v| match v {
                Value::Array(items) => items.iter().any(|item| matches(filter, item, Some(&name))),
                item @ Value::Object(_) => matches(filter, item, Some(&name)),
                _ => false,
            })
        }
    }
}

/// The object that holds the path's attribute: the resource, or an extension inside it.
fn base<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match &path.schema {
        Some(schema) if !path.is_core() => attr(resource, schema),
        _ => Some(resource),
    }
}

/// The attribute's value as stored, before sub-attributes.
fn raw<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    base(resource, path).and_then(|b| attr(b, &path.name))
}

/// The simple values the path designates, flattening multi-valued attributes.
fn values<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(v) = raw(resource, path) else { return Vec::new() };
    let elements: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for e in elements {
        let picked = match (&path.sub_attr, e) {
            (Some(sub), _) => attr(e, sub),
            (None, Value::Object(_)) => attr(e, "value"),
            (None, simple) => Some(simple),
        };
        match picked {
            Some(Value::Array(items)) => out.extend(items.iter()),
            Some(p) => out.push(p),
            None => {}
        }
    }
    out
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.is_empty(),
        Value::Object(m) => m.values().any(non_empty),
        other => !is_unassigned(other),
    }
}

fn present(resource: &Value, path: &AttrPath) -> bool {
    match &path.sub_attr {
        None => raw(resource, path).is_some_and(non_empty),
        Some(_) => values(resource, path).into_iter().any(non_empty),
    }
}

fn compare_path(
    resource: &Value,
    path: &AttrPath,
    op: CompareOp,
    literal: &Value,
    parent: Option<&str>,
) -> bool {
    let key = match parent {
        Some(p) => format!("{p}.{}", path.dotted_lower()),
        None => path.dotted_lower(),
    };
    let exact = is_case_exact(&key);
    let vals = values(resource, path);
    match (op, literal) {
        (CompareOp::Eq, Value::Null) => !vals.into_iter().any(non_empty),
        (CompareOp::Ne, Value::Null) => vals.into_iter().any(non_empty),
        (CompareOp::Ne, _) => !vals.into_iter().any(|v| compare(v, CompareOp::Eq, literal, exact)),
        _ => vals.into_iter().any(|v| compare(v, op, literal, exact)),
    }
}

/// One attribute value against the literal.
fn compare(value: &Value, op: CompareOp, literal: &Value, exact: bool) -> bool {
    match (value, literal) {
        (Value::String(a), Value::String(b)) => compare_str(a, op, b, exact),
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => ordered(a.partial_cmp(&b), op),
            _ => false,
        },
        (Value::Bool(a), Value::Bool(b)) => op == CompareOp::Eq && a == b,
        _ => false,
    }
}

fn compare_str(a: &str, op: CompareOp, b: &str, exact: bool) -> bool {
    let (a, b) = if exact { (a.to_owned(), b.to_owned()) } else { (a.to_lowercase(), b.to_lowercase()) };
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => ordered(Some(a.cmp(&b)), op),
    }
}

fn ordered(ord: Option<Ordering>, op: CompareOp) -> bool {
    let Some(ord) = ord else { return false };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
