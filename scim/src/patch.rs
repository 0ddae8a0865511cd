//! PATCH (RFC 7644 §3.5.2): a PatchOp request applied to a resource's JSON.
//!
//! The server renders the stored record with `to_resource`, calls [`apply`], reads the result
//! back with `from_resource` (which checks it as a whole) and stores that. Operations apply in
//! order and all or none: on an error the resource is left as it was.
//!
//! What real clients send, and what happens:
//!
//! - `op` in any case (`"Replace"`, `"Add"` from Entra ID).
//! - No `path`: `value` is an object whose keys are attribute paths (`"active"`,
//!   `"name.givenName"`, `"emails[type eq \"work\"].value"`) or schema URIs holding objects.
//!   `id` and `meta` there are ignored when they equal the current values (Okta sends `id`).
//! - `attr[filter].sub` or `attr[filter]` with add or replace and no matching element: when the
//!   filter is only `eq` comparisons joined by `and` (Entra's `emails[type eq "work"].value`), a
//!   new element is made from them and put first, so it becomes the one Varsel keeps; any other
//!   filter is 400 `noTarget` (RFC 7644 §3.5.2.3).
//! - `remove` with a `value` on a multi-valued attribute (Entra's
//!   `{"op":"Remove","path":"members","value":[{"value":"id"}]}`) removes those elements.
//! - `remove` of something absent succeeds: the result is what the client asked for.
//!
//! ```
//! use serde_json::json;
//! use varsel_scim::patch;
//!
//! let mut group = json!({"displayName": "Brannvakt", "members": [{"value": "a"}, {"value": "b"}]});
//! patch::apply(&mut group, &json!({
//!     "schemas": [patch::PATCH_OP_SCHEMA],
//!     "Operations": [{"op": "remove", "path": "members[value eq \"a\"]"}],
//! }))?;
//! assert_eq!(group["members"], json!([{"value": "b"}]));
//!
//! let e = patch::apply(&mut group, &json!({
//!     "schemas": [patch::PATCH_OP_SCHEMA],
//!     "Operations": [{"op": "replace", "path": "id", "value": "x"}],
//! })).unwrap_err();
//! assert_eq!(e.scim_type, Some("mutability"));
//! # Ok::<(), varsel_scim::ScimError>(())
//! ```

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{AttrPath, CompareOp, FILTER_LENGTH_MAX, Filter};
use crate::json::{get_ci, get_ci_mut, is_unassigned, remove_ci, set_ci};

/// The PatchOp message schema URI.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Most operations in one PATCH request. Entra ID sends at most 1,000 member changes per
/// request (its documented batch size), Okta fewer; a request with more is refused whole.
pub const PATCH_OPERATIONS_MAX: usize = 1000;

/// Longest `path` accepted, in bytes: a path holds at most one filter, so the filter bound.
pub const PATH_LENGTH_MAX: usize = FILTER_LENGTH_MAX;

/// Attributes of the core schemas that are multi-valued, so that `emails.value` on a resource
/// without `emails` makes an array, not an object.
const MULTI_VALUED: [&str; 10] = [
    "emails",
    "phoneNumbers",
    "members",
    "addresses",
    "ims",
    "photos",
    "entitlements",
    "roles",
    "x509Certificates",
    "groups",
];

/// Attributes no PATCH may change (RFC 7643 §3.1: `readOnly`).
const READ_ONLY: [&str; 2] = ["id", "meta"];

/// The three operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `remove`
    Remove,
}

/// A parsed `path`: `attrPath`, `attr[filter]` or `attr[filter].subAttr`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute, which follows the filter when there is one).
    pub attr: AttrPath,
    /// The value filter selecting elements of a multi-valued attribute.
    pub filter: Option<Filter>,
}

/// One operation of a PatchOp request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// What to do.
    pub op: PatchKind,
    /// Where; `None` means the resource itself.
    pub path: Option<PatchPath>,
    /// The value; required for add and replace.
    pub value: Option<Value>,
}

impl PatchPath {
    /// Parses a path, refusing a malformed one with 400 `invalidPath` naming the rule.
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        let bad = |rule: &str| ScimError::invalid_path(format!("path '{text}' is invalid: {rule}"));
        if text.len() > PATH_LENGTH_MAX {
            return Err(ScimError::invalid_path(format!(
                "path is {} bytes long, longer than the {PATH_LENGTH_MAX} accepted",
                text.len()
            )));
        }
        let Some(open) = text.find('[') else {
            return Ok(PatchPath { attr: AttrPath::parse(text.trim()).map_err(|r| bad(&r))?, filter: None });
        };
        let close = text.rfind(']').filter(|&c| c > open).ok_or_else(|| bad("'[' has no closing ']'"))?;
        let head = text.get(..open).unwrap_or_default();
        let inner = text.get(open + 1..close).unwrap_or_default();
        let tail = text.get(close + 1..).unwrap_or_default();
        let mut attr = AttrPath::parse(head).map_err(|r| bad(&r))?;
        if attr.sub_attr.is_some() {
            return Err(bad("a value filter '[...]' applies to an attribute, not to a sub-attribute"));
        }
        if !tail.is_empty() {
            let sub = tail.strip_prefix('.').ok_or_else(|| bad("only '.subAttr' may follow ']'"))?;
            let sub_path = AttrPath::parse(sub).map_err(|r| bad(&r))?;
            if sub_path.schema.is_some() || sub_path.sub_attr.is_some() {
                return Err(bad("only one sub-attribute name may follow ']'"));
            }
            attr.sub_attr = Some(sub_path.name);
        }
        let filter = Filter::parse(inner).map_err(|e| bad(&e.detail))?;
        Ok(PatchPath { attr, filter: Some(filter) })
    }
}

/// Parses a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("the PATCH body must be a JSON object"));
    };
    let listed = get_ci(obj, "schemas").and_then(Value::as_array).is_some_and(|s| {
        s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_SCHEMA)))
    });
    if !listed {
        return Err(ScimError::invalid_syntax(format!("'schemas' must list \"{PATCH_OP_SCHEMA}\"")));
    }
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("'Operations' must be an array of operations"))?;
    if ops.is_empty() || ops.len() > PATCH_OPERATIONS_MAX {
        return Err(ScimError::invalid_syntax(format!(
            "'Operations' has {} operations; from 1 to {PATCH_OPERATIONS_MAX} are accepted",
            ops.len()
        )));
    }
    ops.iter().enumerate().map(|(i, op)| parse_operation(i, op)).collect()
}

fn parse_operation(i: usize, op: &Value) -> Result<PatchOperation, ScimError> {
    let Some(obj) = op.as_object() else {
        return Err(ScimError::invalid_syntax(format!("'Operations[{i}]' must be an object")));
    };
    let kind = match get_ci(obj, "op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => PatchKind::Add,
        Some(s) if s.eq_ignore_ascii_case("replace") => PatchKind::Replace,
        Some(s) if s.eq_ignore_ascii_case("remove") => PatchKind::Remove,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "'Operations[{i}].op' must be \"add\", \"replace\" or \"remove\""
            )));
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(PatchPath::parse(p)?),
        Some(_) => return Err(ScimError::invalid_path(format!("'Operations[{i}].path' must be a string"))),
    };
    let value = get_ci(obj, "value").cloned();
    if kind != PatchKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!("'Operations[{i}]' ({kind:?}) needs a 'value'")));
    }
    if kind == PatchKind::Remove && path.is_none() {
        return Err(ScimError::no_target(format!("'Operations[{i}]' (remove) needs a 'path'")));
    }
    Ok(PatchOperation { op: kind, path, value })
}

/// Applies a PatchOp request to `resource`, all operations or none.
pub fn apply(resource: &mut Value, body: &Value) -> Result<(), ScimError> {
    let ops = parse_request(body)?;
    apply_operations(resource, &ops)
}

/// Applies parsed operations to `resource`, all or none.
pub fn apply_operations(resource: &mut Value, ops: &[PatchOperation]) -> Result<(), ScimError> {
    let mut work = resource.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_one(&mut work, op)
            .map_err(|e| ScimError { detail: format!("Operations[{i}]: {}", e.detail), ..e })?;
    }
    *resource = work;
    Ok(())
}

fn apply_one(resource: &mut Value, op: &PatchOperation) -> Result<(), ScimError> {
    match (&op.path, op.op, &op.value) {
        (Some(path), PatchKind::Remove, value) => {
            check_writable(&path.attr)?;
            remove(resource, path, value.as_ref())
        }
        (Some(path), kind, Some(value)) => {
            check_writable(&path.attr)?;
            set(resource, path, value, kind == PatchKind::Replace)
        }
        (None, kind, Some(Value::Object(values))) => set_each(resource, values, kind == PatchKind::Replace),
        (None, PatchKind::Remove, _) => Err(ScimError::no_target("remove needs a 'path'")),
        (None, _, _) => {
            Err(ScimError::invalid_value("without a 'path' the 'value' must be an object of attributes"))
        }
        (Some(_), _, None) => Err(ScimError::invalid_value("add and replace need a 'value'")),
    }
}

fn check_writable(attr: &AttrPath) -> Result<(), ScimError> {
    match READ_ONLY.iter().find(|n| attr.is_core() && attr.name.eq_ignore_ascii_case(n)) {
        Some(n) => Err(ScimError::mutability(format!("'{n}' is readOnly and cannot be changed"))),
        None => Ok(()),
    }
}

/// Add or replace without a path: each key of `values` is a path or a schema URI.
fn set_each(resource: &mut Value, values: &Map<String, Value>, replace: bool) -> Result<(), ScimError> {
    for (key, value) in values {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if is_schema_urn(key) {
            let Value::Object(inner) = value else {
                return Err(ScimError::invalid_value(format!("'{key}' must be an object of attributes")));
            };
            for (name, v) in inner {
                let path = PatchPath::parse(&format!("{key}:{name}"))?;
                set_checked(resource, &path, v, replace)?;
            }
            continue;
        }
        let path = PatchPath::parse(key)?;
        set_checked(resource, &path, value, replace)?;
    }
    Ok(())
}

/// `set` for a key of a path-less value: a read-only attribute equal to its current value is
/// skipped (clients echo `id` back); a different one is refused.
fn set_checked(
    resource: &mut Value,
    path: &PatchPath,
    value: &Value,
    replace: bool,
) -> Result<(), ScimError> {
    if check_writable(&path.attr).is_err() {
        let current = resource.as_object().and_then(|m| get_ci(m, &path.attr.name));
        if path.filter.is_none() && path.attr.sub_attr.is_none() && current == Some(value) {
            return Ok(());
        }
        check_writable(&path.attr)?;
    }
    set(resource, path, value, replace)
}

/// A schema URI (`urn:...:User`, `urn:...:enterprise:2.0:User`) rather than an attribute path.
fn is_schema_urn(key: &str) -> bool {
    let urn = key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    let last = key.rsplit(':').next().unwrap_or_default();
    urn && (last.eq_ignore_ascii_case("User") || last.eq_ignore_ascii_case("Group"))
}

/// The object holding the path's attribute: the resource, or its extension object.
fn container<'a>(
    resource: &'a mut Value,
    attr: &AttrPath,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    let Some(root) = resource.as_object_mut() else {
        return Err(ScimError::invalid_syntax("the resource is not a JSON object"));
    };
    let Some(schema) = attr.schema.as_ref().filter(|_| !attr.is_core()) else { return Ok(Some(root)) };
    if get_ci(root, schema).is_none() {
        if !create {
            return Ok(None);
        }
        set_ci(root, schema, Value::Object(Map::new()));
    }
    match get_ci_mut(root, schema) {
        Some(Value::Object(ext)) => Ok(Some(ext)),
        _ => Err(ScimError::invalid_value(format!("'{schema}' must be an object"))),
    }
}

fn is_multi_valued(name: &str) -> bool {
    MULTI_VALUED.iter().any(|m| m.eq_ignore_ascii_case(name))
}

fn set(resource: &mut Value, path: &PatchPath, value: &Value, replace: bool) -> Result<(), ScimError> {
    let Some(map) = container(resource, &path.attr, true)? else { return Ok(()) };
    let name = &path.attr.name;
    match (&path.filter, &path.attr.sub_attr) {
        (None, None) => {
            set_attribute(map, name, value, replace);
            Ok(())
        }
        (None, Some(sub)) => {
            set_sub_attribute(map, name, sub, value);
            Ok(())
        }
        (Some(filter), sub) => set_filtered(map, name, filter, sub.as_deref(), value, replace),
    }
}

/// `attr`: arrays are appended to by add and replaced by replace; objects are merged.
fn set_attribute(map: &mut Map<String, Value>, name: &str, value: &Value, replace: bool) {
    let Some(existing) = get_ci_mut(map, name) else {
        let v = match value {
            Value::Object(_) if is_multi_valued(name) => Value::Array(vec![value.clone()]),
            _ => value.clone(),
        };
        set_ci(map, name, v);
        return;
    };
    match (existing, value) {
        (Value::Array(items), Value::Array(new)) if !replace => {
            for v in new {
                if !items.contains(v) {
                    items.push(v.clone());
                }
            }
        }
        (Value::Array(items), v @ Value::Object(_)) if !replace => {
            if !items.contains(v) {
                items.push(v.clone());
            }
        }
        (Value::Array(items), v @ Value::Object(_)) => *items = vec![v.clone()],
        (Value::Object(old), Value::Object(new)) => {
            for (k, v) in new {
                set_ci(old, k, v.clone());
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// `attr.sub`: set in the object, or in every element of a multi-valued attribute.
fn set_sub_attribute(map: &mut Map<String, Value>, name: &str, sub: &str, value: &Value) {
    let fresh = |v: &Value| {
        let mut o = Map::new();
        o.insert(sub.to_owned(), v.clone());
        Value::Object(o)
    };
    match get_ci_mut(map, name) {
        Some(Value::Object(o)) => set_ci(o, sub, value.clone()),
        Some(Value::Array(items)) if !items.is_empty() => {
            for item in items.iter_mut() {
                match item {
                    Value::Object(o) => set_ci(o, sub, value.clone()),
                    other => *other = fresh(value),
                }
            }
        }
        _ if is_multi_valued(name) => set_ci(map, name, Value::Array(vec![fresh(value)])),
        _ => set_ci(map, name, fresh(value)),
    }
}

/// `attr[filter]` or `attr[filter].sub` with add or replace.
fn set_filtered(
    map: &mut Map<String, Value>,
    name: &str,
    filter: &Filter,
    sub: Option<&str>,
    value: &Value,
    replace: bool,
) -> Result<(), ScimError> {
    if get_ci(map, name).is_none() {
        set_ci(map, name, Value::Array(Vec::new()));
    }
    let Some(Value::Array(items)) = get_ci_mut(map, name) else {
        return Err(ScimError::invalid_path(format!(
            "'{name}' is not multi-valued, so it takes no '[...]' filter"
        )));
    };
    let mut matched = false;
    for item in items.iter_mut().filter(|i| filter.matches_element(i, name)) {
        matched = true;
        match (sub, item, value) {
            (Some(s), Value::Object(o), v) => set_ci(o, s, v.clone()),
            (None, Value::Object(o), Value::Object(new)) if !replace => {
                for (k, v) in new {
                    set_ci(o, k, v.clone());
                }
            }
            (None, slot, v) => *slot = v.clone(),
            (Some(s), _, _) => {
                return Err(ScimError::invalid_path(format!("'{name}' elements are not objects with '{s}'")));
            }
        }
    }
    if matched {
        return Ok(());
    }
    let Some(mut element) = element_from_equalities(filter) else {
        return Err(ScimError::no_target(format!("no element of '{name}' matches the filter")));
    };
    match (sub, value) {
        (Some(s), v) => set_ci(&mut element, s, v.clone()),
        (None, Value::Object(new)) => new.iter().for_each(|(k, v)| set_ci(&mut element, k, v.clone())),
        (None, _) => {
            return Err(ScimError::invalid_value(format!("a new element of '{name}' must be an object")));
        }
    }
    items.insert(0, Value::Object(element));
    Ok(())
}

/// The element `type eq "work" and primary eq true` describes, if the filter is only `eq`s
/// on plain sub-attribute names joined by `and`.
fn element_from_equalities(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value }
            if path.schema.is_none() && path.sub_attr.is_none() =>
        {
            let mut m = Map::new();
            m.insert(path.name.clone(), value.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = element_from_equalities(a)?;
            m.extend(element_from_equalities(b)?);
            Some(m)
        }
        _ => None,
    }
}

fn remove(resource: &mut Value, path: &PatchPath, value: Option<&Value>) -> Result<(), ScimError> {
    let Some(map) = container(resource, &path.attr, false)? else { return Ok(()) };
    let name = &path.attr.name;
    match (&path.filter, &path.attr.sub_attr) {
        (None, None) => match (get_ci_mut(map, name), value) {
            (Some(Value::Array(items)), Some(v)) if !v.is_null() => remove_listed(items, v),
            _ => {
                remove_ci(map, name);
            }
        },
        (None, Some(sub)) => match get_ci_mut(map, name) {
            Some(Value::Object(o)) => {
                remove_ci(o, sub);
            }
            Some(Value::Array(items)) => items.iter_mut().filter_map(Value::as_object_mut).for_each(|o| {
                remove_ci(o, sub);
            }),
            _ => {}
        },
        (Some(filter), sub) => {
            if let Some(Value::Array(items)) = get_ci_mut(map, name) {
                match sub {
                    Some(s) => items
                        .iter_mut()
                        .filter(|i| filter.matches_element(i, name))
                        .filter_map(Value::as_object_mut)
                        .for_each(|o| {
                            remove_ci(o, s);
                        }),
                    None => items.retain(|i| !filter.matches_element(i, name)),
                }
            }
        }
    }
    if get_ci(map, name).is_some_and(is_unassigned) {
        remove_ci(map, name);
    }
    Ok(())
}

/// Removes from `items` the elements `value` lists (one or an array), matching by their
/// `value` sub-attribute when both have one, else by equality.
fn remove_listed(items: &mut Vec<Value>, value: &Value) {
    let listed: Vec<&Value> = match value {
        Value::Array(v) => v.iter().collect(),
        v => vec![v],
    };
    let key = |v: &Value| v.as_object().and_then(|o| get_ci(o, "value")).cloned();
    items.retain(|item| {
        !listed.iter().any(|l| match (key(item), key(l)) {
            (Some(a), Some(b)) => a == b,
            _ => item == *l,
        })
    });
}
