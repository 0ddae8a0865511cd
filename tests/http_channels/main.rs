//! HTTP channel tests: three real node processes sending SMS, voice calls and Web Push through
//! HTTP peers served by the test (which record every request), with receipts, replies and call
//! results posted back to the nodes' signed webhooks. Web Push payloads and VAPID tokens are
//! checked by an independent implementation (PyPI `http-ece` and `py-vapid`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod fixture;
mod peer;
mod t01_http_sms;
mod t02_voice;
mod t03_webpush;
mod t04_voice_render;
