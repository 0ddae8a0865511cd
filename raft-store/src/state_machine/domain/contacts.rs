//! Contacts: upsert by external id (single or CSV batch), delete.

use std::collections::HashMap;

use varsel_domain::model::{Contact, ContactId, ContactInput, Group, GroupId, TenantId};

use super::groups::{self, group_key};
use super::{Applied, Ctx, next_id, tenants};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{DomainReply, RefusalCode, UpsertReport};
use crate::state_machine::Txn;
use crate::state_machine::keys::{CONTACT, CONTACT_EXT, CONTACT_GROUP, Key, PHONE, SEQ, u64_at};

/// Most contacts in one upsert (one Raft entry).
pub const UPSERT_BATCH_MAX: usize = 5_000;

pub(crate) fn contact_key(tenant: TenantId, id: ContactId) -> Vec<u8> {
    Key::new(CONTACT).u64(tenant).u64(id).done()
}

pub(super) fn ext_key(tenant: TenantId, ext: &str) -> Vec<u8> {
    Key::new(CONTACT_EXT).u64(tenant).tail(ext).done()
}

/// The contact with an external id.
pub(super) fn by_external_id<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    ext: &str,
) -> Result<Option<ContactId>, EngineError> {
    txn.get_as("contact id", &ext_key(tenant, ext))
}

fn phone_key(phone: &str, tenant: TenantId, id: ContactId) -> Vec<u8> {
    Key::new(PHONE).str(phone).u64(tenant).u64(id).done()
}

fn count_key(tenant: TenantId) -> Vec<u8> {
    Key::new(SEQ).tail(&format!("contact-count/{tenant}")).done()
}

/// Reads a contact of a tenant.
pub(crate) fn get<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: ContactId,
) -> Result<Option<Contact>, EngineError> {
    txn.get_as("contact", &contact_key(tenant, id))
}

/// Sets how many contacts a tenant has.
pub(super) fn set_count<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    total: u64,
) -> Result<(), EngineError> {
    txn.put_as("contact count", count_key(tenant), &total)
}

/// How many contacts a tenant has.
pub(crate) fn count<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<u64, EngineError> {
    Ok(txn.get_as("contact count", &count_key(tenant))?.unwrap_or(0))
}

pub(super) fn upsert<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    inputs: &[ContactInput],
) -> Result<Applied, EngineError> {
    if inputs.len() > UPSERT_BATCH_MAX {
        let m = format!("contacts: at most {UPSERT_BATCH_MAX} per request; send several requests");
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let Some(t) = tenants::get(txn, tenant)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("tenant {tenant} does not exist")));
    };
    let mut report = UpsertReport::default();
    let mut total = count(txn, tenant)?;
    let mut known = GroupsByName::new();
    for (i, input) in inputs.iter().enumerate() {
        let existing: Option<ContactId> = txn.get_as("contact id", &ext_key(tenant, &input.external_id))?;
        if existing.is_none() && total >= t.limits.max_contacts {
            let m = format!("limit max_contacts ({}) reached", t.limits.max_contacts);
            report.refused.push((i as u32, m));
            report.ids.push(0);
            continue;
        }
        let id = match existing {
            Some(id) => id,
            None => {
                total += 1;
                next_id(txn, "contact")?
            }
        };
        write_contact(txn, ctx, tenant, id, input, existing.is_some())?;
        if existing.is_none() {
            super::directory::record_creation(txn, ctx, tenant, id)?;
        }
        report.groups_created +=
            join_groups(txn, ctx, tenant, (id, existing.is_none()), &input.groups, &mut known)?;
        report.ids.push(id);
        if existing.is_some() {
            report.updated += 1;
        } else {
            report.created += 1;
        }
    }
    txn.put_as("contact count", count_key(tenant), &total)?;
    let detail = format!(
        "{} created, {} updated, {} refused, {} groups created",
        report.created,
        report.updated,
        report.refused.len(),
        report.groups_created
    );
    let target = match (inputs.len(), report.ids.first()) {
        (1, Some(id)) => format!("contact {id}"),
        (n, _) => format!("{n} contacts"),
    };
    Ok(Applied::done(DomainReply::Upserted(report), tenant, target, detail))
}

pub(super) fn write_contact<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    id: ContactId,
    input: &ContactInput,
    existed: bool,
) -> Result<(), EngineError> {
    let old = if existed { get(txn, tenant, id)? } else { None };
    if let Some(phone) =
        old.as_ref().and_then(|o| o.phone.clone()).filter(|p| Some(p) != input.phone.as_ref())
    {
        txn.remove(phone_key(&phone, tenant, id));
    }
    // A list re-imported with the same dead subscription keeps it marked; a new subscription
    // starts valid.
    let push_invalid = old.is_some_and(|o| o.push_invalid && o.push == input.push);
    let contact = Contact {
        id,
        external_id: input.external_id.clone(),
        name: input.name.clone(),
        phone: input.phone.clone(),
        email: input.email.clone(),
        push: input.push.clone(),
        language: input.language.clone(),
        opt_out: input.opt_out.clone(),
        push_invalid,
        updated_at_ms: ctx.now_ms,
    };
    if let Some(phone) = &contact.phone {
        txn.put(phone_key(phone, tenant, id), Vec::new());
    }
    txn.put_as("contact id", ext_key(tenant, &input.external_id), &id)?;
    txn.put_as("contact", contact_key(tenant, id), &contact)
}

/// Marks the contact's push subscription invalid if it still is `subscription`. Returns
/// whether it changed.
pub(crate) fn mark_push_invalid<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    id: ContactId,
    subscription: &str,
) -> Result<bool, EngineError> {
    let Some(mut contact) = get(txn, tenant, id)? else { return Ok(false) };
    if contact.push_invalid || contact.push.as_deref() != Some(subscription) {
        return Ok(false);
    }
    contact.push_invalid = true;
    contact.updated_at_ms = ctx.now_ms;
    txn.put_as("contact", contact_key(tenant, id), &contact)?;
    Ok(true)
}

/// The groups an upsert has met, by name: a batch of thousands of rows naming the same group
/// looks its name up once (a read of sled's tree each time otherwise). Kept for one upsert
/// only, which nothing in it can rename or delete.
pub(super) type GroupsByName = HashMap<String, GroupId>;

/// Adds the contact to each named group (created when missing). Returns groups created.
/// `created_now`: the contact was created by this entry, so it is in no group yet.
pub(super) fn join_groups<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    (contact, created_now): (ContactId, bool),
    names: &[String],
    known: &mut GroupsByName,
) -> Result<u64, EngineError> {
    let mut created = 0;
    let mut joined: Vec<GroupId> = Vec::with_capacity(names.len());
    for name in names {
        let gid = match known.get(name) {
            Some(&gid) => gid,
            None => {
                let Some((gid, new)) = groups::get_or_create(txn, ctx, tenant, name)? else { continue };
                created += u64::from(new);
                known.insert(name.clone(), gid);
                gid
            }
        };
        let Some(mut group) = groups::get(txn, tenant, gid)? else { continue };
        // A new contact is in no group, but its row may name one twice.
        let added = if created_now && !joined.contains(&gid) {
            groups::add_new_member(txn, ctx, tenant, &mut group, contact)?;
            true
        } else {
            groups::add_member(txn, ctx, tenant, &mut group, contact)?
        };
        joined.push(gid);
        if added {
            txn.put_as("group", group_key(tenant, gid), &group)?;
        }
    }
    Ok(created)
}

/// The groups a contact currently belongs to.
pub(crate) fn groups_of<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
) -> Result<Vec<Group>, EngineError> {
    let prefix = Key::new(CONTACT_GROUP).u64(tenant).u64(contact).done();
    let mut out = Vec::new();
    for (k, _) in txn.scan_prefix(&prefix, None, groups_max())? {
        let Some(gid) = u64_at(&k, prefix.len()) else { continue };
        if let Some(g) = groups::get(txn, tenant, gid)? {
            out.push(g);
        }
    }
    Ok(out)
}

/// Bound on the groups listed for one contact.
const fn groups_max() -> usize {
    10_000
}

pub(super) fn delete<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    id: ContactId,
) -> Result<Applied, EngineError> {
    let Some(contact) = get(txn, tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("contact {id} does not exist")));
    };
    remove(txn, ctx, tenant, &contact)?;
    Ok(Applied::done(DomainReply::Deleted, tenant, format!("contact {id}"), "deleted".into()))
}

/// Removes a contact, its phone and external-id index entries, and ends its current group
/// memberships (the membership records stay, so alerts accepted before still reach whom they
/// froze). Returns the memberships ended.
pub(super) fn remove<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    contact: &Contact,
) -> Result<u64, EngineError> {
    let id = contact.id;
    let memberships: Vec<GroupId> = {
        let prefix = Key::new(CONTACT_GROUP).u64(tenant).u64(id).done();
        txn.scan_prefix(&prefix, None, groups_max())?
            .iter()
            .filter_map(|(k, _)| u64_at(k, prefix.len()))
            .collect()
    };
    let ended = memberships.len() as u64;
    for gid in memberships {
        match groups::get(txn, tenant, gid)? {
            Some(mut g) => {
                groups::remove_member(txn, ctx, tenant, &mut g, id)?;
                txn.put_as("group", group_key(tenant, gid), &g)?;
            }
            None => {
                // A deleted group: alerts accepted before it was deleted may still ask.
                let current = Key::new(CONTACT_GROUP).u64(tenant).u64(id).u64(gid).done();
                if let Some(seq) = txn.get_as::<u64>("membership seq", &current)? {
                    groups::record_ended(txn, tenant, gid, id, seq);
                }
                txn.remove(current);
            }
        }
    }
    if let Some(phone) = &contact.phone {
        txn.remove(phone_key(phone, tenant, id));
    }
    txn.remove(ext_key(tenant, &contact.external_id));
    txn.remove(contact_key(tenant, id));
    super::directory::forget(txn, tenant, id)?;
    super::locations::forget(txn, tenant, id)?;
    let total = count(txn, tenant)?.saturating_sub(1);
    txn.put_as("contact count", count_key(tenant), &total)?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemEngine, StorageEngine};

    /// Goal: joining named groups adds each contact once per group, whether the contact is new
    /// (no read of its groups) or not, a row naming a group twice included, and the groups
    /// met are created once and found again by name within the upsert.
    #[test]
    fn join_groups_adds_each_member_once() -> Result<(), EngineError> {
        let engine = MemEngine::new();
        let tree = engine.open_tree("t")?;
        let mut txn = Txn::new(&tree);
        let ctx = Ctx { index: 5, now_ms: 0, lease_now_ms: 0 };
        let mut known = GroupsByName::new();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(join_groups(&mut txn, ctx, 1, (10, true), &names(&["a", "a", "b"]), &mut known)?, 2);
        assert_eq!(join_groups(&mut txn, ctx, 1, (11, true), &names(&["b"]), &mut known)?, 0);
        assert_eq!(join_groups(&mut txn, ctx, 1, (10, false), &names(&["a", "b"]), &mut known)?, 0);
        let (a, b) = (known["a"], known["b"]);
        let count =
            |txn: &Txn<'_, _>, g| groups::get(txn, 1, g).map(|g| g.map(|g| (g.member_count, g.next_seq)));
        assert_eq!(count(&txn, a)?, Some((1, 1)), "10 in a once");
        assert_eq!(count(&txn, b)?, Some((2, 2)), "10 and 11 in b once each");
        // A new upsert finds the groups by name again.
        let mut fresh = GroupsByName::new();
        assert_eq!(join_groups(&mut txn, ctx, 1, (12, true), &names(&["a"]), &mut fresh)?, 0);
        assert_eq!(fresh["a"], a);
        assert_eq!(count(&txn, a)?, Some((2, 2)));
        Ok(())
    }
}
