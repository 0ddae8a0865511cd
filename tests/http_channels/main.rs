//! HTTP channel tests: three real node processes sending SMS, voice calls and Web Push through
//! HTTP peers served by the test (which record every request), with receipts, replies and call
//! results posted back to the nodes' signed webhooks. Web Push payloads and VAPID tokens are
//! checked by an independent implementation (PyPI `http-ece` and `py-vapid`). The peers listen
//! on loopback, which tenants' URLs may reach only because the fixture allows it
//! (`delivery.tenant_url_allowed_networks`); `t05` checks the refusal without that allowance,
//! `t06` that a replayed webhook is applied once per node, `t07` that 10,000 long failures are
//! recorded within the log's entry bounds, `t08` that a reply acknowledges only
//! its own tenant's alert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod fixture;
mod peer;
mod t01_http_sms;
mod t02_voice;
mod t03_webpush;
mod t04_voice_render;
mod t05_push_refuses_private;
mod t06_webhook_replay;
mod t07_long_failures;
mod t08_reply_per_tenant;
