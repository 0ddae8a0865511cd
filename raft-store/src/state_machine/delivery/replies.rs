//! Applying and reading recipients' replies (see [`crate::replies`]).

use varsel_domain::model::{AlertId, ContactId, TenantId};

use super::super::Txn;
use super::super::domain::{Ctx, alerts, answers};
use super::super::keys::{Key, REPLY, REPLY_BY_CONTACT, REPLY_BY_PHONE, REPLY_SEEN, REPLY_UNMATCHED, u64_at};
use crate::delivery::DeliveryReply;
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::replies::{ReplyAttribution, ReplyItem, StoredReply};

/// Most replies one read answers.
pub const PAGE_MAX: usize = 1_000;

/// Key of a reply attributed to `alert`.
pub(crate) fn reply_key(alert: AlertId, seq: u64) -> Vec<u8> {
    Key::new(REPLY).u64(alert).u64(seq).done()
}

/// Key of a reply attributed to no alert, shown to `tenant` (0: the superadmin only).
pub(crate) fn unmatched_key(tenant: TenantId, seq: u64) -> Vec<u8> {
    Key::new(REPLY_UNMATCHED).u64(tenant).u64(seq).done()
}

/// Key of the record that a reply with this identity was kept.
pub(crate) fn seen_key(identity: &str) -> Vec<u8> {
    Key::new(REPLY_SEEN).tail(identity).done()
}

/// Key of the index entry of a reply of `contact` (of `tenant`) to `alert`.
pub(crate) fn by_contact_key(tenant: TenantId, contact: ContactId, alert: AlertId, seq: u64) -> Vec<u8> {
    Key::new(REPLY_BY_CONTACT).u64(tenant).u64(contact).u64(alert).u64(seq).done()
}

/// Prefix of the index entries of a contact's replies.
pub(crate) fn by_contact_prefix(tenant: TenantId, contact: ContactId) -> Vec<u8> {
    Key::new(REPLY_BY_CONTACT).u64(tenant).u64(contact).done()
}

/// Key of the index entry of an unattributed reply from `phone`, kept for `tenant`.
pub(crate) fn by_phone_key(phone: &str, tenant: TenantId, seq: u64) -> Vec<u8> {
    Key::new(REPLY_BY_PHONE).str(phone).u64(tenant).u64(seq).done()
}

/// Prefix of the index entries of the unattributed replies from `phone` kept for `tenant`.
pub(crate) fn by_phone_prefix(phone: &str, tenant: TenantId) -> Vec<u8> {
    Key::new(REPLY_BY_PHONE).str(phone).u64(tenant).done()
}

/// Keeps an unattributed reply for `tenant`, with its index entry by sender.
fn put_unmatched<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    seq: u64,
    stored: &StoredReply,
) -> Result<(), EngineError> {
    txn.put_as("reply", unmatched_key(tenant, seq), stored)?;
    if tenant != 0 {
        let data = serde_json::json!({
            "tenant_id": tenant,
            "reply_seq": seq,
            "channel": stored.item.channel.as_str(),
            "provider": stored.item.provider,
            "from": stored.item.from,
            "text": stored.item.text,
        });
        let kind = crate::webhooks::EventKind::ReplyUnmatched;
        crate::state_machine::webhooks::emit(txn, ctx, Some(tenant), kind, None, data)?;
    }
    // A sender containing 0x00 would end the key's string early; only validated numbers are
    // indexed (the reply is kept either way).
    if !stored.item.from.contains('\0') {
        txn.put(by_phone_key(&stored.item.from, tenant, seq), Vec::new());
    }
    Ok(())
}

/// Keeps each reply not kept before, under a sequence made of the entry's index and the
/// reply's place in it (the same on every node), and acknowledges its alert when it says so.
/// A reply attributed to an alert that no longer exists is kept as unmatched.
pub(super) fn apply<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    items: &[ReplyItem],
) -> Result<DeliveryReply, EngineError> {
    let mut changed = answers::Changes::default();
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
                        // On an alert with answer options the reply is read as one of them,
                        // and acknowledges only through an option that does.
                        let ids = (tenant, *alert, *contact);
                        let answered = answers::from_reply(txn, ctx, ids, &item.text, &mut changed)?;
                        if *acknowledges && answered.is_none() {
                            alerts::acknowledge(txn, ctx, tenant, *alert, *contact, Some(item.channel))?;
                        }
                        txn.put_as("reply", reply_key(*alert, seq), &stored)?;
                        txn.put(by_contact_key(tenant, *contact, *alert, seq), Vec::new());
                    }
                    None => {
                        let reason = format!("alert {alert} does not exist");
                        stored.item.attribution = ReplyAttribution::Unmatched { reason, tenants: Vec::new() };
                        put_unmatched(txn, ctx, 0, seq, &stored)?;
                    }
                }
            }
            ReplyAttribution::Unmatched { tenants, .. } => {
                if tenants.is_empty() {
                    put_unmatched(txn, ctx, 0, seq, &stored)?;
                }
                for t in tenants {
                    put_unmatched(txn, ctx, *t, seq, &stored)?;
                }
            }
        }
        if let Some(key) = seen {
            txn.put_as("reply seen", key, &seq)?;
        }
    }
    changed.write(txn, ctx)?;
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
