//! Exact per-key counting at national scale.
//!
//! A test decides "lost" and "duplicated" from these records, so they must be exact for
//! every key, yet 5 million keys must fit beside a cluster. The record of a key is therefore
//! its 64-bit hash ([`crate::key_hash`]; collision odds are discussed there) and 8 bytes of
//! counts: 16 bytes a slot in a `hashbrown` table plus one control byte, at a load factor
//! between 44 % and 87 %, i.e. 20 to 39 bytes a key, ~145 MB for 5 million. The full key
//! text is kept only for the first `keys_recorded_max` keys, for `/admin/keys`.
//!
//! Per (alert, channel) counters are updated on every arrival so `/admin/counts` is O(1)
//! and exact however many keys were not kept as text. Deliveries also go to the handset
//! records ([`crate::handset`]), which count what recipients see whatever the keys.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    hash::{BuildHasherDefault, Hasher},
    ops::Bound,
    sync::Arc,
};

use crate::{
    config::Channel,
    handset::{Handsets, Shown},
    limits::ALERTS_TRACKED_MAX,
    protocol::Part,
    reports::{AlertCounts, ChannelCounts, KeyInfo, KeysListing},
    seeded::key_hash,
};

/// What is known of one key: 8 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeyRecord {
    /// Arrivals at any provider (saturating).
    pub(crate) received: u32,
    /// Deliveries to the recipient (saturating).
    pub(crate) delivered: u16,
    /// Bit i: provider i received it.
    pub(crate) seen_mask: u8,
    /// Bit i: provider i accepted it as a delivery (for its idempotency).
    pub(crate) accepted_mask: u8,
}

/// One message arriving at a provider.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival<'k> {
    pub(crate) hash: u64,
    pub(crate) key: &'k str,
    pub(crate) alert: u64,
    pub(crate) channel: Channel,
    /// The provider's bit (`1 << index`).
    pub(crate) provider_bit: u8,
    /// [`crate::seeded::handset_hash`] of (alert, channel, address).
    pub(crate) handset: u64,
    /// The segment of a multipart SMS it is, if it is one.
    pub(crate) part: Option<Part>,
    /// When the batch arrived, ms since the Unix epoch.
    pub(crate) at_ms: u64,
}

/// The keys are already uniform hashes; hashing them again would only cost time.
#[derive(Debug, Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; folds anything else rather than panicking.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Every key received, with exact counts.
#[derive(Debug)]
pub(crate) struct Recorder {
    keys: HashMap<u64, KeyRecord, BuildHasherDefault<PassThrough>>,
    listed: BTreeSet<Box<str>>,
    listed_max: usize,
    keys_not_listed: u64,
    alerts: HashMap<(u64, Channel), ChannelCounts>,
    alerts_untracked: u64,
    handsets: Handsets,
    /// Keys a provider took in a batch it then did not answer (few: a rate of the batches).
    unanswered: std::collections::HashSet<u64, BuildHasherDefault<PassThrough>>,
}

impl Recorder {
    pub(crate) fn new(listed_max: usize) -> Self {
        Recorder {
            keys: HashMap::default(),
            listed: BTreeSet::new(),
            listed_max,
            keys_not_listed: 0,
            alerts: HashMap::new(),
            alerts_untracked: 0,
            handsets: Handsets::default(),
            unanswered: Default::default(),
        }
    }

    /// Records an arrival. `decide` sees the key's record before this arrival and returns
    /// the verdict and whether it hands the message to the recipient.
    pub(crate) fn record<V>(
        &mut self,
        arrival: &Arrival<'_>,
        decide: impl FnOnce(&KeyRecord) -> (V, bool),
    ) -> V {
        let record = self.keys.entry(arrival.hash).or_default();
        let before = *record;
        let (verdict, delivers) = decide(&before);
        record.received = record.received.saturating_add(1);
        record.seen_mask |= arrival.provider_bit;
        if delivers {
            record.delivered = record.delivered.saturating_add(1);
            record.accepted_mask |= arrival.provider_bit;
        }
        let after = *record;
        let shown =
            if delivers { self.handsets.deliver(arrival.handset, arrival.part) } else { Shown::default() };
        self.count_for_alert(arrival, &before, &after, &shown);
        if before.received == 0 {
            self.list(arrival.key);
        }
        verdict
    }

    /// Notes that the provider took key `hash` and did not answer: a later copy of it on its
    /// handset is explained by that (see `handset_duplicates_after_unanswered`).
    pub(crate) fn unanswered(&mut self, hash: u64) {
        if self.unanswered.len() < self.keys.len().max(1) {
            self.unanswered.insert(hash);
        }
    }

    /// The record of key `hash` as it stands (zero for a key never seen).
    pub(crate) fn peek(&self, hash: u64) -> KeyRecord {
        self.keys.get(&hash).copied().unwrap_or_default()
    }

    fn count_for_alert(
        &mut self,
        arrival: &Arrival<'_>,
        before: &KeyRecord,
        after: &KeyRecord,
        shown: &Shown,
    ) {
        let id = (arrival.alert, arrival.channel);
        if self.alerts.len() >= ALERTS_TRACKED_MAX && !self.alerts.contains_key(&id) {
            self.alerts_untracked += 1;
            return;
        }
        let counts = self.alerts.entry(id).or_default();
        counts.receives += 1;
        counts.distinct_keys += u64::from(before.received == 0);
        counts.keys_received_more_than_once += u64::from(before.received == 1);
        if after.delivered > before.delivered {
            counts.deliveries += 1;
            counts.delivered_keys += u64::from(before.delivered == 0);
            counts.keys_delivered_more_than_once += u64::from(before.delivered == 1);
        }
        if counts.first_received_ms == 0 || arrival.at_ms < counts.first_received_ms {
            counts.first_received_ms = arrival.at_ms;
        }
        counts.last_received_ms = counts.last_received_ms.max(arrival.at_ms);
        if let Some(copies) = shown.completed_after {
            counts.handset_messages += 1;
            counts.handsets += u64::from(copies == 0);
            counts.handset_duplicates += u64::from(copies > 0);
            counts.handset_duplicates_after_unanswered +=
                u64::from(copies > 0 && self.unanswered.contains(&arrival.hash));
        }
        counts.orphan_fragments += shown.fragments_added;
        counts.orphan_fragments = counts.orphan_fragments.saturating_sub(shown.fragments_joined);
    }

    fn list(&mut self, key: &str) {
        if self.listed.len() < self.listed_max {
            self.listed.insert(key.into());
        } else {
            self.keys_not_listed += 1;
        }
    }

    pub(crate) fn distinct_keys(&self) -> u64 {
        self.keys.len() as u64
    }

    pub(crate) fn keys_not_listed(&self) -> u64 {
        self.keys_not_listed
    }

    pub(crate) fn alerts_untracked(&self) -> u64 {
        self.alerts_untracked
    }

    pub(crate) fn handsets_untracked(&self) -> u64 {
        self.handsets.untracked()
    }

    /// Listed keys starting with `prefix`, at most `limit`; `names` are the providers by bit.
    pub(crate) fn keys(&self, prefix: &str, limit: usize, names: &[Arc<str>]) -> KeysListing {
        let mut keys = BTreeMap::new();
        let mut truncated = false;
        let from = (Bound::Included(prefix), Bound::Unbounded);
        for key in self.listed.range::<str, _>(from).take_while(|k| k.starts_with(prefix)) {
            if keys.len() == limit {
                truncated = true;
                break;
            }
            let record = self.keys.get(&key_hash(key)).copied().unwrap_or_default();
            let providers = names
                .iter()
                .enumerate()
                .filter(|(i, _)| record.seen_mask & (1u8 << i) != 0)
                .map(|(_, name)| name.to_string())
                .collect();
            let info = KeyInfo { count: record.received, delivered: record.delivered.into(), providers };
            keys.insert(key.to_string(), info);
        }
        KeysListing { keys, truncated, keys_not_listed: self.keys_not_listed }
    }

    /// Exact counts for `alert`, per channel.
    pub(crate) fn counts(&self, alert: u64) -> AlertCounts {
        let channels = self
            .alerts
            .iter()
            .filter(|((a, _), _)| *a == alert)
            .map(|((_, channel), counts)| (*channel, *counts))
            .collect();
        AlertCounts::new(alert, channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrive(recorder: &mut Recorder, key: &str, bit: u8, delivers: bool) -> KeyRecord {
        let handset = crate::seeded::handset_hash(1, 0, &key[..6]);
        let arrival = Arrival {
            hash: key_hash(key),
            key,
            alert: 1,
            channel: Channel::Sms,
            provider_bit: bit,
            handset,
            part: None,
            at_ms: 1_000 + u64::from(bit),
        };
        recorder.record(&arrival, |before| (*before, delivers))
    }

    /// Goal: the alert counters follow the per-key records exactly, and keys beyond the
    /// listing bound are counted but not listed. Method: a scripted sequence of arrivals.
    #[test]
    fn counts_follow_records() {
        let mut recorder = Recorder::new(2);
        assert_eq!(arrive(&mut recorder, "a1-c1-sms-0", 1, true).received, 0);
        let before = arrive(&mut recorder, "a1-c1-sms-0", 1, false);
        assert_eq!((before.received, before.delivered, before.accepted_mask), (1, 1, 1));
        arrive(&mut recorder, "a1-c1-sms-0", 2, true);
        arrive(&mut recorder, "a1-c2-sms-0", 1, false);
        arrive(&mut recorder, "a1-c3-sms-0", 1, true);
        let counts = recorder.counts(1).channel(Channel::Sms);
        let expected = ChannelCounts {
            distinct_keys: 3,
            receives: 5,
            keys_received_more_than_once: 1,
            delivered_keys: 2,
            deliveries: 3,
            keys_delivered_more_than_once: 1,
            handsets: 2,
            handset_messages: 3,
            handset_duplicates: 1,
            handset_duplicates_after_unanswered: 0,
            orphan_fragments: 0,
            first_received_ms: 1_001,
            last_received_ms: 1_002,
        };
        assert_eq!(counts, expected);
        let names: Vec<Arc<str>> = vec!["p".into(), "q".into()];
        let listing = recorder.keys("a1-", 10, &names);
        assert_eq!(listing.keys.len(), 2);
        assert_eq!(listing.keys_not_listed, 1);
        assert_eq!(listing.keys["a1-c1-sms-0"].providers, vec!["p", "q"]);
        assert!(recorder.keys("a1-", 1, &names).truncated);
    }
}
