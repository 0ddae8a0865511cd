//! SMS over SMPP 3.4: a [`Provider`] on `varsel-smpp`'s multi-bind client.
//!
//! # Sending
//!
//! Each message's text is cut into segments by `varsel_domain::sms::split_segments` (GSM-7
//! unpacked when every character allows it, else UCS-2), wrapped by
//! `varsel_smpp::build_submits` with a concatenation reference of its own (a counter per
//! provider) and the configured long-message mode, and every part is submitted at once. The
//! client spreads parts over the binds and never has more than `window` outstanding per bind;
//! a batch keeps at most `binds x window` messages in flight, so no part waits long for a
//! window slot. Delivery receipts are requested unless configured off.
//!
//! # Which id a message gets, and which receipt counts
//!
//! A message is `Accepted` with the SMSC id of its **first** part, and receipts are matched by
//! that id alone: the receipt for part 1 settles the message. The other parts' receipts are
//! not looked up (a handset shows a concatenated SMS only whole, and SMSCs deliver the parts
//! together); a failure reported only for a later part is therefore not seen. With
//! `message_payload` there is one part and one id.
//!
//! # Outcomes
//!
//! | client result for a part | message result |
//! |---|---|
//! | every part accepted | `Accepted(first part's id)` |
//! | a permanent rejection (`ESME_RINVDSTADR`, …) or a message SMPP cannot carry | `Permanent` for that message only |
//! | `ESME_RTHROTTLED` / `ESME_RMSGQFUL` after the client's own pauses and resends | `Retryable`; the whole batch throttled is `ProviderError::Throttled` |
//! | no bind up (`NotBound`), a window slot not freed in time, another temporary status | `Retryable`; no bind up for the whole batch is `ProviderError::Unavailable`, so failover starts |
//! | outcome unknown (no response, connection lost after writing) | `Retryable` |
//!
//! A message some of whose parts were accepted is remembered (its concatenation reference and
//! the accepted parts' ids, at most [`PARTIAL_MAX`] messages for [`PARTIAL_KEEP`]); its retry
//! on this provider sends only the parts not accepted, under the same reference, so a throttle
//! in the middle of a message leaves neither an orphan fragment nor a second copy on the
//! handset. An outcome-unknown part **may have been delivered**, and SMPP carries no
//! idempotency key the SMSC could use to drop a resend, so retrying it can give the handset
//! that part twice. A failover to another provider starts the message afresh (a new
//! reference): the first provider's accepted parts stay orphans there.
//!
//! # Receipts and replies
//!
//! A task per provider reads what the SMSC sends on our binds: receipts are matched through a
//! bounded map (see [`receipt_map`]; a receipt that overtakes its submit response is parked
//! until the response is seen) and handed to [`InboundSink::receipt`]; mobile-originated
//! messages are decoded and handed to [`InboundSink::reply`] as E.164 numbers. Every node binds
//! on its own, and an SMSC sends a receipt on the bind (or node) that submitted the message
//! when it can, so a node matches the receipts of its own messages; a receipt the SMSC sends to
//! another node's bind is not matched there (the message stays `sent`).

pub mod inbound;
pub mod receipt_map;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use varsel_domain::model::Channel;
use varsel_domain::sms::{SmsEncoding, split_segments};
use varsel_smpp::address::{NUMERIC_SENDER_DIGITS_MAX, source_address};
use varsel_smpp::{
    BindConfig, ClientConfig, Coding, IdFormat, LongMessageMode, SmppClient, SubmitError, SubmitSm,
};

use super::{BoxFuture, InboundSink, Provider, ProviderError, SendResult};
use crate::message::{MessageContent, OutboundMessage};
use inbound::Inbound;
use receipt_map::ReceiptMap;
use varsel_config::providers::smpp::{SmppLongMessage, SmppProviderConfig, SmppReceiptIdFormat};

/// How long a send waits for some bind to come up before the provider reports itself
/// unavailable (and failover starts). Short: a healthy provider has its binds up already.
pub const BOUND_WAIT: Duration = Duration::from_secs(2);
/// The wait a whole throttled batch asks for before it is tried again.
pub const THROTTLED_WAIT: Duration = Duration::from_secs(1);
/// Septets per segment after a 16-bit-reference header (the domain splitter uses 153).
const GSM7_UDH16_SEPTETS: usize = varsel_smpp::concat::GSM7_UDH16_MAX_SEPTETS;
/// UCS-2 octets per segment after a 16-bit-reference header (the domain splitter uses 134).
const UCS2_UDH16_OCTETS: usize = varsel_smpp::concat::UCS2_UDH16_MAX_OCTETS;

/// An SMSC reached over SMPP.
#[derive(Debug)]
pub struct SmppProvider {
    name: String,
    batch_max: usize,
    client: SmppClient,
    template: SubmitSm,
    mode: LongMessageMode,
    gsm7_data_coding: u8,
    in_flight_max: usize,
    reference: AtomicU16,
    inbound: Arc<Inbound>,
    partial: Mutex<HashMap<String, Partial>>,
}

/// Most partly accepted messages remembered for their retries.
pub const PARTIAL_MAX: usize = 100_000;
/// A partly accepted message is forgotten this long after its last attempt (beyond the longest
/// retry budget).
pub const PARTIAL_KEEP: Duration = Duration::from_secs(600);

/// A message some of whose parts the SMSC accepted: its concatenation reference and the SMSC
/// id of each accepted part, so a retry sends only the rest, under the same reference.
#[derive(Debug)]
struct Partial {
    reference: u16,
    ids: Vec<Option<String>>,
    at: std::time::Instant,
}

fn id_format(f: SmppReceiptIdFormat) -> IdFormat {
    match f {
        SmppReceiptIdFormat::Same => IdFormat::Same,
        SmppReceiptIdFormat::HexResponseDecimalReceipt => IdFormat::HexResponseDecimalReceipt,
        SmppReceiptIdFormat::DecimalResponseHexReceipt => IdFormat::DecimalResponseHexReceipt,
    }
}

fn long_mode(m: SmppLongMessage) -> LongMessageMode {
    match m {
        SmppLongMessage::Udh8 => LongMessageMode::Udh8,
        SmppLongMessage::Udh16 => LongMessageMode::Udh16,
        SmppLongMessage::MessagePayload => LongMessageMode::MessagePayload,
    }
}

/// The client configuration: credentials, window and timers from the provider's settings.
fn client_config(cfg: &SmppProviderConfig, password: String, response_timeout: Duration) -> ClientConfig {
    let mut bind = BindConfig::new(cfg.system_id.clone(), password);
    bind.system_type = cfg.system_type.clone();
    bind.window = cfg.window;
    bind.enquire_link_interval = Duration::from_millis(cfg.enquire_link_interval_ms);
    bind.response_timeout = response_timeout;
    let mut client = ClientConfig::new(cfg.addr.clone(), bind);
    client.binds = cfg.binds;
    client.bound_wait = BOUND_WAIT;
    client
}

impl SmppProvider {
    /// Starts the binds (in the background) and the task that reads receipts and replies.
    /// Needs a Tokio runtime. `password` is the secret already read.
    pub fn start(
        name: String,
        cfg: &SmppProviderConfig,
        password: String,
        batch_max: usize,
        response_timeout: Duration,
        sink: Arc<dyn InboundSink>,
    ) -> Result<Self, String> {
        let (source_addr, source_ton, source_npi) =
            source_address(&cfg.source_addr, cfg.source_ton, cfg.source_npi)?;
        let (client, events) =
            SmppClient::start(client_config(cfg, password, response_timeout)).map_err(|e| e.to_string())?;
        let inbound = Arc::new(Inbound {
            name: name.clone(),
            map: std::sync::Mutex::new(ReceiptMap::new(
                id_format(cfg.receipt_id_format),
                cfg.receipt_map_entries,
            )),
            sink,
            gsm7_data_coding: cfg.gsm7_data_coding,
        });
        tokio::spawn(inbound::run(events, inbound.clone()));
        let template = SubmitSm {
            source_addr,
            source_addr_ton: source_ton,
            source_addr_npi: source_npi,
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            registered_delivery: u8::from(cfg.registered_delivery),
            ..SubmitSm::default()
        };
        Ok(Self {
            name,
            batch_max,
            client,
            template,
            mode: long_mode(cfg.long_message),
            gsm7_data_coding: cfg.gsm7_data_coding,
            in_flight_max: cfg.binds.saturating_mul(cfg.window).max(1),
            reference: AtomicU16::new(rand::random()),
            inbound,
            partial: Mutex::new(HashMap::new()),
        })
    }

    /// The `submit_sm` parts of one message under concatenation `reference`, or why it can
    /// never be sent. The same text always gives the same parts.
    fn parts(&self, m: &OutboundMessage, reference: u16) -> Result<Vec<SubmitSm>, String> {
        let MessageContent::Sms { text } = &m.content else {
            return Err(format!("provider {} carries SMS only", self.name));
        };
        let to = m.to.trim().trim_start_matches('+');
        if to.is_empty() || to.len() > NUMERIC_SENDER_DIGITS_MAX || !to.bytes().all(|b| b.is_ascii_digit()) {
            return Err("recipient is not an E.164 number".into());
        }
        let segments = split_segments(text).map_err(|e| e.to_string())?;
        let coding = match segments.encoding {
            SmsEncoding::Gsm7 => Coding::Gsm7,
            SmsEncoding::Ucs2 => Coding::Ucs2,
        };
        let payloads = fit_segments(segments.payloads, coding, self.mode);
        let mut template = SubmitSm { destination_addr: to.to_string(), ..self.template.clone() };
        // The tenant's own number here (`delivery.reply_routes`), so a reply comes back to a
        // number routed to it.
        if let Some(sender) = m.sender_at(&self.name) {
            let (addr, ton, npi) = source_address(sender, None, None).map_err(|e| {
                format!("delivery.reply_routes: {sender:?} cannot be an SMPP source address: {e}")
            })?;
            (template.source_addr, template.source_addr_ton, template.source_addr_npi) = (addr, ton, npi);
        }
        let mut parts = varsel_smpp::build_submits(&template, &payloads, coding, self.mode, reference)
            .map_err(|e| e.to_string())?;
        if coding == Coding::Gsm7 {
            for p in &mut parts {
                p.data_coding = self.gsm7_data_coding;
            }
        }
        Ok(parts)
    }

    /// Submits one message's parts at once; its result, and whether no bind was up. A retry of
    /// a message some of whose parts were accepted sends only the others, with the same
    /// concatenation reference, so the handset assembles one message: no orphan fragments and
    /// no second copy.
    async fn send_one(&self, m: &OutboundMessage) -> (SendResult, Failure) {
        let prior = self.partial.lock().unwrap_or_else(|p| p.into_inner()).remove(&m.key);
        let reference =
            prior.as_ref().map_or_else(|| self.reference.fetch_add(1, Ordering::Relaxed), |p| p.reference);
        let parts = match self.parts(m, reference) {
            Ok(p) => p,
            Err(e) => return (SendResult::Permanent(e), Failure::Other),
        };
        let mut ids = prior.map(|p| p.ids).filter(|ids| ids.len() == parts.len());
        let ids = ids.get_or_insert_with(|| vec![None; parts.len()]);
        let missing: Vec<usize> = (0..parts.len()).filter(|i| ids[*i].is_none()).collect();
        let results = futures::future::join_all(missing.iter().map(|i| self.client.submit(&parts[*i]))).await;
        let mut errors = Vec::new();
        for (i, r) in missing.iter().zip(results) {
            match r {
                Ok(o) => ids[*i] = Some(o.message_id),
                Err(e) => errors.push(e),
            }
        }
        let accepted = ids.iter().filter(|id| id.is_some()).count();
        let Some(err) = worst(errors.iter()) else {
            let id = ids.first().cloned().flatten().unwrap_or_default();
            self.inbound.remember(&id, &m.key);
            return (SendResult::Accepted(id), Failure::None);
        };
        let failure = match err {
            SubmitError::NotBound => Failure::NotBound,
            SubmitError::Throttled { .. } => Failure::Throttled,
            _ => Failure::Other,
        };
        let why = format!("{err} ({accepted} of {} parts accepted)", parts.len());
        if err.may_have_been_sent() {
            tracing::warn!(provider = %self.name, to = %m.masked_to(), error = %why, "SMS part may have been sent; its retry may duplicate it");
        }
        if accepted > 0 && !err.is_permanent() {
            self.keep_partial(&m.key, Partial { reference, ids: ids.clone(), at: std::time::Instant::now() });
        }
        let result = if err.is_permanent() {
            SendResult::Permanent(why)
        } else if err.may_have_been_sent() {
            SendResult::Ambiguous(why)
        } else {
            SendResult::Retryable(why)
        };
        (result, failure)
    }

    /// Remembers a partly accepted message for its retry, within [`PARTIAL_MAX`].
    fn keep_partial(&self, key: &str, partial: Partial) {
        let mut map = self.partial.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PARTIAL_MAX {
            map.retain(|_, p| p.at.elapsed() < PARTIAL_KEEP);
        }
        if map.len() >= PARTIAL_MAX {
            tracing::warn!(provider = %self.name, "too many partly sent messages; a retry will resend every part");
            return;
        }
        map.insert(key.to_string(), partial);
    }

    async fn send_batch(&self, batch: &[OutboundMessage]) -> Result<Vec<SendResult>, ProviderError> {
        if self.client.health().binds_up == 0 && !self.client.wait_bound(1, BOUND_WAIT).await {
            return Err(ProviderError::Unavailable(self.describe_binds()));
        }
        // By index: a closure over `&OutboundMessage` would not be general enough for `Send`.
        let outcomes: Vec<(SendResult, Failure)> = futures::stream::iter(0..batch.len())
            .map(|i| self.send_one(&batch[i]))
            .buffered(self.in_flight_max)
            .collect()
            .await;
        let all = |f: Failure| outcomes.iter().all(|(_, o)| *o == f);
        if all(Failure::NotBound) {
            return Err(ProviderError::Unavailable(self.describe_binds()));
        }
        if all(Failure::Throttled) {
            return Err(ProviderError::Throttled(THROTTLED_WAIT));
        }
        Ok(outcomes.into_iter().map(|(r, _)| r).collect())
    }

    fn describe_binds(&self) -> String {
        let h = self.client.health();
        let last = h.binds.first().map(|b| format!("{:?}", b.status)).unwrap_or_default();
        format!("no SMPP bind up ({} configured; first: {last})", h.binds_configured)
    }
}

/// Why a message was not accepted, for judging the whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    None,
    NotBound,
    Throttled,
    Other,
}

/// The error that decides a message's fate: permanent first (retrying cannot help), then
/// outcome unknown (worth a warning), then the rest.
fn worst<'a>(errors: impl Iterator<Item = &'a SubmitError>) -> Option<&'a SubmitError> {
    errors.max_by_key(|e| match e {
        e if e.is_permanent() => 3,
        e if e.may_have_been_sent() => 2,
        SubmitError::Throttled { .. } => 0,
        _ => 1,
    })
}

/// The domain splitter cuts segments for an 8-bit-reference header (153 septets, 134 octets);
/// a 16-bit reference leaves one septet (two octets) less, so those texts are cut again, never
/// splitting an escape sequence or a surrogate pair. Other modes keep the segments as they are.
fn fit_segments(payloads: Vec<Vec<u8>>, coding: Coding, mode: LongMessageMode) -> Vec<Vec<u8>> {
    if mode != LongMessageMode::Udh16 || payloads.len() < 2 {
        return payloads;
    }
    let all = payloads.concat();
    let (max, unit_len): (usize, fn(&[u8]) -> usize) = match coding {
        Coding::Gsm7 => (GSM7_UDH16_SEPTETS, |rest| if rest[0] == 0x1B && rest.len() > 1 { 2 } else { 1 }),
        Coding::Ucs2 => (UCS2_UDH16_OCTETS, |rest| {
            if (0xD8..=0xDB).contains(&rest[0]) && rest.len() >= 4 { 4 } else { 2.min(rest.len()) }
        }),
    };
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < all.len() {
        let n = unit_len(&all[i..]);
        if out.last().is_some_and(|s| s.len() + n > max) {
            out.push(Vec::new());
        }
        if let Some(s) = out.last_mut() {
            s.extend_from_slice(&all[i..i + n]);
        }
        i += n;
    }
    out
}

impl Provider for SmppProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn batch_max(&self) -> usize {
        self.batch_max
    }

    fn send<'a>(
        &'a self,
        batch: &'a [OutboundMessage],
    ) -> BoxFuture<'a, Result<Vec<SendResult>, ProviderError>> {
        Box::pin(self.send_batch(batch))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move {
            if self.client.health().binds_up > 0 {
                Ok(())
            } else {
                Err(ProviderError::Unavailable(self.describe_binds()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: re-cutting for a 16-bit reference keeps every unit whole and each segment within
    /// its limit. Method: GSM-7 with escapes on the boundary, UCS-2 with surrogate pairs.
    #[test]
    fn udh16_recut() {
        let text = format!("{}€{}", "a".repeat(151), "b".repeat(200));
        let split = split_segments(&text).expect("splits");
        let fitted = fit_segments(split.payloads.clone(), Coding::Gsm7, LongMessageMode::Udh16);
        assert!(fitted.iter().all(|s| s.len() <= GSM7_UDH16_SEPTETS));
        assert_eq!(fitted.concat(), split.payloads.concat());
        assert_eq!(fitted[0].len(), 151, "the escape pair moves whole to the next segment");
        let emoji = "😀".repeat(70);
        let split = split_segments(&emoji).expect("splits");
        let fitted = fit_segments(split.payloads.clone(), Coding::Ucs2, LongMessageMode::Udh16);
        assert!(fitted.iter().all(|s| s.len() <= UCS2_UDH16_OCTETS && s.len() % 4 == 0));
        assert_eq!(fitted.concat(), split.payloads.concat());
        assert_eq!(fit_segments(vec![vec![1]], Coding::Gsm7, LongMessageMode::Udh16), vec![vec![1]]);
    }

    /// Goal: the error that decides a message is the most serious one. Method: mixed parts.
    #[test]
    fn worst_error_decides() {
        use varsel_smpp::{CommandStatus, UnknownReason};
        let throttled = SubmitError::Throttled { status: CommandStatus::ESME_RTHROTTLED };
        let unknown = SubmitError::OutcomeUnknown { reason: UnknownReason::ResponseTimeout };
        let bad = SubmitError::Rejected { status: CommandStatus::ESME_RINVDSTADR };
        let errs = [throttled.clone(), unknown.clone(), SubmitError::NotBound];
        assert_eq!(worst(errs.iter()), Some(&unknown));
        assert_eq!(worst([throttled.clone(), bad.clone()].iter()), Some(&bad));
        assert_eq!(worst([throttled.clone()].iter()), Some(&throttled));
        assert_eq!(worst([].iter()), None);
    }
}
