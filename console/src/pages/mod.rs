//! The pages, one file each, and what they share: the layout (header, navigation, language
//! choice, log-out), error pages, the gRPC call with the session's token, the static files.

pub mod alerts;
pub mod audit;
pub mod contacts;
pub mod health;
pub mod login;
pub mod send;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use varsel_http::extract::Bearer;
use varsel_http::problem::Problem;

use crate::i18n::{Lang, Text};
use crate::session::Session;

/// The console's JavaScript: live progress over Server-Sent Events and the SMS counter.
pub const CONSOLE_JS: &str = include_str!("../../static/console.js");
/// The console's style sheet.
pub const CONSOLE_CSS: &str = include_str!("../../static/console.css");

/// Serves the JavaScript file.
pub async fn static_js() -> Response {
    static_file("text/javascript; charset=utf-8", CONSOLE_JS)
}

/// Serves the style sheet.
pub async fn static_css() -> Response {
    static_file("text/css; charset=utf-8", CONSOLE_CSS)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        // Compiled into the binary: the same for as long as the node runs.
        (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300")),
    ];
    (headers, body).into_response()
}

/// Which section of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Alerts,
    Send,
    Contacts,
    Audit,
    Health,
    None,
}

/// What the layout needs to know about the request.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub lang: Lang,
    pub session: Option<&'a Session>,
    /// The page's own path, for the language links to come back to.
    pub path: &'a str,
    pub nav: Nav,
}

impl Ctx<'_> {
    /// The strings of the page's language.
    pub fn t(&self) -> &'static Text {
        self.lang.text()
    }

    /// The hidden CSRF field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.map_or("", |s| s.csrf.as_str())); }
    }
}

/// A whole page: `title` and `main` in the common layout.
pub fn page(ctx: &Ctx<'_>, title: &str, main: Markup) -> Response {
    let t = ctx.t();
    let markup = html! {
        (DOCTYPE)
        html lang=(ctx.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                @if let Some(s) = ctx.session { meta name="csrf-token" content=(s.csrf); }
                title { (title) " · Varsel" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { (t.skip_to_content) }
                header {
                    span.brand { "Varsel" }
                    @if let Some(s) = ctx.session {
                        nav aria-label=(t.nav_label) {
                            ul {
                                (nav_item(ctx, Nav::Alerts, "/console/alerts", t.nav_alerts))
                                @if s.can_write() { (nav_item(ctx, Nav::Send, "/console/send", t.nav_send)) }
                                (nav_item(ctx, Nav::Contacts, "/console/contacts", t.nav_contacts))
                                (nav_item(ctx, Nav::Audit, "/console/audit", t.nav_audit))
                                (nav_item(ctx, Nav::Health, "/console/health", t.nav_health))
                            }
                        }
                        span.who { (s.tenant_name) " · " (role_name(t, s.role)) }
                        form.inline method="post" action="/console/logout" {
                            (ctx.csrf_field())
                            button type="submit" { (t.logout) }
                        }
                    }
                    (language_links(ctx))
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (main)
                }
            }
        }
    };
    markup.into_response()
}

fn nav_item(ctx: &Ctx<'_>, item: Nav, href: &str, label: &str) -> Markup {
    html! {
        li { a href=(href) aria-current=[(ctx.nav == item).then_some("page")] { (label) } }
    }
}

fn language_links(ctx: &Ctx<'_>) -> Markup {
    let back = varsel_http::extract::percent_encode(ctx.path);
    html! {
        nav.lang aria-label=(ctx.t().language_label) {
            @for l in Lang::ALL {
                @if l == ctx.lang {
                    span lang=(l.tag()) aria-current="true" { (l.name()) }
                } @else {
                    a lang=(l.tag()) hreflang=(l.tag()) href={"/console/lang?set=" (l.tag()) "&back=" (back)} { (l.name()) }
                }
            }
        }
    }
}

/// The role's name for people.
pub fn role_name(t: &Text, role: varsel_proto::api::Role) -> &'static str {
    use varsel_proto::api::Role;
    match role {
        Role::Viewer => t.role_viewer,
        Role::Operator => t.role_operator,
        Role::Admin => t.role_admin,
        Role::Superadmin => t.role_superadmin,
        Role::Unspecified => "?",
    }
}

/// An error page with `status` and `message`.
pub fn error_page(lang: Lang, status: StatusCode, message: &str) -> Response {
    let ctx = Ctx { lang, session: None, path: "/console/", nav: Nav::None };
    let t = ctx.t();
    let mut r = page(
        &ctx,
        t.error_title,
        html! {
            p.error role="alert" { (message) }
            p { a href="/console/alerts" { (t.back_to_console) } }
        },
    );
    *r.status_mut() = status;
    r
}

/// A gRPC request with `message` and the session's token.
pub fn grpc<T>(s: &Session, message: T) -> Result<tonic::Request<T>, Problem> {
    Bearer::from_token(&s.token).grpc(message)
}

/// A refused or failed gRPC call as a page: the service's own words, and each field at fault.
/// A token the cluster no longer knows (revoked) sends the operator to log in again.
pub fn failed(ctx: &Ctx<'_>, problem: Problem) -> Response {
    if problem.status == StatusCode::UNAUTHORIZED.as_u16() {
        return Redirect::to("/console/login").into_response();
    }
    let t = ctx.t();
    let mut r = page(ctx, t.error_title, problem_markup(t, &problem));
    *r.status_mut() = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    r
}

/// A problem as a message box: what the service said and each field at fault.
pub fn problem_markup(t: &Text, problem: &Problem) -> Markup {
    html! {
        div.error role="alert" {
            p { strong { (problem_title(t, problem.status)) } " " (problem.detail) }
            @if !problem.errors.is_empty() {
                ul {
                    @for e in &problem.errors {
                        li { code { (e.field) } ": " (e.detail) " (" (e.rule) ")" }
                    }
                }
            }
        }
    }
}

fn problem_title(t: &Text, status: u16) -> &'static str {
    match status {
        400 => t.err_invalid,
        403 => t.err_forbidden,
        404 => t.err_not_found,
        409 | 412 => t.err_conflict,
        429 => t.err_limit,
        503 | 504 => t.err_unavailable,
        _ => t.error_title,
    }
}

/// A time in ms since the epoch as UTC `YYYY-MM-DD HH:MM:SS`; empty for 0.
pub fn time(ms: u64) -> String {
    if ms == 0 {
        return String::new();
    }
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times() {
        assert_eq!(super::time(0), "");
        assert_eq!(super::time(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
    }
}
