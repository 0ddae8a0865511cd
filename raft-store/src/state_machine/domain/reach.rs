//! Where one contact's delivery records are, found without scanning the delivery tables.
//!
//! Outcomes are kept in batches keyed by alert, shard, step and the first position of the
//! batch, with no index by contact: at 5,000,000 recipients a per-contact index would double the
//! writes of recording. Instead the contact's places are derived from what the alert froze
//! when it was accepted: the contact's membership sequence numbers in the alert's target groups
//! (`0x26`, a short scan per group) and its index among the alert's direct contacts. A place
//! maps to one shard of the alert's plan ([`crate::shards::plan`]), and within a shard and
//! step the batch holding a position is the last one (per channel) that starts at or before
//! it. So the work per alert that reached the contact is bounded by the steps times the
//! batches of one shard ([`crate::shards::SHARD_SPAN_MAX`] positions), whatever the alert's
//! size; what is not bounded is the number of the tenant's alerts looked at, one decode each
//! (see `docs/performance.md` for the figure).
//!
//! Everything here reads through the transaction, so an erasure applied in the same group as
//! the entries before it sees them, on every node alike.

use std::collections::BTreeMap;

use varsel_domain::model::{Alert, ContactId, Membership, TenantId};

use crate::delivery::Outcome;
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::shards::{self, ShardRange};
use crate::state_machine::Txn;
use crate::state_machine::delivery::{OUTCOME_TABLES, packed};
use crate::state_machine::keys::{ALERT, Key, u64_at};
use crate::types::decode;

/// Alerts decoded per page while looking for those that reached a contact (bounds memory).
const ALERT_PAGE: usize = 256;

/// Outcome batch keys read per page while looking for the batches holding a position.
const BATCH_PAGE: usize = 256;

/// Most membership records of one contact in one group looked at (a contact that left and
/// rejoined a group has one per time it joined).
pub(crate) const MEMBERSHIPS_PER_GROUP_MAX: usize = 1_024;

/// An alert that reached the contact, and the contact's places in its plan.
#[derive(Debug, Clone)]
pub(crate) struct Reached {
    /// The alert.
    pub(crate) alert: Alert,
    /// (shard, position) of each place the contact holds (usually one).
    pub(crate) places: Vec<(u32, u64)>,
}

/// The tenant's alerts that reached `contact`, in id order.
pub(crate) fn alerts_reaching<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
) -> Result<Vec<Reached>, EngineError> {
    let prefix = Key::new(ALERT).u64(tenant).done();
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = txn.scan_prefix(&prefix, after.as_deref(), ALERT_PAGE)?;
        for (_, v) in &page {
            let alert: Alert = decode("alert", v)?;
            let places = places_of(txn, &alert, contact)?;
            if !places.is_empty() {
                out.push(Reached { alert, places });
            }
        }
        match page.last() {
            Some((k, _)) if page.len() == ALERT_PAGE => after = Some(k.clone()),
            _ => break,
        }
    }
    Ok(out)
}

/// The contact's places in the alert's plan: (shard, position).
fn places_of<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: &Alert,
    contact: ContactId,
) -> Result<Vec<(u32, u64)>, EngineError> {
    // (target group index, or None for the direct contacts; position)
    let mut wanted: Vec<(Option<u32>, u64)> = Vec::new();
    for (target, g) in alert.groups.iter().enumerate() {
        for seq in member_seqs(txn, alert.tenant, g.group, contact)? {
            if seq >= g.seq_end {
                continue;
            }
            let m: Option<Membership> = super::groups::membership(txn, alert.tenant, g.group, seq)?;
            if m.is_some_and(|m| m.contact == contact && m.active_at(alert.accepted_index)) {
                wanted.push((Some(target as u32), seq));
            }
        }
    }
    for (i, c) in alert.contacts.iter().enumerate() {
        if *c == contact {
            wanted.push((None, i as u64));
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let plan = shards::plan(&alert.groups, alert.contacts.len());
    let holds = |r: &ShardRange, (target, pos): (Option<u32>, u64)| match (r, target) {
        (ShardRange::Group { target: t, start, end }, Some(want)) => {
            *t == want && (*start..*end).contains(&pos)
        }
        (ShardRange::Direct { start, end }, None) => (*start..*end).contains(&pos),
        _ => false,
    };
    Ok(wanted
        .into_iter()
        .filter_map(|w| plan.iter().position(|r| holds(r, w)).map(|shard| (shard as u32, w.1)))
        .collect())
}

/// The sequence numbers of the contact's memberships of a group, ended or not.
pub(crate) fn member_seqs<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: u64,
    contact: ContactId,
) -> Result<Vec<u64>, EngineError> {
    if let Some(ag) = super::locations::area_group(txn, tenant, group)? {
        return Ok(super::locations::area_seq_of(txn, tenant, group, &ag, contact)?.into_iter().collect());
    }
    super::groups::seqs_of(txn, tenant, group, contact, MEMBERSHIPS_PER_GROUP_MAX)
}

/// An outcome batch: its key and its outcomes.
pub(crate) type Batch = (Vec<u8>, Vec<Outcome>);

/// The outcome batches of `alert` that hold position `pos` of shard `shard`, one per step and
/// channel that recorded it: (key, outcomes).
pub(crate) fn batches_holding<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: &Alert,
    shard: u32,
    pos: u64,
) -> Result<Vec<Batch>, EngineError> {
    let mut out = Vec::new();
    for step in 0..alert.spec.policy.len() as u64 {
        // Keys run by first position, then channel: the last key per channel starting at or
        // before `pos` is the batch that may hold it. Later keys start after it. A store may
        // hold the shard's batches in both tables (an alert recorded partly under an older
        // build): the later first position wins, whichever table it is in.
        let mut last: BTreeMap<u8, (u64, Vec<u8>, Vec<u8>)> = BTreeMap::new();
        for table in OUTCOME_TABLES {
            let prefix = Key::new(table).u64(alert.id).u64(u64::from(shard)).u64(step).done();
            let mut after: Option<Vec<u8>> = None;
            'pages: loop {
                let page = txn.scan_prefix(&prefix, after.as_deref(), BATCH_PAGE)?;
                let full = page.len() == BATCH_PAGE;
                for (k, v) in page {
                    after = Some(k.clone());
                    let (Some(from), Some(&channel)) = (u64_at(&k, prefix.len()), k.get(prefix.len() + 8))
                    else {
                        continue;
                    };
                    if from > pos {
                        break 'pages;
                    }
                    if last.get(&channel).is_none_or(|(before, ..)| *before <= from) {
                        last.insert(channel, (from, k, v));
                    }
                }
                if !full {
                    break;
                }
            }
        }
        for (_, (_, k, v)) in last {
            let batch = packed::decode(&k, &v)?;
            out.push((k, batch));
        }
    }
    Ok(out)
}
