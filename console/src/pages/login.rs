//! Log-in (a credential's token for a session cookie), log-out, and the language choice.

use std::sync::Arc;
use std::time::Instant;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use varsel_http::Backend;
use varsel_http::problem::Problem;
use varsel_proto::api as pb;
use varsel_proto::api::tenant_service_server::TenantService;

use super::{Ctx, Nav, page, problem_markup};
use crate::guard::{self, Refusal};
use crate::i18n::{LANG_COOKIE, Lang};
use crate::session::{self, Identity};
use crate::{ClusterView, Console};

/// Longest token accepted in the form (tokens are far shorter; the bound keeps a pasted
/// document out of the gRPC metadata).
pub const TOKEN_CHARS_MAX: usize = 512;

/// The log-in page.
pub async fn form<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
) -> Response {
    if guard::session(&c, &headers).is_ok() {
        return Redirect::to("/console/alerts").into_response();
    }
    login_page(session::language(&headers), None, StatusCode::OK)
}

fn login_page(lang: Lang, error: Option<maud::Markup>, status: StatusCode) -> Response {
    let ctx = Ctx { lang, session: None, path: "/console/login", nav: Nav::None };
    let t = ctx.t();
    let mut r = page(
        &ctx,
        t.login_title,
        html! {
            @if let Some(e) = error { (e) }
            p { (t.login_help) }
            form method="post" action="/console/login" {
                label for="token" { (t.login_token) }
                input #token type="password" name="token" autocomplete="current-password" required
                    maxlength=(TOKEN_CHARS_MAX) aria-describedby="token-help";
                p #token-help .hint { (t.login_token_hint) }
                button type="submit" { (t.login_submit) }
            }
        },
    );
    *r.status_mut() = status;
    r
}

/// The log-in form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
}

/// Checks the token with `WhoAmI` and opens a session.
pub async fn submit<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = session::language(&headers);
    if let Err(refusal) = guard::same_origin(&headers) {
        return refusal.respond(lang);
    }
    let token = f.token.trim().strip_prefix("Bearer ").unwrap_or(f.token.trim()).trim().to_string();
    let t = lang.text();
    if token.is_empty() || token.chars().count() > TOKEN_CHARS_MAX {
        let p = Problem::invalid("token", "length", t.login_token_length);
        return login_page(lang, Some(problem_markup(t, &p)), StatusCode::BAD_REQUEST);
    }
    let who = match whoami(&*c.backend, &token).await {
        Ok(w) => w,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNAUTHORIZED);
            return login_page(lang, Some(problem_markup(t, &p)), status);
        }
    };
    let id = c.sessions.create(token, who, Instant::now());
    let mut r = Redirect::to("/console/alerts").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn whoami<B: Backend>(b: &B, token: &str) -> Result<Identity, Problem> {
    let req = varsel_http::extract::Bearer::from_token(token).grpc(pb::WhoAmIRequest {})?;
    let w = b.tenants().who_am_i(req).await.map_err(|s| Problem::from_status(&s))?.into_inner();
    let role = pb::Role::try_from(w.role).unwrap_or(pb::Role::Unspecified);
    Ok(Identity { role, tenant_id: w.tenant_id, tenant_name: w.tenant_name, credential_id: w.credential_id })
}

/// The log-out form's fields.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session (POST with the CSRF token, so another site cannot log an operator out).
pub async fn logout<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let lang = session::language(&headers);
    match guard::reader_post(&c, &headers, &f.csrf) {
        Ok(_) | Err(Refusal::LoggedOut) => {}
        Err(r) => return r.respond(lang),
    }
    if let Some(id) = session::session_id(&headers) {
        c.sessions.remove(&id);
    }
    let mut r = Redirect::to("/console/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `?set=nb&back=/console/alerts`.
#[derive(Debug, Deserialize)]
pub struct LangQuery {
    set: String,
    #[serde(default)]
    back: String,
}

/// Stores the chosen language in a cookie and goes back to the page (only to a console page:
/// no open redirect).
pub async fn language(Query(q): Query<LangQuery>) -> Response {
    let Some(lang) = Lang::from_tag(&q.set) else {
        let msg = format!("set: unknown language {:?}; use one of nb, en", q.set);
        return (StatusCode::BAD_REQUEST, msg).into_response();
    };
    let back = if q.back.starts_with("/console/") && !q.back.starts_with("//") && !q.back.contains('\\') {
        q.back
    } else {
        "/console/".to_string()
    };
    let mut r = Redirect::to(&back).into_response();
    let cookie = format!("{LANG_COOKIE}={}; Secure; SameSite=Strict; Path=/; Max-Age=31536000", lang.tag());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
