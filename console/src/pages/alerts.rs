//! Active alerts: the list, one alert with live progress (Server-Sent Events from this node),
//! and cancelling.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use varsel_http::Backend;
use varsel_http::extract::{Bearer, PathParams};
use varsel_http::problem::Problem;
use varsel_proto::api as pb;
use varsel_proto::api::alert_service_server::AlertService;

use super::{Ctx, Nav, failed, grpc, page, time};
use crate::guard;
use crate::i18n::Text;
use crate::session;
use crate::{ClusterView, Console};

/// Alerts on one page of the list.
pub const ALERTS_PAGE_SIZE: u32 = 50;

/// Replies listed on an alert's page (the newest); the count says when there are more.
pub const REPLIES_SHOWN_MAX: u32 = 20;

/// `?page_token=`.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub page_token: String,
}

/// The tenant's alerts, newest first, with their progress per channel.
pub async fn list<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::session(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let ctx = Ctx { lang, session: Some(&s), path: "/console/alerts", nav: Nav::Alerts };
    let t = ctx.t();
    let req = pb::ListAlertsRequest { page_size: ALERTS_PAGE_SIZE, page_token: q.page_token, consistency: 0 };
    let reply = match call(&s, req, |r| c.backend.alerts().list_alerts(r)).await {
        Ok(r) => r,
        Err(p) => return failed(&ctx, p),
    };
    page(
        &ctx,
        t.alerts_title,
        html! {
            @if s.can_write() { p { a.button href="/console/send" { (t.nav_send) } } }
            @if reply.alerts.is_empty() {
                p { (t.alerts_none) }
            } @else {
                table {
                    caption { (t.alerts_caption) }
                    thead { tr {
                        th scope="col" { (t.alert_id) } th scope="col" { (t.alert_title) }
                        th scope="col" { (t.alert_status) } th scope="col" { (t.alert_created) }
                        th scope="col" { (t.alert_recipients) } th scope="col" { (t.alert_acknowledged) }
                        th scope="col" { (t.alert_progress) }
                    } }
                    tbody {
                        @for a in &reply.alerts { (alert_row(t, a)) }
                    }
                }
            }
            @if !reply.next_page_token.is_empty() {
                p { a href={"/console/alerts?page_token=" (varsel_http::extract::percent_encode(&reply.next_page_token))} { (t.next_page) } }
            }
        },
    )
}

fn alert_row(t: &Text, a: &pb::Alert) -> Markup {
    let p = a.progress.clone().unwrap_or_default();
    html! {
        tr data-alert=(a.id) {
            td { a href={"/console/alerts/" (a.id)} { (a.id) } }
            td { a href={"/console/alerts/" (a.id)} { (a.title) } }
            td { span class={"status " (status_key(a.status))} { (status_name(t, a.status)) } }
            td { (time(a.created_at_ms)) }
            td.num { (p.recipients) }
            td.num { (p.acknowledged) }
            td {
                @for ch in &p.channels {
                    div.chprog {
                        (channel_name(t, ch.channel)) ": "
                        (ch.delivered) " " (t.count_delivered) ", " (ch.sent) " " (t.count_sent) ", "
                        (ch.queued) " " (t.count_queued) ", " (ch.failed) " " (t.count_failed)
                    }
                }
            }
        }
    }
}

/// Calls a gRPC method with the session's token; a refusal becomes a problem.
pub async fn call<T, R, F, Fut>(s: &session::Session, msg: T, f: F) -> Result<R, Problem>
where
    F: FnOnce(tonic::Request<T>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let req = grpc(s, msg)?;
    f(req).await.map(tonic::Response::into_inner).map_err(|st| Problem::from_status(&st))
}

/// One alert: its texts, targets and live progress, its replies, and cancel for operators.
pub async fn detail<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::session(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let path = format!("/console/alerts/{id}");
    let ctx = Ctx { lang, session: Some(&s), path: &path, nav: Nav::Alerts };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(p) => return failed(&ctx, p),
    };
    let alert =
        match call(&s, pb::GetAlertRequest { id, consistency: 0 }, |r| c.backend.alerts().get_alert(r)).await
        {
            Ok(r) => r.alert.unwrap_or_default(),
            Err(p) => return failed(&ctx, p),
        };
    let replies = pb::ListRepliesRequest { alert_id: id, page_size: REPLIES_SHOWN_MAX, ..Default::default() };
    // Replies are a secondary part of the page: a failure to list them leaves the rest.
    let replies = call(&s, replies, |r| c.backend.alerts().list_replies(r)).await.unwrap_or_default();
    page(&ctx, &alert.title, render_detail(&ctx, &alert, &replies))
}

/// An alert id from the path, or a problem naming it.
pub fn parse_id(raw: &str) -> Result<u64, Problem> {
    raw.parse().map_err(|_| Problem::invalid("id", "value", format!("alert id: not a whole number: {raw:?}")))
}

/// The alert page's body (also what the render benchmark measures).
pub fn render_detail(ctx: &Ctx<'_>, a: &pb::Alert, replies: &pb::ListRepliesReply) -> Markup {
    let t = ctx.t();
    let p = a.progress.clone().unwrap_or_default();
    let finished = is_final(a.status);
    html! {
        section #progress aria-labelledby="progress-h"
            data-events=[(!finished || !a.answer_options.is_empty()).then(|| format!("/console/alerts/{}/events", a.id))]
            data-status-names=(status_names_json(t)) data-reconnecting=(t.live_reconnecting) {
            h2 #progress-h { (t.alert_progress) }
            dl.summary {
                dt { (t.alert_status) } dd { span #status data-k="status" class={"status " (status_key(a.status))} { (status_name(t, a.status)) } }
                dt { (t.alert_recipients) } dd data-k="recipients" { (p.recipients) }
                dt { (t.alert_acknowledged) } dd data-k="acknowledged" { (p.acknowledged) }
                dt { (t.alert_created) } dd { (time(a.created_at_ms)) }
                @if a.send_at_ms > 0 { dt { (t.alert_send_at) } dd { (time(a.send_at_ms)) } }
                dt { (t.live_updated) } dd { output #updated aria-live="polite" data-updates="0" { "-" } }
            }
            table #channels {
                caption { (t.alert_per_channel) }
                thead { tr {
                    th scope="col" { (t.channel) } th scope="col" { (t.count_queued) } th scope="col" { (t.count_sent) }
                    th scope="col" { (t.count_delivered) } th scope="col" { (t.count_failed) }
                    th scope="col" { (t.count_expired) } th scope="col" { (t.count_skipped) }
                } }
                tbody {
                    @for ch in &p.channels {
                        tr data-ch=(channel_key(ch.channel)) {
                            th scope="row" { (channel_name(t, ch.channel)) }
                            td.num data-k="queued" { (ch.queued) } td.num data-k="sent" { (ch.sent) }
                            td.num data-k="delivered" { (ch.delivered) } td.num data-k="failed" { (ch.failed) }
                            td.num data-k="expired" { (ch.expired) } td.num data-k="skipped" { (ch.skipped) }
                        }
                    }
                }
            }
            p #live-problem .error role="status" hidden {}
        }
        (answer_counts(ctx, a))
        @if !finished && ctx.session.is_some_and(|s| s.can_write()) {
            form method="post" action={"/console/alerts/" (a.id) "/cancel"} {
                (ctx.csrf_field())
                button.danger type="submit" #cancel { (t.alert_cancel) }
            }
        }
        (texts(t, a))
        section aria-labelledby="replies-h" {
            h2 #replies-h { (t.replies_title) " (" (replies.replies.len())
                @if !replies.next_page_token.is_empty() { "+" } ")" }
            @if replies.replies.is_empty() { p { (t.replies_none) } } @else {
                table {
                    thead { tr { th scope="col" { (t.reply_at) } th scope="col" { (t.reply_from) } th scope="col" { (t.reply_text) } th scope="col" { (t.reply_acknowledges) } } }
                    tbody { @for r in &replies.replies {
                        tr { td { (time(r.at_ms)) } td { (r.from) } td { (r.text) } td { @if r.acknowledges { (t.yes) } } }
                    } }
                }
            }
        }
    }
}

/// The alert's answer options and how many chose each (kept live by the page's script from
/// the same events as the progress); nothing for an alert that asks nothing.
pub fn answer_counts(ctx: &Ctx<'_>, a: &pb::Alert) -> Markup {
    let t = ctx.t();
    let default = a.content.as_ref().map_or("", |c| c.default_language.as_str());
    let label = |o: &pb::AnswerOption| {
        o.labels
            .get(ctx.lang.tag())
            .or_else(|| o.labels.get(default))
            .or_else(|| o.labels.values().next())
            .cloned()
            .unwrap_or_default()
    };
    html! {
        @if !a.answer_options.is_empty() {
            section #answers aria-labelledby="answers-h" {
                h2 #answers-h { (t.answers_title) }
                table {
                    thead { tr {
                        th scope="col" { (t.answer_number) } th scope="col" { (t.answer_label) }
                        th scope="col" { (t.answer_chosen_by) } th scope="col" { (t.answer_acknowledges) }
                    } }
                    tbody {
                        @for (i, o) in a.answer_options.iter().enumerate() {
                            tr data-answer=(i) {
                                th scope="row" { (i + 1) }
                                td { (label(o)) }
                                td.num data-k="chosen" { (a.answer_counts.get(i).copied().unwrap_or(0)) }
                                td { @if o.acknowledges { (t.yes) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn texts(t: &Text, a: &pb::Alert) -> Markup {
    let content = a.content.clone().unwrap_or_default();
    html! {
        section aria-labelledby="texts-h" {
            h2 #texts-h { (t.alert_texts) }
            @for (lang, v) in &content.variants {
                h3 lang=(lang) { (lang) @if *lang == content.default_language { " (" (t.default_language) ")" } }
                dl lang=(lang) {
                    @if !v.sms_text.is_empty() { dt { (t.text_sms) } dd.pre { (v.sms_text) } }
                    @if !v.email_subject.is_empty() { dt { (t.text_email_subject) } dd { (v.email_subject) } }
                    @if !v.email_text.is_empty() { dt { (t.text_email_body) } dd.pre { (v.email_text) } }
                    @if !v.voice_script.is_empty() { dt { (t.text_voice) } dd.pre { (v.voice_script) } }
                    @if !v.push_title.is_empty() { dt { (t.text_push_title) } dd { (v.push_title) } }
                    @if !v.push_body.is_empty() { dt { (t.text_push_body) } dd.pre { (v.push_body) } }
                }
            }
        }
    }
}

/// The alert's progress as Server-Sent Events, from this node's own replica: the REST API's
/// stream (`event: alert`, an `AlertReply` as JSON, at each change), authorised by the session.
/// This node keeps sending while it applies the log, whoever leads.
pub async fn events<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let s = match guard::session(&c, &headers) {
        Ok(s) => s,
        // EventSource cannot follow a redirect to a log-in page usefully: a plain 401 ends it.
        Err(_) => return axum::http::StatusCode::UNAUTHORIZED.into_response(),
    };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(p) => return p.into_response(),
    };
    let state = axum::extract::State(c.backend.clone());
    varsel_http::rest::alerts::watch(state, Bearer::from_token(&s.token), PathParams(id))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The cancel form's fields.
#[derive(Debug, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
}

/// Cancels the alert (operators), then shows it.
pub async fn cancel<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CancelForm>,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::writer(&c, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let path = format!("/console/alerts/{id}");
    let ctx = Ctx { lang, session: Some(&s), path: &path, nav: Nav::Alerts };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(p) => return failed(&ctx, p),
    };
    // The CSRF token is per session: a double click sends the same key and cancels once.
    let req = pb::CancelAlertRequest { id, idempotency_key: format!("console-cancel-{id}") };
    match call(&s, req, |r| c.backend.alerts().cancel_alert(r)).await {
        Ok(_) => Redirect::to(&format!("/console/alerts/{id}")).into_response(),
        Err(p) => failed(&ctx, p),
    }
}

/// Whether the status is final (nothing more will be sent).
pub fn is_final(status: i32) -> bool {
    use pb::AlertStatus as S;
    matches!(S::try_from(status), Ok(S::Completed | S::Cancelled | S::Expired))
}

/// The status's JSON name (what the event stream carries).
pub fn status_key(status: i32) -> &'static str {
    use pb::AlertStatus as S;
    match S::try_from(status).unwrap_or(S::Unspecified) {
        S::Unspecified => "unspecified",
        S::Scheduled => "scheduled",
        S::Active => "active",
        S::Completed => "completed",
        S::Cancelled => "cancelled",
        S::Expired => "expired",
        S::Held => "held",
    }
}

/// The status for people.
pub fn status_name(t: &Text, status: i32) -> &'static str {
    match status_key(status) {
        "scheduled" => t.status_scheduled,
        "active" => t.status_active,
        "completed" => t.status_completed,
        "cancelled" => t.status_cancelled,
        "expired" => t.status_expired,
        "held" => t.status_held,
        _ => "?",
    }
}

/// Every status's name for people, by JSON name, for the page's script.
fn status_names_json(t: &Text) -> String {
    let names: serde_json::Map<String, serde_json::Value> =
        (1..=6).map(|s| (status_key(s).to_string(), serde_json::Value::from(status_name(t, s)))).collect();
    serde_json::Value::Object(names).to_string()
}

/// The channel's JSON name.
pub fn channel_key(channel: i32) -> &'static str {
    match pb::Channel::try_from(channel).unwrap_or(pb::Channel::Unspecified) {
        pb::Channel::Sms => "sms",
        pb::Channel::Voice => "voice",
        pb::Channel::Email => "email",
        pb::Channel::Push => "push",
        pb::Channel::Unspecified => "unspecified",
    }
}

/// The channel for people.
pub fn channel_name(t: &Text, channel: i32) -> &'static str {
    match channel_key(channel) {
        "sms" => t.channel_sms,
        "voice" => t.channel_voice,
        "email" => t.channel_email,
        "push" => t.channel_push,
        _ => "?",
    }
}
