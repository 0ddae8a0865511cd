//! Field mapping: where a provider's JSON puts our values (the number, the text, the message
//! key, its own message id, a status).
//!
//! A path is dot-separated field names: `message.to` is `{"message": {"to": …}}`. When reading,
//! a segment of digits also indexes an array (`results.0.id`). The empty path is the value
//! itself. Paths are checked when the configuration is loaded
//! (`varsel_config::providers::mapping::check`).

use serde_json::Value;

/// Longest string read from a provider's JSON for one field (ids, statuses, numbers, texts):
/// longer values are cut there, so a hostile body cannot make a huge log entry.
pub const FIELD_BYTES_MAX: usize = 4096;

/// The value at `path`, if there is one.
pub fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, segment| match v {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// The value at `path` as text: strings as they are, numbers and booleans written out; none
/// for absent, null, objects and arrays. Cut at [`FIELD_BYTES_MAX`].
pub fn get_text(value: &Value, path: &str) -> Option<String> {
    let text = match get(value, path)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    Some(cut(text))
}

fn cut(mut text: String) -> String {
    if text.len() > FIELD_BYTES_MAX {
        let mut end = FIELD_BYTES_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Puts `new` at `path` in `value`, making objects along the way (a non-object in the way is
/// replaced). The empty path replaces `value`.
pub fn set(value: &mut Value, path: &str, new: Value) {
    if path.is_empty() {
        *value = new;
        return;
    }
    let mut at = value;
    for segment in path.split('.') {
        if !at.is_object() {
            *at = Value::Object(serde_json::Map::new());
        }
        let Value::Object(map) = at else { return };
        at = map.entry(segment.to_string()).or_insert(Value::Null);
    }
    *at = new;
}

/// The items of an inbound body: the array at `path`, or the single object there.
pub fn items<'a>(body: &'a Value, path: &str) -> Result<Vec<&'a Value>, String> {
    match get(body, path) {
        Some(Value::Array(items)) => Ok(items.iter().collect()),
        Some(v @ Value::Object(_)) => Ok(vec![v]),
        Some(_) => Err(format!("{path:?} is neither an array nor an object")),
        None => Err(format!("no {path:?} in the body")),
    }
}

/// A delivery receipt read from a provider's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReceipt {
    /// The message key we gave the provider.
    pub key: String,
    /// Delivered (true) or undeliverable (false).
    pub delivered: bool,
    /// The provider's message id.
    pub provider_id: String,
    /// Why it was not delivered.
    pub error: Option<String>,
}

/// A reply from a recipient read from a provider's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReply {
    /// E.164 number.
    pub from: String,
    /// The text.
    pub text: String,
    /// The number or short code it was sent to, if the provider says.
    pub to: Option<String>,
    /// When the recipient sent it (ms since the Unix epoch), if the provider says.
    pub sent_at_ms: Option<u64>,
    /// The provider's id for the reply, if it gives one.
    pub id: Option<String>,
    /// The message it answers (our key or the provider's id for it), if the provider says.
    pub in_reply_to: Option<String>,
}

/// A phone number as E.164: providers often leave out the `+`; digits alone get one.
pub fn e164(number: &str) -> String {
    let n = number.trim();
    if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) { format!("+{n}") } else { n.to_string() }
}

/// Whether `value` is one of `list`, ignoring case.
pub fn one_of(value: &str, list: &[String]) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(value))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Goal: paths read nested objects and arrays, write nested objects, and bad paths are
    /// refused with the field named.
    #[test]
    fn paths() {
        let v = json!({"a": {"b": [{"c": 7}, {"c": "x"}]}, "t": true});
        assert_eq!(get_text(&v, "a.b.0.c").as_deref(), Some("7"));
        assert_eq!(get_text(&v, "a.b.1.c").as_deref(), Some("x"));
        assert_eq!(get_text(&v, "t").as_deref(), Some("true"));
        assert_eq!(get_text(&v, "a.b"), None);
        assert_eq!(get_text(&v, "a.zz"), None);
        let mut out = json!({});
        set(&mut out, "message.to", json!("+47"));
        set(&mut out, "message.body", json!("hei"));
        set(&mut out, "ref", json!("k"));
        assert_eq!(out, json!({"message": {"to": "+47", "body": "hei"}, "ref": "k"}));
        assert_eq!(e164("4790000000"), "+4790000000");
        assert_eq!(e164("+4790000000"), "+4790000000");
        assert_eq!(cut("é".repeat(FIELD_BYTES_MAX)).len(), FIELD_BYTES_MAX);
    }
}
