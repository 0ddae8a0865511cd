//! The HTTP listener for operators' tools (`http_addr`):
//!
//! - `GET /metrics`: every metric in the Prometheus text format;
//! - `GET /healthz`: `200 ok` while the process serves HTTP at all (liveness);
//! - `GET /readyz`: `200` with the readiness as JSON when the node is ready, `503` with the same
//!   JSON (and its `reason`) when not; the rule is in [`crate::health`].
//!
//! The public HTTP surfaces (REST API, OpenAPI document) come from crate `varsel-http`, merged
//! in by [`crate::server`] with [`RestBackend`]: the node's own gRPC services.
//!
//! The listener speaks TLS with the node's certificate (see [`crate::tls`]). At most
//! [`HTTP_CONNECTIONS_MAX`] connections are served at once; further ones wait in the kernel's
//! accept queue.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::health;
use crate::metrics::{Metrics, encode};
use crate::replica::Replica;
use crate::tls::Incoming;

/// Most HTTP connections served at once: REST clients, providers' callbacks, scrapers and
/// probes (the same bound as the gRPC API's); the bound keeps a misbehaving client from holding
/// unbounded tasks and sockets.
pub const HTTP_CONNECTIONS_MAX: usize = 1024;

/// Most HTTP connections from one address (not loopback): an integration's client pool, a
/// provider's callbacks, a scraper and a probe fit; one host cannot take them all.
pub const HTTP_CONNECTIONS_PER_SOURCE_MAX: usize = HTTP_CONNECTIONS_MAX / 4;

#[derive(Debug, Clone)]
struct AppState {
    replica: Arc<Replica>,
    metrics: Metrics,
}

/// The routes, for `replica` and its `metrics`.
pub fn router(replica: Arc<Replica>, metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { replica, metrics })
}

/// Serves `router` on the accepted connections (TLS unless the node is plaintext, at most
/// [`HTTP_CONNECTIONS_MAX`] at once) until `shutdown` completes.
pub async fn serve(
    incoming: Incoming,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(incoming, router).with_graceful_shutdown(shutdown).await
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, encode::CONTENT_TYPE)], s.metrics.encode()).into_response()
}

async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n").into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    let r = health::readiness(&s.replica);
    let status = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body =
        serde_json::to_string(&r).unwrap_or_else(|e| format!("{{\"ready\":false,\"reason\":\"{e}\"}}"));
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The node's gRPC services, for the REST API of `varsel-http`: a REST call is answered by the
/// same code as the gRPC call.
#[derive(Debug)]
pub struct RestBackend {
    tenants: crate::api::tenants::Tenants,
    contacts: crate::api::contacts::Contacts,
    alerts: crate::api::alerts::Alerts,
    audit: crate::api::audit::Audit,
    cap: crate::api::cap::Cap,
    webhooks: crate::api::webhooks::Webhooks,
}

impl RestBackend {
    /// The services over `ctx`.
    pub fn new(ctx: &crate::api::ApiContext) -> Self {
        RestBackend {
            tenants: crate::api::tenants::Tenants::new(ctx.clone()),
            contacts: crate::api::contacts::Contacts::new(ctx.clone()),
            alerts: crate::api::alerts::Alerts::new(ctx.clone()),
            audit: crate::api::audit::Audit::new(ctx.clone()),
            cap: crate::api::cap::Cap::new(ctx.clone()),
            webhooks: crate::api::webhooks::Webhooks::new(ctx.clone()),
        }
    }
}

impl varsel_http::Backend for RestBackend {
    type Tenants = crate::api::tenants::Tenants;
    type Contacts = crate::api::contacts::Contacts;
    type Alerts = crate::api::alerts::Alerts;
    type Audit = crate::api::audit::Audit;
    type Cap = crate::api::cap::Cap;
    type Webhooks = crate::api::webhooks::Webhooks;

    fn tenants(&self) -> &Self::Tenants {
        &self.tenants
    }
    fn contacts(&self) -> &Self::Contacts {
        &self.contacts
    }
    fn alerts(&self) -> &Self::Alerts {
        &self.alerts
    }
    fn audit(&self) -> &Self::Audit {
        &self.audit
    }
    fn cap(&self) -> &Self::Cap {
        &self.cap
    }
    fn webhooks(&self) -> &Self::Webhooks {
        &self.webhooks
    }
}
