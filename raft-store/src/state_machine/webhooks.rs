//! Applying webhook subscriptions, events and delivery results (see [`crate::webhooks`]).
//!
//! Deterministic like the rest: events are appended while the entry that caused them is
//! applied, with ids and times taken from the entry (`Ctx`), so every node holds the same
//! outbox. Tables (see [`keys`](super::keys)): `0x70` subscriptions, `0x71` outbox, `0x72`
//! events, `0x73` attempts, `0x74` the highest step announced per alert, `0x75` idempotency
//! keys of creates, `0x76` outbox entries per tenant.
//!
//! Ordering per alert: an outbox entry is due only when no earlier entry of the same alert is
//! waiting for the same endpoint ([`due`]); entries leave the outbox only when delivered (or
//! dropped, or their endpoint deleted), so the next event of an alert waits for the previous
//! one's 2xx.

use serde_json::json;
use varsel_domain::model::{Alert, AlertId, Role, TenantId};

use super::domain::{Applied, Ctx};
use crate::delivery::{DeliveryReply, bounded_text};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{Caller, DomainReply, Refusal, RefusalCode};
use crate::state_machine::Txn;
use crate::state_machine::keys::{
    Key, WEBHOOK, WEBHOOK_ATTEMPT, WEBHOOK_EVENT, WEBHOOK_IDEMPOTENCY, WEBHOOK_OUTBOX, WEBHOOK_OUTBOX_COUNT,
    WEBHOOK_STEP, u64_at,
};
use crate::webhooks::*;

/// Metadata key: the last event numbered, `(log index, n)`, so events of one entry get
/// distinct ids.
const EVENT_SEQ: &[u8] = b"\x00webhook_event_seq";

pub(crate) fn webhook_key(tenant: TenantId, id: WebhookId) -> Vec<u8> {
    Key::new(WEBHOOK).u64(tenant).u64(id).done()
}

fn outbox_key(tenant: TenantId, webhook: WebhookId, e: EventRef) -> Vec<u8> {
    Key::new(WEBHOOK_OUTBOX).u64(tenant).u64(webhook).u64(e.index).u64(u64::from(e.n)).done()
}

fn event_key(e: EventRef) -> Vec<u8> {
    Key::new(WEBHOOK_EVENT).u64(e.index).u64(u64::from(e.n)).done()
}

fn attempt_key(tenant: TenantId, webhook: WebhookId, seq: u64) -> Vec<u8> {
    Key::new(WEBHOOK_ATTEMPT).u64(tenant).u64(webhook).u64(seq).done()
}

fn count_key(tenant: TenantId) -> Vec<u8> {
    Key::new(WEBHOOK_OUTBOX_COUNT).u64(tenant).done()
}

fn step_key(alert: AlertId) -> Vec<u8> {
    Key::new(WEBHOOK_STEP).u64(alert).done()
}

fn refused(code: RefusalCode, message: String) -> Applied {
    Applied { reply: DomainReply::Refused(Refusal::new(code, message)), audit: None }
}

fn admin_only(actor: &Caller) -> Option<Applied> {
    (actor.role != Role::Admin).then(|| {
        let m = format!("role {} may not manage webhooks; admin may", actor.role.as_str());
        refused(RefusalCode::PermissionDenied, m)
    })
}

/// What a create asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewWebhook {
    /// Where to POST.
    pub url: String,
    /// What to send.
    pub events: Vec<EventKind>,
    /// The secret the node drew.
    pub secret: String,
    /// Allow http to loopback.
    pub allow_insecure: bool,
    /// Free text.
    pub description: String,
    /// Makes a retry answer the first create.
    pub idempotency_key: String,
}

/// Creates a subscription (admin only; at most [`WEBHOOKS_PER_TENANT_MAX`]).
pub(crate) fn create<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    new: &NewWebhook,
) -> Result<Applied, EngineError> {
    if let Some(r) = admin_only(actor) {
        return Ok(r);
    }
    let tenant = actor.tenant;
    let mut events = new.events.clone();
    events.sort();
    events.dedup();
    // The request without the secret, which the receiving node draws anew for every attempt.
    let request = crate::format::encode_unversioned(
        "webhook request",
        &(&new.url, &events, new.allow_insecure, &new.description),
    )?;
    let idem = Key::new(WEBHOOK_IDEMPOTENCY).u64(tenant).tail(&new.idempotency_key).done();
    if !new.idempotency_key.is_empty()
        && let Some((first, id)) = txn.get_as::<(Vec<u8>, WebhookId)>("webhook idempotency", &idem)?
    {
        if first != request {
            let m = format!("idempotency_key: already used to create webhook {id} with a different request");
            return Ok(refused(RefusalCode::FailedPrecondition, m));
        }
        return Ok(match get(txn, tenant, id)? {
            Some(w) => Applied {
                reply: DomainReply::Replayed(Box::new(DomainReply::Webhook(Box::new(w)))),
                audit: None,
            },
            None => Applied { reply: DomainReply::Replayed(Box::new(DomainReply::Deleted)), audit: None },
        });
    }
    if let Err(m) = check_new(new, &events) {
        return Ok(refused(RefusalCode::InvalidArgument, m));
    }
    let held = txn.scan_prefix(&Key::new(WEBHOOK).u64(tenant).done(), None, WEBHOOKS_PER_TENANT_MAX + 1)?;
    if held.len() >= WEBHOOKS_PER_TENANT_MAX {
        let m = format!("webhooks: tenant {tenant} has {WEBHOOKS_PER_TENANT_MAX}, the most allowed");
        return Ok(refused(RefusalCode::ResourceExhausted, m));
    }
    let id = super::domain::next_id(txn, "webhook")?;
    let hook = Webhook {
        id,
        tenant,
        url: new.url.clone(),
        events,
        secret: new.secret.clone(),
        allow_insecure: new.allow_insecure,
        description: new.description.clone(),
        created_at_ms: ctx.now_ms,
        disabled: None,
        consecutive_failures: 0,
        attempts: 0,
        delivered: 0,
        dropped: 0,
    };
    txn.put_as("webhook", webhook_key(tenant, id), &hook)?;
    if !new.idempotency_key.is_empty() {
        txn.put_as("webhook idempotency", idem, &(request, id))?;
    }
    let detail = format!("url {} events {}", hook.url, names(&hook.events));
    Ok(Applied {
        reply: DomainReply::Webhook(Box::new(hook)),
        audit: Some((tenant, format!("webhook {id}"), detail)),
    })
}

fn names(events: &[EventKind]) -> String {
    events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(",")
}

/// The rules the state machine checks again (the node checks them first, and the scheme
/// against its configuration).
fn check_new(new: &NewWebhook, events: &[EventKind]) -> Result<(), String> {
    if new.url.len() > URL_BYTES_MAX {
        return Err(format!("url: longer than {URL_BYTES_MAX} bytes"));
    }
    let secure = new.url.starts_with("https://");
    let loopback_http = ["http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]:", "http://localhost:"]
        .iter()
        .any(|p| new.url.starts_with(p));
    let allowed = secure || (new.allow_insecure && loopback_http);
    if !allowed {
        return Err("url: must be https:// (http:// only to a loopback address, with allow_insecure)".into());
    }
    if events.is_empty() {
        return Err("events: name at least one event type".into());
    }
    if new.description.len() > DESCRIPTION_BYTES_MAX {
        return Err(format!("description: longer than {DESCRIPTION_BYTES_MAX} bytes"));
    }
    if !new.secret.starts_with(SECRET_PREFIX) {
        return Err(format!("secret: must start with {SECRET_PREFIX}"));
    }
    Ok(())
}

/// A subscription of `tenant`.
pub fn get<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    id: WebhookId,
) -> Result<Option<Webhook>, EngineError> {
    txn.get_as("webhook", &webhook_key(tenant, id))
}

/// Every subscription of `tenant` (at most [`WEBHOOKS_PER_TENANT_MAX`]).
pub fn list<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<Vec<Webhook>, EngineError> {
    let rows = txn.scan_prefix(&Key::new(WEBHOOK).u64(tenant).done(), None, WEBHOOKS_PER_TENANT_MAX)?;
    rows.iter().map(|(_, v)| crate::format::decode("webhook", v)).collect()
}

/// Deletes a subscription and its outbox entries and attempts.
pub(crate) fn delete<T: KvTree>(
    txn: &mut Txn<'_, T>,
    actor: &Caller,
    id: WebhookId,
) -> Result<Applied, EngineError> {
    if let Some(r) = admin_only(actor) {
        return Ok(r);
    }
    let tenant = actor.tenant;
    if get(txn, tenant, id)?.is_none() {
        return Ok(refused(RefusalCode::NotFound, format!("webhook {id} does not exist")));
    }
    txn.remove(webhook_key(tenant, id));
    let prefix = Key::new(WEBHOOK_OUTBOX).u64(tenant).u64(id).done();
    let entries = txn.scan_prefix(&prefix, None, OUTBOX_PER_TENANT_MAX as usize)?;
    for (k, _) in &entries {
        if let Some(e) = event_of_outbox_key(k) {
            release_event(txn, e)?;
        }
        txn.remove(k.clone());
    }
    add_count(txn, tenant, -(entries.len() as i64))?;
    let attempts = Key::new(WEBHOOK_ATTEMPT).u64(tenant).u64(id).done();
    for (k, _) in txn.scan_prefix(&attempts, None, ATTEMPTS_KEPT_PER_WEBHOOK as usize + 1)? {
        txn.remove(k);
    }
    let detail = format!("{} undelivered events dropped", entries.len());
    Ok(Applied { reply: DomainReply::Deleted, audit: Some((tenant, format!("webhook {id}"), detail)) })
}

/// Enables a subscription again (after it was disabled for failing); its waiting events go out
/// again in order.
pub(crate) fn enable<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    id: WebhookId,
) -> Result<Applied, EngineError> {
    if let Some(r) = admin_only(actor) {
        return Ok(r);
    }
    let Some(mut hook) = get(txn, actor.tenant, id)? else {
        return Ok(refused(RefusalCode::NotFound, format!("webhook {id} does not exist")));
    };
    let was = hook.disabled.take();
    hook.consecutive_failures = 0;
    txn.put_as("webhook", webhook_key(actor.tenant, id), &hook)?;
    // Waiting entries are due at once.
    let prefix = Key::new(WEBHOOK_OUTBOX).u64(actor.tenant).u64(id).done();
    for (k, v) in txn.scan_prefix(&prefix, None, OUTBOX_PER_TENANT_MAX as usize)? {
        let mut e: OutboxEntry = crate::format::decode("outbox entry", &v)?;
        e.next_at_ms = ctx.now_ms;
        txn.put_as("outbox entry", k, &e)?;
    }
    let detail = match was {
        Some(d) => format!("enabled again (was disabled: {})", d.reason),
        None => "enabled (was not disabled)".into(),
    };
    Ok(Applied {
        reply: DomainReply::Webhook(Box::new(hook)),
        audit: Some((actor.tenant, format!("webhook {id}"), detail)),
    })
}

fn event_of_outbox_key(k: &[u8]) -> Option<EventRef> {
    let index = u64_at(k, 17)?;
    let n = u64_at(k, 25)?;
    Some(EventRef { index, n: u32::try_from(n).ok()? })
}

fn add_count<T: KvTree>(txn: &mut Txn<'_, T>, tenant: TenantId, delta: i64) -> Result<u64, EngineError> {
    let n: u64 = txn.get_as("outbox count", &count_key(tenant))?.unwrap_or(0);
    let n = n.saturating_add_signed(delta);
    if n == 0 {
        txn.remove(count_key(tenant));
    } else {
        txn.put_as("outbox count", count_key(tenant), &n)?;
    }
    Ok(n)
}

/// One outbox entry fewer refers to `e`; the event goes with the last.
fn release_event<T: KvTree>(txn: &mut Txn<'_, T>, e: EventRef) -> Result<(), EngineError> {
    let Some(mut ev) = txn.get_as::<WebhookEvent>("webhook event", &event_key(e))? else { return Ok(()) };
    ev.pending = ev.pending.saturating_sub(1);
    if ev.pending == 0 {
        txn.remove(event_key(e));
    } else {
        txn.put_as("webhook event", event_key(e), &ev)?;
    }
    Ok(())
}

fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Appends an event of `kind` for `tenant` (every tenant when `None`: provider events) to the
/// outbox of each enabled subscription that names it. Does nothing when none does.
pub(crate) fn emit<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    tenant: Option<TenantId>,
    kind: EventKind,
    alert: Option<AlertId>,
    data: serde_json::Value,
) -> Result<(), EngineError> {
    let prefix = match tenant {
        Some(t) => Key::new(WEBHOOK).u64(t).done(),
        None => Key::new(WEBHOOK).done(),
    };
    let mut hooks = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let rows = txn.scan_prefix(&prefix, after.as_deref(), WEBHOOKS_PER_TENANT_MAX)?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        for (_, v) in &rows {
            let w: Webhook = crate::format::decode("webhook", v)?;
            if w.events.contains(&kind) {
                hooks.push(w);
            }
        }
        if rows.len() < WEBHOOKS_PER_TENANT_MAX {
            break;
        }
    }
    if hooks.is_empty() {
        return Ok(());
    }
    let e = next_event_ref(txn, ctx)?;
    let body = json!({ "type": kind.as_str(), "timestamp": rfc3339(ctx.now_ms), "data": data }).to_string();
    let mut event = WebhookEvent { kind, alert, at_ms: ctx.now_ms, body, pending: 0 };
    for mut w in hooks {
        if queue(txn, ctx, &mut w, e, alert)? {
            event.pending += 1;
        } else {
            w.dropped += 1;
            txn.put_as("webhook", webhook_key(w.tenant, w.id), &w)?;
        }
    }
    if event.pending > 0 {
        txn.put_as("webhook event", event_key(e), &event)?;
    }
    Ok(())
}

fn next_event_ref<T: KvTree>(txn: &mut Txn<'_, T>, ctx: Ctx) -> Result<EventRef, EngineError> {
    let last: Option<(u64, u32)> = txn.get_as("event sequence", EVENT_SEQ)?;
    let n = match last {
        Some((index, n)) if index == ctx.index => n + 1,
        _ => 0,
    };
    txn.put_as("event sequence", EVENT_SEQ.to_vec(), &(ctx.index, n))?;
    Ok(EventRef { index: ctx.index, n })
}

/// Queues `e` for `w`, making room if the tenant's outbox is full. `false` when it was not
/// queued (disabled endpoint, or full with nothing to drop).
fn queue<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    w: &mut Webhook,
    e: EventRef,
    alert: Option<AlertId>,
) -> Result<bool, EngineError> {
    if w.disabled.is_some() {
        return Ok(false);
    }
    let count: u64 = txn.get_as("outbox count", &count_key(w.tenant))?.unwrap_or(0);
    if count >= OUTBOX_PER_TENANT_MAX && !drop_oldest_of_disabled(txn, w.tenant)? {
        return Ok(false);
    }
    let entry = OutboxEntry { alert, attempts: 0, next_at_ms: ctx.now_ms };
    txn.put_as("outbox entry", outbox_key(w.tenant, w.id, e), &entry)?;
    add_count(txn, w.tenant, 1)?;
    Ok(true)
}

/// Drops the oldest waiting entry of a disabled endpoint of `tenant`, if there is one.
fn drop_oldest_of_disabled<T: KvTree>(txn: &mut Txn<'_, T>, tenant: TenantId) -> Result<bool, EngineError> {
    for mut w in list(txn, tenant)? {
        if w.disabled.is_none() {
            continue;
        }
        let prefix = Key::new(WEBHOOK_OUTBOX).u64(tenant).u64(w.id).done();
        if let Some((k, _)) = txn.scan_prefix(&prefix, None, 1)?.into_iter().next() {
            if let Some(e) = event_of_outbox_key(&k) {
                release_event(txn, e)?;
            }
            txn.remove(k);
            add_count(txn, tenant, -1)?;
            w.dropped += 1;
            txn.put_as("webhook", webhook_key(tenant, w.id), &w)?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// The common part of an alert's event data.
pub(crate) fn alert_data(alert: &Alert) -> serde_json::Value {
    json!({
        "tenant_id": alert.tenant,
        "alert_id": alert.id,
        "title": alert.spec.title,
        "priority": format!("{:?}", alert.spec.priority).to_lowercase(),
        "status": format!("{:?}", alert.status).to_lowercase(),
        "recipients_planned": alert.recipients_planned,
    })
}

/// An alert event with extra fields merged into [`alert_data`].
pub(crate) fn emit_alert<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    kind: EventKind,
    alert: &Alert,
    extra: serde_json::Value,
) -> Result<(), EngineError> {
    let mut data = alert_data(alert);
    if let (Some(d), serde_json::Value::Object(x)) = (data.as_object_mut(), extra) {
        d.extend(x);
    }
    if alert.status.is_final() {
        txn.remove(step_key(alert.id));
    }
    emit(txn, ctx, Some(alert.tenant), kind, Some(alert.id), data)
}

/// A shard of `alert` began `step`: announced once per step, by the first shard to get there.
pub(crate) fn step_started<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    alert: &Alert,
    step: u8,
) -> Result<(), EngineError> {
    let announced: Option<u8> = txn.get_as("announced step", &step_key(alert.id))?;
    if announced.is_some_and(|a| a >= step) {
        return Ok(());
    }
    txn.put_as("announced step", step_key(alert.id), &step)?;
    let channels: Vec<&str> = alert
        .spec
        .policy
        .get(usize::from(step))
        .map(|s| s.channels.iter().map(|c| c.as_str()).collect())
        .unwrap_or_default();
    emit_alert(txn, ctx, EventKind::StepStarted, alert, json!({ "step": step, "channels": channels }))
}

/// Applies a worker's results: delivered entries leave the outbox; failed ones wait
/// `retry_in_ms`; an endpoint failing [`DISABLE_AFTER_FAILURES`] times in a row is disabled
/// (and audited). A result for an entry no longer waiting (delivered by another worker,
/// dropped, deleted) is ignored.
pub(crate) fn results<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    node: u64,
    items: &[WebhookResult],
) -> Result<DeliveryReply, EngineError> {
    let mut accepted = Vec::with_capacity(items.len());
    for r in items.iter().take(RESULTS_PER_ENTRY_MAX) {
        accepted.push(result_one(txn, ctx, node, r)?);
    }
    Ok(DeliveryReply::Recorded { accepted })
}

fn result_one<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    node: u64,
    r: &WebhookResult,
) -> Result<bool, EngineError> {
    let key = outbox_key(r.tenant, r.webhook, r.event);
    let Some(mut entry) = txn.get_as::<OutboxEntry>("outbox entry", &key)? else { return Ok(false) };
    let Some(mut hook) = get(txn, r.tenant, r.webhook)? else { return Ok(false) };
    let event: Option<WebhookEvent> = txn.get_as("webhook event", &event_key(r.event))?;
    entry.attempts += 1;
    hook.attempts += 1;
    let attempt = Attempt {
        event: r.event,
        kind: event.as_ref().map_or(EventKind::AlertCreated, |e| e.kind),
        event_at_ms: event.as_ref().map_or(0, |e| e.at_ms),
        at_ms: ctx.now_ms,
        node,
        status: r.status,
        ok: r.ok,
        error: bounded_text(r.error.clone(), ERROR_BYTES_MAX),
        duration_ms: r.duration_ms,
        attempt: entry.attempts,
    };
    txn.put_as("webhook attempt", attempt_key(r.tenant, r.webhook, hook.attempts), &attempt)?;
    if let Some(old) = hook.attempts.checked_sub(ATTEMPTS_KEPT_PER_WEBHOOK) {
        txn.remove(attempt_key(r.tenant, r.webhook, old));
    }
    if r.ok {
        txn.remove(key);
        release_event(txn, r.event)?;
        add_count(txn, r.tenant, -1)?;
        hook.delivered += 1;
        hook.consecutive_failures = 0;
    } else {
        entry.next_at_ms = ctx.now_ms + r.retry_in_ms.min(RETRY_DELAY_MAX_MS);
        txn.put_as("outbox entry", key, &entry)?;
        hook.consecutive_failures += 1;
        if hook.consecutive_failures >= DISABLE_AFTER_FAILURES && hook.disabled.is_none() {
            let reason =
                format!("{} consecutive failed attempts; last: {}", hook.consecutive_failures, attempt.error);
            let record = varsel_domain::model::AuditRecord {
                at_ms: ctx.now_ms,
                credential: 0,
                action: "webhook.disable".into(),
                target: format!("webhook {}", hook.id),
                detail: reason.clone(),
            };
            super::domain::write_audit(txn, r.tenant, ctx.index, &record)?;
            hook.disabled = Some(Disabled { at_ms: ctx.now_ms, reason });
        }
    }
    txn.put_as("webhook", webhook_key(r.tenant, r.webhook), &hook)?;
    Ok(true)
}

/// A node's circuit to a provider opened or closed.
pub(crate) fn circuit<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    node: u64,
    channel: &str,
    provider: &str,
    open: bool,
) -> Result<DeliveryReply, EngineError> {
    let kind = if open { EventKind::CircuitOpen } else { EventKind::CircuitClosed };
    let data = json!({ "node_id": node, "channel": channel, "provider": provider });
    emit(txn, ctx, None, kind, None, data)?;
    Ok(DeliveryReply::Done)
}

/// The body of event `e`, if it is still waiting for someone.
pub fn event<T: KvTree>(txn: &Txn<'_, T>, e: EventRef) -> Result<Option<WebhookEvent>, EngineError> {
    txn.get_as("webhook event", &event_key(e))
}

/// Recent attempts of an endpoint, newest first, before attempt `before` (a cursor).
pub fn attempts<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    webhook: WebhookId,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<(u64, Attempt)>, EngineError> {
    let prefix = Key::new(WEBHOOK_ATTEMPT).u64(tenant).u64(webhook).done();
    let before = before.map(|b| attempt_key(tenant, webhook, b));
    let rows = txn.scan_prefix_rev(&prefix, before.as_deref(), limit)?;
    rows.iter()
        .map(|(k, v)| Ok((u64_at(k, 17).unwrap_or(0), crate::format::decode("webhook attempt", v)?)))
        .collect()
}

/// Outbox entries due at `now_ms` that may be sent now, oldest first per endpoint, at most
/// `limit`, reading at most `scan_per_webhook` entries of each enabled endpoint: per endpoint
/// and alert only the first waiting one (ordering). Disabled endpoints are skipped without
/// reading their entries, so a dead endpoint's backlog does not hide a live one's.
pub fn due<T: KvTree>(
    txn: &Txn<'_, T>,
    now_ms: u64,
    limit: usize,
    scan_per_webhook: usize,
) -> Result<Vec<DueEntry>, EngineError> {
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let hooks = txn.scan_prefix(&Key::new(WEBHOOK).done(), after.as_deref(), WEBHOOKS_PER_TENANT_MAX)?;
        let Some((last, _)) = hooks.last() else { break };
        after = Some(last.clone());
        for (_, v) in &hooks {
            let w: Webhook = crate::format::decode("webhook", v)?;
            if w.disabled.is_none() {
                due_of(txn, &w, now_ms, scan_per_webhook, &mut out)?;
            }
            if out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
        }
        if hooks.len() < WEBHOOKS_PER_TENANT_MAX {
            break;
        }
    }
    Ok(out)
}

fn due_of<T: KvTree>(
    txn: &Txn<'_, T>,
    w: &Webhook,
    now_ms: u64,
    scan_max: usize,
    out: &mut Vec<DueEntry>,
) -> Result<(), EngineError> {
    let mut blocked = std::collections::HashSet::new();
    let prefix = Key::new(WEBHOOK_OUTBOX).u64(w.tenant).u64(w.id).done();
    for (k, v) in txn.scan_prefix(&prefix, None, scan_max)? {
        let Some(event) = event_of_outbox_key(&k) else { continue };
        let entry: OutboxEntry = crate::format::decode("outbox entry", &v)?;
        if let Some(a) = entry.alert
            && !blocked.insert(a)
        {
            continue;
        }
        if entry.next_at_ms <= now_ms {
            out.push(DueEntry { tenant: w.tenant, webhook: w.id, event, entry });
        }
    }
    Ok(())
}

/// Outbox entries waiting for `tenant`.
pub fn waiting<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<u64, EngineError> {
    Ok(txn.get_as("outbox count", &count_key(tenant))?.unwrap_or(0))
}
