//! Templates, alerts (accept, cancel), acknowledgements and per-alert progress.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use varsel_domain::alert_spec;
use varsel_domain::location::AreaTarget;
use varsel_domain::model::{
    Alert, AlertId, AlertSpec, AlertStatus, Channel, ContactId, Content, GroupRef, GroupSnapshot, Limits,
    StoredTemplate, TenantId,
};
use varsel_domain::template::Template;

use super::directory;
use super::groups::{self, resolve_contact};
use super::locations;
use super::{Applied, Ctx, next_id, tenants};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::format::encode_unversioned;
use crate::ops::{Caller, DomainReply, RefusalCode};
use crate::shards;
use crate::state_machine::Txn;
use crate::state_machine::keys::{
    ACK, ALERT, ALERT_RATE, ALERT_TENANT, HELD_ALERT, IDEMPOTENCY, Key, OPEN_ALERT, PROGRESS, TEMPLATE,
};

/// Window of the per-tenant alert rate limit.
pub const RATE_WINDOW_MS: u64 = 60_000;

/// Counts of one channel of an alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelProgress {
    /// Handed to the sending pipeline, outcome not yet recorded.
    pub queued: u64,
    /// Accepted by a provider.
    pub sent: u64,
    /// Delivery confirmed by a receipt.
    pub delivered: u64,
    /// Failed for good.
    pub failed: u64,
    /// Not sent before the alert expired.
    pub expired: u64,
    /// Not sent on purpose: opted out, no address, acknowledged, duplicate.
    pub skipped: u64,
}

/// Progress of one alert, updated as outcomes are recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Distinct recipients processed so far.
    pub recipients: u64,
    /// Recipients who acknowledged.
    pub acknowledged: u64,
    /// Counts per channel.
    pub channels: BTreeMap<Channel, ChannelProgress>,
    /// First message handed to a provider (ms).
    pub first_sent_at_ms: Option<u64>,
    /// Last message handed to a provider (ms).
    pub last_sent_at_ms: Option<u64>,
    /// Shards whose every step finished.
    pub shards_done: u32,
}

/// An acknowledgement by one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// When (log clock).
    pub at_ms: u64,
    /// The channel it came through, if known.
    pub channel: Option<Channel>,
}

/// The tenant of an alert (any status).
pub(crate) fn tenant_of<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: AlertId,
) -> Result<Option<TenantId>, EngineError> {
    txn.get_as("tenant", &Key::new(ALERT_TENANT).u64(alert).done())
}

pub(crate) fn alert_key(tenant: TenantId, id: AlertId) -> Vec<u8> {
    Key::new(ALERT).u64(tenant).u64(id).done()
}

/// Key of an alert's progress.
pub fn progress_key(alert: AlertId) -> Vec<u8> {
    Key::new(PROGRESS).u64(alert).done()
}

/// Key of a recipient's acknowledgement of an alert.
pub fn ack_key(alert: AlertId, contact: ContactId) -> Vec<u8> {
    Key::new(ACK).u64(alert).u64(contact).done()
}

pub(crate) fn open_alert_key(alert: AlertId) -> Vec<u8> {
    Key::new(OPEN_ALERT).u64(alert).done()
}

/// Reads an alert of a tenant.
pub(crate) fn get<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: AlertId,
) -> Result<Option<Alert>, EngineError> {
    txn.get_as("alert", &alert_key(tenant, id))
}

pub(super) fn put_template<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    name: &str,
    content: &Content,
) -> Result<Applied, EngineError> {
    if let Some(m) = tenants::check_name("template.name", name) {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    if let Some(m) = check_template_content(content) {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let t = StoredTemplate { name: name.to_string(), content: content.clone(), updated_at_ms: ctx.now_ms };
    txn.put_as("template", Key::new(TEMPLATE).u64(tenant).tail(name).done(), &t)?;
    Ok(Applied::done(DomainReply::Template(t), tenant, format!("template {name:?}"), "stored".into()))
}

/// A template's content must name its default language, have a variant for it, and parse.
fn check_template_content(content: &Content) -> Option<String> {
    if !content.variants.contains_key(&content.default_language) {
        return Some("template.content.default_language: has no variant".into());
    }
    for (lang, v) in &content.variants {
        for (field, text) in v.texts() {
            if let Err(e) = Template::parse(&format!("template.content.variants[{lang}].{field}"), text) {
                return Some(e.to_string());
            }
        }
    }
    None
}

fn request_hash(spec: &AlertSpec, area: Option<&AreaTarget>) -> Result<u64, EngineError> {
    let mut bytes = encode_unversioned("alert spec", spec)?;
    // An alert without areas hashes as it did before areas existed.
    if let Some(area) = area {
        bytes.extend(encode_unversioned("area target", area)?);
    }
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes);
    Ok(u64::from(h.finalize()) << 32 | bytes.len() as u64 & 0xffff_ffff)
}

pub(super) fn create<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    spec: &AlertSpec,
    trace: Option<&str>,
    area: Option<&AreaTarget>,
) -> Result<Applied, EngineError> {
    let tenant = actor.tenant;
    let hash = request_hash(spec, area)?;
    let idem_key = Key::new(IDEMPOTENCY).u64(tenant).tail(&spec.idempotency_key).done();
    if let Some(existing) = txn.get_as::<AlertId>("alert id", &idem_key)? {
        return replay(txn, tenant, existing, hash);
    }
    let Some(t) = tenants::get(txn, tenant)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("tenant {tenant} does not exist")));
    };
    let mut checked = spec.clone();
    if let Err(errors) = alert_spec::validate_with_area(&mut checked, area, &t.limits, ctx.now_ms) {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Ok(Applied::refused(RefusalCode::InvalidArgument, all.join("; ")));
    }
    if let Some(refusal) = check_rate(txn, ctx, tenant, &t.limits)? {
        return Ok(refusal);
    }
    let mut targets = match resolve_targets(txn, tenant, &checked)? {
        Ok(t) => t,
        Err(m) => return Ok(Applied::refused(RefusalCode::NotFound, m)),
    };
    // Who is inside the areas now (inactive contacts left out), before anything is written.
    let inside = match area.filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match area_recipients(txn, tenant, a)? {
            Ok(found) => Some((a, found)),
            Err(refusal) => return Ok(refusal),
        },
    };
    // Inactive contacts (SCIM `active: false`) are no recipients: out of the direct targets
    // here, out of the groups' members by the list kept with the alert.
    let excluded = directory::exclude_inactive(txn, tenant, &targets.0, &mut targets.1)?;
    let planned = (targets.0.iter().map(|g| g.member_count).sum::<u64>())
        .saturating_sub(excluded.memberships)
        + targets.1.len() as u64
        + inside.as_ref().map_or(0, |(_, found)| found.len() as u64);
    if let Some(m) = check_volume(&t.limits, planned, checked.channels().len() as u64) {
        return Ok(Applied::refused(RefusalCode::ResourceExhausted, m));
    }
    // The area's recipients become a target group of the alert's own, frozen here.
    let area_group = match &inside {
        Some((_, found)) => {
            let snapshot = locations::freeze(txn, ctx, tenant, found)?;
            targets.0.push(snapshot);
            Some(snapshot)
        }
        None => None,
    };
    let mut alert = accept(txn, ctx, actor, checked, targets, planned, hash)?;
    if let (Some((target, _)), Some(g)) = (&inside, area_group) {
        let record =
            locations::AreaRecord { target: (*target).clone(), group: g.group, matched: g.member_count };
        locations::record(txn, alert.id, &record)?;
    }
    if !excluded.group_members.is_empty() {
        txn.put_as("excluded contacts", directory::excluded_key(alert.id), &excluded.group_members)?;
    }
    if let Some(t) = trace.filter(|t| t.len() <= 256) {
        alert.trace = Some(t.to_string());
        txn.put_as("alert", alert_key(tenant, alert.id), &alert)?;
    }
    txn.put_as("alert id", idem_key, &alert.id)?;
    let channels: Vec<&str> = alert.spec.channels().iter().map(|c| c.as_str()).collect();
    let detail = format!(
        "{:?} priority, {} recipients planned, channels {}",
        alert.spec.priority,
        planned,
        channels.join(",")
    );
    let target = format!("alert {}", alert.id);
    Ok(Applied::done(DomainReply::Alert { alert: Box::new(alert), existing: false }, tenant, target, detail))
}

/// The same idempotency key again: the first alert, or a refusal if the request differs.
fn replay<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: AlertId,
    hash: u64,
) -> Result<Applied, EngineError> {
    let Some(alert) = get(txn, tenant, id)? else {
        return Ok(Applied::refused(
            RefusalCode::FailedPrecondition,
            format!("idempotency_key: alert {id} is gone"),
        ));
    };
    if alert.request_hash != hash {
        let m = format!("idempotency_key: already used for alert {id} with different content");
        return Ok(Applied::refused(RefusalCode::FailedPrecondition, m));
    }
    Ok(Applied { reply: DomainReply::Alert { alert: Box::new(alert), existing: true }, audit: None })
}

fn check_rate<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    limits: &Limits,
) -> Result<Option<Applied>, EngineError> {
    let key = Key::new(ALERT_RATE).u64(tenant).done();
    let mut recent: Vec<u64> = txn.get_as("alert times", &key)?.unwrap_or_default();
    recent.retain(|t| t + RATE_WINDOW_MS > ctx.now_ms);
    if recent.len() >= limits.max_alerts_per_minute as usize {
        let retry_s =
            recent.first().map_or(0, |t| (t + RATE_WINDOW_MS).saturating_sub(ctx.now_ms)).div_ceil(1000);
        let m = format!(
            "limit max_alerts_per_minute ({}) reached; the next alert is allowed in {retry_s} s",
            limits.max_alerts_per_minute
        );
        return Ok(Some(Applied::refused(RefusalCode::ResourceExhausted, m)));
    }
    recent.push(ctx.now_ms);
    txn.put_as("alert times", key, &recent)?;
    Ok(None)
}

type Targets = (Vec<GroupSnapshot>, Vec<ContactId>);

fn resolve_targets<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    spec: &AlertSpec,
) -> Result<Result<Targets, String>, EngineError> {
    let mut snapshots = Vec::with_capacity(spec.groups.len());
    let mut seen = BTreeSet::new();
    for (i, r) in spec.groups.iter().enumerate() {
        let id = match r {
            GroupRef::Id(id) => Some(*id),
            GroupRef::Name(n) => groups::by_name(txn, tenant, n)?,
        };
        let Some(group) = id.map(|id| groups::get(txn, tenant, id)).transpose()?.flatten() else {
            return Ok(Err(format!("targets.groups[{i}]: group {r:?} does not exist")));
        };
        if seen.insert(group.id) {
            snapshots.push(GroupSnapshot {
                group: group.id,
                seq_end: group.next_seq,
                member_count: group.member_count,
            });
        }
    }
    let mut contacts = Vec::with_capacity(spec.contacts.len());
    let mut seen = BTreeSet::new();
    for (i, r) in spec.contacts.iter().enumerate() {
        match resolve_contact(txn, tenant, r)? {
            Some(c) if seen.insert(c) => contacts.push(c),
            Some(_) => {}
            None => return Ok(Err(format!("targets.contacts[{i}]: contact {r:?} does not exist"))),
        }
    }
    Ok(Ok((snapshots, contacts)))
}

/// The contacts an area target reaches, or the refusal: an area that does not parse, a
/// `within_groups` group that does not exist, or no one inside without `allow_empty`.
fn area_recipients<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    target: &AreaTarget,
) -> Result<Result<Vec<ContactId>, Applied>, EngineError> {
    let areas = match locations::areas(target) {
        Ok(a) => a,
        Err(m) => return Ok(Err(Applied::refused(RefusalCode::InvalidArgument, m))),
    };
    let inactive = directory::inactive_set(txn, tenant)?;
    match locations::resolve(txn, tenant, &areas, &target.within_groups, &inactive)? {
        Err(m) => Ok(Err(Applied::refused(RefusalCode::NotFound, m))),
        Ok(found) if found.is_empty() && !target.allow_empty => Ok(Err(Applied::refused(
            RefusalCode::InvalidArgument,
            "targets.areas: no contact has a place inside the area; nothing would be sent \
             (allow_empty sends the alert to its other targets anyway)",
        ))),
        Ok(found) => Ok(Ok(found)),
    }
}

fn check_volume(limits: &Limits, planned: u64, channels: u64) -> Option<String> {
    if planned > limits.max_recipients_per_alert {
        return Some(format!(
            "limit max_recipients_per_alert ({}) exceeded: the targets hold {planned} recipients",
            limits.max_recipients_per_alert
        ));
    }
    let messages = planned.saturating_mul(channels);
    if messages > limits.max_messages_per_alert {
        return Some(format!(
            "limit max_messages_per_alert ({}) exceeded: {planned} recipients x {channels} channels = {messages} messages",
            limits.max_messages_per_alert
        ));
    }
    None
}

fn accept<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    spec: AlertSpec,
    (groups, contacts): Targets,
    planned: u64,
    hash: u64,
) -> Result<Alert, EngineError> {
    let id = next_id(txn, "alert")?;
    let (start_ms, expires_ms) = alert_spec::start_and_expiry(&spec, ctx.now_ms);
    let shard_count = shards::plan(&groups, contacts.len()).len() as u32;
    let status = if start_ms > ctx.now_ms { AlertStatus::Scheduled } else { AlertStatus::Active };
    let alert = Alert {
        id,
        tenant: actor.tenant,
        spec,
        groups,
        contacts,
        accepted_index: ctx.index,
        created_at_ms: ctx.now_ms,
        created_by: actor.credential,
        start_ms,
        expires_ms,
        status,
        recipients_planned: planned,
        shards: shard_count,
        cancelled: None,
        finished_at_ms: None,
        request_hash: hash,
        trace: None,
    };
    txn.put_as("alert", alert_key(actor.tenant, id), &alert)?;
    txn.put_as("tenant", open_alert_key(id), &actor.tenant)?;
    txn.put_as("tenant", Key::new(ALERT_TENANT).u64(id).done(), &actor.tenant)?;
    txn.put_as("progress", progress_key(id), &Progress::default())?;
    let kind = crate::webhooks::EventKind::AlertCreated;
    let when = serde_json::json!({ "start_ms": start_ms, "expires_ms": expires_ms });
    crate::state_machine::webhooks::emit_alert(txn, ctx, kind, &alert, when)?;
    Ok(alert)
}

pub(super) fn cancel<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    id: AlertId,
) -> Result<Applied, EngineError> {
    let Some(mut alert) = get(txn, actor.tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("alert {id} does not exist")));
    };
    if alert.status.is_final() {
        let m = format!("alert {id} is already {:?}; nothing to cancel", alert.status);
        return Ok(Applied::refused(RefusalCode::FailedPrecondition, m));
    }
    alert.status = AlertStatus::Cancelled;
    alert.cancelled = Some((ctx.now_ms, actor.credential));
    alert.finished_at_ms = Some(ctx.now_ms);
    txn.put_as("alert", alert_key(actor.tenant, id), &alert)?;
    txn.remove(open_alert_key(id));
    // A held alert was off the unfinished list already.
    txn.remove(held_alert_key(id));
    crate::state_machine::retention::schedule(txn, actor.tenant, id, ctx.now_ms)?;
    let kind = crate::webhooks::EventKind::AlertCancelled;
    let by = serde_json::json!({ "cancelled_by_credential": actor.credential });
    crate::state_machine::webhooks::emit_alert(txn, ctx, kind, &alert, by)?;
    let target = format!("alert {id}");
    Ok(Applied::done(
        DomainReply::Alert { alert: Box::new(alert), existing: true },
        actor.tenant,
        target,
        "cancelled".into(),
    ))
}

/// Key of a held alert (see [`hold`]).
fn held_alert_key(alert: AlertId) -> Vec<u8> {
    Key::new(HELD_ALERT).u64(alert).done()
}

/// Holds every unfinished alert: status [`AlertStatus::Held`], off the unfinished list, so
/// nothing of it is sent until an operator resumes or cancels it. What a restore from a
/// backup does to the alerts that were being sent when the backup was taken. Returns the
/// alerts held.
pub fn hold_unfinished<T: KvTree>(txn: &mut Txn<'_, T>) -> Result<Vec<AlertId>, EngineError> {
    let open = txn.scan_prefix(&[OPEN_ALERT], None, usize::MAX)?;
    let mut held = Vec::with_capacity(open.len());
    for (k, v) in open {
        let id = crate::state_machine::keys::u64_at(&k, 1).unwrap_or(0);
        let tenant: TenantId = crate::types::decode("tenant", &v)?;
        let Some(mut alert) = get(txn, tenant, id)? else { continue };
        let before = alert.status;
        alert.status = AlertStatus::Held;
        txn.put_as("alert", alert_key(tenant, id), &alert)?;
        txn.put_as("held alert", held_alert_key(id), &(tenant, before))?;
        txn.remove(k);
        held.push(id);
    }
    Ok(held)
}

/// Sends a held alert on: back to the status it had and onto the unfinished list, from where
/// its shards were (the delivery engine takes them up once their leases lapse).
pub(super) fn resume<T: KvTree>(
    txn: &mut Txn<'_, T>,
    actor: &Caller,
    id: AlertId,
) -> Result<Applied, EngineError> {
    let Some(mut alert) = get(txn, actor.tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("alert {id} does not exist")));
    };
    let held: Option<(TenantId, AlertStatus)> = txn.get_as("held alert", &held_alert_key(id))?;
    let Some((_, before)) = held.filter(|_| alert.status == AlertStatus::Held) else {
        let m = format!("alert {id} is {:?}, not held after a restore; nothing to resume", alert.status);
        return Ok(Applied::refused(RefusalCode::FailedPrecondition, m));
    };
    alert.status = before;
    txn.put_as("alert", alert_key(actor.tenant, id), &alert)?;
    txn.put_as("tenant", open_alert_key(id), &actor.tenant)?;
    txn.remove(held_alert_key(id));
    Ok(Applied::done(
        DomainReply::Alert { alert: Box::new(alert), existing: false },
        actor.tenant,
        format!("alert {id}"),
        "resumed after a restore".into(),
    ))
}

/// Whether `contact` is among the recipients `alert` froze when it was accepted.
pub(crate) fn is_recipient<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: &Alert,
    contact: ContactId,
) -> Result<bool, EngineError> {
    if alert.contacts.contains(&contact) {
        return Ok(true);
    }
    if directory::excluded(txn, alert.id)?.binary_search(&contact).is_ok() {
        return Ok(false);
    }
    for g in &alert.groups {
        if groups::was_member_at(txn, alert.tenant, g.group, contact, alert.accepted_index)? {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn acknowledge<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: TenantId,
    id: AlertId,
    contact: ContactId,
    channel: Option<Channel>,
) -> Result<Applied, EngineError> {
    let Some(alert) = get(txn, tenant, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("alert {id} does not exist")));
    };
    if !is_recipient(txn, &alert, contact)? {
        let m = format!("contact {contact} is not a recipient of alert {id}");
        return Ok(Applied::refused(RefusalCode::NotFound, m));
    }
    let key = ack_key(id, contact);
    if txn.get(&key)?.is_some() {
        return Ok(Applied { reply: DomainReply::Acknowledged { already: true }, audit: None });
    }
    txn.put_as("ack", key, &Ack { at_ms: ctx.now_ms, channel })?;
    let mut progress: Progress = txn.get_as("progress", &progress_key(id))?.unwrap_or_default();
    progress.acknowledged += 1;
    txn.put_as("progress", progress_key(id), &progress)?;
    let kind = crate::webhooks::EventKind::Acknowledged;
    let who = serde_json::json!({
        "contact_id": contact,
        "channel": channel.map(|c| c.as_str()),
        "acknowledged": progress.acknowledged,
    });
    crate::state_machine::webhooks::emit_alert(txn, ctx, kind, &alert, who)?;
    let via = channel.map_or("api", |c| c.as_str());
    let reply = DomainReply::Acknowledged { already: false };
    Ok(Applied::done(
        reply,
        tenant,
        format!("alert {id}"),
        format!("contact {contact} acknowledged via {via}"),
    ))
}
