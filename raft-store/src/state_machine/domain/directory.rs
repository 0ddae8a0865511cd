//! Directory attributes of contacts (what SCIM clients keep besides the contact itself): the
//! directory's own id of the person, whether the person is active, and when the contact was
//! created. Kept in tables of their own, so the `Contact` record keeps its shape:
//!
//! - `DIRECTORY` (tenant, contact) → [`DirectoryRecord`];
//! - `DIRECTORY_ID` (tenant, directory id) → contact: `externalId eq` answered by one read;
//! - `INACTIVE` (tenant, contact) → (): only the inactive contacts, so an alert's acceptance
//!   reads the tenant's inactive set with one prefix scan, however many recipients it has;
//! - `ALERT_EXCLUDED` (alert) → sorted `Vec<ContactId>`: the inactive members of the alert's
//!   groups when it was accepted, read once per delivery batch.
//!
//! The rule: an inactive contact is not a recipient of any alert accepted while it is inactive,
//! whether targeted through a group or directly. Alerts accepted before it went inactive still
//! reach it (like group memberships, recipients are frozen at acceptance), and it is a recipient
//! of alerts accepted after it is active again.
//!
//! Groups have a directory id too (SCIM Group `externalId`): `GROUP_DIRECTORY` (tenant, group)
//! → directory id, written with a rename by [`update_group`].
//!
//! [`upsert`] writes a contact and its directory attributes in one log entry
//! ([`Op::UpsertContactDirectory`](crate::ops::Op::UpsertContactDirectory)), so a crash
//! cannot leave one without the other.

use serde::{Deserialize, Serialize};
use varsel_domain::model::{ContactId, ContactInput, GroupId, GroupSnapshot, TenantId};

use super::contacts::{self, ext_key};
use super::groups::{self, check_group_name, group_key};
use super::{Applied, Ctx, next_id, tenants};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{DirectoryAttributes, DomainReply, RefusalCode, UpsertReport};
use crate::state_machine::Txn;
use crate::state_machine::keys::{
    ALERT_EXCLUDED, CONTACT_GROUP, DIRECTORY, DIRECTORY_ID, GROUP_DIRECTORY, GROUP_NAME, INACTIVE, Key, SEQ,
    u64_at,
};

/// Most inactive contacts one tenant may hold. An alert's acceptance reads the whole inactive
/// set of its tenant (one prefix scan, a few bytes per contact) and an alert keeps the inactive
/// members of its groups in one record, so the set is bounded: 100,000 is far more people than
/// a directory keeps deactivated before deleting them (Entra deletes 30 days after), and reads
/// in a few milliseconds. A deactivation past it is refused, naming the bound.
pub const INACTIVE_PER_TENANT_MAX: u64 = 100_000;

/// Longest directory id (SCIM `externalId`), in characters. Entra's object ids are 36, Okta's
/// 20; 256 leaves room for any directory's and keeps index keys short.
pub const DIRECTORY_ID_CHARS_MAX: usize = 256;

/// What the directory keeps about a contact, beyond the contact record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryRecord {
    /// The directory's own id of the person (SCIM `externalId`), case-exact; unique per tenant.
    pub directory_id: Option<String>,
    /// Whether the contact is kept out of alerts accepted from now on (SCIM `active: false`).
    pub inactive: bool,
    /// When the contact was created (log clock, ms), by any upsert or import; 0 when it was
    /// created before this record existed (then only its `updated_at_ms` is known).
    pub created_at_ms: u64,
}

fn record_key(tenant: TenantId, contact: ContactId) -> Vec<u8> {
    Key::new(DIRECTORY).u64(tenant).u64(contact).done()
}

fn directory_id_key(tenant: TenantId, directory_id: &str) -> Vec<u8> {
    Key::new(DIRECTORY_ID).u64(tenant).tail(directory_id).done()
}

fn inactive_key(tenant: TenantId, contact: ContactId) -> Vec<u8> {
    Key::new(INACTIVE).u64(tenant).u64(contact).done()
}

fn inactive_count_key(tenant: TenantId) -> Vec<u8> {
    Key::new(SEQ).tail(&format!("inactive-count/{tenant}")).done()
}

/// Key of the inactive contacts an alert left out of its groups.
pub(crate) fn excluded_key(alert: u64) -> Vec<u8> {
    Key::new(ALERT_EXCLUDED).u64(alert).done()
}

/// A contact's directory record.
pub(crate) fn get<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
) -> Result<Option<DirectoryRecord>, EngineError> {
    txn.get_as("directory record", &record_key(tenant, contact))
}

/// The contact a directory id names.
pub(crate) fn by_directory_id<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    directory_id: &str,
) -> Result<Option<ContactId>, EngineError> {
    txn.get_as("contact id", &directory_id_key(tenant, directory_id))
}

/// The inactive contacts an alert left out of its groups, sorted (empty for most alerts).
pub(crate) fn excluded<T: KvTree>(txn: &Txn<'_, T>, alert: u64) -> Result<Vec<ContactId>, EngineError> {
    Ok(txn.get_as("excluded contacts", &excluded_key(alert))?.unwrap_or_default())
}

/// What an upsert with directory attributes is asked to do.
pub(crate) struct UpsertDirectory<'a> {
    pub(crate) input: &'a ContactInput,
    pub(crate) directory: Option<&'a DirectoryAttributes>,
    pub(crate) replace: Option<ContactId>,
    pub(crate) create_only: bool,
}

/// Creates or replaces one contact and sets its directory attributes, in one entry. With
/// `replace`, that contact is replaced and may change its external id (refused when another
/// contact has it); with `create_only`, an external id already taken is refused.
pub(super) fn upsert<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    u: &UpsertDirectory<'_>,
) -> Result<Applied, EngineError> {
    let Some(t) = tenants::get(txn, tenant)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("tenant {tenant} does not exist")));
    };
    let ext = &u.input.external_id;
    let taken: Option<ContactId> = txn.get_as("contact id", &ext_key(tenant, ext))?;
    let (id, existed) = match (u.replace, taken) {
        (Some(id), Some(other)) if other != id => {
            let m = format!("external_id {ext:?} belongs to contact {other}");
            return Ok(Applied::refused(RefusalCode::AlreadyExists, m));
        }
        (Some(id), _) => {
            let Some(old) = contacts::get(txn, tenant, id)? else {
                return Ok(Applied::refused(RefusalCode::NotFound, format!("contact {id} does not exist")));
            };
            if old.external_id != *ext {
                txn.remove(ext_key(tenant, &old.external_id));
            }
            (id, true)
        }
        (None, Some(id)) if u.create_only => {
            let m = format!("external_id {ext:?} belongs to contact {id}");
            return Ok(Applied::refused(RefusalCode::AlreadyExists, m));
        }
        (None, Some(id)) => (id, true),
        (None, None) => {
            let total = contacts::count(txn, tenant)?;
            if total >= t.limits.max_contacts {
                let m = format!("limit max_contacts ({}) reached", t.limits.max_contacts);
                return Ok(Applied::refused(RefusalCode::ResourceExhausted, m));
            }
            contacts::set_count(txn, tenant, total + 1)?;
            (next_id(txn, "contact")?, false)
        }
    };
    contacts::write_contact(txn, ctx, tenant, id, u.input, existed)?;
    let groups_created = contacts::join_groups(
        txn,
        ctx,
        tenant,
        (id, !existed),
        &u.input.groups,
        &mut contacts::GroupsByName::new(),
    )?;
    if !existed {
        record_creation(txn, ctx, tenant, id)?;
    }
    if let Some(d) = u.directory
        && let Some(refusal) = set(txn, tenant, id, d)?
    {
        return Ok(refusal);
    }
    let report = UpsertReport {
        created: u64::from(!existed),
        updated: u64::from(existed),
        groups_created,
        ids: vec![id],
        refused: Vec::new(),
    };
    let detail = match u.directory {
        Some(d) => format!("directory attributes set (inactive: {})", d.inactive),
        None => "directory attributes kept".to_string(),
    };
    Ok(Applied::done(DomainReply::Upserted(report), tenant, format!("contact {id}"), detail))
}

/// Records when a new contact was created (a record without directory attributes).
pub(super) fn record_creation<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    id: ContactId,
) -> Result<(), EngineError> {
    let record = DirectoryRecord { created_at_ms: ctx.now_ms, ..DirectoryRecord::default() };
    txn.put_as("directory record", record_key(tenant, id), &record)
}

/// Sets a contact's directory id and activity. `Some` is a refusal (the caller's savepoint
/// undoes what was written before it).
fn set<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    id: ContactId,
    d: &DirectoryAttributes,
) -> Result<Option<Applied>, EngineError> {
    let mut record = get(txn, tenant, id)?.unwrap_or_default();
    if let Some(new) = &d.directory_id {
        if new.is_empty() || new.chars().count() > DIRECTORY_ID_CHARS_MAX || new.chars().any(char::is_control)
        {
            let m = format!(
                "directory.directory_id: must be 1 to {DIRECTORY_ID_CHARS_MAX} characters without control characters"
            );
            return Ok(Some(Applied::refused(RefusalCode::InvalidArgument, m)));
        }
        match by_directory_id(txn, tenant, new)? {
            Some(other) if other != id => {
                let m = format!("directory.directory_id {new:?} belongs to contact {other}");
                return Ok(Some(Applied::refused(RefusalCode::AlreadyExists, m)));
            }
            _ => txn.put_as("contact id", directory_id_key(tenant, new), &id)?,
        }
    }
    if let Some(old) = record.directory_id.as_ref().filter(|o| Some(*o) != d.directory_id.as_ref()) {
        txn.remove(directory_id_key(tenant, old));
    }
    if d.inactive != record.inactive {
        let count: u64 = txn.get_as("inactive count", &inactive_count_key(tenant))?.unwrap_or(0);
        let count = if d.inactive {
            if count >= INACTIVE_PER_TENANT_MAX {
                let m = format!(
                    "directory.inactive: the tenant already holds {count} inactive contacts, the most allowed \
                     ({INACTIVE_PER_TENANT_MAX}); delete some"
                );
                return Ok(Some(Applied::refused(RefusalCode::ResourceExhausted, m)));
            }
            txn.put(inactive_key(tenant, id), Vec::new());
            count + 1
        } else {
            txn.remove(inactive_key(tenant, id));
            count.saturating_sub(1)
        };
        txn.put_as("inactive count", inactive_count_key(tenant), &count)?;
    }
    record.directory_id = d.directory_id.clone();
    record.inactive = d.inactive;
    txn.put_as("directory record", record_key(tenant, id), &record)?;
    Ok(None)
}

/// Forgets a contact's directory attributes (the contact is deleted or erased).
pub(super) fn forget<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    id: ContactId,
) -> Result<(), EngineError> {
    let Some(record) = get(txn, tenant, id)? else { return Ok(()) };
    if let Some(d) = &record.directory_id {
        txn.remove(directory_id_key(tenant, d));
    }
    if record.inactive {
        let count: u64 = txn.get_as("inactive count", &inactive_count_key(tenant))?.unwrap_or(0);
        txn.put_as("inactive count", inactive_count_key(tenant), &count.saturating_sub(1))?;
        txn.remove(inactive_key(tenant, id));
    }
    txn.remove(record_key(tenant, id));
    Ok(())
}

/// The tenant's inactive contacts, sorted: one prefix scan, bounded by
/// [`INACTIVE_PER_TENANT_MAX`].
pub(crate) fn inactive_set<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
) -> Result<Vec<ContactId>, EngineError> {
    let prefix = Key::new(INACTIVE).u64(tenant).done();
    let limit = usize::try_from(INACTIVE_PER_TENANT_MAX).unwrap_or(usize::MAX);
    Ok(txn.scan_prefix(&prefix, None, limit)?.iter().filter_map(|(k, _)| u64_at(k, prefix.len())).collect())
}

/// Who an alert being accepted leaves out because they are inactive.
#[derive(Debug, Default)]
pub(crate) struct Exclusions {
    /// Inactive contacts that are current members of at least one targeted group, sorted.
    pub(crate) group_members: Vec<ContactId>,
    /// Memberships of inactive contacts in the targeted groups: subtracted from the planned
    /// recipients (which count memberships).
    pub(crate) memberships: u64,
}

/// Applies the rule at acceptance: drops inactive contacts from the direct targets, and lists
/// the inactive current members of the targeted groups. Reads the tenant's inactive set once,
/// then one key per (inactive contact, group); nothing per recipient.
pub(crate) fn exclude_inactive<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    groups: &[GroupSnapshot],
    contacts: &mut Vec<ContactId>,
) -> Result<Exclusions, EngineError> {
    let inactive = inactive_set(txn, tenant)?;
    let mut out = Exclusions::default();
    if inactive.is_empty() {
        return Ok(out);
    }
    contacts.retain(|c| inactive.binary_search(c).is_err());
    for &c in &inactive {
        let mut member = false;
        for g in groups {
            let key = Key::new(CONTACT_GROUP).u64(tenant).u64(c).u64(g.group).done();
            if txn.get(&key)?.is_some() {
                out.memberships += 1;
                member = true;
            }
        }
        if member {
            out.group_members.push(c);
        }
    }
    Ok(out)
}

fn group_directory_key(tenant: TenantId, group: GroupId) -> Vec<u8> {
    Key::new(GROUP_DIRECTORY).u64(tenant).u64(group).done()
}

/// A group's directory id (SCIM Group `externalId`).
pub(crate) fn group_directory_id<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
) -> Result<Option<String>, EngineError> {
    txn.get_as("group directory id", &group_directory_key(tenant, group))
}

/// Renames a group (refused when another group has the name) and sets its directory id.
pub(super) fn update_group<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    id: GroupId,
    name: &str,
    directory_id: Option<&str>,
) -> Result<Applied, EngineError> {
    let Some(mut group) = groups::get(txn, tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("group {id} does not exist")));
    };
    if let Some(m) = check_group_name(name) {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    if let Some(d) = directory_id
        && (d.is_empty() || d.chars().count() > DIRECTORY_ID_CHARS_MAX || d.chars().any(char::is_control))
    {
        let m = format!(
            "directory_id: must be 1 to {DIRECTORY_ID_CHARS_MAX} characters without control characters"
        );
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    if group.name != name {
        if let Some(other) = groups::by_name(txn, tenant, name)? {
            let m = format!("name {name:?} belongs to group {other}");
            return Ok(Applied::refused(RefusalCode::AlreadyExists, m));
        }
        txn.remove(Key::new(GROUP_NAME).u64(tenant).tail(&group.name).done());
        txn.put_as("group id", Key::new(GROUP_NAME).u64(tenant).tail(name).done(), &id)?;
        group.name = name.to_string();
        txn.put_as("group", group_key(tenant, id), &group)?;
    }
    match directory_id {
        Some(d) => txn.put_as("group directory id", group_directory_key(tenant, id), &d.to_string())?,
        None => txn.remove(group_directory_key(tenant, id)),
    }
    let detail = format!("name {name:?}, directory id {directory_id:?}");
    Ok(Applied::done(DomainReply::Group(group), tenant, format!("group {id}"), detail))
}

/// Forgets a group's directory id (the group is deleted).
pub(super) fn forget_group<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    id: GroupId,
) -> Result<(), EngineError> {
    txn.remove(group_directory_key(tenant, id));
    Ok(())
}
