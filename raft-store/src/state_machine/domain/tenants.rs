//! Tenants and credentials.

use varsel_domain::model::{Credential, CredentialId, Limits, Role, Tenant, TenantId};

use super::{Applied, Ctx, next_id};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{Caller, DomainReply, RefusalCode};
use crate::state_machine::Txn;
use crate::state_machine::keys::{CREDENTIAL, Key, TENANT, TENANT_CREDENTIAL, TENANT_NAME};

/// Longest tenant or credential name.
pub const NAME_CHARS_MAX: usize = 100;

/// Checks a display name: 1 to [`NAME_CHARS_MAX`] characters, no control characters.
pub(crate) fn check_name(field: &str, name: &str) -> Option<String> {
    let n = name.chars().count();
    if name.trim().is_empty() {
        Some(format!("{field}: is required"))
    } else if n > NAME_CHARS_MAX {
        Some(format!("{field}: must be at most {NAME_CHARS_MAX} characters, got {n}"))
    } else if name.chars().any(char::is_control) {
        Some(format!("{field}: must not contain control characters"))
    } else {
        None
    }
}

/// Checks limits are usable (all positive).
pub(crate) fn check_limits(l: &Limits) -> Option<String> {
    let fields = [
        ("limits.max_recipients_per_alert", l.max_recipients_per_alert),
        ("limits.max_sms_segments", u64::from(l.max_sms_segments)),
        ("limits.max_alerts_per_minute", u64::from(l.max_alerts_per_minute)),
        ("limits.max_messages_per_alert", l.max_messages_per_alert),
        ("limits.max_send_rate_per_second", u64::from(l.max_send_rate_per_second)),
        ("limits.max_contacts", l.max_contacts),
    ];
    if let Some((f, _)) = fields.iter().find(|(_, v)| *v == 0) {
        return Some(format!("{f}: must be positive"));
    }
    if l.max_sms_segments > 255 {
        return Some("limits.max_sms_segments: must be at most 255 (the concatenation limit)".into());
    }
    None
}

/// Reads a tenant.
pub(crate) fn get<T: KvTree>(txn: &Txn<'_, T>, id: TenantId) -> Result<Option<Tenant>, EngineError> {
    txn.get_as("tenant", &Key::new(TENANT).u64(id).done())
}

pub(super) fn create<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    name: &str,
    limits: &Limits,
) -> Result<Applied, EngineError> {
    if let Some(m) = check_name("name", name).or_else(|| check_limits(limits)) {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let name_key = Key::new(TENANT_NAME).tail(name).done();
    if txn.get(&name_key)?.is_some() {
        return Ok(Applied::refused(
            RefusalCode::AlreadyExists,
            format!("name: a tenant called {name:?} exists"),
        ));
    }
    let id = next_id(txn, "tenant")?;
    let tenant = Tenant { id, name: name.to_string(), limits: limits.clone(), created_at_ms: ctx.now_ms };
    txn.put_as("tenant id", name_key, &id)?;
    txn.put_as("tenant", Key::new(TENANT).u64(id).done(), &tenant)?;
    Ok(Applied::done(DomainReply::Tenant(tenant), id, format!("tenant {id}"), format!("created {name:?}")))
}

pub(super) fn set_limits<T: KvTree>(
    txn: &mut Txn<'_, T>,
    id: TenantId,
    limits: &Limits,
) -> Result<Applied, EngineError> {
    if let Some(m) = check_limits(limits) {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let Some(mut tenant) = get(txn, id)? else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("tenant {id} does not exist")));
    };
    tenant.limits = limits.clone();
    txn.put_as("tenant", Key::new(TENANT).u64(id).done(), &tenant)?;
    Ok(Applied::done(DomainReply::Tenant(tenant), id, format!("tenant {id}"), "limits changed".into()))
}

/// Sets how long the tenant's finished alerts are kept; refused when shorter than the
/// lifetime of one of its alerts still running (its details would be due before it could end).
pub(super) fn set_retention<T: KvTree>(
    txn: &mut Txn<'_, T>,
    id: TenantId,
    retention: &varsel_domain::model::Retention,
) -> Result<Applied, EngineError> {
    if let Err((field, rule)) = retention.validate() {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, format!("retention.{field}: {rule}")));
    }
    if get(txn, id)?.is_none() {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("tenant {id} does not exist")));
    }
    for (alert, tenant) in super::query::open_alerts(txn)? {
        if tenant != id {
            continue;
        }
        let Some(a) = super::query::alert(txn, tenant, alert)? else { continue };
        let lifetime = a.expires_ms.saturating_sub(a.created_at_ms);
        if retention.details_ms < lifetime {
            return Ok(Applied::refused(
                RefusalCode::FailedPrecondition,
                format!(
                    "retention.details: {} ms is shorter than the lifetime of alert {alert} ({lifetime} ms), \
                     which is still running; wait until it ends or cancel it",
                    retention.details_ms
                ),
            ));
        }
    }
    crate::state_machine::retention::set(txn, id, retention)?;
    let detail = format!("retention: details {} ms, alerts {} ms", retention.details_ms, retention.alerts_ms);
    Ok(Applied::done(DomainReply::Retention(*retention), id, format!("tenant {id}"), detail))
}

/// The tenant an actor manages credentials of: its own, or (for the superadmin) the one named.
fn credential_tenant(actor: &Caller, requested: TenantId) -> Result<TenantId, String> {
    match (actor.role, requested) {
        (Role::SuperAdmin, 0) => Err("tenant_id: the superadmin must name the tenant".into()),
        (Role::SuperAdmin, t) => Ok(t),
        (_, 0) => Ok(actor.tenant),
        (_, t) if t == actor.tenant => Ok(t),
        // Another tenant's id looks the same as one that does not exist.
        (_, t) => Err(format!("tenant {t} does not exist")),
    }
}

pub(super) fn create_credential<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    requested: TenantId,
    name: &str,
    role: Role,
    secret_hash: &[u8; 32],
) -> Result<Applied, EngineError> {
    let tenant = match credential_tenant(actor, requested) {
        Ok(t) => t,
        Err(m) => return Ok(Applied::refused(RefusalCode::NotFound, m)),
    };
    if let Some(m) = check_name("name", name) {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    if role == Role::SuperAdmin {
        return Ok(Applied::refused(
            RefusalCode::InvalidArgument,
            "role: superadmin is configured on the nodes, not created",
        ));
    }
    if get(txn, tenant)?.is_none() {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("tenant {tenant} does not exist")));
    }
    let id = next_id(txn, "credential")?;
    let cred = Credential {
        id,
        tenant,
        name: name.to_string(),
        role,
        secret_hash: *secret_hash,
        created_at_ms: ctx.now_ms,
        created_by: actor.credential,
        revoked: false,
    };
    txn.put_as("credential", Key::new(CREDENTIAL).u64(id).done(), &cred)?;
    txn.put(Key::new(TENANT_CREDENTIAL).u64(tenant).u64(id).done(), Vec::new());
    let detail = format!("{} credential {name:?}", role.as_str());
    Ok(Applied::done(DomainReply::Credential(cred), tenant, format!("credential {id}"), detail))
}

pub(super) fn revoke_credential<T: KvTree>(
    txn: &mut Txn<'_, T>,
    actor: &Caller,
    id: CredentialId,
) -> Result<Applied, EngineError> {
    let key = Key::new(CREDENTIAL).u64(id).done();
    let found: Option<Credential> = txn.get_as("credential", &key)?;
    let Some(mut cred) = found.filter(|c| actor.role == Role::SuperAdmin || c.tenant == actor.tenant) else {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("credential {id} does not exist")));
    };
    cred.revoked = true;
    txn.put_as("credential", key, &cred)?;
    let tenant = cred.tenant;
    Ok(Applied::done(DomainReply::Credential(cred), tenant, format!("credential {id}"), "revoked".into()))
}
