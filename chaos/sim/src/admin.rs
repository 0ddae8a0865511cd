//! The admin endpoints, for tests and chaos runs. Small on purpose:
//! `GET /admin/stats`, `POST /admin/providers/{name}`, `GET /admin/keys`,
//! `GET /admin/counts`, `GET /admin/inbox`, `GET /admin/replies`, `POST /admin/reset`.

use hyper::{Request, StatusCode, body::Incoming};

use crate::{
    config::ProviderSettings,
    http::{Answer, BodyError, error, json, read_body},
    inbox::Filter,
    limits::{
        ADMIN_BODY_BYTES_MAX, INBOX_LISTED_DEFAULT, INBOX_MAX, KEYS_LISTED_DEFAULT, KEYS_LISTED_MAX,
        RECEIPTS_RECORDED_MAX, REPLIES_RECORDED_MAX,
    },
    sim::{Sim, lock},
};

/// `POST /admin/providers/{name}`: applies a [`ProviderSettings`], answers the provider's
/// whole behaviour now in force.
pub(crate) async fn set(sim: &Sim, name: &str, request: Request<Incoming>) -> Answer {
    let Some(provider) = sim.provider(name) else {
        return error(StatusCode::NOT_FOUND, format!("unknown provider {name:?}"));
    };
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body, ADMIN_BODY_BYTES_MAX).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body: larger than {ADMIN_BODY_BYTES_MAX} bytes"),
            );
        }
        Err(BodyError::Read(e)) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let change: ProviderSettings = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    match provider.apply(&change) {
        Ok(settings) => json(StatusCode::OK, &*settings),
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

/// `GET /admin/keys?prefix=P&limit=N`: keys starting with P (all when absent), at most N
/// (default [`KEYS_LISTED_DEFAULT`], capped at [`KEYS_LISTED_MAX`]). Only the first
/// `keys_recorded_max` distinct keys are kept as text; `keys_not_listed` says how many not.
pub(crate) fn keys(sim: &Sim, query: &str) -> Answer {
    let prefix = param(query, "prefix").unwrap_or_default();
    let limit = match parse_limit(query, KEYS_LISTED_DEFAULT, KEYS_LISTED_MAX) {
        Ok(limit) => limit,
        Err(answer) => return answer,
    };
    let names = sim.provider_names();
    let listing = lock(&sim.recorder).keys(&prefix, limit, &names);
    json(StatusCode::OK, &listing)
}

/// `GET /admin/counts?alert=N`: exact per-channel counts for alert N.
pub(crate) fn counts(sim: &Sim, query: &str) -> Answer {
    let Some(alert) = param(query, "alert") else {
        return error(StatusCode::BAD_REQUEST, "alert: missing (use ?alert=N)".to_owned());
    };
    let Ok(alert) = alert.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, format!("alert: {alert:?} is not an unsigned integer"));
    };
    let counts = lock(&sim.recorder).counts(alert);
    json(StatusCode::OK, &counts)
}

/// `GET /admin/inbox?alert=N&to=ADDRESS&limit=L`: kept deliveries of alert N (all when
/// absent) to ADDRESS (all when absent), oldest first, at most L (default
/// [`INBOX_LISTED_DEFAULT`]).
pub(crate) fn inbox(sim: &Sim, query: &str) -> Answer {
    let alert = match param(query, "alert").map(|a| a.parse::<u64>().map_err(|_| a)) {
        None => None,
        Some(Ok(alert)) => Some(alert),
        Some(Err(a)) => {
            return error(StatusCode::BAD_REQUEST, format!("alert: {a:?} is not an unsigned integer"));
        }
    };
    let limit = match parse_limit(query, INBOX_LISTED_DEFAULT, INBOX_MAX) {
        Ok(limit) => limit,
        Err(answer) => return answer,
    };
    let filter = Filter { alert, to: param(query, "to") };
    let listing = lock(&sim.inbox).listing(&filter, limit);
    json(StatusCode::OK, &listing)
}

/// `GET /admin/replies?limit=N`: replies the nodes acknowledged, oldest first.
pub(crate) fn replies(sim: &Sim, query: &str) -> Answer {
    let limit = match parse_limit(query, REPLIES_RECORDED_MAX, REPLIES_RECORDED_MAX) {
        Ok(limit) => limit,
        Err(answer) => return answer,
    };
    let listing = lock(&sim.replies).replies(limit);
    json(StatusCode::OK, &listing)
}

/// `GET /admin/receipts?limit=N`: receipts the nodes acknowledged, oldest first.
pub(crate) fn receipts(sim: &Sim, query: &str) -> Answer {
    let limit = match parse_limit(query, RECEIPTS_RECORDED_MAX, RECEIPTS_RECORDED_MAX) {
        Ok(limit) => limit,
        Err(answer) => return answer,
    };
    let listing = lock(&sim.receipts).receipts(limit);
    json(StatusCode::OK, &listing)
}

/// `POST /admin/reset`: forgets all messages, counters, queued callbacks and replies, and
/// restores every provider's configured behaviour.
pub(crate) fn reset(sim: &Sim) -> Answer {
    sim.reset();
    json(StatusCode::OK, &serde_json::json!({ "ok": true }))
}

fn parse_limit(query: &str, default: usize, max: usize) -> Result<usize, Answer> {
    match param(query, "limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(limit) => Ok(limit.min(max)),
            Err(_) => {
                Err(error(StatusCode::BAD_REQUEST, format!("limit: {text:?} is not an unsigned integer")))
            }
        },
    }
}

/// The decoded value of `name` in a query string.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| decode(v))
}

/// Percent-decoding (and `+` as space); invalid escapes are kept as they are.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: query parameters are found and percent-decoded without panicking on bad input.
    #[test]
    fn query_parameters() {
        assert_eq!(param("prefix=a12-&limit=5", "limit").as_deref(), Some("5"));
        assert_eq!(param("prefix=a%31%32-", "prefix").as_deref(), Some("a12-"));
        assert_eq!(param("prefix=%", "prefix").as_deref(), Some("%"));
        assert_eq!(param("prefix=%4", "prefix").as_deref(), Some("%4"));
        assert_eq!(param("x=1", "prefix"), None);
    }
}
