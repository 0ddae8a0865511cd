//! How an alert's recipients are split into shards, the unit of sending work.
//!
//! A shard is a range of one target's member sequence numbers (or of the alert's direct
//! contacts). Shards are leased to nodes, so every site sends at once and a dead node's shards
//! move to the survivors; per-recipient ownership would cost millions of Raft entries, a few
//! hundred shards cost a handful. The plan is a pure function of the accepted alert, so every
//! node computes the same shards without storing them.

use serde::{Deserialize, Serialize};
use varsel_domain::model::GroupSnapshot;

/// Fewest shards an alert is split into when it has enough recipients, so that every site
/// takes a part even of a modest alert.
pub const SHARDS_TARGET_MIN: u64 = 32;
/// Smallest shard span (sequence numbers or contacts).
pub const SHARD_SPAN_MIN: u64 = 500;
/// Largest shard span: bounds the work a node redoes when it takes over a shard.
pub const SHARD_SPAN_MAX: u64 = 10_000;

/// The recipients of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardRange {
    /// Members of `alert.groups[target]` with sequence numbers in `start..end`.
    Group {
        /// Position of the group in the alert's targets.
        target: u32,
        /// First sequence number.
        start: u64,
        /// One past the last.
        end: u64,
    },
    /// `alert.contacts[start..end]`.
    Direct {
        /// First position.
        start: u64,
        /// One past the last.
        end: u64,
    },
}

impl ShardRange {
    /// Number of candidate recipients (an upper bound: removed members and duplicates are
    /// skipped when sending).
    pub fn span(&self) -> u64 {
        match self {
            ShardRange::Group { start, end, .. } | ShardRange::Direct { start, end } => end - start,
        }
    }
}

/// The span used for an alert whose targets hold `total` candidates.
pub fn span_for(total: u64) -> u64 {
    total.div_ceil(SHARDS_TARGET_MIN).clamp(SHARD_SPAN_MIN, SHARD_SPAN_MAX)
}

/// Splits an alert's targets into shards.
pub fn plan(groups: &[GroupSnapshot], direct: usize) -> Vec<ShardRange> {
    let total = groups.iter().map(|g| g.seq_end).sum::<u64>() + direct as u64;
    let span = span_for(total);
    let mut out = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let mut start = 0;
        while start < g.seq_end {
            let end = (start + span).min(g.seq_end);
            out.push(ShardRange::Group { target: i as u32, start, end });
            start = end;
        }
    }
    let mut start = 0;
    while start < direct as u64 {
        let end = (start + span).min(direct as u64);
        out.push(ShardRange::Direct { start, end });
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(seq_end: u64) -> GroupSnapshot {
        GroupSnapshot { group: 1, seq_end, member_count: seq_end }
    }

    /// Goal: shards cover every candidate exactly once, with the span rules.
    #[test]
    fn plan_covers_everything_once() {
        for (groups, direct) in
            [(vec![g(10_000)], 0), (vec![g(5_000_000)], 0), (vec![g(7), g(1_234)], 99), (vec![], 3)]
        {
            let shards = plan(&groups, direct);
            let covered: u64 = shards.iter().map(ShardRange::span).sum();
            let total = groups.iter().map(|g| g.seq_end).sum::<u64>() + direct as u64;
            assert_eq!(covered, total);
            assert!(shards.iter().all(|s| s.span() <= SHARD_SPAN_MAX));
        }
        assert_eq!(plan(&[g(10_000)], 0).len(), 20);
        assert_eq!(plan(&[g(5_000_000)], 0).len(), 500);
        assert_eq!(plan(&[], 0).len(), 0);
    }
}
