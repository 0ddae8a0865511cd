//! Outcome batches as the state machine stores them (table
//! [`OUTCOME_PACKED`](crate::state_machine::keys::OUTCOME_PACKED)): what repeats within a batch
//! is written once, what changes little is written as a difference.
//!
//! A batch holds one channel's outcomes of one range of a shard, so its outcomes share most of
//! what [`Outcome`] spells out each time: the provider's name, the prefix of the provider's ids,
//! the failure reasons, and positions, contacts and times that climb by small steps. A packed
//! batch keeps
//!
//! - a table of the texts met (provider names, id prefixes, failure reasons), each once;
//! - per outcome: position, contact and time as differences from the previous outcome's (signed,
//!   wrapping, so any order and any value round-trips); then either everything else (channel,
//!   provider and result, texts as indexes into the table), or, for an outcome sent on the same
//!   channel by the same provider with an id of the same prefix as the one before it, only the
//!   id's tail;
//! - a provider id as its prefix plus its tail: the last up to 16 hexadecimal digits (`0-9a-f`,
//!   or `0-9A-F`) as a number with their count, or, when it ends in none, the whole id as text.
//!
//! An outcome whose id is `{name}-{16 hex digits}` (the simulator's form, and that of many SMPP
//! centres) then takes 13 bytes instead of about 41: a batch about a third of its plain size.
//! Decoding gives back exactly the outcomes encoded; an index or a digit count out of range is
//! refused as [`EngineError::Damaged`].
//!
//! Batches written before this table existed (table
//! [`OUTCOME`](crate::state_machine::keys::OUTCOME), a plain `Vec<Outcome>`) are still read: see
//! [`decode`], which takes the key to tell the two apart.

use serde::{Deserialize, Serialize};
use varsel_domain::model::Channel;

use crate::delivery::{Outcome, OutcomeResult};
use crate::error::EngineError;
use crate::state_machine::keys::{OUTCOME, OUTCOME_PACKED};

/// Most hexadecimal digits of an id's tail kept as a number.
const TAIL_DIGITS_MAX: usize = 16;
/// Flag in [`Tail::Hex`]'s `form`: the digits are upper case.
const UPPER: u8 = 0x80;

#[derive(Debug, Serialize, Deserialize)]
struct Packed {
    texts: Vec<String>,
    items: Vec<Item>,
}

/// One outcome. Position, contact and time are differences from the previous outcome's (0 for
/// the first).
#[derive(Debug, Serialize, Deserialize)]
enum Item {
    /// Everything spelled out (texts as indexes).
    Full { pos: i64, contact: i64, at_ms: i64, channel: Channel, provider: u32, result: PackedResult },
    /// Sent on the same channel, by the same provider, with an id of the same prefix as the
    /// previous outcome: only what differs.
    Like { pos: i64, contact: i64, at_ms: i64, tail: Tail },
}

#[derive(Debug, Serialize, Deserialize)]
enum PackedResult {
    Sent { prefix: u32, tail: Tail },
    Failed { reason: u32 },
}

#[derive(Debug, Serialize, Deserialize)]
enum Tail {
    /// The id's last characters, when they are not hexadecimal digits.
    Text(String),
    /// `form`: the number of digits (1 to 15), with [`UPPER`] set for upper case.
    Hex { form: u8, value: u64 },
    /// Sixteen lower-case digits, as eight bytes.
    Lower16([u8; 8]),
    /// Sixteen upper-case digits, as eight bytes.
    Upper16([u8; 8]),
}

/// Interns texts in the order met.
#[derive(Default)]
struct Texts {
    list: Vec<String>,
    index: std::collections::HashMap<String, u32>,
}

impl Texts {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(i) = self.index.get(text) {
            return *i;
        }
        let i = self.list.len() as u32;
        self.list.push(text.to_owned());
        self.index.insert(text.to_owned(), i);
        i
    }
}

/// Splits an id into its prefix and its tail of hexadecimal digits (at most
/// [`TAIL_DIGITS_MAX`], of one case; plain digits count as lower case).
fn split_id(id: &str) -> (&str, Tail) {
    let bytes = id.as_bytes();
    let run = |upper: bool| {
        bytes
            .iter()
            .rev()
            .take(TAIL_DIGITS_MAX)
            .take_while(|b| {
                b.is_ascii_digit()
                    || if upper { (b'A'..=b'F').contains(b) } else { (b'a'..=b'f').contains(b) }
            })
            .count()
    };
    let (lower, upper) = (run(false), run(true));
    let (n, is_upper) = if upper > lower { (upper, true) } else { (lower, false) };
    if n == 0 {
        return ("", Tail::Text(id.to_owned()));
    }
    let (prefix, digits) = id.split_at(id.len() - n);
    // At most 16 hexadecimal digits: always fits.
    let value = u64::from_str_radix(digits, 16).unwrap_or_default();
    let tail = match (n, is_upper) {
        (TAIL_DIGITS_MAX, false) => Tail::Lower16(value.to_be_bytes()),
        (TAIL_DIGITS_MAX, true) => Tail::Upper16(value.to_be_bytes()),
        _ => Tail::Hex { form: n as u8 | if is_upper { UPPER } else { 0 }, value },
    };
    (prefix, tail)
}

/// `tail` when it is well formed: a digit count of [`Tail::Hex`] in range, and its value within
/// that many digits.
fn checked(tail: &Tail) -> Result<&Tail, EngineError> {
    if let Tail::Hex { form, value } = *tail {
        let n = usize::from(form & !UPPER);
        if n == 0 || n >= TAIL_DIGITS_MAX || value >> (4 * n) != 0 {
            return Err(EngineError::Damaged(format!(
                "outcome batch: provider id tail of {n} digits holds {value:#x}"
            )));
        }
    }
    Ok(tail)
}

/// The id of `prefix` and a [`checked`] `tail`.
fn join_id(prefix: &str, tail: &Tail) -> String {
    match *tail {
        Tail::Text(ref text) => format!("{prefix}{text}"),
        Tail::Lower16(bytes) => format!("{prefix}{:016x}", u64::from_be_bytes(bytes)),
        Tail::Upper16(bytes) => format!("{prefix}{:016X}", u64::from_be_bytes(bytes)),
        Tail::Hex { form, value } => {
            let n = usize::from(form & !UPPER);
            if form & UPPER != 0 { format!("{prefix}{value:0n$X}") } else { format!("{prefix}{value:0n$x}") }
        }
    }
}

fn delta(now: u64, before: u64) -> i64 {
    now.wrapping_sub(before) as i64
}

fn undelta(before: u64, d: i64) -> u64 {
    before.wrapping_add(d as u64)
}

/// Encodes a batch for table [`OUTCOME_PACKED`]: the format version byte, then the packed form.
pub fn encode(outcomes: &[Outcome]) -> Result<Vec<u8>, EngineError> {
    let mut texts = Texts::default();
    let (mut pos, mut contact, mut at) = (0u64, 0u64, 0u64);
    // The previous outcome's channel, provider and id prefix, when it was sent.
    let mut like: Option<(Channel, u32, u32)> = None;
    let mut items = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        let (dp, dc, da) = (delta(o.pos, pos), delta(o.contact, contact), delta(o.at_ms, at));
        (pos, contact, at) = (o.pos, o.contact, o.at_ms);
        let provider = texts.id(&o.provider);
        let result = match &o.result {
            OutcomeResult::Sent { provider_id } => {
                let (prefix, tail) = split_id(provider_id);
                let prefix = texts.id(prefix);
                if like == Some((o.channel, provider, prefix)) {
                    items.push(Item::Like { pos: dp, contact: dc, at_ms: da, tail });
                    continue;
                }
                like = Some((o.channel, provider, prefix));
                PackedResult::Sent { prefix, tail }
            }
            OutcomeResult::Failed { reason } => {
                like = None;
                PackedResult::Failed { reason: texts.id(reason) }
            }
        };
        items.push(Item::Full { pos: dp, contact: dc, at_ms: da, channel: o.channel, provider, result });
    }
    crate::format::encode("outcomes", &Packed { texts: texts.list, items })
}

fn text(texts: &[String], i: u32) -> Result<&str, EngineError> {
    texts
        .get(i as usize)
        .map(String::as_str)
        .ok_or_else(|| EngineError::Damaged(format!("outcome batch: text {i} of {} named", texts.len())))
}

/// One outcome of a packed batch as [`walk`] meets it: checked, its texts looked up, its id
/// not yet joined.
struct Met<'a> {
    pos: u64,
    contact: u64,
    at_ms: u64,
    channel: Channel,
    provider: &'a str,
    result: MetResult<'a>,
}

enum MetResult<'a> {
    Sent { prefix: &'a str, tail: &'a Tail },
    Failed { reason: &'a str },
}

/// Calls `each` with every outcome of a packed batch, in order, after checking it: a text index
/// or a digit count out of range, or an outcome "like" one not sent, refuses the whole batch.
/// [`decode_value`] and [`tally`] both walk a batch so, and refuse exactly the same bytes.
fn walk(bytes: &[u8], mut each: impl FnMut(Met<'_>)) -> Result<(), EngineError> {
    let Packed { texts, items } = crate::format::decode("outcomes", bytes)?;
    let (mut pos, mut contact, mut at) = (0u64, 0u64, 0u64);
    let mut like: Option<(Channel, u32, u32)> = None;
    for item in &items {
        let (dp, dc, da, channel, provider, result) = match *item {
            Item::Full { pos, contact, at_ms, channel, provider, ref result } => {
                let result = match *result {
                    PackedResult::Sent { prefix, ref tail } => {
                        like = Some((channel, provider, prefix));
                        MetResult::Sent { prefix: text(&texts, prefix)?, tail: checked(tail)? }
                    }
                    PackedResult::Failed { reason } => {
                        like = None;
                        MetResult::Failed { reason: text(&texts, reason)? }
                    }
                };
                (pos, contact, at_ms, channel, provider, result)
            }
            Item::Like { pos, contact, at_ms, ref tail } => {
                let Some((channel, provider, prefix)) = like else {
                    return Err(EngineError::Damaged("outcome batch: an outcome like one not sent".into()));
                };
                (
                    pos,
                    contact,
                    at_ms,
                    channel,
                    provider,
                    MetResult::Sent { prefix: text(&texts, prefix)?, tail: checked(tail)? },
                )
            }
        };
        (pos, contact, at) = (undelta(pos, dp), undelta(contact, dc), undelta(at, da));
        each(Met { pos, contact, at_ms: at, channel, provider: text(&texts, provider)?, result });
    }
    Ok(())
}

/// Decodes a packed batch (the value [`encode`] made).
pub fn decode_value(bytes: &[u8]) -> Result<Vec<Outcome>, EngineError> {
    let mut out = Vec::new();
    walk(bytes, |m| {
        let result = match m.result {
            MetResult::Sent { prefix, tail } => OutcomeResult::Sent { provider_id: join_id(prefix, tail) },
            MetResult::Failed { reason } => OutcomeResult::Failed { reason: reason.to_owned() },
        };
        out.push(Outcome {
            pos: m.pos,
            contact: m.contact,
            channel: m.channel,
            result,
            provider: m.provider.to_owned(),
            at_ms: m.at_ms,
        });
    })?;
    Ok(out)
}

/// What a batch's outcomes add to their alert's progress: how many were sent and how many
/// failed, per channel in the order met, and the earliest and latest time among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// `(channel, sent, failed)`, a channel once.
    pub channels: Vec<(Channel, u64, u64)>,
    /// The earliest `at_ms`.
    pub first_at_ms: Option<u64>,
    /// The latest `at_ms`.
    pub last_at_ms: Option<u64>,
}

impl Tally {
    /// The tally of plain outcomes.
    pub fn of(outcomes: &[Outcome]) -> Self {
        let mut t = Tally::default();
        for o in outcomes {
            t.add(o.channel, matches!(o.result, OutcomeResult::Sent { .. }), o.at_ms);
        }
        t
    }

    fn add(&mut self, channel: Channel, sent: bool, at_ms: u64) {
        let i = match self.channels.iter().position(|c| c.0 == channel) {
            Some(i) => i,
            None => {
                self.channels.push((channel, 0, 0));
                self.channels.len() - 1
            }
        };
        let c = &mut self.channels[i];
        if sent {
            c.1 += 1
        } else {
            c.2 += 1
        }
        self.first_at_ms = Some(self.first_at_ms.map_or(at_ms, |f| f.min(at_ms)));
        self.last_at_ms = Some(self.last_at_ms.map_or(at_ms, |l| l.max(at_ms)));
    }

    /// No outcome at all.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

/// The tally of a packed batch, without building its outcomes (an apply needs only their
/// counts); refuses exactly what [`decode_value`] refuses.
pub fn tally(bytes: &[u8]) -> Result<Tally, EngineError> {
    let mut t = Tally::default();
    walk(bytes, |m| t.add(m.channel, matches!(m.result, MetResult::Sent { .. }), m.at_ms))?;
    Ok(t)
}

/// Decodes the outcome batch stored under `key`: packed in [`OUTCOME_PACKED`], plain in the
/// older [`OUTCOME`].
pub fn decode(key: &[u8], value: &[u8]) -> Result<Vec<Outcome>, EngineError> {
    match key.first() {
        Some(&OUTCOME_PACKED) => decode_value(value),
        Some(&OUTCOME) => crate::format::decode("outcomes", value),
        _ => Err(EngineError::Damaged(format!("outcome batch under a key of another table: {key:02x?}"))),
    }
}

/// Encodes `outcomes` for the table of `key` (the same shape as [`decode`] reads there): for
/// rewriting a batch in place, whichever table holds it.
pub fn encode_for(key: &[u8], outcomes: &[Outcome]) -> Result<Vec<u8>, EngineError> {
    match key.first() {
        Some(&OUTCOME) => crate::format::encode("outcomes", &outcomes),
        _ => encode(outcomes),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn outcome(pos: u64, contact: u64, result: OutcomeResult, provider: &str, at_ms: u64) -> Outcome {
        Outcome { pos, contact, channel: Channel::Sms, result, provider: provider.into(), at_ms }
    }

    fn sent(id: &str) -> OutcomeResult {
        OutcomeResult::Sent { provider_id: id.into() }
    }

    fn round_trip(batch: &[Outcome]) -> Vec<Outcome> {
        let mut key = vec![OUTCOME_PACKED];
        key.extend([0u8; 33]);
        decode(&key, &encode(batch).unwrap()).unwrap()
    }

    #[test]
    fn every_outcome_comes_back_as_it_went_in() {
        let batch = vec![
            outcome(0, 17, sent("sms-a-00f1e2d3c4b5a697"), "sms-a", 1_765_000_000_000),
            outcome(1, 18, sent("sms-a-ffffffffffffffff"), "sms-a", 1_765_000_000_003),
            // Positions, contacts and times going back, and extremes.
            outcome(u64::MAX, 0, sent("0000"), "sms-b", 0),
            outcome(0, u64::MAX, sent("ABCDEF0123456789ABCDEF"), "sms-b", u64::MAX),
            outcome(5, 3, sent("MixedCase-aBc"), "sms-a", 9),
            outcome(6, 3, sent(""), "sms-a", 9),
            outcome(7, 4, sent("ørsta-ÆØÅ"), "sms-å", 10),
            outcome(8, 5, sent("id-12345678901234567890"), "sms-a", 11),
            outcome(9, 6, OutcomeResult::Failed { reason: "no provider took it".into() }, "sms-a", 12),
            outcome(10, 7, OutcomeResult::Failed { reason: "no provider took it".into() }, "sms-b", 13),
            outcome(11, 8, sent("deadBEEF"), "sms-a", 14),
            outcome(12, 9, sent("-0"), "sms-a", 15),
        ];
        assert_eq!(round_trip(&batch), batch);
        assert_eq!(round_trip(&[]), Vec::<Outcome>::new());
    }

    #[test]
    fn ids_of_a_name_and_sixteen_digits_take_a_third_of_the_space() {
        let batch: Vec<Outcome> = (0..1_000u64)
            .map(|i| {
                let id = format!("sms-a-{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                outcome(i, 4_000 + i, sent(&id), "sms-a", 1_765_000_000_000 + i / 10)
            })
            .collect();
        let plain = crate::format::encode("outcomes", &batch).unwrap().len();
        let packed = encode(&batch).unwrap().len();
        assert!(packed * 3 < plain, "packed {packed} bytes, plain {plain}");
        assert_eq!(round_trip(&batch), batch);
    }

    #[test]
    fn a_tally_counts_what_decoding_gives() {
        let mut batch: Vec<Outcome> = (0..300u64)
            .map(|i| {
                let result = match i % 7 {
                    3 => OutcomeResult::Failed { reason: "throttled".into() },
                    _ => sent(&format!("sms-a-{i:x}")),
                };
                // Times out of order: the tally's first and last are a minimum and a maximum.
                outcome(i, 9_000 - i, result, "sms-a", 1_765_000_000_000 + (i * 7919) % 1_000)
            })
            .collect();
        batch[5].channel = Channel::Email;
        batch[6].channel = Channel::Email;
        batch[6].result = OutcomeResult::Failed { reason: "mailbox full".into() };
        let bytes = encode(&batch).unwrap();
        let t = tally(&bytes).unwrap();
        assert_eq!(t, Tally::of(&decode_value(&bytes).unwrap()));
        assert_eq!(t, Tally::of(&batch));
        // Positions 5 and 6 (e-mail) are not among the SMS failures (`i % 7 == 3`).
        let failed_sms = (0..300u64).filter(|i| i % 7 == 3).count() as u64;
        assert_eq!(t.channels, vec![(Channel::Sms, 298 - failed_sms, failed_sms), (Channel::Email, 1, 1)]);
        assert_eq!(t.first_at_ms, batch.iter().map(|o| o.at_ms).min());
        assert_eq!(t.last_at_ms, batch.iter().map(|o| o.at_ms).max());
        assert!(tally(&encode(&[]).unwrap()).unwrap().is_empty());
    }

    #[test]
    fn plain_batches_of_the_older_table_still_read() {
        let batch = vec![outcome(3, 9, sent("x-1"), "sms-a", 5)];
        let mut key = vec![OUTCOME];
        key.extend([0u8; 33]);
        let plain = encode_for(&key, &batch).unwrap();
        assert_eq!(plain, crate::format::encode("outcomes", &batch).unwrap());
        assert_eq!(decode(&key, &plain).unwrap(), batch);
        key[0] = OUTCOME_PACKED;
        assert_eq!(decode(&key, &encode_for(&key, &batch).unwrap()).unwrap(), batch);
    }

    #[test]
    fn a_damaged_batch_is_refused_not_misread() {
        let key = [OUTCOME_PACKED];
        let refused = |items: Vec<Item>, says: &str| {
            let bytes =
                crate::format::encode("outcomes", &Packed { texts: vec!["sms-a".into()], items }).unwrap();
            match decode(&key, &bytes) {
                Err(EngineError::Damaged(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("expected a refusal saying {says:?}, got {other:?}"),
            }
            // The apply counts packed records without decoding them: it refuses the same bytes.
            match tally(&bytes) {
                Err(EngineError::Damaged(m)) => assert!(m.contains(says), "tally: {m}"),
                other => panic!("expected the tally to refuse, saying {says:?}, got {other:?}"),
            }
        };
        let full = |provider, result| Item::Full {
            pos: 0,
            contact: 1,
            at_ms: 2,
            channel: Channel::Sms,
            provider,
            result,
        };
        refused(vec![full(3, PackedResult::Failed { reason: 0 })], "text 3 of 1");
        let wide = Tail::Hex { form: 2, value: 0x100 };
        refused(vec![full(0, PackedResult::Sent { prefix: 0, tail: wide })], "2 digits");
        let none = Tail::Hex { form: 0, value: 0 };
        refused(vec![full(0, PackedResult::Sent { prefix: 0, tail: none })], "0 digits");
        let like = Item::Like { pos: 1, contact: 1, at_ms: 0, tail: Tail::Text("x".into()) };
        refused(vec![full(0, PackedResult::Failed { reason: 0 }), like], "like one not sent");
        let bytes = encode(&[]).unwrap();
        assert!(decode(&[crate::state_machine::keys::RECEIPT], &bytes).is_err(), "a key of another table");
    }
}
