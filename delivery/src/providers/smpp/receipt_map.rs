//! The bounded map from SMSC message id to our message key, so `deliver_sm` receipts (which
//! carry only the SMSC's id) can be matched to the message they report on.
//!
//! Bounded by entry count, oldest insertion forgotten first: a receipt that arrives after
//! `capacity` later messages were accepted is not matched (it is logged and dropped; the
//! message stays `sent`). Receipts normally arrive within seconds to minutes, so the default
//! of one million entries covers a national alert's burst. Each entry costs about 200 bytes.
//! The map is in memory only: receipts for messages accepted before a restart are not matched.
//!
//! A receipt can arrive **before** its message is remembered: the SMSC may send it right after
//! the `submit_sm_resp`, and the task reading receipts can see it before the task that
//! submitted sees the response. Such a receipt is parked (at most [`EARLY_RECEIPTS_MAX`],
//! oldest dropped first) and settled when its id is remembered. Receipts for messages this node
//! did not send (or for parts other than the first) are parked too, and age out the same way.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use varsel_smpp::IdFormat;

/// Ids and keys longer than this are not remembered (SMPP message ids are at most 64 octets;
/// our keys are short): an entry's size stays bounded whatever the SMSC answers.
pub const ID_LEN_MAX: usize = 64;

/// Most receipts parked while their message is not (yet) remembered.
pub const EARLY_RECEIPTS_MAX: usize = 10_000;

/// A final receipt, as the provider hands it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalReceipt {
    /// Delivered, or failed for good.
    pub delivered: bool,
    /// The id the SMSC gave in the receipt.
    pub provider_id: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// A response id that cannot be read in the configured [`IdFormat`] (or is too long), so no
/// receipt can ever be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadableId;

/// Message id (canonical form) → message key, with a bound.
#[derive(Debug)]
pub struct ReceiptMap {
    format: IdFormat,
    entries: Bounded<Box<str>>,
    early: Bounded<FinalReceipt>,
}

/// A map with insertion-order eviction beyond `capacity` entries.
#[derive(Debug)]
struct Bounded<V> {
    capacity: usize,
    entries: HashMap<Arc<str>, (u64, V)>,
    /// Insertion order as (sequence, id); an id whose entry has another sequence was removed
    /// or replaced since, and is skipped when it comes up for eviction.
    order: VecDeque<(u64, Arc<str>)>,
    next_seq: u64,
}

impl<V> Bounded<V> {
    fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: HashMap::new(), order: VecDeque::new(), next_seq: 0 }
    }

    fn insert(&mut self, id: Arc<str>, value: V) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(id.clone(), (seq, value));
        self.order.push_back((seq, id));
        while self.order.len() > self.capacity {
            if let Some((old_seq, old_id)) = self.order.pop_front()
                && self.entries.get(&old_id).is_some_and(|(s, _)| *s == old_seq)
            {
                self.entries.remove(&old_id);
            }
        }
    }

    fn take(&mut self, id: &str) -> Option<V> {
        self.entries.remove(id).map(|(_, v)| v)
    }
}

impl ReceiptMap {
    /// An empty map of at most `capacity` entries (at least 1).
    pub fn new(format: IdFormat, capacity: usize) -> Self {
        Self { format, entries: Bounded::new(capacity), early: Bounded::new(EARLY_RECEIPTS_MAX) }
    }

    /// Remembers that the SMSC accepted the message `key` as `response_id`. Returns the
    /// message's receipt if it came already (it is then settled, not remembered), and `Err`
    /// when the id cannot be read in the configured format (its receipt cannot be matched).
    pub fn insert(&mut self, response_id: &str, key: &str) -> Result<Option<FinalReceipt>, UnreadableId> {
        let id = canonical(response_id, self.format, Side::Response).ok_or(UnreadableId)?;
        if id.len() > ID_LEN_MAX || key.len() > ID_LEN_MAX * 2 {
            return Err(UnreadableId);
        }
        if let Some(early) = self.early.take(&id) {
            return Ok(Some(early));
        }
        self.entries.insert(id.into(), key.into());
        Ok(None)
    }

    /// The key of the message a final receipt reports on, forgetting it (a final receipt
    /// comes once). A receipt for an id not remembered is parked for a later [`Self::insert`].
    pub fn settle(&mut self, receipt: FinalReceipt) -> Option<(Box<str>, FinalReceipt)> {
        let id = canonical(&receipt.provider_id, self.format, Side::Receipt)?;
        if let Some(key) = self.entries.take(&id) {
            return Some((key, receipt));
        }
        if id.len() <= ID_LEN_MAX {
            self.early.insert(id.into(), receipt);
        }
        None
    }

    /// Messages remembered now.
    pub fn len(&self) -> usize {
        self.entries.entries.len()
    }

    /// Whether no message is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.entries.is_empty()
    }

    /// Receipts parked now.
    pub fn early_len(&self) -> usize {
        self.early.entries.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Response,
    Receipt,
}

/// One spelling for both sides of a format, so matching is a hash lookup and agrees with
/// `varsel_smpp::ids_match`: case and leading zeros ignored, or both sides as one number.
fn canonical(id: &str, format: IdFormat, side: Side) -> Option<String> {
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    let number = |radix: u32| u128::from_str_radix(id, radix).ok().map(|n| n.to_string());
    match (format, side) {
        (IdFormat::Same, _) => Some(id.trim_start_matches('0').to_ascii_lowercase()),
        (IdFormat::HexResponseDecimalReceipt, Side::Response) => number(16),
        (IdFormat::HexResponseDecimalReceipt, Side::Receipt) => number(10),
        (IdFormat::DecimalResponseHexReceipt, Side::Response) => number(10),
        (IdFormat::DecimalResponseHexReceipt, Side::Receipt) => number(16),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(id: &str) -> FinalReceipt {
        FinalReceipt { delivered: true, provider_id: id.into(), error: None }
    }

    /// Goal: the map agrees with the smpp crate's `ids_match` in every format.
    /// Method: pairs of response and receipt ids, matching or not, in the three formats.
    #[test]
    fn agrees_with_ids_match() {
        let cases = [
            (IdFormat::Same, "00AbC1", "abc1"),
            (IdFormat::Same, "abc1", "abc2"),
            (IdFormat::HexResponseDecimalReceipt, "1F", "31"),
            (IdFormat::HexResponseDecimalReceipt, "10", "16"),
            (IdFormat::HexResponseDecimalReceipt, "10", "10"),
            (IdFormat::DecimalResponseHexReceipt, "31", "1f"),
            (IdFormat::DecimalResponseHexReceipt, "x", "x"),
        ];
        for (format, response, receipt_id) in cases {
            let mut map = ReceiptMap::new(format, 10);
            let _ = map.insert(response, "a1-c2-sms-0");
            let matched = map.settle(receipt(receipt_id)).is_some();
            let expected = varsel_smpp::ids_match(response, receipt_id, format);
            assert_eq!(matched, expected, "{format:?} {response} {receipt_id}");
        }
    }

    /// Goal: the map never holds more than its capacity, forgets the oldest first, and a
    /// settled entry is gone. Method: capacity 3, five inserts, a settle, a re-insert.
    #[test]
    fn bounded_oldest_first() {
        let mut map = ReceiptMap::new(IdFormat::Same, 3);
        for i in 0..5 {
            assert_eq!(map.insert(&format!("id{i}"), &format!("k{i}")), Ok(None));
        }
        assert_eq!(map.len(), 3);
        assert!(map.settle(receipt("id0")).is_none() && map.settle(receipt("id1")).is_none());
        assert_eq!(map.settle(receipt("id4")).map(|(k, _)| k).as_deref(), Some("k4"));
        assert!(map.settle(receipt("id4")).is_none(), "a second receipt is parked, not matched");
        // A removed id's stale order slot does not evict a newer entry of the same id.
        let _ = map.insert("id2", "k2b");
        let _ = map.insert("id5", "k5");
        let _ = map.insert("id6", "k6");
        assert_eq!(map.settle(receipt("id2")).map(|(k, _)| k).as_deref(), Some("k2b"));
        assert!(map.entries.order.len() <= 3 && map.len() <= 3);
    }

    /// Goal: a receipt that overtakes its submit response is not lost, and parked receipts
    /// stay bounded. Method: settle before insert; then more unknown receipts than the bound.
    #[test]
    fn early_receipt_settles_on_insert() {
        let mut map = ReceiptMap::new(IdFormat::Same, 10);
        assert!(map.settle(receipt("0A")).is_none());
        assert_eq!(map.insert("a", "k"), Ok(Some(receipt("0A"))));
        assert!(map.is_empty(), "a settled message is not remembered");
        for i in 0..EARLY_RECEIPTS_MAX + 5 {
            map.settle(receipt(&format!("x{i}")));
        }
        assert_eq!(map.early_len(), EARLY_RECEIPTS_MAX);
    }
}
