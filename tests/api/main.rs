//! Public API tests: tenants, contacts, groups, alerts, through three real node processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod t01_tenants_and_auth;
mod t02_contacts_and_import;
mod t03_alerts;
mod t04_validation;
mod t05_idempotency;
mod t06_templates;
mod t07_limits;
mod t08_reflection;
mod t09_list_sync_million;
