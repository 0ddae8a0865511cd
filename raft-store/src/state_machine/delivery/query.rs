//! Reading the delivery state: shard states and ranges, heartbeats, outcome batches,
//! receipts. The engine reads through these on every node; the rules that write them are in
//! the parent module.

use varsel_domain::model::{Alert, AlertId, Channel};

use super::{NODE, OUTCOME_TABLES, SHARD, receipt_key};
use crate::delivery::{Outcome, ShardState, StoredReceipt};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::shards::{self, ShardRange};
use crate::state_machine::keys::{self, Key};
use crate::state_machine::txn::Txn;
use crate::types::NodeId;

/// The range of shard `n` of `alert`.
pub fn shard_range(alert: &Alert, n: u32) -> Option<ShardRange> {
    shards::plan(&alert.groups, alert.contacts.len()).get(n as usize).copied()
}

/// First position of a range.
pub fn range_start(r: &ShardRange) -> u64 {
    match r {
        ShardRange::Group { start, .. } | ShardRange::Direct { start, .. } => *start,
    }
}

/// One past the last position of a range.
pub fn range_end(r: &ShardRange) -> u64 {
    match r {
        ShardRange::Group { end, .. } | ShardRange::Direct { end, .. } => *end,
    }
}

/// The state of one shard of an alert with `shards` shards (a default for one not written
/// yet), `None` past the last shard: one point read, for a worker that holds the shard.
pub fn shard_state<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: AlertId,
    shards: u32,
    shard: u32,
) -> Result<Option<ShardState>, EngineError> {
    if shard >= shards {
        return Ok(None);
    }
    Ok(Some(txn.get_as("shard", &super::shard_key(alert, shard))?.unwrap_or_default()))
}

/// Reads every shard state of an alert, in shard order (absent shards are defaults).
pub fn shard_states<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: AlertId,
    shards: u32,
) -> Result<Vec<ShardState>, EngineError> {
    let prefix = Key::new(SHARD).u64(alert).done();
    let mut out = vec![ShardState::default(); shards as usize];
    for (k, v) in txn.scan_prefix(&prefix, None, shards as usize)? {
        if let Some(n) = keys::u64_at(&k, prefix.len()).filter(|n| (*n as usize) < out.len()) {
            out[n as usize] = crate::types::decode("shard", &v)?;
        }
    }
    Ok(out)
}

/// Nodes with a heartbeat, and when each was last seen (lease clock).
pub fn heartbeats<T: KvTree>(txn: &Txn<'_, T>) -> Result<Vec<(NodeId, u64)>, EngineError> {
    let pairs = txn.scan_prefix(&[NODE], None, 1024)?;
    pairs
        .iter()
        .map(|(k, v)| Ok((keys::u64_at(k, 1).unwrap_or(0), crate::types::decode("heartbeat", v)?)))
        .collect()
}

/// The outcome batches of one shard and step, in position order.
pub fn outcomes<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: AlertId,
    shard: u32,
    step: u8,
) -> Result<Vec<Outcome>, EngineError> {
    let mut batches = Vec::new();
    for table in OUTCOME_TABLES {
        let prefix = Key::new(table).u64(alert).u64(u64::from(shard)).u64(u64::from(step)).done();
        batches.extend(txn.scan_prefix(&prefix, None, usize::MAX)?);
    }
    // Both tables share a key layout: ordered by what follows the table byte, the batches of
    // an alert recorded partly under an older build fall in position order again.
    batches.sort_by(|(a, _), (b, _)| a[1..].cmp(&b[1..]));
    let mut out = Vec::new();
    for (k, v) in batches {
        out.extend(super::packed::decode(&k, &v)?);
    }
    Ok(out)
}

/// A receipt, if one arrived.
pub fn receipt<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: AlertId,
    contact: u64,
    channel: Channel,
) -> Result<Option<StoredReceipt>, EngineError> {
    txn.get_as("receipt", &receipt_key(alert, contact, channel))
}

/// An alert by id alone (the engine does not act for a tenant).
pub fn alert<T: KvTree>(txn: &Txn<'_, T>, id: AlertId) -> Result<Option<Alert>, EngineError> {
    super::load_alert(txn, id)
}
