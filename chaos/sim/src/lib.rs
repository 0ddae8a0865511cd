//! Provider simulator for Varsel: SMS, voice, e-mail and push providers that behave like
//! real ones (latency, errors, outages, throughput caps, receipts, replies) and record every
//! message they receive, so a test can count lost and duplicated messages exactly.
//!
//! One process serves several named providers. It takes a national alert (5 million
//! messages in about a minute from three nodes) on two shared cores: messages come in
//! batches, each is recorded as a hash and 8 bytes of counts, nothing is logged or synced
//! per message.
//!
//! # Layout
//!
//! - [`config`]: [`SimConfig`] and [`ProviderConfig`] (TOML/JSON, documented defaults,
//!   `validate()`), [`ProviderSettings`] (run-time changes), [`SimConfig::demo`].
//! - [`protocol`]: the wire types of batches, results, receipts and replies.
//! - [`reports`]: the admin API's answers and the counting rules.
//! - [`limits`]: every bound, as a named constant.
//! - `server`: [`serve`] (accept loop, routing, provider endpoints), [`run`], [`spawn`].
//! - `submit`: one batch: decode, check, cap, judge, record, queue callbacks, answer.
//! - `providers`: a provider's live behaviour, token bucket and counters.
//! - `recorder`: exact per-key records and per-alert counts.
//! - `handset`: what each handset shows whatever the keys: copies, multipart reassembly,
//!   orphan fragments.
//! - `inbox`: the first deliveries with what the recipient saw, for tests of content.
//! - `callbacks`: the bounded receipt/reply queue, the flusher, failover between nodes,
//!   redelivery.
//! - [`signing`]: the callbacks' HMAC signature.
//! - `seeded`: deterministic hashing and draws ([`key_hash`], [`will_reply`]).
//! - `admin`: the admin endpoints. `client`: [`SimClient`]. `http`: shared plumbing.
//! - `src/bin/varsel-sim.rs`: the process (`--listen`, `--config`, prints `READY <addr>`).
//!
//! # Starting it
//!
//! In-process, on an OS-chosen port (tests, benchmarks):
//!
//! ```no_run
//! # async fn demo() -> varsel_sim::Result<()> {
//! use varsel_sim::{Channel, ProviderConfig, SimConfig};
//! let config = SimConfig::with_providers(vec![ProviderConfig::new("sms-primary", Channel::Sms)]);
//! let sim = varsel_sim::spawn(config).await?;      // or serve(config, listener, shutdown)
//! let stats = sim.client.stats().await?;
//! assert_eq!(stats.totals.received, 0);
//! sim.stop().await
//! # }
//! ```
//!
//! As a process: `varsel-sim --listen 127.0.0.1:0 --config sim.toml` prints
//! `READY 127.0.0.1:PORT` on stdout once listening (the seed goes to stderr) and stops on
//! SIGTERM or Ctrl-C.
//!
//! # Provider API (what the node's provider client speaks)
//!
//! JSON over HTTP/1.1 with keep-alive.
//!
//! - `POST /v1/providers/{provider}/messages` with [`SubmitRequest`] (at most
//!   [`limits::BATCH_MESSAGES_MAX`] messages and [`limits::BATCH_BODY_BYTES_MAX`] bytes, else
//!   413). 200 with [`SubmitResponse`], one result per message in order: `accepted` with a
//!   `provider_id`, `retryable` or `permanent` with an `error`. A message of another channel
//!   than the provider's, or without its channel's content, is `permanent`, naming the field.
//!   Whole batch: 503 in an outage, 429 with `Retry-After` over `rate_per_second`, 400 for a
//!   malformed body naming the field (`messages[3].alert: invalid type ...`).
//! - Multipart SMS: a message may carry `part: {reference, index, total}` (one segment sent on
//!   its own, [`Part`]); the handset shows the message once every part of the reference
//!   arrived. A part with `index` outside 1..=`total` is 400 naming the field.
//! - Rude behaviours, per provider (see [`ProviderConfig`]): `timeout_after_accept_rate` takes
//!   a batch (the handsets get it) and then closes the connection without an answer, or
//!   holds the answer `timeout_after_accept_ms`; `throttle_mid_batch_rate` takes the first
//!   messages of a batch and answers the rest `retryable` with a throttling error.
//! - Idempotency: a key this provider already accepted is answered `accepted` with the same
//!   `provider_id` and counted `duplicate_suppressed`; with `honour_idempotency = false` it is
//!   delivered again with a new id and counted `duplicate_delivered`. Another provider
//!   accepting the same key is a new delivery (a second message to the recipient).
//! - `GET /v1/providers/{provider}/health`: 200 `{"ok":true}`, 503 in an outage.
//!
//! # Admin API (tests and chaos runs)
//!
//! - `GET /admin/stats` → [`Stats`]: per provider and total [`reports::Counters`], outage
//!   flags, `distinct_keys`, callback queue and drop counts, and per kind (`receipts`,
//!   `replies`) the callbacks sent, acknowledged, redelivered and given up
//!   ([`CallbackStats`]).
//! - `POST /admin/providers/{provider}` with a [`ProviderSettings`] (any subset of `outage`,
//!   `latency_ms`, `latency_jitter_ms`, `error_rate`, `permanent_error_rate`,
//!   `rate_per_second`, `honour_idempotency`, `receipts`, `receipt_delay_ms`,
//!   `receipt_failure_rate`, `reply_rate`, `reply_text`, `reply_delay_ms`,
//!   `timeout_after_accept_rate`, `timeout_after_accept_ms`, `throttle_mid_batch_rate`,
//!   `redeliver_callbacks`, `duplicate_callback_rate`) → the provider's
//!   whole [`ProviderConfig`] now in force; 400 naming the field when out of range.
//! - `GET /admin/keys?prefix=a12-&limit=N` → [`reports::KeysListing`]: per key the arrival
//!   `count`, `delivered` and the providers. `limit` defaults to
//!   [`limits::KEYS_LISTED_DEFAULT`] and is capped at [`limits::KEYS_LISTED_MAX`]; only the
//!   first `keys_recorded_max` distinct keys are kept as text (`keys_not_listed` counts the
//!   rest).
//! - `GET /admin/counts?alert=12` → [`reports::AlertCounts`]: per channel, exact
//!   `distinct_keys`, `receives`, `keys_received_more_than_once`, and the same for
//!   deliveries (`delivered_keys`, `deliveries`, `keys_delivered_more_than_once`); what the
//!   handsets show whatever the keys (`handsets`, `handset_messages`, `handset_duplicates`,
//!   `orphan_fragments`; bounded by [`limits::HANDSETS_MAX`], as compact as the key records);
//!   the first and last arrival (`first_received_ms`, `last_received_ms`); and over the
//!   channels `handset_duplicates`, `orphan_fragments`, `last_received_ms`.
//! - `GET /admin/inbox?alert=12&to=%2B4791234567&limit=N` → [`reports::InboxListing`]: the
//!   deliveries kept (the first `inbox_max`, default [`limits::INBOX_DEFAULT`]) with arrival
//!   time, provider, key, address and what the recipient saw (text, subject or title, voice
//!   language), oldest first; `alert` and `to` filter, `not_kept` counts the deliveries beyond
//!   the bound.
//! - `GET /admin/receipts?limit=N` → [`reports::ReceiptsListing`]: receipts the nodes
//!   acknowledged, oldest first (the first [`limits::RECEIPTS_RECORDED_MAX`]).
//! - `GET /admin/replies?limit=N` → [`reports::RepliesListing`]: replies the nodes
//!   acknowledged (the first [`limits::REPLIES_RECORDED_MAX`]).
//! - `POST /admin/reset`: forgets messages, counters, the inbox, queued callbacks and replies, and
//!   restores every provider's configured behaviour.
//!
//! # Receipts and replies
//!
//! With `receipts` on, every first acceptance by a provider gets a [`protocol::Receipt`]
//! after `receipt_delay_ms`, posted in batches of up to [`limits::CALLBACK_BATCH_MAX`] every
//! [`limits::CALLBACK_FLUSH_INTERVAL_MS`] to `{callback}/inbound/v1/{provider}/receipts`.
//! With `reply_rate` > 0, the SMS recipients for whom [`will_reply`] holds reply after
//! `reply_delay_ms` to `{callback}/inbound/v1/{provider}/replies`. Each request is signed
//! (see [`signing`]). A failed request is retried with backoff on the configured
//! `callback_urls`; callbacks that cannot be sent are given up and counted, unless the
//! provider has `redeliver_callbacks`, which queues them again for later rounds (at most
//! [`limits::CALLBACK_REDELIVERIES_MAX`]); `duplicate_callback_rate` re-sends some that a
//! node acknowledged, as real providers do.
//!
//! # Determinism
//!
//! One `seed` drives every choice, per key and per arrival (see `seeded`), so the same seed
//! and the same arrivals per key give the same answers whatever the batch interleaving.

pub mod config;
pub mod limits;
pub mod protocol;
pub mod reports;
pub mod signing;

mod admin;
mod callbacks;
mod client;
mod error;
mod handset;
mod http;
mod inbox;
mod providers;
mod recorder;
mod seeded;
mod server;
mod sim;
mod submit;

pub use client::{RawAnswer, SendOutcome, SimClient};
pub use config::{Channel, ProviderConfig, ProviderSettings, SimConfig};
pub use error::{Error, Result};
pub use protocol::{Message, MessageResult, Part, ResultStatus, SubmitRequest, SubmitResponse};
pub use reports::{
    AlertCounts, CallbackStats, ChannelCounts, InboxListing, InboxMessage, KeyInfo, KeysListing,
    ReceiptRecord, ReceiptsListing, RepliesListing, ReplyRecord, Stats,
};
pub use seeded::{key_hash, will_reply};
pub use server::{SimHandle, run, serve, spawn};
