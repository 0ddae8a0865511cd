//! Handset truth: what each phone, mailbox or device shows, whatever the idempotency keys.
//!
//! The per-key records of [`crate::recorder`] say how often a *key* was delivered; a
//! recipient does not see keys. Another provider taking the same key, a provider that ignores
//! keys (SMPP has none), or a client that re-sends under a new key all put a second copy on the
//! same handset. Here a handset is (alert, channel, address), hashed
//! ([`crate::seeded::handset_hash`]), and its record is the number of complete messages it
//! shows: a hash and a `u16` in one 16-byte `hashbrown` slot, as compact as a key record
//! (bound: [`HANDSETS_MAX`]).
//!
//! A message that carries a [`Part`] is one segment of a concatenated SMS. The handset shows
//! it when every part of its concatenation reference has arrived; until then its parts wait
//! in a table of partial messages (bound: [`PARTIAL_MESSAGES_MAX`]) and count as **orphan
//! fragments**; a part arriving again before its message is complete replaces itself, as a
//! handset does. A reference that never completes leaves its parts orphaned for good: the
//! recipient sees pieces of a message.

use std::{collections::HashMap, hash::BuildHasherDefault};

use crate::{
    limits::{HANDSETS_MAX, PARTIAL_MESSAGES_MAX},
    protocol::Part,
    recorder::PassThrough,
    seeded::part_hash,
};

type HashTable<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// The parts of one multipart message seen so far: bit `i` of `mask` is part `i + 1`.
#[derive(Debug, Clone, Copy, Default)]
struct Partial {
    mask: [u64; 4],
    seen: u8,
}

impl Partial {
    /// Marks part `index` (1-based); false when it was already there.
    fn mark(&mut self, index: u8) -> bool {
        let bit = usize::from(index.saturating_sub(1));
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        let new = self.mask[word] & mask == 0;
        self.mask[word] |= mask;
        self.seen += u8::from(new);
        new
    }
}

/// What one delivery changed on its handset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Shown {
    /// A whole message appeared: its copies on the handset before it, or `None` when this
    /// delivery completed nothing (a part of a message still incomplete).
    pub(crate) completed_after: Option<u16>,
    /// Fragments that now wait for the rest of their message (+1 for a new part).
    pub(crate) fragments_added: u64,
    /// Fragments that stopped waiting because their message completed.
    pub(crate) fragments_joined: u64,
    /// The handset or partial message was beyond its table's bound: not judged.
    pub(crate) untracked: bool,
}

/// Every handset that got anything.
#[derive(Debug, Default)]
pub(crate) struct Handsets {
    shown: HashTable<u16>,
    partial: HashTable<Partial>,
    untracked: u64,
}

impl Handsets {
    /// Records one delivery to `handset` (a whole message, or `part` of one).
    pub(crate) fn deliver(&mut self, handset: u64, part: Option<Part>) -> Shown {
        let Some(part) = part.filter(|p| p.total > 1) else {
            return self.show(handset, Shown::default());
        };
        let id = part_hash(handset, part.reference, part.total);
        if self.partial.len() >= PARTIAL_MESSAGES_MAX && !self.partial.contains_key(&id) {
            self.untracked += 1;
            return Shown { untracked: true, ..Shown::default() };
        }
        let partial = self.partial.entry(id).or_default();
        let added = u64::from(partial.mark(part.index));
        if partial.seen < part.total {
            return Shown { fragments_added: added, ..Shown::default() };
        }
        // Every part is there: the handset shows the message and forgets the pieces, so a
        // whole second set of the same reference is a second copy.
        let joined = u64::from(partial.seen) - added;
        self.partial.remove(&id);
        self.show(handset, Shown { fragments_added: 0, fragments_joined: joined, ..Shown::default() })
    }

    /// One more complete message on `handset`.
    fn show(&mut self, handset: u64, mut shown: Shown) -> Shown {
        if self.shown.len() >= HANDSETS_MAX && !self.shown.contains_key(&handset) {
            self.untracked += 1;
            shown.untracked = true;
            return shown;
        }
        let copies = self.shown.entry(handset).or_default();
        shown.completed_after = Some(*copies);
        *copies = copies.saturating_add(1);
        shown
    }

    /// Deliveries not judged because a table was full.
    pub(crate) fn untracked(&self) -> u64 {
        self.untracked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(reference: u16, index: u8, total: u8) -> Option<Part> {
        Some(Part { reference, index, total })
    }

    /// Goal: whole messages count copies per handset; parts make a message only once all of
    /// one reference are in, a repeated part is not a second fragment, a second complete set
    /// is a second copy. Method: scripted deliveries to two handsets.
    #[test]
    fn copies_and_fragments() {
        let mut h = Handsets::default();
        assert_eq!(h.deliver(1, None).completed_after, Some(0));
        assert_eq!(h.deliver(1, None).completed_after, Some(1));
        assert_eq!(h.deliver(2, part(9, 1, 3)), Shown { fragments_added: 1, ..Shown::default() });
        assert_eq!(h.deliver(2, part(9, 1, 3)), Shown::default(), "a repeated part replaces itself");
        assert_eq!(h.deliver(2, part(9, 3, 3)).fragments_added, 1);
        let done = h.deliver(2, part(9, 2, 3));
        assert_eq!((done.completed_after, done.fragments_joined), (Some(0), 2));
        // A whole second set of the same reference is a second copy.
        for i in 1..=3 {
            h.deliver(2, part(9, i, 3));
        }
        assert_eq!(h.deliver(2, None).completed_after, Some(2));
        // A single-part "multipart" message is a whole one; part 255 of 255 fits the mask.
        assert_eq!(h.deliver(3, part(1, 1, 1)).completed_after, Some(0));
        assert_eq!(h.deliver(4, part(1, 255, 255)).fragments_added, 1);
        assert_eq!(h.untracked(), 0);
    }
}
