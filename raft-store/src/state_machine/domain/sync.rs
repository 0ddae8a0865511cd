//! List sync (`varsel contact import --sync GROUP FILE`): the group becomes exactly the file's
//! rows.
//!
//! A sync is a bounded sequence of entries: the file's contacts are upserted in the import's
//! usual batches (each row carries the group, so joiners join there), then **one** entry,
//! [`Op::SyncMembers`](crate::ops::Op::SyncMembers), ends every membership not in the file.
//! Joins only ever add, so while the batches commit a reader sees the old members plus some of
//! the joiners, never fewer than before; the removals all land at the same log index, so an
//! alert is accepted either before all of them or after all of them (its recipients are frozen
//! by log index, see `groups`).
//!
//! The removal entry carries membership sequence numbers ([`SeqSet`]), not external ids, and is
//! planned by [`plan`] from a read of the group. It carries the group's `next_seq` and
//! `member_count` as read; if either changed before the entry is applied (someone else added or
//! removed members), [`apply`] refuses it without changing anything and the node plans again.
//! That check is exact: every addition raises `next_seq`, every removal lowers `member_count`.
//!
//! Rows rejected by validation are not removals: their contacts stay members. [`plan`] counts
//! them in [`Plan::kept_rejected`].

use std::collections::HashSet;

use varsel_domain::model::{ContactId, Group, GroupId, TenantId};

use super::groups::{self, group_key};
use super::{Applied, Ctx};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{DomainReply, RefusalCode};
use crate::seq_set::{SEQ_SET_BYTES_MAX, SeqSet};
use crate::state_machine::Txn;
use crate::state_machine::keys::{CONTACT_GROUP, Key};

/// Memberships read per page while planning (bounds one read, not the plan).
const PLAN_PAGE_MEMBERS: usize = 10_000;

/// What a sync would change, read from one state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The group as read; `None` when it does not exist yet (the import creates it).
    pub group: Option<Group>,
    /// Members not in the file, as (membership sequence number, contact), in sequence order.
    pub leaving: Vec<(u64, ContactId)>,
    /// Accepted rows whose `external_id` names no contact yet.
    pub created: u64,
    /// Accepted rows whose `external_id` names an existing contact.
    pub updated: u64,
    /// Accepted rows whose contact is not a member now (the new ones included).
    pub joining: u64,
    /// Members whose rows were rejected by validation: they stay (a bad row is not a removal).
    pub kept_rejected: u64,
}

impl Plan {
    /// The leaving memberships as the removal entry carries them.
    pub fn leave_set(&self) -> Result<SeqSet, crate::seq_set::SeqSetError> {
        let seqs: Vec<u64> = self.leaving.iter().map(|(seq, _)| *seq).collect();
        SeqSet::from_sorted(&seqs)
    }
}

/// Plans syncing group `group_name` of `tenant` to a file whose accepted rows have the
/// external ids `accepted` and whose rejected rows (those with a readable id) have `rejected`.
/// Reads only.
pub fn plan<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group_name: &str,
    accepted: &[&str],
    rejected: &[&str],
) -> Result<Plan, EngineError> {
    let mut plan = Plan::default();
    let mut in_file = HashSet::with_capacity(accepted.len());
    for ext in accepted {
        match groups::resolve_contact(txn, tenant, &external(ext))? {
            Some(id) => {
                plan.updated += 1;
                in_file.insert(id);
            }
            None => plan.created += 1,
        }
    }
    let mut rejected_ids = HashSet::new();
    for ext in rejected {
        if let Some(id) = groups::resolve_contact(txn, tenant, &external(ext))? {
            rejected_ids.insert(id);
        }
    }
    plan.joining = accepted.len() as u64;
    let Some(group) = groups::by_name(txn, tenant, group_name)?
        .map(|id| groups::get(txn, tenant, id))
        .transpose()?
        .flatten()
    else {
        return Ok(plan);
    };
    let mut from = 0;
    while from < group.next_seq {
        let page = super::query::memberships(txn, tenant, group.id, from, group.next_seq, PLAN_PAGE_MEMBERS)?;
        let Some((last, _)) = page.last() else { break };
        from = last + 1;
        for (seq, m) in page.into_iter().filter(|(_, m)| m.removed_at.is_none()) {
            if in_file.contains(&m.contact) {
                plan.joining -= 1;
            } else if rejected_ids.contains(&m.contact) {
                plan.kept_rejected += 1;
            } else {
                plan.leaving.push((seq, m.contact));
            }
        }
    }
    plan.group = Some(group);
    Ok(plan)
}

fn external(ext: &str) -> varsel_domain::model::ContactRef {
    varsel_domain::model::ContactRef::External(ext.to_string())
}

/// The group state a removal entry was planned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// The group's `next_seq`.
    pub next_seq: u64,
    /// The group's `member_count`.
    pub member_count: u64,
}

/// Applies the removal step: ends every membership in `leave`, or refuses with nothing changed
/// (the caller's savepoint is rolled back on a refusal). `file` is (rows, rejected rows kept),
/// for the audit record.
pub(super) fn apply<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    id: GroupId,
    expect: Expect,
    leave: &SeqSet,
    file: (u64, u64),
) -> Result<Applied, EngineError> {
    if leave.bytes.len() > SEQ_SET_BYTES_MAX {
        let m =
            format!("leave: {} bytes, more than the {SEQ_SET_BYTES_MAX} one step holds", leave.bytes.len());
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let Some(mut group) = groups::get(txn, tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("group {id} does not exist")));
    };
    if group.next_seq != expect.next_seq || group.member_count != expect.member_count {
        let m = format!(
            "group {id} changed since the sync was planned (members {} then {}, next number {} then {}); \
             plan again",
            expect.member_count, group.member_count, expect.next_seq, group.next_seq
        );
        return Ok(Applied::refused(RefusalCode::FailedPrecondition, m));
    }
    if leave.count > group.member_count {
        let m =
            format!("leave: {} memberships, but group {id} has {} members", leave.count, group.member_count);
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let mut left = 0u64;
    for seq in leave.iter() {
        let seq = match seq {
            Ok(seq) => seq,
            Err(e) => return Ok(Applied::refused(RefusalCode::InvalidArgument, e.to_string())),
        };
        if let Some(refusal) = end_membership(txn, ctx, tenant, &group, seq)? {
            return Ok(refusal);
        }
        left += 1;
    }
    if left != leave.count {
        let m = format!("leave: says {} memberships, holds {left}", leave.count);
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    group.member_count -= left;
    txn.put_as("group", group_key(tenant, id), &group)?;
    let (rows, kept) = file;
    let detail = format!(
        "synced to a file of {rows} rows: {left} left, {} members now; {kept} members with rejected rows kept",
        group.member_count
    );
    let reply = DomainReply::Members { added: 0, removed: left, member_count: group.member_count };
    Ok(Applied::done(reply, tenant, format!("group {id}"), detail))
}

/// Ends membership `seq` of `group` at this entry's index; `Some` refusal when it is not an
/// active membership of the group (the plan does not match the state).
fn end_membership<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    group: &Group,
    seq: u64,
) -> Result<Option<Applied>, EngineError> {
    let not_active = || {
        let m = format!("leave: membership {seq} of group {} is not an active membership", group.id);
        Ok(Some(Applied::refused(RefusalCode::FailedPrecondition, m)))
    };
    if seq >= group.next_seq {
        return not_active();
    }
    let Some(mut m) = super::members::get(txn, tenant, group.id, seq)? else { return not_active() };
    let current = Key::new(CONTACT_GROUP).u64(tenant).u64(m.contact).u64(group.id).done();
    // The contact's index must point at this very membership, or the plan is stale.
    if m.removed_at.is_some() || txn.get_as::<u64>("membership seq", &current)? != Some(seq) {
        return not_active();
    }
    m.removed_at = Some(ctx.index);
    super::members::set(txn, tenant, group.id, seq, &m)?;
    txn.remove(current);
    groups::record_ended(txn, tenant, group.id, m.contact, seq);
    Ok(None)
}
