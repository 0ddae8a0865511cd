//! Retention: what a tenant's finished alerts leave behind is removed on the log's clock, in
//! bounded steps.
//!
//! When an alert finishes (completed, cancelled, expired), [`schedule`] queues it (table
//! `0x3A`: per tenant, per stage, in the order alerts finished). The leader proposes
//! [`crate::delivery::DeliveryCommand::Purge`] while something is due ([`due`]); applying one
//! ([`purge`]) removes at most `budget` records, per tenant the oldest finished first:
//!
//! 1. **details** (per-recipient outcomes, receipts, replies, acknowledgements and the shards'
//!    state) once the tenant's details retention has passed since the alert finished; the
//!    alert then moves to the second queue;
//! 2. **the whole alert** (its record, counts, tenant entry and idempotency key) once the
//!    tenant's alerts retention has passed;
//!
//! and then the tenant's audit entries older than its alerts retention, and the replies kept
//! for it that no alert could be found for, older than its details retention. Every step depends on
//! the log's clock and the state only, so each node removes the same records at the same index;
//! no step removes more than `budget` records, so none holds up the applying of sending's own
//! entries for long. The retention in force when a step runs is what counts: a change applies
//! to every finished alert, those that finished before it included.

use varsel_domain::model::{AlertId, Retention, TenantId};

use crate::engine::KvTree;
use crate::error::EngineError;
use crate::replies::{ReplyAttribution, StoredReply};
use crate::state_machine::Txn;
use crate::state_machine::delivery::{OUTCOME_TABLES, replies};
use crate::state_machine::keys::{
    ACK, ALERT, ALERT_TENANT, ANSWER, AUDIT, IDEMPOTENCY, Key, PROGRESS, PURGE_DUE, RECEIPT, REPLY,
    REPLY_UNMATCHED, RETENTION, SHARD, u64_at,
};

/// Queue of alerts whose details are to go.
const DETAILS: u8 = 1;
/// Queue of alerts to go whole.
const WHOLE: u8 = 2;

fn retention_key(tenant: TenantId) -> Vec<u8> {
    Key::new(RETENTION).u64(tenant).done()
}

/// A queued alert: per tenant, per stage, in the order they finished.
fn queue_key(tenant: TenantId, stage: u8, finished_ms: u64, alert: AlertId) -> Vec<u8> {
    let mut k = queue_prefix(tenant, stage);
    k.extend_from_slice(&finished_ms.to_be_bytes());
    k.extend_from_slice(&alert.to_be_bytes());
    k
}

fn queue_prefix(tenant: TenantId, stage: u8) -> Vec<u8> {
    let mut k = Key::new(PURGE_DUE).u64(tenant).done();
    k.push(stage);
    k
}

/// The tenant's retention (the defaults when it set none).
pub fn of<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<Retention, EngineError> {
    Ok(txn.get_as("retention", &retention_key(tenant))?.unwrap_or_default())
}

/// Sets the tenant's retention (already validated).
pub fn set<T: KvTree>(txn: &mut Txn<'_, T>, tenant: TenantId, r: &Retention) -> Result<(), EngineError> {
    txn.put_as("retention", retention_key(tenant), r)
}

/// Queues a finished alert for purging, its details first.
pub fn schedule<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    alert: AlertId,
    finished_ms: u64,
) -> Result<(), EngineError> {
    txn.put(queue_key(tenant, DETAILS, finished_ms, alert), Vec::new());
    Ok(())
}

/// The tenants with queued alerts, in order.
fn queued_tenants<T: KvTree>(txn: &Txn<'_, T>) -> Result<Vec<TenantId>, EngineError> {
    let mut tenants = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    while let Some((k, _)) = txn.scan_prefix(&[PURGE_DUE], after.as_deref(), 1)?.into_iter().next() {
        let Some(tenant) = u64_at(&k, 1) else { break };
        tenants.push(tenant);
        // Past every key of this tenant (stage, finished and alert take 17 bytes).
        let mut next = Key::new(PURGE_DUE).u64(tenant).done();
        next.extend_from_slice(&[0xFF; 18]);
        after = Some(next);
    }
    Ok(tenants)
}

/// The oldest queued alert of `tenant` in `stage`: (finished at, alert, its queue key).
fn oldest<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    stage: u8,
) -> Result<Option<(u64, AlertId, Vec<u8>)>, EngineError> {
    let first = txn.scan_prefix(&queue_prefix(tenant, stage), None, 1)?.into_iter().next();
    Ok(first.and_then(|(k, _)| Some((u64_at(&k, 10)?, u64_at(&k, 18)?, k))))
}

/// Whether anything is due at `now_ms` (the leader proposes a purge when it is).
pub fn due<T: KvTree>(txn: &Txn<'_, T>, now_ms: u64) -> Result<bool, EngineError> {
    for tenant in queued_tenants(txn)? {
        let r = of(txn, tenant)?;
        for (stage, keep) in [(DETAILS, r.details_ms), (WHOLE, r.alerts_ms)] {
            if oldest(txn, tenant, stage)?
                .is_some_and(|(finished, _, _)| finished.saturating_add(keep) <= now_ms)
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// What one purge step removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Records removed.
    pub records: u64,
    /// Alerts whose details are now all gone.
    pub details_done: u64,
    /// Alerts removed whole.
    pub alerts_removed: u64,
    /// Whether the budget ran out, so more may be due.
    pub more: bool,
}

/// Removes at most `budget` records that are due at `now_ms` (see the module doc).
pub fn purge<T: KvTree>(txn: &mut Txn<'_, T>, now_ms: u64, budget: usize) -> Result<Purged, EngineError> {
    let mut p = Purged::default();
    let mut left = budget;
    for tenant in queued_tenants(txn)? {
        let r = of(txn, tenant)?;
        while left > 0 {
            let Some((finished, alert, key)) = oldest(txn, tenant, DETAILS)? else { break };
            if finished.saturating_add(r.details_ms) > now_ms {
                break;
            }
            let (removed, done) = remove_details(txn, alert, left)?;
            p.records += removed;
            left -= removed as usize;
            if !done {
                break;
            }
            p.details_done += 1;
            txn.remove(key);
            txn.put(queue_key(tenant, WHOLE, finished, alert), Vec::new());
        }
        while left > 0 {
            let Some((finished, alert, key)) = oldest(txn, tenant, WHOLE)? else { break };
            if finished.saturating_add(r.alerts_ms) > now_ms {
                break;
            }
            let removed = remove_alert(txn, tenant, alert)?;
            p.records += removed;
            p.alerts_removed += 1;
            left = left.saturating_sub(removed.max(4) as usize);
            txn.remove(key);
        }
    }
    if left > 0 {
        let removed = remove_old_audit(txn, now_ms, left)?;
        p.records += removed as u64;
        left -= removed;
    }
    p.more = left == 0;
    Ok(p)
}

/// Removes up to `budget` detail records of `alert`; whether none is left.
fn remove_details<T: KvTree>(
    txn: &mut Txn<'_, T>,
    alert: AlertId,
    budget: usize,
) -> Result<(u64, bool), EngineError> {
    let mut removed = 0u64;
    let tenant = crate::state_machine::domain::alerts::tenant_of(txn, alert)?;
    for table in OUTCOME_TABLES.into_iter().chain([RECEIPT, REPLY, ACK, ANSWER, SHARD]) {
        let prefix = Key::new(table).u64(alert).done();
        let left = budget - removed as usize;
        let pairs = txn.scan_prefix(&prefix, None, left)?;
        for (k, v) in &pairs {
            if table == REPLY {
                forget_reply_indexes(txn, k, v, |seq, item| match (&item.attribution, tenant) {
                    (ReplyAttribution::Alert { contact, .. }, Some(tenant)) => {
                        Some(replies::by_contact_key(tenant, *contact, alert, seq))
                    }
                    _ => None,
                })?;
            }
            txn.remove(k.clone());
        }
        removed += pairs.len() as u64;
        if pairs.len() == left {
            // The budget is spent; whether more of this table is left is for the next step.
            return Ok((removed, false));
        }
    }
    Ok((removed, true))
}

/// Removes the alert's record, counts, tenant entry, idempotency key and, for an area alert,
/// its frozen recipients; how many records.
fn remove_alert<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    alert: AlertId,
) -> Result<u64, EngineError> {
    let key = Key::new(ALERT).u64(tenant).u64(alert).done();
    let stored: Option<varsel_domain::model::Alert> = txn.get_as("alert", &key)?;
    let mut n = 0;
    if let Some(a) = stored {
        let idem = Key::new(IDEMPOTENCY).u64(tenant).tail(&a.spec.idempotency_key).done();
        let points_here: Option<AlertId> = txn.get_as("alert id", &idem)?;
        if points_here == Some(alert) {
            txn.remove(idem);
            n += 1;
        }
        txn.remove(key);
        n += 1;
    }
    txn.remove(Key::new(PROGRESS).u64(alert).done());
    txn.remove(Key::new(ALERT_TENANT).u64(alert).done());
    let excluded = crate::state_machine::domain::directory::excluded_key(alert);
    if txn.get(&excluded)?.is_some() {
        txn.remove(excluded);
        n += 1;
    }
    // An area alert's frozen recipients: at most 5,000 chunks at 5,000,000 recipients.
    n += crate::state_machine::domain::locations::forget_area(txn, tenant, alert)?;
    n += crate::state_machine::domain::answers::forget(txn, alert)?;
    Ok(n + 2)
}

/// Removes up to `budget` audit entries, of any tenant, older than that tenant's alerts
/// retention, then unattributed replies older than its details retention; how many.
fn remove_old_audit<T: KvTree>(
    txn: &mut Txn<'_, T>,
    now_ms: u64,
    budget: usize,
) -> Result<usize, EngineError> {
    let audit_at = |v: &[u8]| -> Result<u64, EngineError> {
        Ok(crate::types::decode::<varsel_domain::model::AuditRecord>("audit record", v)?.at_ms)
    };
    let reply_at =
        |v: &[u8]| -> Result<u64, EngineError> { Ok(crate::types::decode::<StoredReply>("reply", v)?.at_ms) };
    let removed = remove_old(txn, now_ms, budget, AUDIT, |r| r.alerts_ms, audit_at, |_, _, _| Ok(()))?;
    let forget = |txn: &mut Txn<'_, T>, k: &[u8], v: &[u8]| {
        let tenant = u64_at(k, 1).unwrap_or(0);
        forget_reply_indexes(txn, k, v, |seq, item| {
            (!item.from.contains('\0')).then(|| replies::by_phone_key(&item.from, tenant, seq))
        })
    };
    Ok(removed
        + remove_old(txn, now_ms, budget - removed, REPLY_UNMATCHED, |r| r.details_ms, reply_at, forget)?)
}

/// Removes what points at the reply kept under `key` (its sequence last) as `value`: the index
/// entry `index` names, and the record of its identity (which keeps a provider's redelivery
/// from being kept twice; once the reply itself is gone, nothing is left to be twice).
fn forget_reply_indexes<T: KvTree>(
    txn: &mut Txn<'_, T>,
    key: &[u8],
    value: &[u8],
    index: impl Fn(u64, &crate::replies::ReplyItem) -> Option<Vec<u8>>,
) -> Result<(), EngineError> {
    let Some(seq) = key.len().checked_sub(8).and_then(|at| u64_at(key, at)) else { return Ok(()) };
    let stored: StoredReply = crate::types::decode("reply", value)?;
    if let Some(k) = index(seq, &stored.item) {
        txn.remove(k);
    }
    if let Some(identity) = stored.item.identity() {
        let seen = replies::seen_key(&identity);
        // The identity names the first reply kept with it; an unattributed reply kept for
        // several tenants has one identity, gone with the first copy purged.
        if txn.get_as::<u64>("reply seen", &seen)? == Some(seq) {
            txn.remove(seen);
        }
    }
    Ok(())
}

/// Removes up to `budget` records of `table` (keyed by tenant, then in log order) older than
/// `keep` of their tenant's retention, by the time `at_ms` reads from each; how many.
fn remove_old<T: KvTree>(
    txn: &mut Txn<'_, T>,
    now_ms: u64,
    budget: usize,
    table: u8,
    keep: impl Fn(&Retention) -> u64,
    at_ms: impl Fn(&[u8]) -> Result<u64, EngineError>,
    also: impl Fn(&mut Txn<'_, T>, &[u8], &[u8]) -> Result<(), EngineError>,
) -> Result<usize, EngineError> {
    let mut removed = 0;
    let mut after: Option<Vec<u8>> = None;
    // One tenant at a time: its records are in log order, so the old ones come first.
    while removed < budget {
        let Some((first, _)) = txn.scan_prefix(&[table], after.as_deref(), 1)?.into_iter().next() else {
            break;
        };
        let Some(tenant) = u64_at(&first, 1) else { break };
        let keep_ms = keep(&of(txn, tenant)?);
        let prefix = Key::new(table).u64(tenant).done();
        let mut tenant_done = false;
        while removed < budget && !tenant_done {
            let want = (budget - removed).min(256);
            let page = txn.scan_prefix(&prefix, None, want)?;
            if page.is_empty() {
                break;
            }
            for (k, v) in &page {
                if at_ms(v)?.saturating_add(keep_ms) > now_ms {
                    tenant_done = true;
                    break;
                }
                also(txn, k, v)?;
                txn.remove(k.clone());
                removed += 1;
            }
            if page.len() < want {
                tenant_done = true;
            }
        }
        // Past this tenant's records.
        let mut next = prefix;
        next.extend_from_slice(&[0xFF; 9]);
        after = Some(next);
    }
    Ok(removed)
}
