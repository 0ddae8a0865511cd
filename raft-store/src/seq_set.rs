//! A compact set of membership sequence numbers, as a list sync's removal travels in one Raft
//! entry ([`crate::ops::Op::SyncMembers`]).
//!
//! A group's memberships are numbered densely from 0 (see `state_machine::domain::groups`), so
//! the members leaving a group are a sorted set of small integers close to each other. The set
//! is stored as the gaps between them, each an unsigned LEB128 varint: the first value is the
//! first number itself, every later one the difference to the previous number (at least 1).
//! When 10 % of a group leaves, the gaps average 10 and each takes one byte: 100,000 leavers of
//! a 1,000,000-member group are about 100 KB, 500,000 of a 5,000,000-member group about
//! 500 KB, both under [`SEQ_SET_BYTES_MAX`].
//!
//! ```
//! use varsel_raft_store::seq_set::SeqSet;
//!
//! let set = SeqSet::from_sorted(&[3, 4, 200]).unwrap();
//! // 3, then the gaps 1 and 196: one byte each below 128, two bytes for 196.
//! assert_eq!(set.bytes.len(), 4);
//! assert_eq!(set.iter().collect::<Result<Vec<_>, _>>().unwrap(), [3, 4, 200]);
//! ```

use serde::{Deserialize, Serialize};

/// Most encoded bytes of one set: three quarters of the 1 MiB a log entry may hold, leaving
/// room for the rest of the entry.
pub const SEQ_SET_BYTES_MAX: usize = 768 * 1024;

/// Bytes of the longest LEB128 encoding of a `u64`.
const VARINT_BYTES_MAX: usize = 10;

/// Why a set could not be built or read; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeqSetError {
    /// The numbers given were not strictly increasing.
    #[error("leaving members: sequence numbers must be strictly increasing ({previous} then {next})")]
    NotIncreasing {
        /// The number before.
        previous: u64,
        /// The number that did not increase.
        next: u64,
    },
    /// The encoding is longer than [`SEQ_SET_BYTES_MAX`].
    #[error(
        "leaving members: {bytes} bytes encoded, more than the {SEQ_SET_BYTES_MAX} one replicated step holds; \
         sync a smaller change first"
    )]
    TooLarge {
        /// Bytes it would take.
        bytes: usize,
    },
    /// The bytes end inside a number, hold a number over 64 bits, or a zero gap.
    #[error("leaving members: damaged encoding at byte {at}")]
    Damaged {
        /// Offset of the bad number.
        at: usize,
    },
}

/// A sorted set of sequence numbers, gap-encoded (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqSet {
    /// Number of values, so a reader can size its work before decoding.
    pub count: u64,
    /// The gaps, LEB128.
    pub bytes: Vec<u8>,
}

impl SeqSet {
    /// Encodes `seqs`, which must be strictly increasing.
    pub fn from_sorted(seqs: &[u64]) -> Result<Self, SeqSetError> {
        let mut bytes = Vec::with_capacity(seqs.len());
        let mut previous: Option<u64> = None;
        for &seq in seqs {
            let gap = match previous {
                None => seq,
                Some(p) if seq > p => seq - p,
                Some(p) => return Err(SeqSetError::NotIncreasing { previous: p, next: seq }),
            };
            push_varint(&mut bytes, gap);
            if bytes.len() > SEQ_SET_BYTES_MAX {
                return Err(SeqSetError::TooLarge { bytes: bytes.len() });
            }
            previous = Some(seq);
        }
        Ok(Self { count: seqs.len() as u64, bytes })
    }

    /// The numbers in increasing order; an error item (and nothing after it) where the
    /// encoding is damaged.
    pub fn iter(&self) -> impl Iterator<Item = Result<u64, SeqSetError>> + '_ {
        let mut at = 0;
        let mut previous: Option<u64> = None;
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed || at >= self.bytes.len() {
                return None;
            }
            let start = at;
            let next = read_varint(&self.bytes, &mut at).and_then(|gap| match previous {
                None => Some(gap),
                Some(_) if gap == 0 => None,
                Some(p) => p.checked_add(gap),
            });
            match next {
                Some(seq) => {
                    previous = Some(seq);
                    Some(Ok(seq))
                }
                None => {
                    failed = true;
                    Some(Err(SeqSetError::Damaged { at: start }))
                }
            }
        })
    }
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for i in 0..VARINT_BYTES_MAX {
        let b = *bytes.get(*at)?;
        *at += 1;
        let part = u64::from(b & 0x7f);
        let shifted = part.checked_shl(7 * i as u32)?;
        if (shifted >> (7 * i as u32)) != part {
            return None;
        }
        v |= shifted;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn round_trip(seqs: &[u64]) -> Vec<u64> {
        let set = SeqSet::from_sorted(seqs).unwrap();
        assert_eq!(set.count, seqs.len() as u64);
        set.iter().collect::<Result<Vec<_>, _>>().unwrap()
    }

    #[test]
    fn round_trips_including_zero_and_the_largest_value() {
        for seqs in [vec![], vec![0], vec![0, 1, 2], vec![5, 127, 128, 16_384, u64::MAX - 1, u64::MAX]] {
            assert_eq!(round_trip(&seqs), seqs);
        }
    }

    #[test]
    fn a_tenth_of_a_million_takes_about_one_byte_each() {
        let seqs: Vec<u64> = (0..1_000_000).step_by(10).collect();
        let set = SeqSet::from_sorted(&seqs).unwrap();
        assert_eq!(set.bytes.len(), 100_000);
    }

    #[test]
    fn refuses_unsorted_and_too_large_sets() {
        assert_eq!(SeqSet::from_sorted(&[3, 3]), Err(SeqSetError::NotIncreasing { previous: 3, next: 3 }));
        let spread: Vec<u64> = (0..400_000u64).map(|i| i * 1_000).collect();
        assert!(matches!(SeqSet::from_sorted(&spread), Err(SeqSetError::TooLarge { .. })));
    }

    #[test]
    fn damaged_bytes_end_the_iteration_with_an_error() {
        let cut = SeqSet { count: 1, bytes: vec![0x80] };
        assert_eq!(cut.iter().collect::<Vec<_>>(), [Err(SeqSetError::Damaged { at: 0 })]);
        let zero_gap = SeqSet { count: 2, bytes: vec![4, 0] };
        assert_eq!(zero_gap.iter().collect::<Vec<_>>(), [Ok(4), Err(SeqSetError::Damaged { at: 1 })]);
        let overlong = SeqSet { count: 1, bytes: vec![0xff; 11] };
        assert!(overlong.iter().any(|r| r.is_err()));
    }
}
