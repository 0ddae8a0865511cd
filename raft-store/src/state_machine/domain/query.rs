//! Reads of the domain state, for the API and the delivery engine.
//!
//! Every function takes a read transaction of the applied state and a tenant: nothing here
//! can reach another tenant's records, because every key read starts with the tenant given.

use varsel_domain::model::{
    Alert, AlertId, AuditRecord, Contact, ContactId, Credential, CredentialId, Group, GroupId, Membership,
    StoredTemplate, Tenant, TenantId,
};

use super::alerts::{self, Ack, Progress, ack_key, progress_key};
use super::{contacts, groups, tenants};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::state_machine::Txn;
use crate::state_machine::keys::{
    ALERT, AUDIT, CONTACT, CONTACT_EXT, CREDENTIAL, GROUP, Key, OPEN_ALERT, PHONE, SEQ, TEMPLATE, TENANT,
    TENANT_CREDENTIAL, u64_at,
};

/// Largest page any list returns.
pub const PAGE_MAX: usize = 1_000;

fn decode_values<V: for<'de> serde::Deserialize<'de>>(
    what: &'static str,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Vec<V>, EngineError> {
    pairs.iter().map(|(_, v)| crate::types::decode(what, v)).collect()
}

/// A contact's directory attributes (SCIM), if any were ever written.
pub fn directory<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
) -> Result<Option<super::directory::DirectoryRecord>, EngineError> {
    super::directory::get(txn, tenant, contact)
}

/// The contact a directory id (SCIM `externalId`) names: one read of an index.
pub fn contact_by_directory_id<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    directory_id: &str,
) -> Result<Option<ContactId>, EngineError> {
    super::directory::by_directory_id(txn, tenant, directory_id)
}

/// The inactive members of its groups an alert left out when accepted, sorted; read once per
/// batch of positions by whoever expands the alert's groups.
pub fn alert_excluded<T: KvTree>(txn: &Txn<'_, T>, alert: AlertId) -> Result<Vec<ContactId>, EngineError> {
    super::directory::excluded(txn, alert)
}

/// A group's directory id (SCIM Group `externalId`).
pub fn group_directory_id<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
) -> Result<Option<String>, EngineError> {
    super::directory::group_directory_id(txn, tenant, group)
}

/// A tenant.
pub fn tenant<T: KvTree>(txn: &Txn<'_, T>, id: TenantId) -> Result<Option<Tenant>, EngineError> {
    tenants::get(txn, id)
}

/// Every tenant (for the superadmin), up to [`PAGE_MAX`].
pub fn tenants<T: KvTree>(txn: &Txn<'_, T>) -> Result<Vec<Tenant>, EngineError> {
    decode_values("tenant", txn.scan_prefix(&[TENANT], None, PAGE_MAX)?)
}

/// A credential by id (any tenant: used to authenticate).
pub fn credential<T: KvTree>(txn: &Txn<'_, T>, id: CredentialId) -> Result<Option<Credential>, EngineError> {
    txn.get_as("credential", &Key::new(CREDENTIAL).u64(id).done())
}

/// A tenant's credentials.
pub fn credentials<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<Vec<Credential>, EngineError> {
    let prefix = Key::new(TENANT_CREDENTIAL).u64(tenant).done();
    let mut out = Vec::new();
    for (k, _) in txn.scan_prefix(&prefix, None, PAGE_MAX)? {
        if let Some(c) = u64_at(&k, prefix.len()).map(|id| credential(txn, id)).transpose()?.flatten() {
            out.push(c);
        }
    }
    Ok(out)
}

/// A contact and its current groups.
pub fn contact<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: ContactId,
) -> Result<Option<(Contact, Vec<Group>)>, EngineError> {
    let Some(c) = contacts::get(txn, tenant, id)? else { return Ok(None) };
    let groups = contacts::groups_of(txn, tenant, id)?;
    Ok(Some((c, groups)))
}

/// A contact without its groups: what sending needs, one read instead of a scan per recipient.
pub fn contact_record<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: ContactId,
) -> Result<Option<Contact>, EngineError> {
    contacts::get(txn, tenant, id)
}

/// The contact records of `ids` (sorted, without repeats) that exist, in the same order as
/// pairs. When the ids lie close together, as a list imported in one go does, they are read in
/// one ordered pass over the contact table (sled keeps the leaf it is on, instead of one
/// descent from the root per contact); when they are spread out, one read each.
pub fn contact_records<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    ids: &[ContactId],
) -> Result<Vec<(ContactId, Contact)>, EngineError> {
    let mut out = Vec::with_capacity(ids.len());
    let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else { return Ok(out) };
    // Dense enough: at most two stored contacts passed over for each one wanted.
    if last - first > 3 * ids.len() as u64 {
        for &id in ids {
            if let Some(c) = contacts::get(txn, tenant, id)? {
                out.push((id, c));
            }
        }
        return Ok(out);
    }
    let start = std::ops::Bound::Included(contacts::contact_key(tenant, first));
    let end = std::ops::Bound::Included(contacts::contact_key(tenant, last));
    let offset = contacts::contact_key(tenant, 0).len() - 8;
    let mut wanted = ids.iter().peekable();
    for kv in txn.tree().range(start, end) {
        let (k, v) = kv?;
        let Some(id) = u64_at(&k, offset) else { continue };
        while wanted.next_if(|&&w| w < id).is_some() {}
        if wanted.next_if_eq(&&id).is_some() {
            out.push((id, crate::types::decode("contact", &v)?));
        }
    }
    Ok(out)
}

/// A contact's places (area alerts).
pub fn locations<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
) -> Result<Vec<varsel_domain::location::Location>, EngineError> {
    super::locations::get(txn, tenant, contact)
}

/// A contact's id by external id.
pub fn contact_id<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    external_id: &str,
) -> Result<Option<ContactId>, EngineError> {
    txn.get_as("contact id", &Key::new(CONTACT_EXT).u64(tenant).tail(external_id).done())
}

/// A page of contacts in id order, after `after`.
pub fn contacts<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    after: Option<ContactId>,
    limit: usize,
) -> Result<Vec<Contact>, EngineError> {
    let prefix = Key::new(CONTACT).u64(tenant).done();
    let start = after.map(|a| Key::new(CONTACT).u64(tenant).u64(a).done());
    decode_values("contact", txn.scan_prefix(&prefix, start.as_deref(), limit.min(PAGE_MAX))?)
}

/// How many contacts a tenant has.
pub fn contact_count<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<u64, EngineError> {
    contacts::count(txn, tenant)
}

/// Contacts with this phone number, in every tenant (to route a reply).
pub fn contacts_by_phone<T: KvTree>(
    txn: &Txn<'_, T>,
    phone: &str,
) -> Result<Vec<(TenantId, ContactId)>, EngineError> {
    let prefix = Key::new(PHONE).str(phone).done();
    let pairs = txn.scan_prefix(&prefix, None, PAGE_MAX)?;
    Ok(pairs
        .iter()
        .filter_map(|(k, _)| Some((u64_at(k, prefix.len())?, u64_at(k, prefix.len() + 8)?)))
        .collect())
}

/// A group.
pub fn group<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: GroupId,
) -> Result<Option<Group>, EngineError> {
    groups::get(txn, tenant, id)
}

/// A group's id by name.
pub fn group_id<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    name: &str,
) -> Result<Option<GroupId>, EngineError> {
    groups::by_name(txn, tenant, name)
}

/// A tenant's groups.
pub fn groups<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<Vec<Group>, EngineError> {
    decode_values("group", txn.scan_prefix(&Key::new(GROUP).u64(tenant).done(), None, PAGE_MAX)?)
}

/// Memberships of a group by sequence number, from `from_seq`, at most `limit`.
pub fn memberships<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    from_seq: u64,
    end_seq: u64,
    limit: usize,
) -> Result<Vec<(u64, Membership)>, EngineError> {
    if from_seq >= end_seq {
        return Ok(Vec::new());
    }
    if let Some(ag) = super::locations::area_group(txn, tenant, group)? {
        return super::locations::area_memberships(txn, tenant, group, &ag, from_seq, end_seq, limit);
    }
    super::members::range(txn, tenant, group, from_seq, end_seq, limit)
}

/// Whether `contact` was a member of `group` as of log index `at`.
pub fn was_member_at<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    contact: ContactId,
    at: u64,
) -> Result<bool, EngineError> {
    groups::was_member_at(txn, tenant, group, contact, at)
}

/// A template.
pub fn template<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    name: &str,
) -> Result<Option<StoredTemplate>, EngineError> {
    txn.get_as("template", &Key::new(TEMPLATE).u64(tenant).tail(name).done())
}

/// A tenant's templates.
pub fn templates<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<Vec<StoredTemplate>, EngineError> {
    decode_values("template", txn.scan_prefix(&Key::new(TEMPLATE).u64(tenant).done(), None, PAGE_MAX)?)
}

/// An alert.
pub fn alert<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: AlertId,
) -> Result<Option<Alert>, EngineError> {
    alerts::get(txn, tenant, id)
}

/// The id the next accepted alert will get (of any tenant): every alert this state knows has
/// a smaller one.
pub fn next_alert_id<T: KvTree>(txn: &Txn<'_, T>) -> Result<AlertId, EngineError> {
    Ok(txn.get_as("sequence", &Key::new(SEQ).tail("alert").done())?.unwrap_or(1))
}

/// A page of alerts, newest first, before `before`.
pub fn alerts<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    before: Option<AlertId>,
    limit: usize,
) -> Result<Vec<Alert>, EngineError> {
    let prefix = Key::new(ALERT).u64(tenant).done();
    let before = before.map(|b| Key::new(ALERT).u64(tenant).u64(b).done());
    decode_values("alert", txn.scan_prefix_rev(&prefix, before.as_deref(), limit.min(PAGE_MAX))?)
}

/// An alert's progress.
pub fn progress<T: KvTree>(txn: &Txn<'_, T>, alert: AlertId) -> Result<Progress, EngineError> {
    Ok(txn.get_as("progress", &progress_key(alert))?.unwrap_or_default())
}

/// A recipient's acknowledgement of an alert.
pub fn ack<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: AlertId,
    contact: ContactId,
) -> Result<Option<Ack>, EngineError> {
    txn.get_as("ack", &ack_key(alert, contact))
}

/// Whether `contact` is a recipient of `alert`.
pub fn is_recipient<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: &Alert,
    contact: ContactId,
) -> Result<bool, EngineError> {
    alerts::is_recipient(txn, alert, contact)
}

/// Alerts that are not finished: (alert, tenant), in id order.
pub fn open_alerts<T: KvTree>(txn: &Txn<'_, T>) -> Result<Vec<(AlertId, TenantId)>, EngineError> {
    let pairs = txn.scan_prefix(&[OPEN_ALERT], None, usize::MAX)?;
    pairs.iter().map(|(k, v)| Ok((u64_at(k, 1).unwrap_or(0), crate::types::decode("tenant", v)?))).collect()
}

/// A page of a tenant's audit trail, newest first, before log index `before`.
pub fn audit<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<(u64, AuditRecord)>, EngineError> {
    let prefix = Key::new(AUDIT).u64(tenant).done();
    let before = before.map(|b| Key::new(AUDIT).u64(tenant).u64(b).done());
    let pairs = txn.scan_prefix_rev(&prefix, before.as_deref(), limit.min(PAGE_MAX))?;
    pairs
        .iter()
        .map(|(k, v)| Ok((u64_at(k, prefix.len()).unwrap_or(0), crate::types::decode("audit record", v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemEngine, StorageEngine};

    /// Goal: reading contacts together gives exactly the stored ones of those asked for, in
    /// order, by the ordered pass (ids close together, other contacts and another tenant's
    /// between) and by single reads (ids far apart) alike.
    #[test]
    fn contact_records_reads_those_asked_for() -> Result<(), EngineError> {
        let engine = MemEngine::new();
        let tree = engine.open_tree("t")?;
        let mut txn = Txn::new(&tree);
        for (tenant, id) in (1..=40).map(|id| (5, id)).chain([(5, 1_000_000), (6, 7), (4, 8)]) {
            let c = Contact { id, external_id: format!("e{id}"), ..Contact::default() };
            txn.put_as("contact", contacts::contact_key(tenant, id), &c)?;
        }
        txn.commit()?;
        let txn = Txn::new(&tree);
        let ids_of = |found: Vec<(ContactId, Contact)>| -> Vec<ContactId> {
            found
                .iter()
                .map(|(id, c)| {
                    assert_eq!(c.id, *id);
                    *id
                })
                .collect()
        };
        // Close together: 7 and 8 are also another tenant's; 41 and 0 do not exist.
        let dense = [0, 2, 3, 7, 8, 9, 20, 21, 22, 23, 24, 25, 30, 41];
        assert_eq!(
            ids_of(contact_records(&txn, 5, &dense)?),
            vec![2, 3, 7, 8, 9, 20, 21, 22, 23, 24, 25, 30]
        );
        // Far apart: one read each.
        let sparse = [1, 40, 500_000, 1_000_000];
        assert_eq!(ids_of(contact_records(&txn, 5, &sparse)?), vec![1, 40, 1_000_000]);
        assert!(contact_records(&txn, 5, &[])?.is_empty());
        assert!(contact_records(&txn, 9, &[1, 2, 3])?.is_empty(), "another tenant's are not read");
        Ok(())
    }
}
