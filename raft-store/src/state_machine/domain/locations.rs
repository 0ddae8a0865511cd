//! Contacts' places and the spatial index that finds who is inside an area.
//!
//! - `LOCATION` (tenant, contact) → `Vec<Location>`: the contact's named places;
//! - `GEO_CELL` (tenant, grid row, grid column, contact, place number) → the place's point.
//!
//! The grid is `varsel-geo`'s: cells of 0.01° by 0.01°, row-major, so the cells of one row
//! that an area covers are one key range. Resolving an area reads, for each run of cells its
//! cover yields, that range of the index and nothing else: the cost follows the contacts in
//! and near the area, not the tenant's 5,000,000. A run whose cells lie wholly inside the area
//! is taken without looking at the points; in a run the boundary crosses, each point is tested
//! with exact integer arithmetic (circles: haversine, see `varsel-geo`), so every node decides
//! alike.
//!
//! An alert with an area target freezes its recipients when it is accepted, as group targets
//! do: the contacts found become the members of a group of the alert's own ([`freeze`]), which
//! has no name and no group record, so it never shows among the tenant's groups, and whose
//! members are kept in sorted chunks ([`AreaGroup`]); the membership reads (`query::memberships`,
//! `groups::was_member_at`, `reach`) know such groups, so shards, sending, acknowledgements and
//! erasure treat it as any target group. `ALERT_AREA` (alert) → [`AreaRecord`] keeps what was asked and what it matched.

use serde::{Deserialize, Serialize};
use varsel_domain::location::{AreaTarget, Location};
use varsel_domain::model::{Channel, ContactId, GroupId, GroupRef, GroupSnapshot, Membership, TenantId};
use varsel_geo::{Area, COLS, Point, cell_of};

use super::groups;
use super::{Ctx, next_id};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::state_machine::Txn;
use crate::state_machine::keys::{
    ALERT_AREA, AREA_CHUNK, AREA_GROUP, CONTACT_GROUP, GEO_CELL, Key, LOCATION,
};

/// What an alert's area target asked for and found, kept with the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaRecord {
    /// The target as given.
    pub target: AreaTarget,
    /// The alert's own group holding the contacts found.
    pub group: GroupId,
    /// How many contacts were inside (after the group restriction and inactive contacts).
    pub matched: u64,
}

fn location_key(tenant: TenantId, contact: ContactId) -> Vec<u8> {
    Key::new(LOCATION).u64(tenant).u64(contact).done()
}

fn cell_key(tenant: TenantId, point: Point, contact: ContactId, place: u8) -> Vec<u8> {
    let cell = cell_of(point);
    Key::new(GEO_CELL).u64(tenant).u16(cell.row).u16(cell.col).u64(contact).u8(place).done()
}

/// Offset of the contact id in a `GEO_CELL` key.
const CELL_KEY_CONTACT_AT: usize = 1 + 8 + 2 + 2;

fn point_of(l: &Location) -> Option<Point> {
    Point::new(l.lat_e7, l.lon_e7).ok()
}

fn area_key(alert: u64) -> Vec<u8> {
    Key::new(ALERT_AREA).u64(alert).done()
}

/// A contact's places.
pub(crate) fn get<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
) -> Result<Vec<Location>, EngineError> {
    Ok(txn.get_as("locations", &location_key(tenant, contact))?.unwrap_or_default())
}

/// Replaces a contact's places and their index entries.
pub(crate) fn set<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
    locations: &[Location],
) -> Result<(), EngineError> {
    let old = get(txn, tenant, contact)?;
    if old == locations {
        return Ok(());
    }
    unindex(txn, tenant, contact, &old);
    if locations.is_empty() {
        txn.remove(location_key(tenant, contact));
        return Ok(());
    }
    for (place, l) in locations.iter().enumerate() {
        if let Some(p) = point_of(l) {
            txn.put_as("point", cell_key(tenant, p, contact, place as u8), &(p.lat_e7, p.lon_e7))?;
        }
    }
    txn.put_as("locations", location_key(tenant, contact), &locations)
}

/// Removes a contact's places (the contact is deleted or erased).
pub(crate) fn forget<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    contact: ContactId,
) -> Result<(), EngineError> {
    set(txn, tenant, contact, &[])
}

fn unindex<T: KvTree>(txn: &mut Txn<'_, T>, tenant: TenantId, contact: ContactId, old: &[Location]) {
    for (place, l) in old.iter().enumerate() {
        if let Some(p) = point_of(l) {
            txn.remove(cell_key(tenant, p, contact, place as u8));
        }
    }
}

/// Most runs of grid cells one area's cover may have (see `varsel_geo::Area::cover_bound`):
/// resolving it takes time in proportion, inside the state machine. A polygon of a few
/// hundred points round a county stays far below; only a pathological ring (thousands of
/// edges running across whole countries) comes near.
pub const AREA_RUNS_MAX: u64 = 2_000_000;

/// Parses an area target's polygons and circles; the error names the target and the rule.
pub fn areas(target: &AreaTarget) -> Result<Vec<Area>, String> {
    let mut out = Vec::with_capacity(target.polygons.len() + target.circles.len());
    let check = |field: String, area: Area| {
        let runs = area.cover_bound().runs_max;
        if runs > AREA_RUNS_MAX {
            return Err(format!(
                "{field}: would take up to {runs} runs of index cells to resolve, more than {AREA_RUNS_MAX}; \
                 simplify the polygon (fewer points across long distances)"
            ));
        }
        Ok(area)
    };
    for (i, p) in target.polygons.iter().enumerate() {
        let field = format!("targets.area_polygons[{i}]");
        let polygon = varsel_geo::Polygon::parse(p).map_err(|e| format!("{field}: {e}"))?;
        out.push(check(field, Area::Polygon(polygon))?);
    }
    for (i, c) in target.circles.iter().enumerate() {
        let field = format!("targets.area_circles[{i}]");
        let circle = varsel_geo::Circle::parse(c).map_err(|e| format!("{field}: {e}"))?;
        out.push(check(field, Area::Circle(circle))?);
    }
    Ok(out)
}

/// The tenant's contacts with a place inside any of `areas`, sorted, each once.
pub fn inside<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    areas: &[Area],
) -> Result<Vec<ContactId>, EngineError> {
    let mut out = Vec::new();
    for area in areas {
        for run in area.cover() {
            let start = Key::new(GEO_CELL).u64(tenant).u16(run.row).u16(run.col_lo).done();
            // One past the run's last column; the last column of a row ends at the next row.
            let end = match run.col_hi.checked_add(1).filter(|c| *c < COLS) {
                Some(c) => Key::new(GEO_CELL).u64(tenant).u16(run.row).u16(c).done(),
                None => Key::new(GEO_CELL).u64(tenant).u16(run.row).u16(u16::MAX).u64(u64::MAX).done(),
            };
            let mut bad = None;
            txn.for_each_in(&start, &end, |k, v| {
                let Some(contact) = crate::state_machine::keys::u64_at(k, CELL_KEY_CONTACT_AT) else {
                    return;
                };
                if run.inside {
                    out.push(contact);
                    return;
                }
                match crate::types::decode::<(i32, i32)>("point", v) {
                    Ok((lat, lon)) => {
                        if Point::new(lat, lon).is_ok_and(|p| area.contains(p)) {
                            out.push(contact);
                        }
                    }
                    Err(e) => bad = Some(e),
                }
            })?;
            if let Some(e) = bad {
                return Err(e);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Who an area target reaches: contacts inside, restricted to the current members of any
/// group of `within` when it is not empty, less `inactive` (sorted). `Err` names a group that
/// does not exist.
pub(crate) fn resolve<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    areas: &[Area],
    within: &[GroupRef],
    inactive: &[ContactId],
) -> Result<Result<Vec<ContactId>, String>, EngineError> {
    let mut found = inside(txn, tenant, areas)?;
    if !within.is_empty() {
        let mut ids = Vec::with_capacity(within.len());
        for (i, r) in within.iter().enumerate() {
            let id = match r {
                GroupRef::Id(id) => Some(*id),
                GroupRef::Name(n) => groups::by_name(txn, tenant, n)?,
            };
            let Some(group) = id.map(|id| groups::get(txn, tenant, id)).transpose()?.flatten() else {
                return Ok(Err(format!("targets.within_groups[{i}]: group {r:?} does not exist")));
            };
            ids.push(group.id);
        }
        let mut kept = Vec::with_capacity(found.len());
        for c in found {
            for g in &ids {
                if txn.get(&Key::new(CONTACT_GROUP).u64(tenant).u64(c).u64(*g).done())?.is_some() {
                    kept.push(c);
                    break;
                }
            }
        }
        found = kept;
    }
    if !inactive.is_empty() {
        found.retain(|c| inactive.binary_search(c).is_err());
    }
    Ok(Ok(found))
}

/// Contacts per chunk of a frozen area list.
pub const AREA_CHUNK_LEN: usize = 1024;

/// A group of an alert's own holding the contacts its areas matched, frozen when the alert was
/// accepted. Its members are kept in sorted chunks of [`AREA_CHUNK_LEN`] (`AREA_CHUNK`), not
/// as one membership record each: a polygon over 1,000,000 people writes about 1,000 records,
/// not 2,000,000, in the entry that accepts it. Member `seq` is the contact's position in the
/// sorted list; every membership started at `added_at` and never ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaGroup {
    /// The log index the alert was accepted at.
    pub added_at: u64,
    /// Members.
    pub len: u64,
    /// The first contact of each chunk, to find a contact's chunk with one read.
    pub heads: Vec<ContactId>,
}

fn area_group_key(tenant: TenantId, group: GroupId) -> Vec<u8> {
    Key::new(AREA_GROUP).u64(tenant).u64(group).done()
}

fn chunk_key(tenant: TenantId, group: GroupId, chunk: u64) -> Vec<u8> {
    Key::new(AREA_CHUNK).u64(tenant).u64(group).u64(chunk).done()
}

/// The area group `group`, if it is one.
pub(crate) fn area_group<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
) -> Result<Option<AreaGroup>, EngineError> {
    txn.get_as("area group", &area_group_key(tenant, group))
}

fn chunk<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    n: u64,
) -> Result<Vec<ContactId>, EngineError> {
    Ok(txn.get_as("area chunk", &chunk_key(tenant, group, n))?.unwrap_or_default())
}

/// Members `from..end` of an area group, at most `limit`, as memberships.
pub(crate) fn area_memberships<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    ag: &AreaGroup,
    from: u64,
    end: u64,
    limit: usize,
) -> Result<Vec<(u64, Membership)>, EngineError> {
    let end = end.min(ag.len).min(from.saturating_add(limit as u64));
    let mut out = Vec::with_capacity(end.saturating_sub(from) as usize);
    let per = AREA_CHUNK_LEN as u64;
    let mut seq = from;
    while seq < end {
        let n = seq / per;
        let ids = chunk(txn, tenant, group, n)?;
        for (i, &contact) in ids.iter().enumerate().skip((seq % per) as usize) {
            let s = n * per + i as u64;
            if s >= end {
                break;
            }
            out.push((s, Membership { contact, added_at: ag.added_at, removed_at: None }));
        }
        seq = (n + 1) * per;
    }
    Ok(out)
}

/// The position of `contact` in an area group, if it is a member.
pub(crate) fn area_seq_of<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    group: GroupId,
    ag: &AreaGroup,
    contact: ContactId,
) -> Result<Option<u64>, EngineError> {
    let n = match ag.heads.binary_search(&contact) {
        Ok(n) => n,
        Err(0) => return Ok(None),
        Err(n) => n - 1,
    };
    let ids = chunk(txn, tenant, group, n as u64)?;
    Ok(ids.binary_search(&contact).ok().map(|i| (n * AREA_CHUNK_LEN + i) as u64))
}

/// Writes `contacts` (sorted, each once) as the members of a new group of the alert's own (no
/// name, no group record) and returns its snapshot: from here on, the area's recipients are a
/// target group frozen at this entry, whatever places change later.
pub(crate) fn freeze<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    contacts: &[ContactId],
) -> Result<GroupSnapshot, EngineError> {
    let group = next_id(txn, "group")?;
    let mut heads = Vec::with_capacity(contacts.len().div_ceil(AREA_CHUNK_LEN));
    for (n, ids) in contacts.chunks(AREA_CHUNK_LEN).enumerate() {
        heads.push(ids[0]);
        txn.put_as("area chunk", chunk_key(tenant, group, n as u64), &ids)?;
    }
    let n = contacts.len() as u64;
    let ag = AreaGroup { added_at: ctx.index, len: n, heads };
    txn.put_as("area group", area_group_key(tenant, group), &ag)?;
    Ok(GroupSnapshot { group, seq_end: n, member_count: n })
}

/// Removes an area alert's area record, its group's marker and its chunks (retention removes
/// the whole alert); how many records.
pub(crate) fn forget_area<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    alert: u64,
) -> Result<u64, EngineError> {
    let Some(record) = area_of(txn, alert)? else { return Ok(0) };
    let prefix = Key::new(AREA_CHUNK).u64(tenant).u64(record.group).done();
    let chunks = txn.scan_prefix(&prefix, None, usize::MAX)?;
    for (k, _) in &chunks {
        txn.remove(k.clone());
    }
    txn.remove(area_group_key(tenant, record.group));
    txn.remove(area_key(alert));
    Ok(chunks.len() as u64 + 2)
}

/// Keeps an alert's area record.
pub(crate) fn record<T: KvTree>(
    txn: &mut Txn<'_, T>,
    alert: u64,
    record: &AreaRecord,
) -> Result<(), EngineError> {
    txn.put_as("area record", area_key(alert), record)
}

/// An alert's area record, if it had an area target.
pub fn area_of<T: KvTree>(txn: &Txn<'_, T>, alert: u64) -> Result<Option<AreaRecord>, EngineError> {
    txn.get_as("area record", &area_key(alert))
}

/// Who targets would reach if an alert were accepted now (see [`reach`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    /// Distinct contacts, inactive ones left out.
    pub contacts: u64,
    /// Of those, inside the areas.
    pub in_areas: u64,
    /// Reachable per channel, in [`Channel::ALL`] order.
    pub per_channel: [u64; 4],
}

/// Counts who `groups`, `contacts` and `area` would reach now, per channel, as an alert
/// accepted at this point would: current members, inactive contacts left out, each contact
/// once. Reads every contact counted (a preview of a national group reads millions); writes
/// nothing. `Err` names a target that does not exist or does not parse.
pub fn reach<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    groups_: &[GroupRef],
    contacts: &[varsel_domain::model::ContactRef],
    area: &AreaTarget,
) -> Result<Result<Reach, String>, EngineError> {
    // Sorted: a prefix scan in contact order.
    let inactive = super::directory::inactive_set(txn, tenant)?;
    let in_areas = match areas(area) {
        Err(m) => return Ok(Err(m)),
        Ok(a) if a.is_empty() => Vec::new(),
        Ok(a) => match resolve(txn, tenant, &a, &area.within_groups, &inactive)? {
            Ok(found) => found,
            Err(m) => return Ok(Err(m)),
        },
    };
    let mut all = in_areas.clone();
    for (i, r) in groups_.iter().enumerate() {
        let id = match r {
            GroupRef::Id(id) => Some(*id),
            GroupRef::Name(n) => groups::by_name(txn, tenant, n)?,
        };
        let Some(g) = id.map(|id| groups::get(txn, tenant, id)).transpose()?.flatten() else {
            return Ok(Err(format!("targets.groups[{i}]: group {r:?} does not exist")));
        };
        let mut from = 0;
        while from < g.next_seq {
            let page = super::query::memberships(txn, tenant, g.id, from, g.next_seq, 10_000)?;
            let Some(last) = page.last().map(|(seq, _)| *seq) else { break };
            all.extend(page.into_iter().filter(|(_, m)| m.removed_at.is_none()).map(|(_, m)| m.contact));
            from = last + 1;
        }
    }
    for (i, r) in contacts.iter().enumerate() {
        match groups::resolve_contact(txn, tenant, r)? {
            Some(c) => all.push(c),
            None => return Ok(Err(format!("targets.contacts[{i}]: contact {r:?} does not exist"))),
        }
    }
    all.sort_unstable();
    all.dedup();
    all.retain(|c| inactive.binary_search(c).is_err());
    let mut out = Reach { contacts: all.len() as u64, in_areas: in_areas.len() as u64, ..Reach::default() };
    for c in all {
        let Some(contact) = super::contacts::get(txn, tenant, c)? else { continue };
        for (n, channel) in Channel::ALL.iter().enumerate() {
            if contact.reachable_on(*channel) {
                out.per_channel[n] += 1;
            }
        }
    }
    Ok(Ok(out))
}
