//! Applying and reading recipients' replies (see [`crate::replies`]).

use varsel_domain::model::{AlertId, TenantId};

use super::super::Txn;
use super::super::domain::{Ctx, alerts};
use super::super::keys::{Key, REPLY, REPLY_SEEN, REPLY_UNMATCHED, u64_at};
use crate::delivery::DeliveryReply;
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::replies::{ReplyAttribution, ReplyItem, StoredReply};

/// Most replies one read answers.
pub const PAGE_MAX: usize = 1_000;

/// Key of a reply attributed to `alert`.
fn reply_key(alert: AlertId, seq: u64) -> Vec<u8> {
    Key::new(REPLY).u64(alert).u64(seq).done()
}

/// Key of a reply attributed to no alert, shown to `tenant` (0: the superadmin only).
fn unmatched_key(tenant: TenantId, seq: u64) -> Vec<u8> {
    Key::new(REPLY_UNMATCHED).u64(tenant).u64(seq).done()
}

fn seen_key(identity: &str) -> Vec<u8> {
    Key::new(REPLY_SEEN).tail(identity).done()
}

/// Keeps each reply not kept before, under a sequence made of the entry's index and the
/// reply's place in it (the same on every node), and acknowledges its alert when it says so.
/// A reply attributed to an alert that no longer exists is kept as unmatched.
pub(super) fn apply<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    items: &[ReplyItem],
) -> Result<DeliveryReply, EngineError> {
    for (i, item) in items.iter().enumerate() {
        let seen = item.identity().map(|id| seen_key(&id));
        if let Some(key) = &seen
            && txn.get(key)?.is_some()
        {
            continue;
        }
        // An entry (at most 1 MiB) cannot hold 2^20 replies, so sequences never collide.
        let seq = (ctx.index << 20) | i as u64;
        let mut stored = StoredReply { at_ms: ctx.now_ms, item: item.clone().bounded() };
        match &stored.item.attribution {
            ReplyAttribution::Alert { alert, contact, acknowledges, .. } => {
                match alerts::tenant_of(txn, *alert)? {
                    Some(tenant) => {
                        if *acknowledges {
                            alerts::acknowledge(txn, ctx, tenant, *alert, *contact, Some(item.channel))?;
                        }
                        txn.put_as("reply", reply_key(*alert, seq), &stored)?;
                    }
                    None => {
                        let reason = format!("alert {alert} does not exist");
                        stored.item.attribution = ReplyAttribution::Unmatched { reason, tenants: Vec::new() };
                        txn.put_as("reply", unmatched_key(0, seq), &stored)?;
                    }
                }
            }
            ReplyAttribution::Unmatched { tenants, .. } => {
                if tenants.is_empty() {
                    txn.put_as("reply", unmatched_key(0, seq), &stored)?;
                }
                for t in tenants {
                    txn.put_as("reply", unmatched_key(*t, seq), &stored)?;
                }
            }
        }
        if let Some(key) = seen {
            txn.put_as("reply seen", key, &seq)?;
        }
    }
    Ok(DeliveryReply::Done)
}

/// The replies attributed to `alert`, newest first, before sequence `before`.
pub fn for_alert<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: AlertId,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<(u64, StoredReply)>, EngineError> {
    page(txn, Key::new(REPLY).u64(alert), before, limit)
}

/// The replies attributed to no alert that may be for `tenant` (0: those for no tenant),
/// newest first, before sequence `before`.
pub fn unmatched<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<(u64, StoredReply)>, EngineError> {
    page(txn, Key::new(REPLY_UNMATCHED).u64(tenant), before, limit)
}

fn page<T: KvTree>(
    txn: &Txn<'_, T>,
    prefix: Key,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<(u64, StoredReply)>, EngineError> {
    let start = prefix.clone().done();
    let before = before.map(|b| prefix.u64(b).done());
    let pairs = txn.scan_prefix_rev(&start, before.as_deref(), limit.min(PAGE_MAX))?;
    pairs
        .iter()
        .map(|(k, v)| Ok((u64_at(k, start.len()).unwrap_or(0), crate::types::decode("reply", v)?)))
        .collect()
}
