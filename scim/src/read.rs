//! Reading attributes out of a request body, with errors that name the attribute.

use serde_json::Value;

use crate::error::ScimError;
use crate::json::{attr, get_ci};

/// Longest string value accepted in any attribute, in bytes. Longer than any name, address,
/// phone number or identifier a directory sends (Entra's object ids are 36, its UPNs at most
/// 113); the node's own rules may bound each field more tightly.
pub const VALUE_LENGTH_MAX: usize = 1024;

/// Refuses a body that is not an object or whose `schemas` does not list `schema`.
pub(crate) fn check_schemas(body: &Value, schema: &str) -> Result<(), ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    let listed = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(schema))));
    if listed {
        Ok(())
    } else {
        Err(ScimError::invalid_syntax(format!("'schemas' must be an array that lists \"{schema}\"")))
    }
}

/// A string attribute of `obj` named `name`, if present and not null; `what` names it in errors.
pub(crate) fn opt_string(obj: &Value, name: &str, what: &str) -> Result<Option<String>, ScimError> {
    match attr(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > VALUE_LENGTH_MAX => Err(ScimError::invalid_value(format!(
            "'{what}' is {} bytes long, longer than the {VALUE_LENGTH_MAX} accepted",
            s.len()
        ))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!("'{what}' must be a string"))),
    }
}

/// A boolean, also from the strings `"True"`/`"False"` in any case, as Entra ID sends them.
pub(crate) fn opt_bool(obj: &Value, name: &str, what: &str) -> Result<Option<bool>, ScimError> {
    match attr(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ScimError::invalid_value(format!("'{what}' must be a boolean"))),
    }
}

/// The chosen `value` of a multi-valued attribute such as `emails`: the one marked primary,
/// else the first with a non-empty value. Elements may also be bare strings.
pub(crate) fn primary_value(obj: &Value, name: &str) -> Result<Option<String>, ScimError> {
    let items = match attr(obj, name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ScimError::invalid_value(format!("'{name}' must be an array"))),
    };
    let mut first = None;
    let mut primary = None;
    for (i, item) in items.iter().enumerate() {
        let what = format!("{name}[{i}].value");
        let value = match item {
            Value::String(_) => opt_string(&serde_json::json!({"value": item}), "value", &what)?,
            Value::Object(_) => opt_string(item, "value", &what)?,
            _ => return Err(ScimError::invalid_value(format!("'{name}[{i}]' must be an object"))),
        };
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else { continue };
        let is_primary = opt_bool(item, "primary", &format!("{name}[{i}].primary"))?.unwrap_or(false);
        if is_primary && primary.is_none() {
            primary = Some(value.clone());
        }
        first.get_or_insert(value);
    }
    Ok(primary.or(first))
}
