//! Erasing a contact (GDPR article 17).
//!
//! The rule, applied identically on every node from the transaction alone:
//!
//! - **Refused** `NOT_FOUND` for a contact the tenant does not have, and `FAILED_PRECONDITION`
//!   while an alert that reached it is unfinished: its senders may still record outcomes
//!   (whose failure reasons can quote the address) and it may still be acknowledged. Erase
//!   once the alert has ended, or cancel it.
//! - **Removed**: the contact record, its external-id and phone index entries, its current
//!   group memberships (ended as a delete ends them), its entries in the membership-by-contact
//!   index, and the reply index entries naming it or its number.
//! - **Tombstoned** (replaced by [`ERASED`]), keeping the record so every count stays: in the
//!   outcomes of the alerts that reached it, every failure reason and any provider id that
//!   quotes one of its identifiers; in its receipts, the error and any such provider id; in
//!   its replies (attributed to it, or unattributed from its number in this tenant), the
//!   sender, the text and any field that quotes an identifier; in alerts that named it
//!   directly by external id, that reference (replaced by its number id). The record that a
//!   reply was seen goes when its identity was derived from the erased fields.
//! - **Kept**: acknowledgements (alert, contact number, time, channel), per-alert progress,
//!   membership records (a contact number and log indexes, so frozen alerts stay intact), the
//!   audit trail, and a new audit entry naming the credential that erased it and the log time,
//!   with counts only.
//!
//! What is left names the contact only by its number id, which after erasure refers to
//! nothing. How the records are found without scanning the delivery tables is in
//! [`super::reach`].

use std::collections::BTreeSet;

use varsel_domain::model::{Contact, ContactId, ContactRef, TenantId};

use super::reach::{self, Reached};
use super::{Applied, Ctx, alerts, contacts};
use crate::delivery::{Outcome, OutcomeResult, StoredReceipt};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{DomainReply, ERASED, EraseReport, RefusalCode};
use crate::replies::StoredReply;
use crate::state_machine::Txn;
use crate::state_machine::delivery::receipt_key;
use crate::state_machine::delivery::replies::{
    by_contact_prefix, by_phone_prefix, reply_key, seen_key, unmatched_key,
};
use crate::state_machine::keys::{CONTACT_GROUP, ERASURES, GROUP, Key, MEMBER_BY_CONTACT, u64_at};

/// Most reply index entries of one contact (or of its number) handled by one erasure: far
/// above what a person sends, and a bound on the work of one entry.
pub const ERASE_REPLIES_MAX: usize = 100_000;

/// Most groups of a tenant whose membership-by-contact entries one erasure looks at.
const GROUPS_MAX: usize = 100_000;

/// Shortest identifier searched for inside provider ids and addresses: shorter ones (a
/// two-letter name) would match by chance.
const IDENTIFIER_CHARS_MIN: usize = 4;

/// The contact's identifiers, to recognise them quoted inside other fields.
struct Identifiers(Vec<String>);

impl Identifiers {
    fn of(c: &Contact) -> Self {
        let mut all: Vec<String> = [&c.phone, &c.email, &c.push, &c.name]
            .into_iter()
            .flatten()
            .chain(std::iter::once(&c.external_id))
            .cloned()
            .collect();
        // Providers often write a number without its `+`.
        if let Some(digits) = c.phone.as_deref().and_then(|p| p.strip_prefix('+')) {
            all.push(digits.to_string());
        }
        all.retain(|s| s.chars().count() >= IDENTIFIER_CHARS_MIN);
        Identifiers(all)
    }

    fn quoted_in(&self, text: &str) -> bool {
        self.0.iter().any(|i| text.contains(i.as_str()))
    }

    /// `text` replaced by the tombstone when it quotes an identifier; true when it changed.
    fn scrub(&self, text: &mut String) -> bool {
        if text != ERASED && self.quoted_in(text) {
            *text = ERASED.into();
            return true;
        }
        false
    }
}

/// Replaces `text` by the tombstone; true when it changed.
fn tombstone(text: &mut String) -> bool {
    if text == ERASED {
        return false;
    }
    *text = ERASED.into();
    true
}

pub(super) fn erase<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    id: ContactId,
) -> Result<Applied, EngineError> {
    let Some(contact) = contacts::get(txn, tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("contact {id} does not exist")));
    };
    let reached = reach::alerts_reaching(txn, tenant, id)?;
    if let Some(open) = reached.iter().find(|r| !r.alert.status.is_final()) {
        let m = format!(
            "contact {id}: alert {} reached it and is still {:?}; erase the contact once the alert has ended, \
             or cancel the alert first",
            open.alert.id, open.alert.status
        );
        return Ok(Applied::refused(RefusalCode::FailedPrecondition, m));
    }
    let marks = Identifiers::of(&contact);
    let mut report = EraseReport { alerts: reached.len() as u64, ..Default::default() };
    for r in &reached {
        report.outcomes += scrub_outcomes(txn, r, id, &marks)?;
        report.receipts += scrub_receipts(txn, r, id, &marks)?;
        forget_external_reference(txn, r, &contact)?;
    }
    report.replies += scrub_replies(txn, tenant, id, &marks)?;
    // Providers write a sender with or without its `+`.
    let senders = contact.phone.iter().flat_map(|p| [Some(p.as_str()), p.strip_prefix('+')]).flatten();
    for phone in senders.collect::<Vec<_>>() {
        report.replies += scrub_unmatched(txn, tenant, phone, &marks)?;
    }
    // Ending the memberships records them as ended, in deleted groups too; then every record
    // of which groups the contact was in goes, those groups' included.
    let current = Key::new(CONTACT_GROUP).u64(tenant).u64(id).done();
    let was_in: Vec<u64> = txn
        .scan_prefix(&current, None, GROUPS_MAX)?
        .iter()
        .filter_map(|(k, _)| u64_at(k, current.len()))
        .collect();
    report.memberships = contacts::remove(txn, ctx, tenant, &contact)?;
    remove_member_index(txn, tenant, id, &reached, was_in)?;
    let erasures: u64 = txn.get_as("erasures", ERASURES)?.unwrap_or(0);
    txn.put_as("erasures", ERASURES, &(erasures + 1))?;
    let detail = format!(
        "erased; personal data replaced in {} outcomes, {} receipts and {} replies of {} alerts; {} memberships ended",
        report.outcomes, report.receipts, report.replies, report.alerts, report.memberships
    );
    Ok(Applied::done(DomainReply::Erased(report), tenant, format!("contact {id}"), detail))
}

/// Scrubs the contact's outcomes in one alert; returns how many changed.
fn scrub_outcomes<T: KvTree>(
    txn: &mut Txn<'_, T>,
    r: &Reached,
    contact: ContactId,
    marks: &Identifiers,
) -> Result<u64, EngineError> {
    let mut changed = 0;
    for &(shard, pos) in &r.places {
        for (key, mut batch) in reach::batches_holding(txn, &r.alert, shard, pos)? {
            let mut n = 0;
            for o in batch.iter_mut().filter(|o| o.pos == pos && o.contact == contact) {
                n += u64::from(scrub_outcome(o, marks));
            }
            if n > 0 {
                let value = crate::state_machine::delivery::packed::encode_for(&key, &batch)?;
                txn.put(key, value);
                changed += n;
            }
        }
    }
    Ok(changed)
}

fn scrub_outcome(o: &mut Outcome, marks: &Identifiers) -> bool {
    let result = match &mut o.result {
        OutcomeResult::Failed { reason } => tombstone(reason),
        OutcomeResult::Sent { provider_id } => marks.scrub(provider_id),
    };
    result | marks.scrub(&mut o.provider)
}

/// Scrubs the contact's receipts in one alert; returns how many changed.
fn scrub_receipts<T: KvTree>(
    txn: &mut Txn<'_, T>,
    r: &Reached,
    contact: ContactId,
    marks: &Identifiers,
) -> Result<u64, EngineError> {
    let mut changed = 0;
    for channel in r.alert.spec.channels() {
        let key = receipt_key(r.alert.id, contact, channel);
        let Some(mut receipt) = txn.get_as::<StoredReceipt>("receipt", &key)? else { continue };
        let error = receipt.error.as_mut().is_some_and(tombstone);
        if error | marks.scrub(&mut receipt.provider_id) {
            txn.put_as("receipt", key, &receipt)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// An alert that named the contact directly by external id keeps its number id instead.
fn forget_external_reference<T: KvTree>(
    txn: &mut Txn<'_, T>,
    r: &Reached,
    contact: &Contact,
) -> Result<(), EngineError> {
    let mut alert = r.alert.clone();
    let mut changed = false;
    for c in &mut alert.spec.contacts {
        if matches!(c, ContactRef::External(ext) if *ext == contact.external_id) {
            *c = ContactRef::Id(contact.id);
            changed = true;
        }
    }
    if changed {
        txn.put_as("alert", alerts::alert_key(alert.tenant, alert.id), &alert)?;
    }
    Ok(())
}

/// Scrubs one kept reply; false when it was already scrubbed. The record that it was seen goes
/// when its identity came from the fields scrubbed.
fn scrub_reply<T: KvTree>(
    txn: &mut Txn<'_, T>,
    key: Vec<u8>,
    marks: &Identifiers,
) -> Result<bool, EngineError> {
    let Some(mut stored) = txn.get_as::<StoredReply>("reply", &key)? else { return Ok(false) };
    let before = stored.item.identity();
    let item = &mut stored.item;
    let mut changed = tombstone(&mut item.from) | tombstone(&mut item.text);
    changed |= item.id.as_mut().is_some_and(|i| marks.scrub(i));
    changed |= item.to.as_mut().is_some_and(|t| marks.scrub(t));
    if !changed {
        return Ok(false);
    }
    if let Some(identity) = before.filter(|b| Some(b) != stored.item.identity().as_ref()) {
        txn.remove(seen_key(&identity));
    }
    txn.put_as("reply", key, &stored)?;
    Ok(true)
}

/// Scrubs the replies attributed to the contact and drops their index entries.
fn scrub_replies<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
    marks: &Identifiers,
) -> Result<u64, EngineError> {
    let prefix = by_contact_prefix(tenant, contact);
    let mut changed = 0;
    for (k, _) in txn.scan_prefix(&prefix, None, ERASE_REPLIES_MAX)? {
        if let (Some(alert), Some(seq)) = (u64_at(&k, prefix.len()), u64_at(&k, prefix.len() + 8)) {
            changed += u64::from(scrub_reply(txn, reply_key(alert, seq), marks)?);
        }
        txn.remove(k);
    }
    Ok(changed)
}

/// Scrubs the tenant's copies of unattributed replies from `phone` and drops their index
/// entries (which hold the number). Other tenants' copies are theirs to erase.
fn scrub_unmatched<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    phone: &str,
    marks: &Identifiers,
) -> Result<u64, EngineError> {
    let prefix = by_phone_prefix(phone, tenant);
    let mut changed = 0;
    for (k, _) in txn.scan_prefix(&prefix, None, ERASE_REPLIES_MAX)? {
        if let Some(seq) = u64_at(&k, prefix.len()) {
            changed += u64::from(scrub_reply(txn, unmatched_key(tenant, seq), marks)?);
        }
        txn.remove(k);
    }
    Ok(changed)
}

/// Drops the contact's membership-by-contact entries in the tenant's groups, in the groups
/// the alerts that reached it targeted and in `was_in` (a deleted group is only found through
/// those).
fn remove_member_index<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
    reached: &[Reached],
    was_in: Vec<u64>,
) -> Result<(), EngineError> {
    let prefix = Key::new(GROUP).u64(tenant).done();
    let mut groups: BTreeSet<u64> = txn
        .scan_prefix(&prefix, None, GROUPS_MAX)?
        .iter()
        .filter_map(|(k, _)| u64_at(k, prefix.len()))
        .collect();
    groups.extend(reached.iter().flat_map(|r| r.alert.groups.iter().map(|g| g.group)));
    groups.extend(was_in);
    for g in groups {
        for seq in reach::member_seqs(txn, tenant, g, contact)? {
            txn.remove(Key::new(MEMBER_BY_CONTACT).u64(tenant).u64(g).u64(contact).u64(seq).done());
        }
    }
    Ok(())
}
