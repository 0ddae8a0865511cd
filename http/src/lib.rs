//! Varsel's HTTP surfaces, served on every node's HTTP listener (`http_addr`, TLS).
//!
//! # Layout
//!
//! - [`Backend`]: what a node hands this crate: its gRPC service implementations. Every REST
//!   call is turned into the matching gRPC request and handed to the same code, so tokens,
//!   roles, tenant isolation, validation and idempotency are the gRPC API's, not a copy.
//! - [`rest`]: the REST/JSON API under `/api/v1/`, one file per resource; `rest::cap` takes
//!   and serves CAP 1.2 XML.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers and the proto-derived
//!   types (`varsel_proto::api`), served at `/api/v1/openapi.json`.
//! - [`problem`]: errors as RFC 9457 problem details, from gRPC statuses.
//! - [`extract`]: request parts: the bearer token, JSON bodies that name the field at fault,
//!   `Idempotency-Key`, cursors.
//! - [`import`]: a CSV body streamed into the gRPC import as it arrives.

pub mod extract;
pub mod import;
pub mod openapi;
pub mod problem;
pub mod rest;

use std::sync::Arc;

use varsel_proto::api::alert_service_server::AlertService;
use varsel_proto::api::audit_service_server::AuditService;
use varsel_proto::api::cap_service_server::CapService;
use varsel_proto::api::contact_service_server::ContactService;
use varsel_proto::api::tenant_service_server::TenantService;
use varsel_proto::api::webhook_service_server::WebhookService;

/// The node's gRPC services the HTTP surfaces call.
pub trait Backend: Send + Sync + 'static {
    /// Tenants and credentials.
    type Tenants: TenantService;
    /// Contacts, groups and imports.
    type Contacts: ContactService;
    /// Templates, alerts, acknowledgements and replies.
    type Alerts: AlertService;
    /// The audit trail.
    type Audit: AuditService;
    /// CAP 1.2 in and out.
    type Cap: CapService;
    /// Outbound webhook subscriptions.
    type Webhooks: WebhookService;

    /// The tenant service.
    fn tenants(&self) -> &Self::Tenants;
    /// The contact service.
    fn contacts(&self) -> &Self::Contacts;
    /// The alert service.
    fn alerts(&self) -> &Self::Alerts;
    /// The audit service.
    fn audit(&self) -> &Self::Audit;
    /// The CAP service.
    fn cap(&self) -> &Self::Cap;
    /// The webhook service.
    fn webhooks(&self) -> &Self::Webhooks;
}

/// Every HTTP surface of this crate, for the node to merge into its listener's router.
pub fn router<B: Backend>(backend: Arc<B>) -> axum::Router {
    rest::router(backend).merge(openapi::router())
}
