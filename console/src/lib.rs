//! The operator console: server-rendered HTML pages, served by every node on its HTTP listener
//! (TLS), so an operator can use whichever site is up.
//!
//! Every page is built from the node's own gRPC services (through [`varsel_http::Backend`],
//! as the REST API is), called with the token of the operator's session: roles, tenant
//! isolation and validation are the gRPC API's. The console adds sessions, CSRF protection,
//! HTML and two languages on top, nothing else.
//!
//! # Layout
//!
//! - [`router`]: the routes, all under `/console/` (`/` redirects there); the REST API keeps
//!   `/api/v1/` and `/scim/v2/`.
//! - [`session`]: log-in sessions held in this node's memory (a bounded map), the session
//!   cookie, CSRF tokens.
//! - [`guard`]: what every request passes: the session, the CSRF token and `Origin` of a POST,
//!   the role, and the security headers of every answer.
//! - [`i18n`]: one table of strings per language (bokmål, English) and the choice of language.
//! - [`pages`]: one file per page (log-in, alerts, sending, contacts, audit, health) and the
//!   common layout.
//! - [`health`]: [`ClusterView`], the node-side view of the cluster the health page shows.
//! - `static/`: the one JavaScript file (live progress, SMS counter) and the style sheet,
//!   compiled in with `include_str!`; no build step, no CDN, no inline script.
//!
//! The contract for operators is in `docs/console.md`.

pub mod guard;
pub mod health;
pub mod i18n;
pub mod pages;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post};

pub use health::{CircuitState, ClusterHealth, ClusterView, MemberHealth, ProviderHealth};
pub use session::Sessions;

/// Largest request body the console takes: a CSV upload of a large organisation's contacts
/// (about 100 bytes a row, so some 300,000 rows); larger files go through the REST API's
/// streamed import.
pub const UPLOAD_BYTES_MAX: usize = 32 * 1024 * 1024;

/// What the console's handlers share: the node's services, its view of the cluster and the
/// sessions logged in on this node.
#[derive(Debug)]
pub struct Console<B, V> {
    /// The node's gRPC services.
    pub backend: Arc<B>,
    /// The node's view of the cluster, for the health page.
    pub view: Arc<V>,
    /// Sessions on this node.
    pub sessions: Sessions,
}

/// The console's routes, for the node to merge into its HTTP listener's router.
pub fn router<B: varsel_http::Backend, V: ClusterView>(backend: Arc<B>, view: Arc<V>) -> Router {
    let state = Arc::new(Console { backend, view, sessions: Sessions::default() });
    routes::<B, V>().with_state(state)
}

/// The routes over a given state (unit tests build their own).
pub fn routes<B: varsel_http::Backend, V: ClusterView>() -> Router<Arc<Console<B, V>>> {
    use pages::{alerts, audit, contacts, health as health_page, login, send};
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { Redirect::to("/console/alerts") }))
        .route("/console/login", get(login::form::<B, V>).post(login::submit::<B, V>))
        .route("/console/logout", post(login::logout::<B, V>))
        .route("/console/lang", get(login::language))
        .route("/console/static/console.js", get(pages::static_js))
        .route("/console/static/console.css", get(pages::static_css))
        .route("/console/alerts", get(alerts::list::<B, V>))
        .route("/console/alerts/{id}", get(alerts::detail::<B, V>))
        .route("/console/alerts/{id}/events", get(alerts::events::<B, V>))
        .route("/console/alerts/{id}/cancel", post(alerts::cancel::<B, V>))
        .route("/console/send", get(send::form::<B, V>).post(send::create::<B, V>))
        .route("/console/send/confirm", post(send::confirm::<B, V>))
        .route("/console/api/sms-segments", post(send::sms_segments::<B, V>))
        .route("/console/contacts", get(contacts::list::<B, V>))
        .route("/console/contacts/import", post(contacts::import::<B, V>))
        .route("/console/contacts/{id}", get(contacts::edit::<B, V>).post(contacts::save::<B, V>))
        .route("/console/audit", get(audit::list::<B, V>))
        .route("/console/health", get(health_page::show::<B, V>))
        .layer(axum::middleware::from_fn(guard::security_headers))
        .layer(DefaultBodyLimit::max(UPLOAD_BYTES_MAX))
}
