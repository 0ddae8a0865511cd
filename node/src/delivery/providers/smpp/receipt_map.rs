//! The bounded map from SMSC message id to our message key, so `deliver_sm` receipts (which
//! carry only the SMSC's id) can be matched to the message they report on.
//!
//! Bounded by entry count, oldest insertion forgotten first: a receipt that arrives after
//! `capacity` later messages were accepted is not matched (it is logged and dropped; the
//! message stays `sent`). Receipts normally arrive within seconds to minutes, so the default
//! of one million entries covers a national alert's burst. Each entry costs about 200 bytes.
//! The map is in memory only: receipts for messages accepted before a restart are not matched.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use varsel_smpp::IdFormat;

/// Ids and keys longer than this are not remembered (SMPP message ids are at most 64 octets;
/// our keys are short): an entry's size stays bounded whatever the SMSC answers.
pub const ID_LEN_MAX: usize = 64;

/// Message id (canonical form) → message key, with a bound.
#[derive(Debug)]
pub struct ReceiptMap {
    format: IdFormat,
    capacity: usize,
    entries: HashMap<Arc<str>, (u64, Box<str>)>,
    /// Insertion order as (sequence, id); an id whose entry has another sequence was removed
    /// or replaced since, and is skipped when it comes up for eviction.
    order: VecDeque<(u64, Arc<str>)>,
    next_seq: u64,
}

impl ReceiptMap {
    /// An empty map of at most `capacity` entries (at least 1).
    pub fn new(format: IdFormat, capacity: usize) -> Self {
        Self {
            format,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// Remembers that the SMSC accepted the message `key` as `response_id`. Returns `false`
    /// when the id cannot be read in the configured format (the receipt will not be matched).
    pub fn insert(&mut self, response_id: &str, key: &str) -> bool {
        let Some(id) = canonical(response_id, self.format, Side::Response) else { return false };
        if id.len() > ID_LEN_MAX || key.len() > ID_LEN_MAX * 2 {
            return false;
        }
        let id: Arc<str> = id.into();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(id.clone(), (seq, key.into()));
        self.order.push_back((seq, id));
        while self.order.len() > self.capacity {
            if let Some((old_seq, old_id)) = self.order.pop_front()
                && self.entries.get(&old_id).is_some_and(|(s, _)| *s == old_seq)
            {
                self.entries.remove(&old_id);
            }
        }
        true
    }

    /// The key of the message the receipt id `receipt_id` reports on, forgetting it (a final
    /// receipt comes once).
    pub fn take(&mut self, receipt_id: &str) -> Option<Box<str>> {
        let id = canonical(receipt_id, self.format, Side::Receipt)?;
        self.entries.remove(id.as_str()).map(|(_, key)| key)
    }

    /// Entries remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
        for (format, response, receipt) in cases {
            let mut map = ReceiptMap::new(format, 10);
            map.insert(response, "a1-c2-sms-0");
            let matched = map.take(receipt).is_some();
            assert_eq!(
                matched,
                varsel_smpp::ids_match(response, receipt, format),
                "{format:?} {response} {receipt}"
            );
        }
    }

    /// Goal: the map never holds more than its capacity, forgets the oldest first, and a
    /// taken entry is gone. Method: capacity 3, five inserts, a take, a re-insert.
    #[test]
    fn bounded_oldest_first() {
        let mut map = ReceiptMap::new(IdFormat::Same, 3);
        for i in 0..5 {
            assert!(map.insert(&format!("id{i}"), &format!("k{i}")));
        }
        assert_eq!(map.len(), 3);
        assert!(map.take("id0").is_none() && map.take("id1").is_none());
        assert_eq!(map.take("id4").as_deref(), Some("k4"));
        assert!(map.take("id4").is_none());
        // A removed id's stale order slot does not evict a newer entry of the same id.
        map.insert("id2", "k2b");
        map.insert("id5", "k5");
        map.insert("id6", "k6");
        assert_eq!(map.take("id2").as_deref(), Some("k2b"));
        assert!(map.order.len() <= 3 && map.len() <= 3);
    }
}
