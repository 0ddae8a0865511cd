//! A message batch, from body to answer: decode, check, admit under the throughput cap,
//! judge and record every message under one lock, queue receipts and replies, encode.
//!
//! Per message this costs a key hash, one table probe and a few counter updates; per batch
//! one lock, a handful of atomic adds and one allocation for the answer. No logging here.

use std::{borrow::Cow, sync::Arc, time::Duration, time::Instant};

use crate::{
    callbacks::{Item, Payload},
    config::{Channel, ProviderConfig},
    limits::{BATCH_MESSAGES_MAX, KEY_BYTES_MAX, PARTS_MAX},
    protocol::{
        Message, MessageResult, Part, Receipt, ReceiptStatus, Reply, ResultStatus, SubmitRequest,
        SubmitResponse,
    },
    providers::Provider,
    recorder::{Arrival, KeyRecord},
    reports::Counters,
    seeded::{Purpose, draw, handset_hash, key_hash, unit, will_reply},
    sim::{Sim, lock},
};

/// The sender name replies are addressed to when a message names no sender of its own.
const REPLY_TO: &str = "VARSEL";

/// How the batch is answered.
#[derive(Debug)]
pub(crate) enum SubmitOutcome {
    /// 200 with this body, after this delay.
    Answered { body: Vec<u8>, delay: Duration },
    /// Recorded and delivered, then not answered in time: the connection is closed without an
    /// answer (`hold` is `None`), or this body is answered only after `hold`, later than the
    /// client waits.
    Unanswered { body: Vec<u8>, hold: Option<Duration> },
    /// 503: the provider is in an outage.
    Unavailable(String),
    /// 429 with `Retry-After`.
    Throttled { retry_after_s: u64 },
    /// 400, naming the field.
    BadRequest(String),
    /// 413.
    TooLarge(String),
}

/// What happened to one message.
#[derive(Debug)]
enum Verdict {
    /// First acceptance by this provider: a delivery.
    Deliver {
        id: u64,
    },
    /// Repeat of a key it accepted, idempotency honoured: same id, no delivery.
    Suppressed {
        id: u64,
    },
    /// Repeat of a key it accepted, idempotency off: a second delivery with a new id.
    Redelivered {
        id: u64,
    },
    Retryable(Cow<'static, str>),
    /// Refused `retryable` because the batch was throttled part-way before this message.
    Throttled,
    Permanent(Cow<'static, str>),
}

/// What the provider does to a whole batch, drawn once per batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BatchFate {
    /// Messages from this index on are throttled (`usize::MAX`: none).
    throttle_from: usize,
    /// Taken, then not answered in time.
    unanswered: bool,
}

/// The error of a message refused by a throttle mid-batch.
const THROTTLED: &str = "simulated throttling mid-batch: too many messages per second, retry later";

impl Verdict {
    fn delivers(&self) -> bool {
        matches!(self, Verdict::Deliver { .. } | Verdict::Redelivered { .. })
    }
}

/// Handles the body of `POST /v1/providers/{provider}/messages`.
pub(crate) fn submit(sim: &Sim, provider: &Provider, body: &[u8]) -> SubmitOutcome {
    let settings = provider.settings();
    if settings.outage {
        provider.counters.add(&Counters { batches_unavailable: 1, ..Counters::default() });
        return SubmitOutcome::Unavailable(format!("provider {} is in a simulated outage", provider.name));
    }
    let request = match decode(body) {
        Ok(request) => request,
        Err(outcome) => return outcome,
    };
    if let Err(retry_after_s) =
        provider.admit(request.messages.len(), settings.rate_per_second, Instant::now())
    {
        provider.counters.add(&Counters { batches_throttled: 1, ..Counters::default() });
        return SubmitOutcome::Throttled { retry_after_s };
    }
    let (verdicts, fate) = judge(sim, provider, &settings, &request.messages);
    keep_deliveries(sim, provider, &request.messages, &verdicts);
    let mut counters = tally(&verdicts);
    if fate.unanswered {
        counters.batches_unanswered = 1;
        counters.messages_unanswered = verdicts.len() as u64;
    }
    provider.counters.add(&counters);
    queue_callbacks(sim, provider, &settings, &request.messages, &verdicts);
    let body = encode(provider, &request.messages, &verdicts);
    if fate.unanswered {
        let hold = settings.timeout_after_accept_ms;
        return SubmitOutcome::Unanswered { body, hold: (hold > 0).then(|| Duration::from_millis(hold)) };
    }
    SubmitOutcome::Answered { body, delay: latency(sim.seed, provider, &settings) }
}

/// Parses the batch and checks what every message needs before it can be recorded.
fn decode(body: &[u8]) -> Result<SubmitRequest<'_>, SubmitOutcome> {
    let request: SubmitRequest<'_> = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(_) => return Err(SubmitOutcome::BadRequest(describe_json_error(body))),
    };
    let count = request.messages.len();
    if count > BATCH_MESSAGES_MAX {
        return Err(SubmitOutcome::TooLarge(format!(
            "messages: {count} messages in one batch, at most {BATCH_MESSAGES_MAX}"
        )));
    }
    for (i, message) in request.messages.iter().enumerate() {
        if message.key.is_empty() || message.key.len() > KEY_BYTES_MAX {
            return Err(SubmitOutcome::BadRequest(format!(
                "messages[{i}].key: {} bytes, must be 1 to {KEY_BYTES_MAX}",
                message.key.len()
            )));
        }
        if let Some(part) = message.part {
            check_part(i, part).map_err(SubmitOutcome::BadRequest)?;
        }
    }
    Ok(request)
}

/// A part must say which of how many it is: 1 <= index <= total (total fits a byte, so at
/// most [`PARTS_MAX`]).
fn check_part(i: usize, part: Part) -> Result<(), String> {
    if part.total == 0 {
        return Err(format!("messages[{i}].part.total: 0, must be 1 to {PARTS_MAX}"));
    }
    if part.index == 0 || part.index > part.total {
        return Err(format!("messages[{i}].part.index: {}, must be 1 to total ({})", part.index, part.total));
    }
    Ok(())
}

/// Parses again, this time tracking the path, to say which field is wrong. Only on the error
/// path: tracking costs time on every field.
fn describe_json_error(body: &[u8]) -> String {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, SubmitRequest<'_>>(&mut deserializer) {
        Ok(_) => "body: unexpected characters after the JSON object".to_owned(),
        Err(e) => {
            let path = e.path().to_string();
            // serde_path_to_error writes "." for the root and "?" before it has entered any value.
            let field = if path == "." || path == "?" { "body".to_owned() } else { path };
            format!("{field}: {}", e.inner())
        }
    }
}

/// Decides and records every message under one lock.
fn judge(
    sim: &Sim,
    provider: &Provider,
    settings: &ProviderConfig,
    messages: &[Message<'_>],
) -> (Vec<Verdict>, BatchFate) {
    let hashes: Vec<(u64, u64)> =
        messages.iter().map(|m| (key_hash(&m.key), handset_hash(m.alert, m.channel as u8, &m.to))).collect();
    let at_ms = unix_ms();
    let mut recorder = lock(&sim.recorder);
    let first = hashes.first().map(|(hash, _)| (*hash, recorder.peek(*hash).received));
    let fate = fate(sim.seed, provider, settings, messages.len(), first);
    let mut verdicts = Vec::with_capacity(messages.len());
    for (i, (message, (hash, handset))) in messages.iter().zip(hashes).enumerate() {
        let arrival = Arrival {
            hash,
            key: &message.key,
            alert: message.alert,
            channel: message.channel,
            provider_bit: provider.bit,
            handset,
            part: message.part,
            at_ms,
        };
        let verdict = recorder.record(&arrival, |before| {
            let verdict = if i >= fate.throttle_from {
                Verdict::Throttled
            } else {
                decide(sim.seed, provider, settings, (i, message), hash, before)
            };
            let delivers = verdict.delivers();
            (verdict, delivers)
        });
        verdicts.push(verdict);
    }
    if fate.unanswered {
        for (message, verdict) in messages.iter().zip(&verdicts) {
            if verdict.delivers() {
                recorder.unanswered(key_hash(&message.key));
            }
        }
    }
    (verdicts, fate)
}

/// The batch's fate, drawn from the seed, the provider and the history of its first key
/// (`first`: its hash and arrivals before this one), so a replay with the same arrivals per
/// key throttles and times out the same batches whatever the interleaving.
fn fate(
    seed: u64,
    provider: &Provider,
    settings: &ProviderConfig,
    count: usize,
    first: Option<(u64, u32)>,
) -> BatchFate {
    let mut fate = BatchFate { throttle_from: usize::MAX, unanswered: false };
    let Some((hash, received)) = first else { return fate };
    let (a, b) = (provider.salt ^ hash, u64::from(received));
    if count >= 2 && settings.throttle_mid_batch_rate > 0.0 {
        let d = draw(seed, Purpose::ThrottleMidBatch, a, b);
        if unit(d) < settings.throttle_mid_batch_rate {
            // At least one message taken and one refused.
            fate.throttle_from =
                1 + (draw(seed, Purpose::ThrottleMidBatch, d, 1) % (count as u64 - 1)) as usize;
        }
    }
    if settings.timeout_after_accept_rate > 0.0 {
        fate.unanswered =
            unit(draw(seed, Purpose::TimeoutAfterAccept, a, b)) < settings.timeout_after_accept_rate;
    }
    fate
}

/// The verdict on one message, from the key's record before this arrival. Pure: the same
/// seed and the same history of the key give the same verdict.
fn decide(
    seed: u64,
    provider: &Provider,
    settings: &ProviderConfig,
    (index, message): (usize, &Message<'_>),
    hash: u64,
    before: &KeyRecord,
) -> Verdict {
    if let Some(problem) = content_problem(index, message, provider) {
        return Verdict::Permanent(problem.into());
    }
    let accepted_here = before.accepted_mask & provider.bit != 0;
    if accepted_here && settings.honour_idempotency {
        return Verdict::Suppressed { id: provider.provider_id(seed, hash, 0) };
    }
    // The arrival count is in the draw so a retry of a message that failed gets a new draw.
    let u = unit(draw(seed, Purpose::Error, provider.salt ^ hash, u64::from(before.received)));
    if u < settings.permanent_error_rate {
        return Verdict::Permanent("simulated permanent failure: number not in service".into());
    }
    if u < settings.permanent_error_rate + settings.error_rate {
        return Verdict::Retryable("simulated temporary failure: try again".into());
    }
    if accepted_here {
        let ordinal = u64::from(before.received) + 1;
        return Verdict::Redelivered { id: provider.provider_id(seed, hash, ordinal) };
    }
    Verdict::Deliver { id: provider.provider_id(seed, hash, 0) }
}

/// What makes a message undeliverable by this provider whatever the draw.
fn content_problem(i: usize, message: &Message<'_>, provider: &Provider) -> Option<String> {
    if message.channel != provider.channel {
        let (channel, name, own) = (message.channel, &provider.name, provider.channel);
        return Some(format!("messages[{i}].channel: {channel} is not served by provider {name} ({own})"));
    }
    let present = match message.channel {
        Channel::Sms => message.sms.is_some(),
        Channel::Email => message.email.is_some(),
        Channel::Voice => message.voice.is_some(),
        Channel::Push => message.push.is_some(),
    };
    if !present {
        return Some(format!("messages[{i}].{0}: missing for channel {0}", message.channel));
    }
    if message.to.is_empty() {
        return Some(format!("messages[{i}].to: empty"));
    }
    None
}

/// Puts every message handed to its recipient in the inbox (one lock per batch).
fn keep_deliveries(sim: &Sim, provider: &Provider, messages: &[Message<'_>], verdicts: &[Verdict]) {
    let at_ms = unix_ms();
    let mut inbox = lock(&sim.inbox);
    for (message, verdict) in messages.iter().zip(verdicts) {
        if verdict.delivers() {
            inbox.push(&provider.name, message, at_ms);
        }
    }
}

fn tally(verdicts: &[Verdict]) -> Counters {
    let mut counters = Counters { batches: 1, received: verdicts.len() as u64, ..Counters::default() };
    for verdict in verdicts {
        match verdict {
            Verdict::Deliver { .. } => counters.accepted += 1,
            Verdict::Suppressed { .. } => {
                counters.accepted += 1;
                counters.duplicate_suppressed += 1;
            }
            Verdict::Redelivered { .. } => {
                counters.accepted += 1;
                counters.duplicate_delivered += 1;
            }
            Verdict::Retryable(_) => counters.rejected_retryable += 1,
            Verdict::Throttled => {
                counters.rejected_retryable += 1;
                counters.throttled_mid_batch += 1;
            }
            Verdict::Permanent(_) => counters.rejected_permanent += 1,
        }
    }
    counters
}

/// Queues a receipt for every first delivery and a reply for the SMS recipients who reply.
/// Repeats get neither: the recipient already has the message.
fn queue_callbacks(
    sim: &Sim,
    provider: &Provider,
    settings: &ProviderConfig,
    messages: &[Message<'_>],
    verdicts: &[Verdict],
) {
    let replies_on = provider.channel == Channel::Sms && settings.reply_rate > 0.0;
    if !settings.receipts && !replies_on {
        return;
    }
    let now = Instant::now();
    let receipt_due = now + Duration::from_millis(settings.receipt_delay_ms);
    let reply_due = now + Duration::from_millis(settings.reply_delay_ms);
    let mut callbacks = CallbackInterner::default();
    let mut items = Vec::new();
    for (message, verdict) in messages.iter().zip(verdicts) {
        let Verdict::Deliver { id } = verdict else { continue };
        let id = provider.format_id(*id);
        let callback = callbacks.get(message.callback.as_deref());
        if settings.receipts {
            let receipt = receipt(sim.seed, settings, message, id.clone());
            items.push(Item::new(receipt_due, callback.clone(), Payload::Receipt(receipt)));
        }
        if replies_on && will_reply(sim.seed, &message.key, settings.reply_rate) {
            let reply = Reply {
                id: format!("mo-{id}"),
                from: message.to.to_string(),
                to: message.from.as_deref().unwrap_or(REPLY_TO).to_owned(),
                text: settings.reply_text.clone(),
                provider_id: id,
                sent_at_ms: unix_ms() + settings.reply_delay_ms,
            };
            let payload = Payload::Reply { key: message.key.to_string(), reply };
            items.push(Item::new(reply_due, callback, payload));
        }
    }
    sim.callbacks.push(provider.bit.trailing_zeros() as usize, items);
}

fn receipt(seed: u64, settings: &ProviderConfig, message: &Message<'_>, id: String) -> Receipt {
    let failed = settings.receipt_failure_rate > 0.0
        && unit(draw(seed, Purpose::ReceiptFailure, key_hash(&message.key), 0))
            < settings.receipt_failure_rate;
    Receipt {
        key: message.key.to_string(),
        provider_id: id,
        status: if failed { ReceiptStatus::Failed } else { ReceiptStatus::Delivered },
        error: failed.then(|| "simulated delivery failure: handset unreachable".to_owned()),
    }
}

/// Shares one `Arc<str>` among consecutive messages with the same callback URL (a batch
/// comes from one node, so usually all of them).
#[derive(Default)]
struct CallbackInterner {
    last: Option<Arc<str>>,
}

impl CallbackInterner {
    fn get(&mut self, url: Option<&str>) -> Option<Arc<str>> {
        let url = url?;
        match &self.last {
            Some(last) if &**last == url => Some(last.clone()),
            _ => {
                let shared: Arc<str> = url.into();
                self.last = Some(shared.clone());
                Some(shared)
            }
        }
    }
}

fn encode(provider: &Provider, messages: &[Message<'_>], verdicts: &[Verdict]) -> Vec<u8> {
    let results = messages
        .iter()
        .zip(verdicts)
        .map(|(message, verdict)| {
            let (status, id, error) = match verdict {
                Verdict::Deliver { id } | Verdict::Suppressed { id } | Verdict::Redelivered { id } => {
                    (ResultStatus::Accepted, Some(Cow::Owned(provider.format_id(*id))), None)
                }
                Verdict::Retryable(e) => (ResultStatus::Retryable, None, Some(Cow::Borrowed(e.as_ref()))),
                Verdict::Throttled => (ResultStatus::Retryable, None, Some(Cow::Borrowed(THROTTLED))),
                Verdict::Permanent(e) => (ResultStatus::Permanent, None, Some(Cow::Borrowed(e.as_ref()))),
            };
            MessageResult { key: Cow::Borrowed(message.key.as_ref()), status, provider_id: id, error }
        })
        .collect();
    // Serialising strings and enums cannot fail; the fallback keeps the server panic-free.
    serde_json::to_vec(&SubmitResponse { results })
        .unwrap_or_else(|e| format!("{{\"error\":\"encoding the answer: {e}\"}}").into_bytes())
}

/// The batch's answer delay: `latency_ms` ± `latency_jitter_ms`, drawn per batch.
fn latency(seed: u64, provider: &Provider, settings: &ProviderConfig) -> Duration {
    let jitter = settings.latency_jitter_ms;
    if jitter == 0 {
        return Duration::from_millis(settings.latency_ms);
    }
    let offset = draw(seed, Purpose::Jitter, provider.salt, provider.next_batch()) % (2 * jitter + 1);
    Duration::from_millis((settings.latency_ms + offset).saturating_sub(jitter))
}

/// Now, in ms since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
