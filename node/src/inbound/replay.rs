//! Remembering accepted webhook ids, so a replayed webhook does nothing.
//!
//! A signed webhook can be captured and sent again while its timestamp is still within
//! [`SKEW_MAX_S`] of the node's clock. Each accepted `(provider, id)` is therefore remembered
//! for [`REMEMBER_S`]: a request accepted at `now` carries a timestamp of at most
//! `now + SKEW_MAX_S`, and a copy of it is refused as stale once the clock passes that
//! timestamp plus `SKEW_MAX_S`, so `now + 2 × SKEW_MAX_S` covers every moment a copy could be
//! accepted. The caller passes the same `now_s` it verified the timestamp with; both read the
//! one wall clock.
//!
//! # Bound and memory
//!
//! At most [`IDS_MAX`] ids are remembered. An id is kept as a 16-byte digest of the provider
//! and the id (SHA-256, truncated: a collision among a million ids has a probability near
//! 2^-89), in a hash set and in a queue in the order accepted, so forgetting is popping the
//! queue's head. At the bound that is about 61 MB: the set's 2^21 buckets of 17 bytes (16 and
//! a control byte) and the queue's 2^20 slots of 24 bytes; both grow as ids arrive and keep
//! their size after a burst. With ids kept for 600 s, the bound admits 1,666 webhooks a second
//! sustained per node (many more in bursts): providers batch receipts, so that is far more
//! messages.
//!
//! When the memory is full, a new id is refused ([`Remembered::Full`]: the caller answers 503
//! with `Retry-After`, and the provider delivers it again later); an id is never forgotten
//! before its time to make room, since forgetting early would let a replay through.
//! Forgetting walks only expired entries, so the clock stepping back keeps ids longer, never
//! shorter.

use std::collections::{HashSet, VecDeque};

use sha2::{Digest as _, Sha256};

use super::verify::SKEW_MAX_S;

/// Most ids remembered at once (see the module doc for what that costs and admits).
pub const IDS_MAX: usize = 1_000_000;

/// How long an accepted id is remembered: the signature window on both sides of the clock.
pub const REMEMBER_S: u64 = 2 * SKEW_MAX_S;

/// A remembered `(provider, id)`.
type Key = [u8; 16];

/// What remembering an id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remembered {
    /// Not seen within [`REMEMBER_S`]: apply the webhook. The id is now remembered.
    Fresh,
    /// Accepted before: do nothing.
    Replay,
    /// The memory is full and nothing in it may be forgotten yet; the oldest id may be in
    /// this many seconds.
    Full {
        /// Seconds until the oldest id expires (at least 1).
        retry_after_s: u64,
    },
}

/// Accepted ids, oldest first, bounded by a capacity.
#[derive(Debug)]
pub struct ReplayMemory {
    capacity: usize,
    keys: HashSet<Key>,
    /// `(forget after this second, key)` in the order accepted.
    order: VecDeque<(u64, Key)>,
}

impl Default for ReplayMemory {
    fn default() -> Self {
        Self::new(IDS_MAX)
    }
}

fn key(provider: &str, id: &str) -> Key {
    let mut h = Sha256::new();
    // Length-prefixed, so no provider and id pair reads as another.
    h.update((provider.len() as u64).to_be_bytes());
    h.update(provider.as_bytes());
    h.update(id.as_bytes());
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl ReplayMemory {
    /// An empty memory for at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), keys: HashSet::new(), order: VecDeque::new() }
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Remembers `provider`'s webhook `id`, accepted at `now_s`, unless it was accepted before.
    pub fn remember(&mut self, provider: &str, id: &str, now_s: u64) -> Remembered {
        self.forget_expired(now_s);
        let key = key(provider, id);
        if self.keys.contains(&key) {
            return Remembered::Replay;
        }
        if self.order.len() >= self.capacity {
            // The oldest id is forgotten once the clock passes its second.
            let free_at = self.order.front().map_or(now_s, |(until, _)| until.saturating_add(1));
            return Remembered::Full {
                retry_after_s: free_at.saturating_sub(now_s).clamp(1, REMEMBER_S + 1),
            };
        }
        self.keys.insert(key);
        self.order.push_back((now_s.saturating_add(REMEMBER_S), key));
        debug_assert_eq!(self.keys.len(), self.order.len(), "every remembered id is in both");
        Remembered::Fresh
    }

    /// Forgets `provider`'s webhook `id` again: it was accepted but its items were not
    /// recorded, so the copy the provider sends again must be taken. (Recent ids are at the
    /// back, where the search starts.)
    pub fn forget(&mut self, provider: &str, id: &str) {
        let key = key(provider, id);
        if self.keys.remove(&key)
            && let Some(i) = self.order.iter().rposition(|(_, k)| *k == key)
        {
            self.order.remove(i);
        }
    }

    /// Forgets the ids whose time has passed, oldest first; stops at the first that has not.
    fn forget_expired(&mut self, now_s: u64) {
        while let Some((until, key)) = self.order.front().copied() {
            if until >= now_s {
                break;
            }
            self.order.pop_front();
            self.keys.remove(&key);
        }
    }
}
