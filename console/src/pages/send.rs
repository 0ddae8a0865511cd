//! Sending an alert: the form (groups, areas, channels and escalation steps, texts per
//! language with a live SMS counter), a confirmation that states whom and how many messages
//! it reaches (`PreviewAlert`), then the send (`CreateAlert`, with the idempotency key the form
//! carried since it was first shown, so a double submit makes one alert).
//!
//! The form's fields have distinct names (`group_7`, `step2_sms`, `nb_sms`), so the whole form
//! is one map and is carried through the confirmation as hidden fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use varsel_domain::sms;
use varsel_http::Backend;
use varsel_http::problem::Problem;
use varsel_proto::api as pb;
use varsel_proto::api::alert_service_server::AlertService;
use varsel_proto::api::contact_service_server::ContactService;

use super::alerts::{call, channel_name};
use super::{Ctx, Nav, failed, page, problem_markup};
use crate::guard;
use crate::i18n::{Lang, Text};
use crate::session::{self, Session};
use crate::{ClusterView, Console};

/// Escalation steps the form offers (the first at the start, the others later).
pub const STEPS_MAX: usize = 3;

/// Languages the form has texts for.
pub const TEXT_LANGUAGES: [&str; 2] = ["nb", "en"];

/// Longest text the SMS counter analyses (far above any tenant's segment limit; the bound keeps
/// the endpoint cheap).
pub const COUNTER_CHARS_MAX: usize = 10_000;

/// The channels in the order the form shows them.
const CHANNELS: [pb::Channel; 4] =
    [pb::Channel::Sms, pb::Channel::Voice, pb::Channel::Email, pb::Channel::Push];

/// The per-language text fields: (form suffix, label).
fn text_fields(t: &Text) -> [(&'static str, &'static str); 6] {
    [
        ("sms", t.text_sms),
        ("email_subject", t.text_email_subject),
        ("email_text", t.text_email_body),
        ("voice", t.text_voice),
        ("push_title", t.text_push_title),
        ("push_body", t.text_push_body),
    ]
}

type Fields = BTreeMap<String, String>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.get(name).map_or("", |v| v.as_str())
}

/// The empty form, with a fresh idempotency key.
pub async fn form<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::session(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let mut f = Fields::new();
    f.insert("key".into(), format!("console-{}", session::random_secret()));
    f.insert("default_language".into(), if lang == Lang::Nb { "nb" } else { "en" }.into());
    f.insert("step1_sms".into(), "on".into());
    render_form(&c, lang, &s, &f, None, StatusCode::OK).await
}

async fn render_form<B: Backend, V: ClusterView>(
    c: &Arc<Console<B, V>>,
    lang: Lang,
    s: &Session,
    f: &Fields,
    error: Option<Problem>,
    status: StatusCode,
) -> Response {
    let ctx = Ctx { lang, session: Some(s), path: "/console/send", nav: Nav::Send };
    let t = ctx.t();
    if !s.can_write() {
        return failed(&ctx, Problem::new(StatusCode::FORBIDDEN, "permission-denied", t.err_role));
    }
    let groups = match call(s, pb::ListGroupsRequest { consistency: 0 }, |r| {
        c.backend.contacts().list_groups(r)
    })
    .await
    {
        Ok(g) => g.groups,
        Err(p) => return failed(&ctx, p),
    };
    let mut r = page(
        &ctx,
        t.send_title,
        html! {
            @if let Some(p) = &error { (problem_markup(t, p)) }
            form method="post" action="/console/send/confirm" {
                (ctx.csrf_field())
                input type="hidden" name="key" value=(field(f, "key"));
                (basics(t, f))
                (targets(t, f, &groups))
                (steps(t, f))
                (texts(t, f))
                button type="submit" #to-confirm { (t.send_review) }
            }
        },
    );
    *r.status_mut() = status;
    r
}

fn basics(t: &Text, f: &Fields) -> Markup {
    let priority = field(f, "priority");
    html! {
        fieldset {
            legend { (t.send_basics) }
            label for="title" { (t.alert_title) }
            input #title type="text" name="title" value=(field(f, "title")) required maxlength="200";
            label for="priority" { (t.priority) }
            select #priority name="priority" {
                option value="routine" selected[priority == "routine" || priority.is_empty()] { (t.priority_routine) }
                option value="urgent" selected[priority == "urgent"] { (t.priority_urgent) }
                option value="crisis" selected[priority == "crisis"] { (t.priority_crisis) }
            }
            label for="send_in_minutes" { (t.send_in_minutes) }
            input #send_in_minutes type="number" name="send_in_minutes" min="0" max="43200" inputmode="numeric"
                value=(field(f, "send_in_minutes")) aria-describedby="send-in-help";
            p #send-in-help .hint { (t.send_in_minutes_hint) }
        }
    }
}

fn targets(t: &Text, f: &Fields, groups: &[pb::Group]) -> Markup {
    html! {
        fieldset {
            legend { (t.send_targets) }
            @if groups.is_empty() { p { (t.groups_none) } }
            @for g in groups {
                @let name = format!("group_{}", g.id);
                div.check {
                    input type="checkbox" id=(name) name=(name) checked[field(f, &name) == "on"];
                    label for=(name) { (g.name) " (" (g.member_count) ")" }
                }
            }
            label for="polygons" { (t.area_polygons) }
            textarea #polygons name="polygons" rows="2" aria-describedby="polygons-help" { (field(f, "polygons")) }
            p #polygons-help .hint { (t.area_polygons_hint) }
            label for="circles" { (t.area_circles) }
            textarea #circles name="circles" rows="2" aria-describedby="circles-help" { (field(f, "circles")) }
            p #circles-help .hint { (t.area_circles_hint) }
            label for="within_groups" { (t.within_groups) }
            input #within_groups type="text" name="within_groups" value=(field(f, "within_groups")) aria-describedby="within-help";
            p #within-help .hint { (t.within_groups_hint) }
        }
    }
}

fn steps(t: &Text, f: &Fields) -> Markup {
    html! {
        fieldset {
            legend { (t.send_steps) }
            p.hint { (t.send_steps_hint) }
            @for i in 1..=STEPS_MAX {
                fieldset.step {
                    legend { (t.step) " " (i) }
                    @let after = format!("step{i}_after");
                    @if i == 1 {
                        input type="hidden" name=(after) value="0";
                    } @else {
                        label for=(after) { (t.step_after_seconds) }
                        input type="number" id=(after) name=(after) min="0" inputmode="numeric" value=(field(f, &after));
                    }
                    @for ch in CHANNELS {
                        @let name = format!("step{i}_{}", super::alerts::channel_key(ch as i32));
                        div.check {
                            input type="checkbox" id=(name) name=(name) checked[field(f, &name) == "on"];
                            label for=(name) { (channel_name(t, ch as i32)) }
                        }
                    }
                }
            }
        }
    }
}

fn texts(t: &Text, f: &Fields) -> Markup {
    let default = field(f, "default_language");
    html! {
        fieldset {
            legend { (t.alert_texts) }
            label for="default_language" { (t.default_language) }
            select #default_language name="default_language" {
                @for l in TEXT_LANGUAGES {
                    option value=(l) selected[default == l] { (Lang::from_tag(l).map_or(l, Lang::name)) }
                }
            }
            @for l in TEXT_LANGUAGES {
                fieldset.lang lang=(l) {
                    legend { (Lang::from_tag(l).map_or(l, Lang::name)) }
                    @for (suffix, label) in text_fields(t) {
                        @let name = format!("{l}_{suffix}");
                        label for=(name) { (label) }
                        @if suffix.ends_with("title") || suffix.ends_with("subject") {
                            input type="text" id=(name) name=(name) value=(field(f, &name));
                        } @else if suffix == "sms" {
                            textarea id=(name) name=(name) rows="3" data-sms-counter=(format!("{name}-count"))
                                aria-describedby=(format!("{name}-count")) { (field(f, &name)) }
                            output id=(format!("{name}-count")) .counter aria-live="polite" for=(name) {}
                        } @else {
                            textarea id=(name) name=(name) rows="3" { (field(f, &name)) }
                        }
                    }
                    @let name = format!("{l}_answers");
                    label for=(name) { (t.answers_field) }
                    textarea id=(name) name=(name) rows="3" aria-describedby="answers-hint" { (field(f, &name)) }
                }
            }
            label for="answers_ack" { (t.answers_ack_field) }
            input type="text" id="answers_ack" name="answers_ack" inputmode="numeric" value=(field(f, "answers_ack"));
            p #answers-hint .hint { (t.answers_hint) }
        }
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn number(f: &Fields, name: &str, max: u64) -> Result<u64, Problem> {
    let raw = field(f, name).trim();
    if raw.is_empty() {
        return Ok(0);
    }
    match raw.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(Problem::invalid(
            name,
            "range",
            format!("must be a whole number from 0 to {max}, not {raw:?}"),
        )),
    }
}

/// The alert the form describes; a field that cannot be read is refused naming it. The rest
/// (required texts, limits, areas' syntax) is checked by the service.
pub fn build(f: &Fields, now_ms: u64) -> Result<pb::CreateAlertRequest, Problem> {
    let group_ids: Vec<u64> = f
        .iter()
        .filter(|(_, v)| *v == "on")
        .filter_map(|(k, _)| k.strip_prefix("group_")?.parse().ok())
        .collect();
    let targets = pb::Targets {
        group_ids,
        area_polygons: lines(field(f, "polygons")),
        area_circles: lines(field(f, "circles")),
        within_groups: field(f, "within_groups")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        ..Default::default()
    };
    let mut policy = Vec::new();
    for i in 1..=STEPS_MAX {
        let channels: Vec<i32> = CHANNELS
            .iter()
            .filter(|ch| field(f, &format!("step{i}_{}", super::alerts::channel_key(**ch as i32))) == "on")
            .map(|ch| *ch as i32)
            .collect();
        let after = number(f, &format!("step{i}_after"), u64::from(u32::MAX))?;
        if !channels.is_empty() {
            policy.push(pb::EscalationStep {
                channels,
                after_seconds: u32::try_from(after).unwrap_or(u32::MAX),
            });
        }
    }
    let mut variants = std::collections::HashMap::new();
    for l in TEXT_LANGUAGES {
        let v = pb::ChannelContent {
            sms_text: field(f, &format!("{l}_sms")).to_string(),
            email_subject: field(f, &format!("{l}_email_subject")).to_string(),
            email_text: field(f, &format!("{l}_email_text")).to_string(),
            voice_script: field(f, &format!("{l}_voice")).to_string(),
            push_title: field(f, &format!("{l}_push_title")).to_string(),
            push_body: field(f, &format!("{l}_push_body")).to_string(),
            ..Default::default()
        };
        if v != pb::ChannelContent::default() {
            variants.insert(l.to_string(), v);
        }
    }
    let priority = match field(f, "priority") {
        "urgent" => pb::Priority::Urgent,
        "crisis" => pb::Priority::Crisis,
        _ => pb::Priority::Routine,
    };
    let minutes = number(f, "send_in_minutes", 30 * 24 * 60)?;
    let answer_options = answer_options(f)?;
    Ok(pb::CreateAlertRequest {
        idempotency_key: field(f, "key").to_string(),
        title: field(f, "title").trim().to_string(),
        priority: priority as i32,
        content: Some(pb::Content { default_language: field(f, "default_language").to_string(), variants }),
        targets: Some(targets),
        policy,
        send_at_ms: if minutes == 0 { 0 } else { now_ms + minutes * 60_000 },
        answer_options,
        ..Default::default()
    })
}

/// The answer options: line i of each language's `{lang}_answers` is option i's label in that
/// language; `answers_ack` names the options that acknowledge. The service checks the rest
/// (2 to 9 options, a label in the default language, no duplicates).
fn answer_options(f: &Fields) -> Result<Vec<pb::AnswerOption>, Problem> {
    let per_lang: Vec<(&str, Vec<String>)> =
        TEXT_LANGUAGES.iter().map(|l| (*l, lines(field(f, &format!("{l}_answers"))))).collect();
    let n = per_lang.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let mut acks = Vec::new();
    for part in field(f, "answers_ack").split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<usize>() {
            Ok(k) if (1..=n).contains(&k) => acks.push(k),
            _ => {
                let m = format!("{part:?} is not the number of one of the {n} answer options");
                return Err(Problem::invalid("answers_ack", "value", m));
            }
        }
    }
    Ok((0..n)
        .map(|i| pb::AnswerOption {
            labels: per_lang
                .iter()
                .filter_map(|(l, v)| v.get(i).map(|label| (l.to_string(), label.clone())))
                .collect(),
            acknowledges: acks.contains(&(i + 1)),
        })
        .collect())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The confirmation: whom the alert reaches and how many messages, before anything is sent.
pub async fn confirm<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::writer(&c, &headers, field(&f, "csrf")) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let req = match build(&f, now_ms()) {
        Ok(r) => r,
        Err(p) => return render_form(&c, lang, &s, &f, Some(p), StatusCode::BAD_REQUEST).await,
    };
    let preview = pb::PreviewAlertRequest { targets: req.targets.clone(), consistency: 0 };
    let counts = match call(&s, preview, |r| c.backend.alerts().preview_alert(r)).await {
        Ok(r) => r,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            return render_form(&c, lang, &s, &f, Some(p), status).await;
        }
    };
    let ctx = Ctx { lang, session: Some(&s), path: "/console/send", nav: Nav::Send };
    page(&ctx, ctx.t().confirm_title, confirmation(&ctx, &f, &req, &counts))
}

fn confirmation(
    ctx: &Ctx<'_>,
    f: &Fields,
    req: &pb::CreateAlertRequest,
    counts: &pb::PreviewAlertReply,
) -> Markup {
    let t = ctx.t();
    let used: std::collections::BTreeSet<i32> =
        req.policy.iter().flat_map(|s| s.channels.iter().copied()).collect();
    let sms_segments = req
        .content
        .as_ref()
        .map(|c| c.variants.values().map(|v| sms::analyse(&v.sms_text).segments as u64).max().unwrap_or(1))
        .unwrap_or(1);
    let reach = |ch: i32| match pb::Channel::try_from(ch) {
        Ok(pb::Channel::Sms) => counts.sms,
        Ok(pb::Channel::Voice) => counts.voice,
        Ok(pb::Channel::Email) => counts.email,
        Ok(pb::Channel::Push) => counts.push,
        _ => 0,
    };
    let messages: u64 = used
        .iter()
        .map(|ch| reach(*ch) * if *ch == pb::Channel::Sms as i32 { sms_segments } else { 1 })
        .sum();
    html! {
        p.notice role="status" #confirm-summary {
            strong { (t.confirm_people) ": " span #confirm-people { (counts.contacts) } } ". "
            (t.confirm_messages) ": " span #confirm-messages { (messages) } "."
        }
        table {
            caption { (t.confirm_caption) }
            thead { tr { th scope="col" { (t.channel) } th scope="col" { (t.confirm_reachable) } th scope="col" { (t.confirm_used) } } }
            tbody {
                @for ch in CHANNELS {
                    tr data-ch=(super::alerts::channel_key(ch as i32)) {
                        th scope="row" { (channel_name(t, ch as i32)) }
                        td.num { (reach(ch as i32)) }
                        td { @if used.contains(&(ch as i32)) { (t.yes) } }
                    }
                }
            }
        }
        @if counts.in_areas > 0 { p { (t.confirm_in_areas) ": " (counts.in_areas) } }
        @if used.contains(&(pb::Channel::Sms as i32)) { p { (t.confirm_sms_segments) ": " (sms_segments) } }
        p.hint { (t.confirm_hint) }
        form method="post" action="/console/send" {
            (ctx.csrf_field())
            @for (k, v) in f { @if k != "csrf" && k != "action" { input type="hidden" name=(k) value=(v); } }
            button.danger type="submit" name="action" value="send" #send-now { (t.confirm_send) }
            " "
            button type="submit" name="action" value="edit" #edit { (t.confirm_edit) }
        }
    }
}

/// Sends the alert (or, with `action=edit`, shows the form again with its values).
pub async fn create<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::writer(&c, &headers, field(&f, "csrf")) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    if field(&f, "action") == "edit" {
        return render_form(&c, lang, &s, &f, None, StatusCode::OK).await;
    }
    let req = match build(&f, now_ms()) {
        Ok(r) => r,
        Err(p) => return render_form(&c, lang, &s, &f, Some(p), StatusCode::BAD_REQUEST).await,
    };
    match call(&s, req, |r| c.backend.alerts().create_alert(r)).await {
        Ok(reply) => {
            let id = reply.alert.map_or(0, |a| a.id);
            Redirect::to(&format!("/console/alerts/{id}")).into_response()
        }
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            render_form(&c, lang, &s, &f, Some(p), status).await
        }
    }
}

/// The SMS counter's question.
#[derive(Debug, Deserialize)]
pub struct SegmentsRequest {
    pub text: String,
}

/// The SMS counter's answer: the server's own rules (crate `varsel-domain`, `sms::analyse`).
#[derive(Debug, Serialize)]
pub struct SegmentsReply {
    /// `GSM-7` or `UCS-2`.
    pub encoding: String,
    pub units: usize,
    /// `septets` or `UTF-16 units`.
    pub unit_name: &'static str,
    pub segments: usize,
    pub chars: usize,
    /// The first character that forces UCS-2, if any.
    pub ucs2_trigger: Option<String>,
    /// Units left before the next segment starts.
    pub units_left: usize,
    /// A line for people in the session's language.
    pub summary: String,
}

/// `POST /console/api/sms-segments` with `{"text": "..."}` and the `X-CSRF-Token` header.
pub async fn sms_segments<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Json(q): Json<SegmentsRequest>,
) -> Response {
    let lang = session::language(&headers);
    let csrf = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Err(r) = guard::reader_post(&c, &headers, csrf) {
        let status =
            if r == guard::Refusal::LoggedOut { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
        return (status, Json(serde_json::json!({ "error": format!("{r:?}") }))).into_response();
    }
    if q.text.chars().count() > COUNTER_CHARS_MAX {
        let p = Problem::invalid("text", "too_long", format!("at most {COUNTER_CHARS_MAX} characters"));
        return p.into_response();
    }
    Json(segments(lang.text(), &q.text)).into_response()
}

/// What `text` costs as an SMS, by the server's rules.
pub fn segments(t: &Text, text: &str) -> SegmentsReply {
    let info = sms::analyse(text);
    let units_left = info.encoding.units_in(info.segments).saturating_sub(info.units);
    let mut summary = format!(
        "{}: {} · {} {} · {} {} · {} {}",
        t.sms_encoding,
        info.encoding,
        info.units,
        info.encoding.unit_name(),
        info.segments,
        t.sms_segments,
        units_left,
        t.sms_units_left
    );
    if let Some(c) = info.ucs2_trigger {
        summary.push_str(&format!(" · {} «{c}»", t.sms_ucs2_because));
    }
    SegmentsReply {
        encoding: info.encoding.to_string(),
        units: info.units,
        unit_name: info.encoding.unit_name(),
        segments: info.segments,
        chars: info.chars,
        ucs2_trigger: info.ucs2_trigger.map(String::from),
        units_left,
        summary,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: the form's fields become the alert the operator described; a bad number is
    /// refused naming its field.
    #[test]
    fn form_to_request() {
        let f: Fields = [
            ("key", "k1"),
            ("title", " Flom "),
            ("group_4", "on"),
            ("group_9", "on"),
            ("step1_sms", "on"),
            ("step1_after", "0"),
            ("step2_voice", "on"),
            ("step2_after", "600"),
            ("nb_sms", "Evakuer"),
            ("default_language", "nb"),
            ("circles", "59.9,10.7 2\n\n"),
            ("priority", "crisis"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = build(&f, 1_000).unwrap();
        assert_eq!(r.title, "Flom");
        assert_eq!(r.idempotency_key, "k1");
        let targets = r.targets.unwrap();
        assert_eq!(targets.group_ids, vec![4, 9]);
        assert_eq!(targets.area_circles, vec!["59.9,10.7 2"]);
        assert_eq!(r.policy.len(), 2);
        assert_eq!(r.policy[1].after_seconds, 600);
        assert_eq!(r.policy[1].channels, vec![pb::Channel::Voice as i32]);
        assert_eq!(r.content.unwrap().variants["nb"].sms_text, "Evakuer");
        assert_eq!(r.priority, pb::Priority::Crisis as i32);
        assert_eq!(r.send_at_ms, 0);

        let mut bad = f.clone();
        bad.insert("step2_after".into(), "ten".into());
        let p = build(&bad, 0).unwrap_err();
        assert_eq!(p.errors[0].field, "step2_after", "{p:?}");
    }

    /// Goal: the counter gives the domain's answer (GSM-7 vs UCS-2 and segments).
    #[test]
    fn counter_uses_domain_rules() {
        let t = Lang::En.text();
        let r = segments(t, "Hei");
        assert_eq!((r.encoding.as_str(), r.segments, r.units_left), ("GSM-7", 1, 157));
        let r = segments(t, &"a".repeat(161));
        assert_eq!(r.segments, 2);
        let r = segments(t, "Evakuer nå 😀");
        assert_eq!(r.encoding, "UCS-2");
        assert_eq!(r.ucs2_trigger.as_deref(), Some("😀"));
    }
}
