//! Case-insensitive access to JSON objects: SCIM attribute names are case-insensitive
//! (RFC 7643 §2.1), so `userName`, `USERNAME` and `username` are one attribute.

use serde_json::{Map, Value};

/// The key in `map` that equals `name` ignoring ASCII case, as it is spelled in the map.
pub(crate) fn key_ci(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// The value of attribute `name` in `map`, ignoring ASCII case.
pub(crate) fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The value of attribute `name` in `value` if `value` is an object.
pub(crate) fn attr<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.as_object().and_then(|m| get_ci(m, name))
}

/// The mutable value of attribute `name` in `map`, ignoring ASCII case.
pub(crate) fn get_ci_mut<'a>(map: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    map.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// Removes attribute `name` (any case) from `map`, returning whether it was there.
pub(crate) fn remove_ci(map: &mut Map<String, Value>, name: &str) -> bool {
    match key_ci(map, name) {
        Some(k) => map.remove(&k).is_some(),
        None => false,
    }
}

/// Sets attribute `name` in `map`, keeping the existing spelling of the key if there is one.
pub(crate) fn set_ci(map: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_ci(map, name).unwrap_or_else(|| name.to_owned());
    map.insert(key, value);
}

/// Whether a value counts as unassigned (RFC 7643 §2.5: null and the empty array do).
pub(crate) fn is_unassigned(value: &Value) -> bool {
    value.is_null() || value.as_array().is_some_and(Vec::is_empty)
}
