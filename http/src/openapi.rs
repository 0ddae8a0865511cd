//! The OpenAPI 3.1 document of the REST API, generated from the handlers' annotations and the
//! proto-derived types; served at `/api/v1/openapi.json` without a token (it holds no data).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::{FieldProblem, Problem};
use crate::rest::{alerts, audit, cap, contacts, groups, templates, tenants, webhooks};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The document's description of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Varsel REST API",
        description = "Crisis mass notification: tenants, contacts, groups, templates, alerts. \
            Every operation is the JSON form of a gRPC call of the same name and answers the \
            same; errors are RFC 9457 problem details. Authenticate with `Authorization: \
            Bearer <token>` (a credential's token, or the superadmin token for tenants)."
    ),
    paths(
        tenants::whoami, tenants::create, tenants::list, tenants::get, tenants::set_limits,
        tenants::set_retention, tenants::create_credential, tenants::list_credentials,
        tenants::revoke_credential,
        contacts::upsert, contacts::list, contacts::get, contacts::get_by_external_id,
        contacts::delete, contacts::export, contacts::erase, contacts::import,
        groups::create, groups::list, groups::get, groups::get_by_name, groups::delete,
        groups::change_members, groups::list_members, groups::update,
        templates::put, templates::get, templates::list,
        alerts::create, alerts::preview, alerts::list, alerts::get, alerts::cancel, alerts::resume, alerts::watch,
        alerts::acknowledge, alerts::replies, alerts::unmatched_replies,
        audit::list,
        webhooks::create, webhooks::list, webhooks::get, webhooks::delete, webhooks::enable,
        webhooks::deliveries,
        cap::submit, cap::alert_cap, cap::feed, cap::put_config, cap::get_config,
    ),
    components(schemas(Problem, FieldProblem, varsel_proto::api::Consistency)),
    modifiers(&BearerAuth),
    tags(
        (name = "tenants", description = "Tenants and their credentials"),
        (name = "contacts", description = "Contacts, CSV import, export and erasure"),
        (name = "groups", description = "Groups and their members"),
        (name = "templates", description = "Message templates"),
        (name = "alerts", description = "Alerts, progress, acknowledgements and replies"),
        (name = "audit", description = "Who did what, when"),
        (name = "webhooks", description = "Signed outbound webhooks (Standard Webhooks)"),
        (name = "cap", description = "CAP 1.2 (OASIS Common Alerting Protocol) in and out"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Declares the bearer token scheme the operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("A credential's token (`vt_...`) or the superadmin token"))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Serves the document.
pub fn router() -> Router {
    Router::new().route(
        OPENAPI_PATH,
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], document()).into_response() }),
    )
}
