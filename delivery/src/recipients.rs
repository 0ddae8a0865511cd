//! Who a range of a shard reaches: frozen group memberships, direct contacts, duplicates.
//!
//! Read from this node's applied state. A position is a recipient when its membership was
//! active at the alert's acceptance index; a contact that is also in an earlier target (an
//! earlier group, or for direct contacts any group) is a duplicate and skipped, so nobody gets
//! the same alert twice on one channel because they are on two lists. A member that was
//! inactive when the alert was accepted is not a recipient (inactive direct targets were left
//! out of the alert at acceptance).

use varsel_domain::model::{Alert, Contact};
use varsel_raft_store::StateReader;
use varsel_raft_store::engine::KvTree;
use varsel_raft_store::error::EngineError;
use varsel_raft_store::shards::ShardRange;
use varsel_raft_store::state_machine::Txn;
use varsel_raft_store::state_machine::domain::query;

/// What one position of a shard turned out to be.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A recipient to message.
    Recipient(Box<Contact>),
    /// Not a recipient of this alert (joined after it was accepted, left before, or was
    /// inactive when it was accepted).
    NotRecipient,
    /// Reached through an earlier target of the same alert.
    Duplicate,
    /// The contact was deleted after the alert was accepted.
    Deleted,
}

/// Resolves positions `from..to` of `range`. Positions without a membership record (none in
/// practice) are skipped.
pub fn resolve<T: KvTree>(
    state: &StateReader<T>,
    alert: &Alert,
    range: &ShardRange,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Resolved)>, EngineError> {
    let txn = state.read_txn();
    let mut out = Vec::with_capacity((to - from) as usize);
    match *range {
        ShardRange::Group { target, .. } => {
            let Some(snap) = alert.groups.get(target as usize) else { return Ok(out) };
            let members = query::memberships(&txn, alert.tenant, snap.group, from, to, (to - from) as usize)?;
            // Members that were inactive (SCIM `active: false`) when the alert was accepted:
            // one read per batch, usually of nothing.
            let excluded = query::alert_excluded(&txn, alert.id)?;
            // Positions whose contact is to be read: read together, in contact order, below.
            let mut wanted = Vec::new();
            for (seq, m) in members {
                let r = if !m.active_at(alert.accepted_index) || excluded.binary_search(&m.contact).is_ok() {
                    Resolved::NotRecipient
                } else if in_earlier_group(&txn, alert, target as usize, m.contact)? {
                    Resolved::Duplicate
                } else {
                    wanted.push((m.contact, out.len()));
                    Resolved::Deleted
                };
                out.push((seq, r));
            }
            wanted.sort_unstable();
            let mut ids: Vec<u64> = wanted.iter().map(|&(id, _)| id).collect();
            ids.dedup();
            let mut found = query::contact_records(&txn, alert.tenant, &ids)?.into_iter().peekable();
            // `wanted` is sorted by contact, as `found` is; a contact not found stays `Deleted`.
            // A contact at two positions (two memberships in the range) is read once.
            let mut prev: Option<(u64, usize)> = None;
            for (id, at) in wanted {
                if let Some((_, first_at)) = prev.filter(|&(p, _)| p == id) {
                    out[at].1 = out[first_at].1.clone();
                    continue;
                }
                while found.next_if(|(f, _)| *f < id).is_some() {}
                if let Some((_, c)) = found.next_if(|(f, _)| *f == id) {
                    out[at].1 = Resolved::Recipient(Box::new(c));
                    prev = Some((id, at));
                }
            }
        }
        ShardRange::Direct { .. } => {
            for pos in from..to {
                let Some(&c) = alert.contacts.get(pos as usize) else { break };
                let r = if in_earlier_group(&txn, alert, alert.groups.len(), c)? {
                    Resolved::Duplicate
                } else {
                    contact(&txn, alert, c)?
                };
                out.push((pos, r));
            }
        }
    }
    Ok(out)
}

fn in_earlier_group<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: &Alert,
    before: usize,
    contact: u64,
) -> Result<bool, EngineError> {
    for g in alert.groups.iter().take(before) {
        if query::was_member_at(txn, alert.tenant, g.group, contact, alert.accepted_index)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn contact<T: KvTree>(txn: &Txn<'_, T>, alert: &Alert, id: u64) -> Result<Resolved, EngineError> {
    Ok(match query::contact_record(txn, alert.tenant, id)? {
        Some(c) => Resolved::Recipient(Box::new(c)),
        None => Resolved::Deleted,
    })
}
