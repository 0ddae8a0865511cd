//! Groups (notification lists) and versioned membership.
//!
//! Each membership gets the group's next sequence number and keeps it; removing a member only
//! records the log index at which the membership ended. An alert records each target group's
//! next sequence number when it is accepted, so its recipients are exactly the memberships with
//! a smaller number that were active at the alert's log index, however the group is edited
//! afterwards, without copying millions of ids.

use varsel_domain::model::{ContactId, ContactRef, Group, GroupId, Membership, TenantId};

use super::{Applied, Ctx, next_id};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{DomainReply, RefusalCode};
use crate::state_machine::Txn;
use crate::state_machine::keys::{
    CONTACT, CONTACT_EXT, CONTACT_GROUP, GROUP, GROUP_NAME, Key, MEMBER_BY_CONTACT,
};

/// Longest group name.
pub const GROUP_NAME_CHARS_MAX: usize = 128;

/// Most contacts added or removed in one change (bounds the Raft entry).
pub const MEMBER_CHANGES_MAX: usize = 10_000;

pub(crate) fn group_key(tenant: TenantId, id: GroupId) -> Vec<u8> {
    Key::new(GROUP).u64(tenant).u64(id).done()
}

/// Reads a group of a tenant.
pub(crate) fn get<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: GroupId,
) -> Result<Option<Group>, EngineError> {
    txn.get_as("group", &group_key(tenant, id))
}

/// Finds a group by name.
pub(crate) fn by_name<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    name: &str,
) -> Result<Option<GroupId>, EngineError> {
    txn.get_as("group id", &Key::new(GROUP_NAME).u64(tenant).tail(name).done())
}

pub(super) fn check_group_name(name: &str) -> Option<String> {
    let n = name.chars().count();
    if name.trim().is_empty() {
        Some("name: is required".into())
    } else if n > GROUP_NAME_CHARS_MAX {
        Some(format!("name: must be at most {GROUP_NAME_CHARS_MAX} characters, got {n}"))
    } else if name.chars().any(char::is_control) {
        Some("name: must not contain control characters".into())
    } else {
        None
    }
}

/// Creates a group; the second value is its id when created.
pub(super) fn create<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    name: &str,
) -> Result<(Applied, Option<GroupId>), EngineError> {
    if let Some(m) = check_group_name(name) {
        return Ok((Applied::refused(RefusalCode::InvalidArgument, m), None));
    }
    if by_name(txn, tenant, name)?.is_some() {
        let m = format!("name: a group called {name:?} exists");
        return Ok((Applied::refused(RefusalCode::AlreadyExists, m), None));
    }
    let id = next_id(txn, "group")?;
    let group = Group { id, name: name.to_string(), member_count: 0, next_seq: 0, created_at_ms: ctx.now_ms };
    txn.put_as("group id", Key::new(GROUP_NAME).u64(tenant).tail(name).done(), &id)?;
    txn.put_as("group", group_key(tenant, id), &group)?;
    let applied =
        Applied::done(DomainReply::Group(group), tenant, format!("group {id}"), format!("created {name:?}"));
    Ok((applied, Some(id)))
}

/// The group called `name`, created when missing. `None` when the name is not valid.
pub(super) fn get_or_create<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    name: &str,
) -> Result<Option<(GroupId, bool)>, EngineError> {
    if let Some(id) = by_name(txn, tenant, name)? {
        return Ok(Some((id, false)));
    }
    let (_, id) = create(txn, ctx, tenant, name)?;
    Ok(id.map(|id| (id, true)))
}

/// Adds a contact to a group; false when it already is a member.
pub(super) fn add_member<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    group: &mut Group,
    contact: ContactId,
) -> Result<bool, EngineError> {
    let current = Key::new(CONTACT_GROUP).u64(tenant).u64(contact).u64(group.id).done();
    if txn.get(&current)?.is_some() {
        return Ok(false);
    }
    let seq = group.next_seq;
    group.next_seq += 1;
    group.member_count += 1;
    let m = Membership { contact, added_at: ctx.index, removed_at: None };
    super::members::append(txn, tenant, group.id, seq, &m)?;
    txn.put(Key::new(MEMBER_BY_CONTACT).u64(tenant).u64(group.id).u64(contact).u64(seq).done(), Vec::new());
    txn.put_as("membership seq", current, &seq)?;
    Ok(true)
}

/// Ends a contact's membership; false when it was not a member.
pub(super) fn remove_member<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    group: &mut Group,
    contact: ContactId,
) -> Result<bool, EngineError> {
    let current = Key::new(CONTACT_GROUP).u64(tenant).u64(contact).u64(group.id).done();
    let Some(seq) = txn.get_as::<u64>("membership seq", &current)? else { return Ok(false) };
    if let Some(mut m) = super::members::get(txn, tenant, group.id, seq)? {
        m.removed_at = Some(ctx.index);
        super::members::set(txn, tenant, group.id, seq, &m)?;
    }
    txn.remove(current);
    group.member_count = group.member_count.saturating_sub(1);
    Ok(true)
}

/// Whether `contact` was a member of `group` as of log index `at`.
pub(crate) fn was_member_at<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    contact: ContactId,
    at: u64,
) -> Result<bool, EngineError> {
    if let Some(ag) = super::locations::area_group(txn, tenant, group)? {
        let seq = super::locations::area_seq_of(txn, tenant, group, &ag, contact)?;
        return Ok(seq.is_some() && ag.added_at <= at);
    }
    let prefix = Key::new(MEMBER_BY_CONTACT).u64(tenant).u64(group).u64(contact).done();
    for (k, _) in txn.scan_prefix(&prefix, None, 64)? {
        let Some(seq) = crate::state_machine::keys::u64_at(&k, prefix.len()) else { continue };
        let m = super::members::get(txn, tenant, group, seq)?;
        if m.is_some_and(|m| m.active_at(at)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The membership numbered `seq` of a group (an area group's too).
pub(crate) fn membership<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    seq: u64,
) -> Result<Option<Membership>, EngineError> {
    if let Some(ag) = super::locations::area_group(txn, tenant, group)? {
        let m = super::locations::area_memberships(txn, tenant, group, &ag, seq, seq + 1, 1)?;
        return Ok(m.into_iter().next().map(|(_, m)| m));
    }
    super::members::get(txn, tenant, group, seq)
}

/// Resolves a contact reference within a tenant.
pub(crate) fn resolve_contact<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    r: &ContactRef,
) -> Result<Option<ContactId>, EngineError> {
    match r {
        ContactRef::Id(id) => {
            let exists = txn.get(&Key::new(CONTACT).u64(tenant).u64(*id).done())?.is_some();
            Ok(exists.then_some(*id))
        }
        ContactRef::External(ext) => {
            txn.get_as("contact id", &Key::new(CONTACT_EXT).u64(tenant).tail(ext).done())
        }
    }
}

pub(super) fn change_members<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    id: GroupId,
    add: &[ContactRef],
    remove: &[ContactRef],
) -> Result<Applied, EngineError> {
    if add.len() + remove.len() > MEMBER_CHANGES_MAX {
        let m = format!("at most {MEMBER_CHANGES_MAX} contacts per change; send several changes");
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let Some(mut group) = get(txn, tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("group {id} does not exist")));
    };
    let mut resolved = Vec::with_capacity(add.len() + remove.len());
    for (list, r) in add.iter().map(|r| ("add", r)).chain(remove.iter().map(|r| ("remove", r))) {
        match resolve_contact(txn, tenant, r)? {
            Some(c) => resolved.push((list, c)),
            None => {
                return Ok(Applied::refused(
                    RefusalCode::NotFound,
                    format!("{list}: contact {r:?} does not exist"),
                ));
            }
        }
    }
    let (mut added, mut removed) = (0, 0);
    for (list, contact) in resolved {
        if list == "add" {
            added += u64::from(add_member(txn, ctx, tenant, &mut group, contact)?);
        } else {
            removed += u64::from(remove_member(txn, ctx, tenant, &mut group, contact)?);
        }
    }
    txn.put_as("group", group_key(tenant, id), &group)?;
    let reply = DomainReply::Members { added, removed, member_count: group.member_count };
    Ok(Applied::done(reply, tenant, format!("group {id}"), format!("{added} added, {removed} removed")))
}

/// Deletes a group. Its membership records stay as they are, so alerts accepted before still
/// reach the members they froze; nothing can target the group any more. (Deleting millions of
/// records would not fit one entry; retention removes them later.)
pub(super) fn delete<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    id: GroupId,
) -> Result<Applied, EngineError> {
    let Some(group) = get(txn, tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("group {id} does not exist")));
    };
    txn.remove(group_key(tenant, id));
    txn.remove(Key::new(GROUP_NAME).u64(tenant).tail(&group.name).done());
    super::directory::forget_group(txn, tenant, id)?;
    let detail = format!("deleted {:?} with {} members", group.name, group.member_count);
    Ok(Applied::done(DomainReply::Deleted, tenant, format!("group {id}"), detail))
}
