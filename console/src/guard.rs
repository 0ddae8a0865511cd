//! What every console request passes before a page is built: the session, and for a POST the
//! CSRF token, the request's origin and the role; and the security headers of every answer.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::i18n::Lang;
use crate::session::{self, Session};
use crate::{ClusterView, Console};

/// The Content-Security-Policy of every console answer: scripts, styles and connections only
/// from this origin (no inline script or style, so injected markup cannot run), forms post
/// only here, and no page may frame the console (clickjacking).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every console answer; pages (not the static files) are also
/// marked `no-store`, so an alert's text or a contact's number is not left in a shared
/// computer's cache.
pub async fn security_headers(mut req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/console/static/");
    // HTTP/2 carries the host in `:authority`, which lands in the URI, not in a Host header:
    // put it where the origin check looks.
    let authority = req.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    if let Some(v) = authority.filter(|_| !req.headers().contains_key(header::HOST)) {
        req.headers_mut().insert(header::HOST, v);
    }
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// Why a request was refused before reaching a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No session, or it expired: log in again.
    LoggedOut,
    /// A POST without this session's CSRF token.
    Csrf,
    /// A POST another site started (`Origin` or `Sec-Fetch-Site`).
    CrossSite,
    /// The role may not do this (a viewer posting a change).
    Role,
}

impl Refusal {
    /// The answer for the browser, in `lang`.
    pub fn respond(self, lang: Lang) -> Response {
        let t = lang.text();
        match self {
            Refusal::LoggedOut => Redirect::to("/console/login").into_response(),
            Refusal::Csrf => crate::pages::error_page(lang, StatusCode::FORBIDDEN, t.err_csrf),
            Refusal::CrossSite => crate::pages::error_page(lang, StatusCode::FORBIDDEN, t.err_cross_site),
            Refusal::Role => crate::pages::error_page(lang, StatusCode::FORBIDDEN, t.err_role),
        }
    }
}

/// The live session of a request, or why there is none.
pub fn session<B, V: ClusterView>(c: &Arc<Console<B, V>>, headers: &HeaderMap) -> Result<Session, Refusal> {
    let id = session::session_id(headers).ok_or(Refusal::LoggedOut)?;
    c.sessions.touch(&id, Instant::now()).ok_or(Refusal::LoggedOut)
}

/// Checks that a POST comes from a console page of this origin. `Sec-Fetch-Site`, which every
/// current browser sends and a page cannot forge, decides when present: it must be
/// `same-origin`. Otherwise `Origin`, when sent, must name this host. (With
/// `Referrer-Policy: no-referrer` Chromium sends `Origin: null` even for same-origin form
/// posts, so `Origin` alone cannot be required.) The CSRF token is checked on top.
pub fn same_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site") {
        return if site.as_bytes() == b"same-origin" { Ok(()) } else { Err(Refusal::CrossSite) };
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).ok_or(Refusal::CrossSite)?;
        let origin = origin.to_str().map_err(|_| Refusal::CrossSite)?;
        if origin != format!("https://{host}") && origin != format!("http://{host}") {
            return Err(Refusal::CrossSite);
        }
    }
    Ok(())
}

/// Checks a POST that changes something: a live session, this origin, the session's CSRF
/// token, and a role that may write. Answers the session.
pub fn writer<B, V: ClusterView>(
    c: &Arc<Console<B, V>>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Refusal> {
    let s = reader_post(c, headers, csrf)?;
    if !s.can_write() {
        return Err(Refusal::Role);
    }
    Ok(s)
}

/// Checks a POST that changes nothing (log-out, the SMS counter): a live session, this origin
/// and the session's CSRF token.
pub fn reader_post<B, V: ClusterView>(
    c: &Arc<Console<B, V>>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Refusal> {
    let s = session(c, headers)?;
    same_origin(headers)?;
    if !s.csrf_matches(csrf) {
        return Err(Refusal::Csrf);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::session::{Identity, Sessions};
    use varsel_proto::api::Role;

    struct NoView;
    impl ClusterView for NoView {
        fn health(&self) -> crate::ClusterHealth {
            crate::ClusterHealth::default()
        }
    }

    /// A console with one session of `role`; answers it, the cookie header and the CSRF token.
    fn console(role: Role) -> (Arc<Console<(), NoView>>, HeaderMap, String) {
        let c = Arc::new(Console {
            backend: Arc::new(()),
            view: Arc::new(NoView),
            sessions: Sessions::default(),
        });
        let who = Identity { role, tenant_id: 1, tenant_name: "t".into(), credential_id: 2 };
        let id = c.sessions.create("token".into(), who, Instant::now());
        let csrf = c.sessions.touch(&id, Instant::now()).unwrap().csrf;
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("{}={id}", session::COOKIE_NAME)).unwrap());
        h.insert(header::HOST, HeaderValue::from_static("node1:8443"));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://node1:8443"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        (c, h, csrf)
    }

    /// Goal: a POST without the session's CSRF token is refused, whatever the role.
    #[test]
    fn csrf_refusal() {
        let (c, h, csrf) = console(Role::Operator);
        assert_eq!(writer(&c, &h, "").unwrap_err(), Refusal::Csrf);
        assert_eq!(writer(&c, &h, &csrf[..63]).unwrap_err(), Refusal::Csrf);
        assert!(writer(&c, &h, &csrf).is_ok());
        let (other, _, other_csrf) = console(Role::Operator);
        drop(other);
        assert_eq!(writer(&c, &h, &other_csrf).unwrap_err(), Refusal::Csrf, "another session's token");
        let mut cross = h.clone();
        cross.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        cross.remove("sec-fetch-site");
        assert_eq!(writer(&c, &cross, &csrf).unwrap_err(), Refusal::CrossSite);
        let mut no_cookie = h.clone();
        no_cookie.remove(header::COOKIE);
        assert_eq!(writer(&c, &no_cookie, &csrf).unwrap_err(), Refusal::LoggedOut);
    }

    /// Goal: a viewer's POST that would change something is refused, even with a valid CSRF
    /// token; the viewer may still post what changes nothing (log-out, the SMS counter).
    #[test]
    fn viewer_post_refused() {
        let (c, h, csrf) = console(Role::Viewer);
        assert_eq!(writer(&c, &h, &csrf).unwrap_err(), Refusal::Role);
        assert!(reader_post(&c, &h, &csrf).is_ok());
        let r = Refusal::Role.respond(crate::i18n::Lang::En);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// Goal: a POST another site started is refused, one from a console page passes.
    #[test]
    fn origin_check() {
        assert_eq!(same_origin(&headers(&[("host", "a:1")])), Ok(()));
        assert_eq!(same_origin(&headers(&[("host", "a:1"), ("origin", "https://a:1")])), Ok(()));
        assert_eq!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])), Ok(()));
        assert_eq!(
            same_origin(&headers(&[("host", "a:1"), ("origin", "https://evil.example")])),
            Err(Refusal::CrossSite)
        );
        assert_eq!(same_origin(&headers(&[("sec-fetch-site", "cross-site")])), Err(Refusal::CrossSite));
        assert_eq!(same_origin(&headers(&[("sec-fetch-site", "same-site")])), Err(Refusal::CrossSite));
        assert_eq!(same_origin(&headers(&[("host", "a:1"), ("origin", "null")])), Err(Refusal::CrossSite));
        assert_eq!(same_origin(&headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")])), Ok(()));
    }
}
