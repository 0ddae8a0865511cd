//! Property tests of everything the webhook endpoints read from the outside: the signature,
//! timestamp and id headers ([`verify`]) and the bodies of all three endpoints in every layout
//! ([`body::parse`]: Varsel's own, an HTTP SMS provider's mapped receipts and replies, a voice
//! provider's call results).
//!
//! The promise under test: for any headers and any body these return an error or a value,
//! never panic, and what they accept is within their rules (an accepted id is a valid id and
//! its timestamp within the window; no more than [`ITEMS_MAX`] items). Inputs are arbitrary
//! bytes, arbitrary JSON, and JSON shaped like each layout with arbitrary values, so the
//! parsers' inner paths are reached, not only the JSON check.
//!
//! Each test states its cases, chosen so they all run in a few seconds in a debug build on two
//! cores. `PROPTEST_RNG_SEED=<n>` replays a run; no regression files are written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{HeaderName, HeaderValue};
use hmac::Mac as _;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::Value;
use varsel_delivery::providers::http_sms::{SmsReceiptMap, SmsReplyMap};
use varsel_delivery::providers::voice::VoiceCallbackMap;

use super::verify::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, id_ok, mac};
use super::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

const SECRET: &[u8] = b"property-secret";

/// A header value: bytes a client could send (anything `HeaderValue` takes), or text that is
/// nearly right (digits, `sha256=` and hex, id characters).
fn header_value() -> impl Strategy<Value = Option<HeaderValue>> {
    let raw = vec(any::<u8>(), 0..160).prop_map(|b| HeaderValue::from_bytes(&b).ok());
    let text = "[ -~]{0,140}".prop_map(|s| HeaderValue::from_str(&s).ok());
    let digits = "[0-9+-]{0,24}".prop_map(|s| HeaderValue::from_str(&s).ok());
    let sig = "sha256=[0-9a-fA-FxX]{0,70}".prop_map(|s| HeaderValue::from_str(&s).ok());
    prop_oneof![raw, text, digits, sig]
}

/// Values for the three headers: each absent, once, or twice.
fn headers() -> impl Strategy<Value = HeaderMap> {
    let names = [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER];
    vec((0..3usize, vec(header_value(), 0..3)), 0..6).prop_map(move |entries| {
        let mut h = HeaderMap::new();
        for (name, values) in entries {
            for v in values.into_iter().flatten() {
                h.append(HeaderName::from_static(names[name]), v);
            }
        }
        h
    })
}

fn clock() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(u64::MAX), 1_600_000_000u64..1_900_000_000, any::<u64>()]
}

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: arbitrary headers never panic `verify`, and whatever it accepts has a valid id and
    /// a timestamp within the window. Method: 2,048 header maps with each of the three headers
    /// absent, once or repeated, holding arbitrary bytes or near-valid text; arbitrary bodies
    /// up to 256 bytes; clocks at 0, `u64::MAX`, now-ish and anywhere.
    #[test]
    fn verify_never_panics(h in headers(), body in vec(any::<u8>(), 0..256), now in clock()) {
        if let Ok(signed) = verify(SECRET, &h, &body, now) {
            prop_assert!(id_ok(&signed.id));
            prop_assert!(signed.timestamp_s.abs_diff(now) <= SKEW_MAX_S);
        }
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Goal: a correctly signed request passes, and the same request with its id, timestamp
    /// or body changed does not (and nothing panics). Method: 1,024 requests with arbitrary
    /// ids (valid or not), timestamps within ±400 s of the clock and bodies, signed with the
    /// secret; then one of them changed.
    #[test]
    fn signed_requests(
        id in "[ -~]{0,130}",
        offset in -400i64..400,
        body in vec(any::<u8>(), 0..128),
        change in 0..3usize,
    ) {
        let now = 1_750_000_000u64;
        let ts = now.saturating_add_signed(offset);
        let sig = hex::encode(mac(SECRET, &id, &ts.to_string(), &body).finalize().into_bytes());
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert(ID_HEADER, v);
        }
        h.insert(TIMESTAMP_HEADER, HeaderValue::from(ts));
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&format!("sha256={sig}")).unwrap());
        let expected_ok = id_ok(&id) && offset.unsigned_abs() <= SKEW_MAX_S;
        prop_assert_eq!(verify(SECRET, &h, &body, now).is_ok(), expected_ok);
        let mut changed_body = body.clone();
        match change {
            0 => { h.insert(ID_HEADER, HeaderValue::from_static("another-id")); }
            1 => { h.insert(TIMESTAMP_HEADER, HeaderValue::from(ts + 1)); }
            _ => changed_body.push(b' '),
        }
        prop_assert!(verify(SECRET, &h, &changed_body, now).is_err());
    }
}

/// Any JSON value, nested up to four levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            btree_map("[a-z_]{0,8}", inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names the layouts below read, so generated objects hit them.
const NAMES: [&str; 22] = [
    "receipts",
    "replies",
    "key",
    "provider_id",
    "status",
    "error",
    "from",
    "text",
    "sent_at_ms",
    "events",
    "ref",
    "msgId",
    "stat",
    "err",
    "inbound",
    "msisdn",
    "message",
    "reference",
    "call_id",
    "digits",
    "data",
    "0",
];

/// JSON shaped like the layouts: objects whose keys are the fields they read, with values
/// that are strings the maps match (statuses, digits) or anything.
fn shaped() -> impl Strategy<Value = Value> {
    let words = prop_oneof![
        Just("delivered"),
        Just("failed"),
        Just("DELIVRD"),
        Just("UNDELIV"),
        Just("completed"),
        Just("busy"),
        Just("no-answer"),
        Just("1"),
        Just("OK"),
        Just("a1-c2-sms-0"),
    ]
    .prop_map(|w| Value::String(w.into()));
    let leaf = prop_oneof![words, json()];
    leaf.prop_recursive(4, 96, 10, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..10).prop_map(Value::Array),
            btree_map(proptest::sample::select(NAMES.to_vec()), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// Every layout: Varsel's, an SMS gateway's mapped receipts and replies (nested, as in the
/// black-box tests, and the defaults), voice callbacks (default and nested).
fn formats() -> Vec<Format> {
    let receipts = SmsReceiptMap {
        items: "events".into(),
        reference: "ref".into(),
        id: "msgId".into(),
        status: "stat".into(),
        delivered: vec!["DELIVRD".into()],
        failed: vec!["UNDELIV".into()],
        error: "err".into(),
    };
    let replies = SmsReplyMap {
        items: "inbound".into(),
        from: "msisdn".into(),
        text: "message".into(),
        ..SmsReplyMap::default()
    };
    let nested_voice = VoiceCallbackMap {
        items: "data.events".into(),
        reference: "data.ref".into(),
        digits: "data.0.digits".into(),
        ..VoiceCallbackMap::default()
    };
    let ack = vec!["1".to_string(), String::new()];
    vec![
        Format::Varsel,
        Format::HttpSms { receipts: Some(receipts), replies: Some(replies) },
        Format::HttpSms { receipts: Some(SmsReceiptMap::default()), replies: Some(SmsReplyMap::default()) },
        Format::HttpSms { receipts: None, replies: None },
        Format::Voice { map: VoiceCallbackMap::default(), ack_digits: ack.clone() },
        Format::Voice { map: nested_voice, ack_digits: ack },
    ]
}

/// Runs every endpoint in every layout on `body`.
fn parse_everywhere(body: &[u8]) -> Result<(), TestCaseError> {
    for format in formats() {
        for kind in [Kind::Receipts, Kind::Replies, Kind::Voice] {
            match body::parse(&format, kind, body) {
                Ok(items) => prop_assert!(items.len() <= ITEMS_MAX),
                Err(BodyError::NotVoice) => prop_assert!(kind == Kind::Voice),
                Err(_) => {}
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Goal: arbitrary bytes never panic a body parser. Method: 512 byte strings up to 512
    /// bytes, each through all three endpoints in all six layouts.
    #[test]
    fn bodies_of_bytes(body in vec(any::<u8>(), 0..512)) {
        parse_everywhere(&body)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Goal: arbitrary JSON never panics a body parser. Method: 512 JSON values nested up to
    /// four levels (any scalars, strings of any Unicode), through all endpoints and layouts.
    #[test]
    fn bodies_of_json(value in json()) {
        parse_everywhere(&serde_json::to_vec(&value).unwrap())?;
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Goal: JSON shaped like the layouts (their field names, their status words, arrays of
    /// items) never panics a parser and reaches past the JSON check (that such bodies reach
    /// the item readers is shown by `shaped_bodies_reach_items`). Method: 1,024 values built
    /// from the layouts' own field names and words, through all endpoints and layouts.
    #[test]
    fn bodies_shaped_like_layouts(value in shaped()) {
        parse_everywhere(&serde_json::to_vec(&value).unwrap())?;
    }
}

/// Goal: the shaped inputs above do reach the item readers (else the property would test
/// little). Method: fixed bodies of the same shape, one per layout, each parsed into items.
#[test]
fn shaped_bodies_reach_items() {
    let cases: [(usize, Kind, &str); 4] = [
        (0, Kind::Receipts, r#"{"receipts":[{"key":"a1-c2-sms-0","status":"delivered"}]}"#),
        (1, Kind::Receipts, r#"{"events":[{"ref":"a1-c2-sms-0","stat":"DELIVRD"}]}"#),
        (1, Kind::Replies, r#"{"inbound":{"msisdn":"4790000001","message":"OK"}}"#),
        (5, Kind::Voice, r#"{"data":{"events":[{"data":{"ref":"a1-c2-voice-0"}}]}}"#),
    ];
    let formats = formats();
    for (format, kind, body) in cases {
        let items = body::parse(&formats[format], kind, body.as_bytes()).expect(body);
        assert_eq!(items.len(), 1, "{body}");
    }
}
