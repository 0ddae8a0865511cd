//! Applying delivery commands: leases, outcomes, receipts, acknowledgements, expiry.
//!
//! Lease decisions use only the entry's lease clock (`Ctx::lease_now_ms`), so every node agrees
//! on who holds a shard, and a step of the log's time (following the cluster's wall clocks)
//! cannot make a lease lapse early.
//! A record is accepted only from the current holder with the current epoch and only when it
//! continues exactly where the shard's cursor stands, so outcomes are never applied twice and a
//! fenced node cannot move a cursor.

use varsel_domain::model::{Alert, AlertId, AlertStatus, Channel, TenantId};

use super::Txn;
use super::domain::alerts::{self, Progress, progress_key};
use super::domain::contacts;
use super::domain::{Ctx, write_audit};
use super::keys::{Key, NODE, OUTCOME, OUTCOME_PACKED, RECEIPT, SHARD};
use super::webhooks;
use crate::delivery::{
    DeliveryCommand, DeliveryReply, Granted, LEASE_MS_RANGE, LeaseRef, Outcome, PushGoneItem, RangeProgress,
    ReceiptItem, ShardRef, ShardState, StoredReceipt,
};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::shards::ShardRange;
use crate::types::NodeId;
use crate::webhooks::EventKind;

pub mod packed;
pub mod query;
pub mod replies;

use query::{range_end, range_start, shard_range};

/// Key of a shard's state.
pub fn shard_key(alert: AlertId, shard: u32) -> Vec<u8> {
    Key::new(SHARD).u64(alert).u64(u64::from(shard)).done()
}

/// Key of an outcome batch (the channel's position in its step is appended as one byte), in
/// [`OUTCOME_PACKED`].
pub fn outcome_key(alert: AlertId, shard: u32, step: u8, from: u64) -> Vec<u8> {
    Key::new(OUTCOME_PACKED).u64(alert).u64(u64::from(shard)).u64(u64::from(step)).u64(from).done()
}

/// The tables outcome batches live in: the older plain one, then the packed one. A store holds
/// both while an alert recorded under an older build is kept.
pub const OUTCOME_TABLES: [u8; 2] = [OUTCOME, OUTCOME_PACKED];

/// Key of a receipt.
pub fn receipt_key(alert: AlertId, contact: u64, channel: Channel) -> Vec<u8> {
    Key::new(RECEIPT).u64(alert).u64(contact).tail(channel.as_str()).done()
}

/// Key of a node's heartbeat.
pub fn node_key(node: NodeId) -> Vec<u8> {
    Key::new(NODE).u64(node).done()
}

pub(crate) fn load_alert<T: KvTree>(txn: &Txn<'_, T>, alert: AlertId) -> Result<Option<Alert>, EngineError> {
    let Some(tenant) = alerts::tenant_of(txn, alert)? else { return Ok(None) };
    alerts::get(txn, tenant, alert)
}

fn save_alert<T: KvTree>(txn: &mut Txn<'_, T>, alert: &Alert) -> Result<(), EngineError> {
    txn.put_as("alert", alerts::alert_key(alert.tenant, alert.id), alert)
}

fn load_shard<T: KvTree>(txn: &Txn<'_, T>, s: ShardRef) -> Result<ShardState, EngineError> {
    Ok(txn.get_as("shard", &shard_key(s.alert, s.shard))?.unwrap_or_default())
}

/// Applies one delivery command.
pub(crate) fn apply<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    cmd: &DeliveryCommand,
) -> Result<DeliveryReply, EngineError> {
    match cmd {
        DeliveryCommand::Heartbeat { node, renew, acquire, lease_ms } => {
            let lease = (*lease_ms).clamp(*LEASE_MS_RANGE.start(), *LEASE_MS_RANGE.end());
            heartbeat(txn, ctx, *node, renew, acquire, lease)
        }
        DeliveryCommand::Record { node, items } => {
            let ranges = items.iter().map(|p| {
                let taken =
                    Taken { stored: Stored::Plain(&p.outcomes), tally: packed::Tally::of(&p.outcomes) };
                Some(p.with_outcomes(taken))
            });
            record(txn, ctx, *node, items.len(), ranges)
        }
        DeliveryCommand::RecordPacked { node, items } => {
            let ranges = items.iter().map(|p| {
                // A leader packs only outcomes it has decoded itself, and packed records are not
                // taken from peers. Bytes that still do not decode are refused like a fenced
                // range, on every node alike, instead of stopping the apply. Only their counts
                // are needed here: the bytes are stored as they came.
                let tally = match p.outcomes.is_empty() {
                    true => packed::Tally::default(),
                    false => match packed::tally(&p.outcomes) {
                        Ok(tally) => tally,
                        Err(e) => {
                            tracing::warn!(node, shard = ?p.lease.shard, error = %e, "packed record refused");
                            return None;
                        }
                    },
                };
                Some(p.with_outcomes(Taken { stored: Stored::Packed(&p.outcomes), tally }))
            });
            record(txn, ctx, *node, items.len(), ranges)
        }
        DeliveryCommand::Release { node, leases } => release(txn, *node, leases),
        DeliveryCommand::Receipts { items } => receipts(txn, ctx, items),
        DeliveryCommand::Acks { items } => {
            // Recipients' own acknowledgements are kept with the alert (and counted in its
            // progress), not in the operators' audit trail.
            for (alert, contact, channel) in items {
                if let Some(tenant) = alerts::tenant_of(txn, *alert)? {
                    alerts::acknowledge(txn, ctx, tenant, *alert, *contact, *channel)?;
                }
            }
            Ok(DeliveryReply::Done)
        }
        DeliveryCommand::Expire { alert } => expire(txn, ctx, *alert),
        DeliveryCommand::PushGone { items } => push_gone(txn, ctx, items),
        DeliveryCommand::Replies { items } => replies::apply(txn, ctx, items),
        DeliveryCommand::Purge { budget } => {
            let budget = (*budget).min(crate::delivery::PURGE_BUDGET_MAX) as usize;
            let p = crate::state_machine::retention::purge(txn, ctx.now_ms, budget)?;
            Ok(DeliveryReply::Purged { records: p.records, more: p.more })
        }
        DeliveryCommand::WebhookResults { node, items } => webhooks::results(txn, ctx, *node, items),
        DeliveryCommand::Circuit { node, channel, provider, open } => {
            webhooks::circuit(txn, ctx, *node, channel, provider, *open)
        }
        DeliveryCommand::Answers { items } => Ok(DeliveryReply::Answered {
            outcomes: crate::state_machine::domain::answers::apply(txn, ctx, items)?,
        }),
    }
}

fn audit<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    action: &str,
    target: String,
    detail: String,
) -> Result<(), EngineError> {
    let record = varsel_domain::model::AuditRecord {
        at_ms: ctx.now_ms,
        credential: 0,
        action: action.into(),
        target,
        detail,
    };
    write_audit(txn, tenant, ctx.index, &record)
}

fn heartbeat<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    node: NodeId,
    renew: &[LeaseRef],
    acquire: &[ShardRef],
    lease_ms: u64,
) -> Result<DeliveryReply, EngineError> {
    txn.put_as("heartbeat", node_key(node), &ctx.lease_now_ms)?;
    let expires_ms = ctx.lease_now_ms + lease_ms;
    let (mut renewed, mut lost, mut granted) = (Vec::new(), Vec::new(), Vec::new());
    for lease in renew {
        let mut s = load_shard(txn, lease.shard)?;
        let open = load_alert(txn, lease.shard.alert)?.is_some_and(|a| !a.status.is_final());
        if open && s.owner == Some(node) && s.epoch == lease.epoch && !s.done {
            s.expires_ms = expires_ms;
            txn.put_as("shard", shard_key(lease.shard.alert, lease.shard.shard), &s)?;
            renewed.push(Granted { lease: *lease, expires_ms });
        } else {
            lost.push(*lease);
        }
    }
    for shard in acquire {
        if let Some(g) = try_acquire(txn, ctx, node, *shard, expires_ms)? {
            granted.push(g);
        }
    }
    Ok(DeliveryReply::Leases { granted, renewed, lost, now_ms: ctx.lease_now_ms })
}

fn try_acquire<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    node: NodeId,
    shard: ShardRef,
    expires_ms: u64,
) -> Result<Option<Granted>, EngineError> {
    let Some(mut alert) = load_alert(txn, shard.alert)? else { return Ok(None) };
    if alert.status.is_final() || ctx.now_ms < alert.start_ms || shard.shard >= alert.shards {
        return Ok(None);
    }
    let mut s = load_shard(txn, shard)?;
    let free = s.owner.is_none() || s.expires_ms < ctx.lease_now_ms;
    if s.done || !free {
        return Ok(None);
    }
    if s.epoch == 0 {
        // First lease on this shard: every channel of the first step starts at the beginning.
        let start = shard_range(&alert, shard.shard).map_or(0, |r| range_start(&r));
        s.cursors = vec![start; alert.spec.policy.first().map_or(0, |p| p.channels.len())];
    }
    s.owner = Some(node);
    s.epoch += 1;
    s.expires_ms = expires_ms;
    txn.put_as("shard", shard_key(shard.alert, shard.shard), &s)?;
    if alert.status == AlertStatus::Scheduled {
        alert.status = AlertStatus::Active;
        save_alert(txn, &alert)?;
    }
    webhooks::step_started(txn, ctx, &alert, 0)?;
    Ok(Some(Granted { lease: LeaseRef { shard, epoch: s.epoch }, expires_ms }))
}

/// A range's outcomes as the apply takes them: as they are to be stored, and what they add to
/// the alert's progress.
struct Taken<'a> {
    stored: Stored<'a>,
    tally: packed::Tally,
}

/// Outcomes of a `Record` (packed when stored) or of a `RecordPacked` (stored as they came).
enum Stored<'a> {
    Plain(&'a [Outcome]),
    Packed(&'a [u8]),
}

/// One range of a `Record` or `RecordPacked` item, as applied.
type Range<'a> = RangeProgress<Taken<'a>>;

/// Applies the ranges of one record; a `None` item (a packed range whose bytes do not decode)
/// is refused.
fn record<'a, T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    node: NodeId,
    n: usize,
    items: impl Iterator<Item = Option<Range<'a>>>,
) -> Result<DeliveryReply, EngineError> {
    let mut accepted = Vec::with_capacity(n);
    for item in items {
        let taken = match item {
            Some(p) => record_one(txn, ctx, node, &p)?,
            None => false,
        };
        accepted.push(taken);
    }
    Ok(DeliveryReply::Recorded { accepted })
}

fn record_one<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    node: NodeId,
    p: &Range<'_>,
) -> Result<bool, EngineError> {
    let shard = p.lease.shard;
    let Some(mut alert) = load_alert(txn, shard.alert)? else { return Ok(false) };
    let mut s = load_shard(txn, shard)?;
    let Some(range) = shard_range(&alert, shard.shard) else { return Ok(false) };
    let channel = alert
        .spec
        .policy
        .get(usize::from(p.step))
        .and_then(|st| st.channels.iter().position(|c| *c == p.channel));
    let valid = s.owner == Some(node)
        && s.epoch == p.lease.epoch
        && !s.done
        && s.step == p.step
        && channel.is_some_and(|i| s.cursors.get(i) == Some(&p.from))
        && p.to >= p.from
        && p.to <= range_end(&range);
    let Some(i) = channel.filter(|_| valid) else { return Ok(false) };
    // One cursor per channel of the step: the grant and `finish_step` size the vector so. A
    // shorter one would let the check below finish the step before every channel has sent.
    debug_assert_eq!(
        Some(s.cursors.len()),
        alert.spec.policy.get(usize::from(p.step)).map(|st| st.channels.len()),
        "shard {shard:?}: cursor vector does not match the step's channels"
    );
    if !p.outcomes.tally.is_empty() {
        let mut key = outcome_key(shard.alert, shard.shard, p.step, p.from);
        key.push(i as u8);
        let value = match p.outcomes.stored {
            Stored::Packed(bytes) => bytes.to_vec(),
            Stored::Plain(outcomes) => packed::encode(outcomes)?,
        };
        txn.put(key, value);
    }
    update_progress(txn, shard.alert, p)?;
    s.cursors[i] = p.to;
    if s.cursors.iter().all(|c| *c == range_end(&range)) {
        finish_step(txn, ctx, &mut alert, &mut s, &range)?;
    }
    txn.put_as("shard", shard_key(shard.alert, shard.shard), &s)?;
    Ok(true)
}

/// The shard finished a step: on to the next one, or done with the whole alert's part.
fn finish_step<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    alert: &mut Alert,
    s: &mut ShardState,
    range: &ShardRange,
) -> Result<(), EngineError> {
    if let Some(next) = alert.spec.policy.get(usize::from(s.step) + 1) {
        s.step += 1;
        s.cursors = vec![range_start(range); next.channels.len()];
        return webhooks::step_started(txn, ctx, alert, s.step);
    }
    s.done = true;
    s.owner = None;
    let mut progress: Progress = txn.get_as("progress", &progress_key(alert.id))?.unwrap_or_default();
    progress.shards_done += 1;
    txn.put_as("progress", progress_key(alert.id), &progress)?;
    if progress.shards_done >= alert.shards && !alert.status.is_final() {
        alert.status = AlertStatus::Completed;
        alert.finished_at_ms = Some(ctx.now_ms);
        save_alert(txn, alert)?;
        crate::state_machine::retention::schedule(txn, alert.tenant, alert.id, ctx.now_ms)?;
        txn.remove(alerts::open_alert_key(alert.id));
        let detail = format!("completed: {} recipients", progress.recipients);
        audit(txn, ctx, alert.tenant, "alert.complete", format!("alert {}", alert.id), detail)?;
        let counts = progress_data(&progress);
        webhooks::emit_alert(txn, ctx, EventKind::AlertCompleted, alert, counts)?;
    }
    Ok(())
}

fn update_progress<T: KvTree>(
    txn: &mut Txn<'_, T>,
    alert: AlertId,
    p: &Range<'_>,
) -> Result<(), EngineError> {
    let mut progress: Progress = txn.get_as("progress", &progress_key(alert))?.unwrap_or_default();
    progress.recipients += u64::from(p.recipients);
    let t = &p.outcomes.tally;
    for &(channel, sent, failed) in &t.channels {
        let c = progress.channels.entry(channel).or_default();
        c.sent += sent;
        c.failed += failed;
    }
    if let (Some(first), Some(last)) = (t.first_at_ms, t.last_at_ms) {
        progress.first_sent_at_ms = Some(progress.first_sent_at_ms.map_or(first, |f| f.min(first)));
        progress.last_sent_at_ms = Some(progress.last_sent_at_ms.map_or(last, |l| l.max(last)));
    }
    for (channel, n) in &p.skipped {
        progress.channels.entry(*channel).or_default().skipped += u64::from(*n);
    }
    txn.put_as("progress", progress_key(alert), &progress)
}

fn release<T: KvTree>(
    txn: &mut Txn<'_, T>,
    node: NodeId,
    leases: &[LeaseRef],
) -> Result<DeliveryReply, EngineError> {
    for lease in leases {
        let mut s = load_shard(txn, lease.shard)?;
        if s.owner == Some(node) && s.epoch == lease.epoch {
            s.owner = None;
            s.expires_ms = 0;
            txn.put_as("shard", shard_key(lease.shard.alert, lease.shard.shard), &s)?;
        }
    }
    Ok(DeliveryReply::Done)
}

fn receipts<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    items: &[ReceiptItem],
) -> Result<DeliveryReply, EngineError> {
    for r in items {
        let key = receipt_key(r.alert, r.contact, r.channel);
        if txn.get(&key)?.is_some() || alerts::tenant_of(txn, r.alert)?.is_none() {
            continue;
        }
        let stored = StoredReceipt {
            delivered: r.delivered,
            at_ms: ctx.now_ms,
            provider_id: r.provider_id.clone(),
            error: r.error.clone(),
        };
        txn.put_as("receipt", key, &stored)?;
        let mut progress: Progress = txn.get_as("progress", &progress_key(r.alert))?.unwrap_or_default();
        let c = progress.channels.entry(r.channel).or_default();
        if r.delivered {
            c.delivered += 1;
        } else {
            c.failed += 1;
        }
        txn.put_as("progress", progress_key(r.alert), &progress)?;
    }
    Ok(DeliveryReply::Done)
}

/// Marks contacts' push subscriptions invalid. The contact is found through the alert's tenant;
/// a contact that was deleted, or whose subscription changed since the message was sent, is
/// left alone.
fn push_gone<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    items: &[PushGoneItem],
) -> Result<DeliveryReply, EngineError> {
    for item in items {
        let Some(tenant) = alerts::tenant_of(txn, item.alert)? else { continue };
        if contacts::mark_push_invalid(txn, ctx, tenant, item.contact, &item.subscription)? {
            let target = format!("contact {}", item.contact);
            let detail = format!("push subscription gone (reported for alert {})", item.alert);
            audit(txn, ctx, tenant, "contact.push_invalid", target, detail)?;
        }
    }
    Ok(DeliveryReply::Done)
}

/// Ends an alert whose expiry passed: what was not sent by then is counted as expired.
fn expire<T: KvTree>(txn: &mut Txn<'_, T>, ctx: Ctx, id: AlertId) -> Result<DeliveryReply, EngineError> {
    let Some(mut alert) = load_alert(txn, id)? else { return Ok(DeliveryReply::Done) };
    if alert.status.is_final() || ctx.now_ms < alert.expires_ms {
        return Ok(DeliveryReply::Done);
    }
    let mut progress: Progress = txn.get_as("progress", &progress_key(id))?.unwrap_or_default();
    for channel in alert.spec.channels() {
        let c = progress.channels.entry(channel).or_default();
        let handled = c.sent + c.failed + c.skipped;
        c.expired = alert.recipients_planned.saturating_sub(handled);
    }
    txn.put_as("progress", progress_key(id), &progress)?;
    alert.status = AlertStatus::Expired;
    alert.finished_at_ms = Some(ctx.now_ms);
    save_alert(txn, &alert)?;
    crate::state_machine::retention::schedule(txn, alert.tenant, id, ctx.now_ms)?;
    txn.remove(alerts::open_alert_key(id));
    audit(txn, ctx, alert.tenant, "alert.expire", format!("alert {id}"), "expired before completion".into())?;
    webhooks::emit_alert(txn, ctx, EventKind::AlertExpired, &alert, progress_data(&progress))?;
    Ok(DeliveryReply::Done)
}

/// An alert's counts for webhook events: recipients, acknowledged, per channel.
fn progress_data(p: &Progress) -> serde_json::Value {
    let channels: serde_json::Map<String, serde_json::Value> = p
        .channels
        .iter()
        .map(|(c, n)| {
            let v = serde_json::json!({
                "sent": n.sent, "delivered": n.delivered, "failed": n.failed,
                "expired": n.expired, "skipped": n.skipped,
            });
            (c.as_str().to_string(), v)
        })
        .collect();
    serde_json::json!({ "recipients": p.recipients, "acknowledged": p.acknowledged, "channels": channels })
}
