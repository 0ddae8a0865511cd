//! The REST/JSON API under `/api/v1/`: one file per resource, each handler the JSON form of
//! one gRPC call, answered by the same code.
//!
//! Bodies and answers are the `varsel.v1` proto messages as JSON (fields by their proto names,
//! enums by name in snake case, every field optional as in proto3, unknown fields refused).
//! Creates answer `201 Created` with `Location`, or `200 OK` when an `Idempotency-Key` (or the
//! body's `idempotency_key`) matched an earlier request. Lists are paged by cursor:
//! `?page_token=` takes the previous page's `next_page_token`, also given in a `Link` header.

pub mod alerts;
pub mod audit;
pub mod cap;
pub mod contacts;
pub mod groups;
pub mod templates;
pub mod tenants;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use crate::Backend;
use crate::extract::JSON_BODY_BYTES_MAX;
use crate::problem::PROBLEM_JSON;

/// The routes of the REST API.
pub fn router<B: Backend>(backend: Arc<B>) -> Router {
    Router::new()
        .route("/api/v1/whoami", get(tenants::whoami::<B>))
        .route("/api/v1/tenants", post(tenants::create::<B>).get(tenants::list::<B>))
        .route("/api/v1/tenants/{id}", get(tenants::get::<B>))
        .route("/api/v1/tenants/{id}/limits", put(tenants::set_limits::<B>))
        .route("/api/v1/tenants/{id}/retention", put(tenants::set_retention::<B>))
        .route(
            "/api/v1/tenants/{id}/credentials",
            post(tenants::create_credential::<B>).get(tenants::list_credentials::<B>),
        )
        .route("/api/v1/credentials/{id}", axum::routing::delete(tenants::revoke_credential::<B>))
        .route("/api/v1/contacts", post(contacts::upsert::<B>).get(contacts::list::<B>))
        .route("/api/v1/contacts/import", post(contacts::import::<B>))
        .route("/api/v1/contacts/{id}", get(contacts::get::<B>).delete(contacts::delete::<B>))
        .route("/api/v1/contacts/by-external-id/{external_id}", get(contacts::get_by_external_id::<B>))
        .route("/api/v1/contacts/{id}/export", get(contacts::export::<B>))
        .route("/api/v1/contacts/{id}/erase", post(contacts::erase::<B>))
        .route("/api/v1/groups", post(groups::create::<B>).get(groups::list::<B>))
        .route(
            "/api/v1/groups/{id}",
            get(groups::get::<B>).delete(groups::delete::<B>).patch(groups::update::<B>),
        )
        .route("/api/v1/groups/by-name/{name}", get(groups::get_by_name::<B>))
        .route(
            "/api/v1/groups/{id}/members",
            post(groups::change_members::<B>).get(groups::list_members::<B>),
        )
        .route("/api/v1/templates", get(templates::list::<B>))
        .route("/api/v1/templates/{name}", put(templates::put::<B>).get(templates::get::<B>))
        .route("/api/v1/alerts", post(alerts::create::<B>).get(alerts::list::<B>))
        .route("/api/v1/alerts/preview", post(alerts::preview::<B>))
        // `/api/v1/alerts/{id}.cap` too: the router takes no suffix after a parameter, so
        // `alerts::get_or_cap` tells them apart.
        .route("/api/v1/alerts/{id}", get(alerts::get_or_cap::<B>))
        .route("/api/v1/alerts/{id}/cancel", post(alerts::cancel::<B>))
        .route("/api/v1/alerts/{id}/resume", post(alerts::resume::<B>))
        .route("/api/v1/alerts/{id}/events", get(alerts::watch::<B>))
        .route("/api/v1/alerts/{id}/acknowledgements", post(alerts::acknowledge::<B>))
        .route("/api/v1/alerts/{id}/replies", get(alerts::replies::<B>))
        .route("/api/v1/replies", get(alerts::unmatched_replies::<B>))
        .route("/api/v1/audit", get(audit::list::<B>))
        .route("/api/v1/webhooks", post(webhooks::create::<B>).get(webhooks::list::<B>))
        .route("/api/v1/webhooks/{id}", get(webhooks::get::<B>).delete(webhooks::delete::<B>))
        .route("/api/v1/webhooks/{id}/enable", post(webhooks::enable::<B>))
        .route("/api/v1/webhooks/{id}/deliveries", get(webhooks::deliveries::<B>))
        .route("/api/v1/cap", post(cap::submit::<B>))
        .route("/api/v1/cap/feed", get(cap::feed::<B>))
        .route("/api/v1/cap/config", put(cap::put_config::<B>).get(cap::get_config::<B>))
        .layer(DefaultBodyLimit::max(JSON_BODY_BYTES_MAX))
        .with_state(backend)
}

/// The error answers every operation may give, for the OpenAPI document: each a problem
/// (RFC 9457).
#[derive(Debug)]
pub struct Errors;

impl utoipa::IntoResponses for Errors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        let statuses = [
            ("400", "The request breaks a rule: `errors` names each field and the rule"),
            ("401", "No token, or a token this cluster does not know"),
            ("403", "The token's role or tenant does not allow this"),
            ("404", "Not found (or not this tenant's)"),
            ("409", "Conflicts with the current state"),
            ("413", "The body is larger than allowed"),
            ("415", "The body is not JSON"),
            ("429", "A limit of the tenant or the cluster was reached"),
            ("503", "No leader at the moment (retry after the `Retry-After` seconds)"),
            ("504", "The cluster did not answer in time"),
        ];
        statuses
            .into_iter()
            .map(|(code, description)| {
                let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
                let response =
                    ResponseBuilder::new().description(description).content(PROBLEM_JSON, content).build();
                (code.to_string(), RefOr::T(response))
            })
            .collect()
    }
}
