//! Every bound the simulator keeps, named once so the documentation and the code agree.
//!
//! The simulator shares two cores with a three-node cluster while five million messages go
//! through it, so nothing may grow with the input except the per-key record (see
//! [`crate::recorder`]); everything else is capped here.

/// Most messages in one `POST /v1/providers/{provider}/messages` batch; more is answered 413.
pub const BATCH_MESSAGES_MAX: usize = 1_000;

/// Largest body of a message batch (4 MiB); more is answered 413.
pub const BATCH_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;

/// An oversized body is read and discarded up to this many bytes past the limit, so the 413
/// reaches the client on a clean connection; beyond it the connection is closed.
pub const BODY_DRAIN_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Largest body of an admin request (settings are a few hundred bytes).
pub const ADMIN_BODY_BYTES_MAX: usize = 64 * 1024;

/// Longest idempotency key (`a{alert}-c{contact}-{channel}-{step}` is far shorter).
pub const KEY_BYTES_MAX: usize = 200;

/// Providers one simulator serves: each owns one bit of a key record's `u8` provider masks.
pub const PROVIDERS_MAX: usize = 8;

/// Longest provider name; it appears in URLs and in every provider id.
pub const PROVIDER_NAME_BYTES_MAX: usize = 64;

/// Default of `SimConfig::keys_recorded_max`: distinct full keys kept for `/admin/keys`.
pub const KEYS_RECORDED_DEFAULT: usize = 100_000;

/// Hard cap of `SimConfig::keys_recorded_max` (about 60 bytes a key, so ~600 MB at the cap).
pub const KEYS_RECORDED_MAX: usize = 10_000_000;

/// Keys in one `/admin/keys` answer when the request gives no `limit`.
pub const KEYS_LISTED_DEFAULT: usize = 100_000;

/// Keys in one `/admin/keys` answer whatever `limit` asks for.
pub const KEYS_LISTED_MAX: usize = 1_000_000;

/// (alert, channel) pairs with their own counters for `/admin/counts`; arrivals for further
/// alerts are still recorded per key but counted in `alerts_untracked` only.
pub const ALERTS_TRACKED_MAX: usize = 100_000;

/// Most parts of one concatenated SMS: the UDH concatenation header counts them in one byte
/// (3GPP TS 23.040 §9.2.3.24.1), and `varsel_domain::sms::CONCATENATED_SEGMENTS_MAX` agrees.
pub const PARTS_MAX: u8 = 255;

/// Handsets (alert, channel, address) with an exact count of the messages they show, for the
/// `handset_*` figures of `/admin/counts`. A handset costs what a key record costs (a 64-bit
/// hash and its count in a `hashbrown` slot: 20 to 39 bytes), so 5 million recipients take
/// ~145 MB and the cap ~390 MB; deliveries to handsets beyond it are counted in
/// `handsets_untracked` only.
pub const HANDSETS_MAX: usize = 10_000_000;

/// Multipart messages some of whose parts have arrived and others not yet (48 bytes each:
/// a hash, a 256-bit mask of the parts seen and the part count). A complete message leaves
/// the table, so this holds only what is in flight or orphaned; parts of further ones are
/// counted in `handsets_untracked`.
pub const PARTIAL_MESSAGES_MAX: usize = 1_000_000;

/// Largest `timeout_after_accept_ms`: an answer held back after acceptance is released
/// after at most five minutes, so a held connection cannot pin a task for good.
pub const TIMEOUT_AFTER_ACCEPT_MS_MAX: u64 = 300_000;

/// Default of `SimConfig::inbox_max`: deliveries kept with their content for `/admin/inbox`.
/// About 300 bytes each with a short text, so ~3 MB.
pub const INBOX_DEFAULT: usize = 10_000;

/// Hard cap of `SimConfig::inbox_max`: a national alert's 5 million deliveries are counted,
/// not kept, and tests of content need a few thousand.
pub const INBOX_MAX: usize = 1_000_000;

/// Deliveries in one `/admin/inbox` answer when the request gives no `limit`.
pub const INBOX_LISTED_DEFAULT: usize = 10_000;

/// Replies remembered for `/admin/replies` (the count of replies sent is not capped).
pub const REPLIES_RECORDED_MAX: usize = 100_000;

/// Receipts remembered for `/admin/receipts` (the count of receipts sent is not capped).
pub const RECEIPTS_RECORDED_MAX: usize = 200_000;

/// Receipts and replies waiting for their delay or for a free sender; beyond it new ones are
/// dropped and counted in `callbacks_dropped`.
pub const CALLBACK_QUEUE_MAX: usize = 250_000;

/// Receipts or replies in one callback request.
pub const CALLBACK_BATCH_MAX: usize = 500;

/// How often due callbacks are gathered into requests: batching instead of one request each.
pub const CALLBACK_FLUSH_INTERVAL_MS: u64 = 200;

/// Callback requests in flight at once; a slow node makes the queue grow, not the task count.
pub const CALLBACK_CONCURRENCY_MAX: usize = 8;

/// Attempts for one callback request, over the message's own callback URL and then the
/// configured `callback_urls` in turn; after the last, its items are dropped and counted.
pub const CALLBACK_ATTEMPTS_MAX: u32 = 6;

/// With `redeliver_callbacks`, how many more times a receipt or reply whose every attempt
/// failed is queued again (each time for a whole round of attempts) before it is given up.
pub const CALLBACK_REDELIVERIES_MAX: u8 = 5;

/// Pause before a redelivery round, and before a deliberate duplicate of an acknowledged
/// callback (`duplicate_callback_rate`). One value for every round keeps the redelivery lanes
/// in due order (FIFO); the backoff within a round is the one below.
pub const CALLBACK_REDELIVERY_DELAY_MS: u64 = 1_000;

/// First pause between callback attempts; doubled each attempt up to the max below.
pub const CALLBACK_BACKOFF_BASE_MS: u64 = 100;

/// Longest pause between callback attempts.
pub const CALLBACK_BACKOFF_MAX_MS: u64 = 2_000;

/// A callback request that has not been answered by then counts as failed.
pub const CALLBACK_TIMEOUT_MS: u64 = 5_000;

/// Longest answer body read from a callback target (it only says "ok").
pub const CALLBACK_ANSWER_BYTES_MAX: usize = 64 * 1024;

/// Configured base URLs for callback failover.
pub const CALLBACK_URLS_MAX: usize = 16;

/// Largest `latency_ms` and `latency_jitter_ms`.
pub const LATENCY_MS_MAX: u64 = 60_000;

/// Largest `receipt_delay_ms` and `reply_delay_ms` (one hour).
pub const CALLBACK_DELAY_MS_MAX: u64 = 3_600_000;

/// Largest `rate_per_second` (0 means unlimited).
pub const RATE_PER_SECOND_MAX: u64 = 10_000_000;

/// Longest `reply_text`.
pub const REPLY_TEXT_BYTES_MAX: usize = 1_600;

/// Concurrent client connections; further ones wait in the listen backlog.
pub const CONNECTIONS_MAX: usize = 1_024;

/// Time open connections get to finish their request after shutdown is asked for.
pub const SHUTDOWN_GRACE_MS: u64 = 2_000;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
pub const ACCEPT_ERROR_PAUSE_MS: u64 = 50;

/// Largest answer [`crate::SimClient`] reads (a key listing at `KEYS_LISTED_MAX` fits).
pub const CLIENT_ANSWER_BYTES_MAX: usize = 256 * 1024 * 1024;

/// How often [`crate::SimClient::wait_for`] polls the stats.
pub const WAIT_POLL_MS: u64 = 20;
