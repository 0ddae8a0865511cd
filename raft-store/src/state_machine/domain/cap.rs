//! A tenant's CAP 1.2 configuration (routes, exercise group) and the CAP messages it received.
//!
//! Tables: `0x42` configuration per tenant; `0x43` messages per tenant by idempotency key (a
//! hash of sender, identifier and sent: a repost finds the first, an Update or Cancel finds
//! what it references); `0x44` the key of the message that created each alert.

use varsel_domain::cap_route::{CapConfig, CapRecord};
use varsel_domain::model::{AlertId, TenantId};

use super::Applied;
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{DomainReply, RefusalCode};
use crate::state_machine::Txn;
use crate::state_machine::keys::{CAP_BY_ALERT, CAP_CONFIG, CAP_RECORD, Key};

/// Most messages listed for a feed.
pub const FEED_RECORDS_MAX: usize = 100;

fn config_key(tenant: TenantId) -> Vec<u8> {
    Key::new(CAP_CONFIG).u64(tenant).done()
}

fn record_key(tenant: TenantId, key: &str) -> Vec<u8> {
    Key::new(CAP_RECORD).u64(tenant).tail(key).done()
}

fn by_alert_key(tenant: TenantId, alert: AlertId) -> Vec<u8> {
    Key::new(CAP_BY_ALERT).u64(tenant).u64(alert).done()
}

/// The tenant's configuration (none: no routes, no exercise group).
pub fn config<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<CapConfig, EngineError> {
    Ok(txn.get_as("cap config", &config_key(tenant))?.unwrap_or_default())
}

/// The message with idempotency key `key`.
pub fn record<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    key: &str,
) -> Result<Option<CapRecord>, EngineError> {
    txn.get_as("cap record", &record_key(tenant, key))
}

/// The message that created `alert`, if one did.
pub fn record_of_alert<T: KvTree>(
    txn: &Txn<'_, T>,
    tenant: TenantId,
    alert: AlertId,
) -> Result<Option<CapRecord>, EngineError> {
    let key: Option<String> = txn.get_as("cap alert", &by_alert_key(tenant, alert))?;
    match key {
        Some(k) => record(txn, tenant, &k),
        None => Ok(None),
    }
}

/// Up to [`FEED_RECORDS_MAX`] of the tenant's messages (in key order; the caller sorts).
pub fn records<T: KvTree>(txn: &Txn<'_, T>, tenant: TenantId) -> Result<Vec<CapRecord>, EngineError> {
    let prefix = Key::new(CAP_RECORD).u64(tenant).done();
    txn.scan_prefix(&prefix, None, FEED_RECORDS_MAX)?
        .iter()
        .map(|(_, v)| crate::types::decode("cap record", v))
        .collect()
}

/// Replaces the tenant's configuration, checked first.
pub(super) fn set_config<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    config: &CapConfig,
) -> Result<Applied, EngineError> {
    if let Err(e) = config.validate() {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, e.to_string()));
    }
    if super::tenants::get(txn, tenant)?.is_none() {
        return Ok(Applied::refused(RefusalCode::NotFound, format!("tenant {tenant} does not exist")));
    }
    txn.put_as("cap config", config_key(tenant), config)?;
    let detail = format!("{} routes, exercise group {:?}", config.routes.len(), config.exercise_group);
    Ok(Applied::done(DomainReply::CapConfig(config.clone()), tenant, format!("tenant {tenant}"), detail))
}

/// Stores a received message; a message already stored under its key is answered as it is.
pub(super) fn store<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    record: &CapRecord,
) -> Result<Applied, EngineError> {
    if let Some(first) = self::record(txn, tenant, &record.key)? {
        return Ok(Applied { reply: DomainReply::CapRecord { record: first, existing: true }, audit: None });
    }
    txn.put_as("cap record", record_key(tenant, &record.key), record)?;
    if let Some(alert) = record.alert {
        txn.put_as("cap alert", by_alert_key(tenant, alert), &record.key)?;
    }
    let detail = format!(
        "{} {} {}",
        record.status,
        record.msg_type,
        record.alert.map_or("no alert".into(), |a| format!("alert {a}"))
    );
    Ok(Applied::done(
        DomainReply::CapRecord { record: record.clone(), existing: false },
        tenant,
        format!("cap {}", record.key),
        detail,
    ))
}
