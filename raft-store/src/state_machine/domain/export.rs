//! Everything held about one contact (GDPR article 15), for `ExportContact`.
//!
//! A read of the applied state: the contact, its current groups, and for every alert that
//! reached it (found as erasure finds them, see [`super::reach`]) its acknowledgement, the
//! outcome of each message, the receipts and the replies; the unattributed replies from its
//! number kept for its tenant; and the audit entries that name it. Every key read starts with
//! the tenant given or with an alert of that tenant, so another tenant's data cannot appear.
//!
//! The shape is plain data with stable field names, serialised to JSON by the node; times are
//! milliseconds since the Unix epoch (`*_ms`).

use serde::Serialize;
use varsel_domain::model::{Contact, ContactId, TenantId};

use super::alerts::ack_key;
use super::reach::{self, Reached};
use super::{contacts, query};
use crate::delivery::{OutcomeResult, StoredReceipt};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::replies::{ReplyAttribution, StoredReply};
use crate::state_machine::Txn;
use crate::state_machine::delivery::receipt_key;
use crate::state_machine::delivery::replies::{by_contact_prefix, by_phone_prefix, reply_key, unmatched_key};
use crate::state_machine::keys::u64_at;

use super::Ack;

/// Most audit records looked through, newest first, for entries naming the contact; the
/// export says when the trail is longer ([`ContactExport::audit_complete`]).
pub const EXPORT_AUDIT_SCAN_MAX: usize = 200_000;

/// Most replies listed per alert and unattributed (a person sends a handful).
pub const EXPORT_REPLIES_MAX: usize = 10_000;

/// Everything held about one contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactExport {
    /// The contact as stored.
    pub contact: Contact,
    /// What a directory (SCIM) keeps about it: its directory id, whether it is inactive, when
    /// it was created. Absent when nothing was ever recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<super::directory::DirectoryRecord>,
    /// Its places (area alerts): names, coordinates, address texts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<varsel_domain::location::Location>,
    /// Its current groups.
    pub groups: Vec<GroupExport>,
    /// The alerts that reached it, in id order.
    pub alerts: Vec<AlertExport>,
    /// Replies from its number that could not be attributed to an alert, kept for its tenant.
    pub unattributed_replies: Vec<ReplyExport>,
    /// Audit entries naming it, newest first.
    pub audit: Vec<AuditExport>,
    /// False when the audit trail is longer than [`EXPORT_AUDIT_SCAN_MAX`] records and older
    /// ones were not looked at.
    pub audit_complete: bool,
}

/// A group the contact belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupExport {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
}

/// One alert that reached the contact, and what it did for the contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertExport {
    /// The alert.
    pub alert_id: u64,
    /// Its title.
    pub title: String,
    /// When it was accepted.
    pub created_at_ms: u64,
    /// Its status (`active`, `completed`, …).
    pub status: String,
    /// The contact's acknowledgement, if any.
    pub acknowledged: Option<AckExport>,
    /// Each message to the contact that was handed to a provider or failed.
    pub messages: Vec<MessageExport>,
    /// Delivery receipts of those messages.
    pub receipts: Vec<ReceiptExport>,
    /// The contact's replies to the alert.
    pub replies: Vec<ReplyExport>,
    /// The contact's choice among the alert's answer options; absent when it chose none or
    /// the alert offered none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerExport>,
}

/// A choice among an alert's answer options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerExport {
    /// The option's number, from 1.
    pub option: u8,
    /// Its labels by language.
    pub labels: std::collections::BTreeMap<String, String>,
    /// When it was chosen (the latest choice).
    pub at_ms: u64,
    /// How: `sms`, `keypad` or `page`.
    pub via: String,
    /// How many times the contact changed it.
    pub changes: u32,
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckExport {
    /// When.
    pub at_ms: u64,
    /// Through which channel, if known.
    pub channel: Option<String>,
}

/// The outcome of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageExport {
    /// The escalation step (0 first).
    pub step: u64,
    /// `sms`, `voice`, `email` or `push`.
    pub channel: String,
    /// `sent` or `failed`.
    pub result: String,
    /// The provider that took (or last refused) it.
    pub provider: String,
    /// The provider's id for it, when sent.
    pub provider_id: Option<String>,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// When it was handed over.
    pub at_ms: u64,
}

/// A delivery receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptExport {
    /// The channel.
    pub channel: String,
    /// Delivered, or reported undeliverable.
    pub delivered: bool,
    /// When it was recorded.
    pub at_ms: u64,
    /// The network's reason when undeliverable.
    pub error: Option<String>,
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyExport {
    /// When it was recorded.
    pub at_ms: u64,
    /// The channel it came through.
    pub channel: String,
    /// The number it came from.
    pub from: String,
    /// The number it was sent to, if known.
    pub to: Option<String>,
    /// What was written.
    pub text: String,
    /// Whether it acknowledged its alert.
    pub acknowledges: bool,
}

/// An audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditExport {
    /// Log index.
    pub index: u64,
    /// When.
    pub at_ms: u64,
    /// The credential that acted (0: the superadmin or the cluster itself).
    pub credential: u64,
    /// What was done.
    pub action: String,
    /// To what.
    pub target: String,
    /// Details.
    pub detail: String,
}

/// Everything held about contact `id` of `tenant`; `None` when the tenant has no such contact.
pub fn export<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: ContactId,
) -> Result<Option<ContactExport>, EngineError> {
    let Some(contact) = contacts::get(txn, tenant, id)? else { return Ok(None) };
    let groups = contacts::groups_of(txn, tenant, id)?
        .into_iter()
        .map(|g| GroupExport { id: g.id, name: g.name })
        .collect();
    let replies = attributed_replies(txn, tenant, id)?;
    let mut alerts = Vec::new();
    for r in reach::alerts_reaching(txn, tenant, id)? {
        let mine: Vec<ReplyExport> =
            replies.iter().filter(|(a, _)| *a == r.alert.id).map(|(_, x)| x.clone()).collect();
        alerts.push(alert_export(txn, &r, id, mine)?);
    }
    let mut unattributed = Vec::new();
    if let Some(phone) = &contact.phone {
        for p in [Some(phone.as_str()), phone.strip_prefix('+')].into_iter().flatten() {
            unattributed.extend(unmatched_replies(txn, tenant, p)?);
        }
    }
    let (audit, audit_complete) = audit_naming(txn, tenant, id)?;
    Ok(Some(ContactExport {
        directory: super::directory::get(txn, tenant, id)?,
        locations: super::locations::get(txn, tenant, id)?,
        contact,
        groups,
        alerts,
        unattributed_replies: unattributed,
        audit,
        audit_complete,
    }))
}

fn alert_export<T: KvTree>(
    txn: &Txn<'_, T>,
    r: &Reached,
    contact: ContactId,
    replies: Vec<ReplyExport>,
) -> Result<AlertExport, EngineError> {
    let a = &r.alert;
    let ack: Option<Ack> = txn.get_as("ack", &ack_key(a.id, contact))?;
    let mut messages = Vec::new();
    for &(shard, pos) in &r.places {
        for (key, batch) in reach::batches_holding(txn, a, shard, pos)? {
            // The step is the third number of an outcome key (after alert and shard).
            let step = u64_at(&key, 1 + 16).unwrap_or(0);
            for o in batch.into_iter().filter(|o| o.pos == pos && o.contact == contact) {
                let (result, provider_id, reason) = match o.result {
                    OutcomeResult::Sent { provider_id } => ("sent", Some(provider_id), None),
                    OutcomeResult::Failed { reason } => ("failed", None, Some(reason)),
                };
                messages.push(MessageExport {
                    step,
                    channel: o.channel.as_str().into(),
                    result: result.into(),
                    provider: o.provider,
                    provider_id,
                    reason,
                    at_ms: o.at_ms,
                });
            }
        }
    }
    let mut receipts = Vec::new();
    for channel in a.spec.channels() {
        if let Some(rc) = txn.get_as::<StoredReceipt>("receipt", &receipt_key(a.id, contact, channel))? {
            receipts.push(ReceiptExport {
                channel: channel.as_str().into(),
                delivered: rc.delivered,
                at_ms: rc.at_ms,
                error: rc.error,
            });
        }
    }
    let answer = match super::answers::answer_of(txn, a.id, contact)? {
        None => None,
        Some(given) => {
            let asked = super::answers::of(txn, a.id)?;
            let option =
                asked.and_then(|x| x.options.get(usize::from(given.option).wrapping_sub(1)).cloned());
            Some(AnswerExport {
                option: given.option,
                labels: option.map(|o| o.labels).unwrap_or_default(),
                at_ms: given.at_ms,
                via: given.via.as_str().into(),
                changes: given.changes,
            })
        }
    };
    Ok(AlertExport {
        answer,
        alert_id: a.id,
        title: a.spec.title.clone(),
        created_at_ms: a.created_at_ms,
        status: format!("{:?}", a.status).to_lowercase(),
        acknowledged: ack
            .map(|k| AckExport { at_ms: k.at_ms, channel: k.channel.map(|c| c.as_str().into()) }),
        messages,
        receipts,
        replies,
    })
}

fn reply_export(r: StoredReply) -> ReplyExport {
    let acknowledges = matches!(r.item.attribution, ReplyAttribution::Alert { acknowledges: true, .. });
    ReplyExport {
        at_ms: r.at_ms,
        channel: r.item.channel.as_str().into(),
        from: r.item.from,
        to: r.item.to,
        text: r.item.text,
        acknowledges,
    }
}

/// The contact's attributed replies: (alert, reply), oldest first.
fn attributed_replies<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
) -> Result<Vec<(u64, ReplyExport)>, EngineError> {
    let prefix = by_contact_prefix(tenant, contact);
    let mut out = Vec::new();
    for (k, _) in txn.scan_prefix(&prefix, None, EXPORT_REPLIES_MAX)? {
        let (Some(alert), Some(seq)) = (u64_at(&k, prefix.len()), u64_at(&k, prefix.len() + 8)) else {
            continue;
        };
        if let Some(r) = txn.get_as::<StoredReply>("reply", &reply_key(alert, seq))? {
            out.push((alert, reply_export(r)));
        }
    }
    Ok(out)
}

fn unmatched_replies<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    phone: &str,
) -> Result<Vec<ReplyExport>, EngineError> {
    let prefix = by_phone_prefix(phone, tenant);
    let mut out = Vec::new();
    for (k, _) in txn.scan_prefix(&prefix, None, EXPORT_REPLIES_MAX)? {
        let Some(seq) = u64_at(&k, prefix.len()) else { continue };
        if let Some(r) = txn.get_as::<StoredReply>("reply", &unmatched_key(tenant, seq))? {
            out.push(reply_export(r));
        }
    }
    Ok(out)
}

/// The audit entries whose target is the contact or whose detail starts with it (an
/// acknowledgement), newest first, and whether the whole trail was looked through.
fn audit_naming<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: ContactId,
) -> Result<(Vec<AuditExport>, bool), EngineError> {
    let target = format!("contact {id}");
    let in_detail = format!("contact {id} ");
    let mut out = Vec::new();
    let mut before: Option<u64> = None;
    let mut seen = 0;
    while seen < EXPORT_AUDIT_SCAN_MAX {
        let page = query::audit(txn, tenant, before, query::PAGE_MAX)?;
        seen += page.len();
        let Some((last, _)) = page.last() else { return Ok((out, true)) };
        before = Some(*last);
        let full = page.len() == query::PAGE_MAX;
        for (index, r) in page {
            if r.target == target || r.detail.starts_with(&in_detail) {
                out.push(AuditExport {
                    index,
                    at_ms: r.at_ms,
                    credential: r.credential,
                    action: r.action,
                    target: r.target,
                    detail: r.detail,
                });
            }
        }
        if !full {
            return Ok((out, true));
        }
    }
    Ok((out, false))
}
