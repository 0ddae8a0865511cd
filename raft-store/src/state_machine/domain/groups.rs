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
    push_member(txn, ctx, tenant, group, contact, current)?;
    Ok(true)
}

/// Adds a contact that cannot be a member yet: one created by the entry being applied. Skips
/// [`add_member`]'s read of the contact's current groups, a miss in sled's tree for each of an
/// import's new contacts.
pub(super) fn add_new_member<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    group: &mut Group,
    contact: ContactId,
) -> Result<(), EngineError> {
    let current = Key::new(CONTACT_GROUP).u64(tenant).u64(contact).u64(group.id).done();
    push_member(txn, ctx, tenant, group, contact, current)
}

fn push_member<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    group: &mut Group,
    contact: ContactId,
    current: Vec<u8>,
) -> Result<(), EngineError> {
    let seq = group.next_seq;
    group.next_seq += 1;
    group.member_count += 1;
    let m = Membership { contact, added_at: ctx.index, removed_at: None };
    super::members::append(txn, tenant, group.id, seq, &m)?;
    txn.put_as("membership seq", current, &seq)
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
    record_ended(txn, tenant, group.id, contact, seq);
    group.member_count = group.member_count.saturating_sub(1);
    Ok(true)
}

/// Keeps the number of a contact's membership that ended, for [`seqs_of`]. A current
/// membership is found through the contact's current groups instead (one key fewer for each of
/// the millions of memberships an import writes). Stores of builds before this kept every
/// membership here, current ones too; [`seqs_of`] reads both the same way.
pub(crate) fn record_ended<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    contact: ContactId,
    seq: u64,
) {
    txn.put(Key::new(MEMBER_BY_CONTACT).u64(tenant).u64(group).u64(contact).u64(seq).done(), Vec::new());
}

/// The numbers of the contact's memberships of a (membership, not area) group, current and
/// ended, ascending; at most `max` of the ended ones.
pub(crate) fn seqs_of<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    contact: ContactId,
    max: usize,
) -> Result<Vec<u64>, EngineError> {
    let prefix = Key::new(MEMBER_BY_CONTACT).u64(tenant).u64(group).u64(contact).done();
    let mut seqs: Vec<u64> = txn
        .scan_prefix(&prefix, None, max)?
        .iter()
        .filter_map(|(k, _)| crate::state_machine::keys::u64_at(k, prefix.len()))
        .collect();
    let current = Key::new(CONTACT_GROUP).u64(tenant).u64(contact).u64(group).done();
    if let Some(seq) = txn.get_as::<u64>("membership seq", &current)? {
        seqs.push(seq);
        seqs.sort_unstable();
        seqs.dedup();
    }
    Ok(seqs)
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
    for seq in seqs_of(txn, tenant, group, contact, 64)? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemEngine, StorageEngine};

    fn ctx(index: u64) -> Ctx {
        Ctx { index, now_ms: 0, lease_now_ms: 0 }
    }

    /// Goal: whether a contact was a member as of a log index is answered from its current
    /// membership and its ended ones alike: joined, left, joined again; and from a store of an
    /// older build, which also kept current memberships among the ended ones.
    #[test]
    fn was_member_at_sees_current_and_ended_memberships() -> Result<(), EngineError> {
        let engine = MemEngine::new();
        let tree = engine.open_tree("t")?;
        let mut txn = Txn::new(&tree);
        let mut g = Group { id: 4, name: "g".into(), member_count: 0, next_seq: 0, created_at_ms: 0 };
        assert!(add_member(&mut txn, ctx(10), 1, &mut g, 77)?);
        assert!(!add_member(&mut txn, ctx(11), 1, &mut g, 77)?, "already a member");
        assert!(add_member(&mut txn, ctx(12), 1, &mut g, 78)?);
        assert!(remove_member(&mut txn, ctx(20), 1, &mut g, 77)?);
        assert!(add_member(&mut txn, ctx(30), 1, &mut g, 77)?);
        let member = |txn: &Txn<'_, _>, at| was_member_at(txn, 1, 4, 77, at);
        for (at, expected) in
            [(9, false), (10, true), (19, true), (20, false), (29, false), (30, true), (99, true)]
        {
            assert_eq!(member(&txn, at)?, expected, "at {at}");
        }
        assert_eq!(seqs_of(&txn, 1, 4, 77, 64)?, vec![0, 2]);
        assert_eq!(seqs_of(&txn, 1, 4, 78, 64)?, vec![1], "current only: no ended record");
        assert!(!was_member_at(&txn, 1, 4, 79, 99)?, "never a member");
        // An older build's store also lists the current membership here: read once.
        record_ended(&mut txn, 1, 4, 78, 1);
        assert_eq!(seqs_of(&txn, 1, 4, 78, 64)?, vec![1]);
        assert!(was_member_at(&txn, 1, 4, 78, 12)?);
        Ok(())
    }
}
