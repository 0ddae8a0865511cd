//! The recipients' response page: `GET /r/{token}` shows an alert's text in the recipient's
//! language with one button per answer option; `POST /r/{token}` records the choice and sends
//! the browser back to the page (post/redirect/get), which then shows the answer given.
//!
//! Served by every node on its HTTP listener, to anyone holding a link: the token names the
//! tenant, the alert and the recipient and carries a tag under the alert's key (see
//! `varsel_domain::answers`). The node checks the tag before proposing anything, and the state
//! machine checks it again when applying, so a node cannot record an answer for a link it did
//! not see. Plain HTML forms, no JavaScript, no cookies: it works on a cheap phone's browser.
//! A second answer replaces the first (audited by the state machine); the same answer twice
//! changes nothing.
//!
//! Every refusal looks the same to the visitor ("this link is not valid"): a stranger learns
//! nothing about which alerts or people exist.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use varsel_domain::answers::{self, AlertAnswers, LINK_VARIABLE};
use varsel_domain::model::{Alert, Channel, Contact};
use varsel_domain::template::Template;
use varsel_raft_store::Request;
use varsel_raft_store::delivery::{DeliveryCommand, DeliveryReply};
use varsel_raft_store::state_machine::domain::answers::{AnswerItem, AnswerOutcome, AnswerVia, StoredAnswer};
use varsel_raft_store::state_machine::domain::{answers as stored, query};

use crate::replica::Replica;

/// Longest form body taken (one option number).
const FORM_BYTES_MAX: usize = 256;

/// The routes of the response page.
pub fn router(replica: Arc<Replica>) -> Router {
    Router::new()
        .route("/r/{token}", get(show).post(choose))
        .layer(axum::extract::DefaultBodyLimit::max(FORM_BYTES_MAX))
        .with_state(replica)
}

/// What the page needs, read from this node's applied state.
struct Asked {
    alert: Alert,
    contact: Contact,
    answers: AlertAnswers,
    given: Option<StoredAnswer>,
    tag: Vec<u8>,
}

/// How far above the last alert this node knows a link's alert id may be for the node to ask
/// the leader whether it has fallen behind. A lagging node is a few alerts behind, not
/// thousands; a made-up link far above is refused at once instead of costing a round trip
/// to the leader per request.
const LAG_ALERTS_MAX: u64 = 1_000;

/// Reads the link's alert and recipient, after a read barrier when this node does not know
/// them yet (it may lag behind the entry that accepted the alert, by at most
/// [`LAG_ALERTS_MAX`] alerts). `None` for any link that is not valid.
async fn load(replica: &Replica, token: &str) -> Option<Asked> {
    let (tenant, alert, contact, tag) = answers::link_ids(token)?;
    let read = || -> Option<Option<Asked>> {
        let txn = replica.state.read_txn();
        let Some(a) = query::alert(&txn, tenant, alert).ok()? else {
            let next = query::next_alert_id(&txn).ok()?;
            return (alert >= next && alert - next < LAG_ALERTS_MAX).then_some(None);
        };
        let asked = stored::of(&txn, alert).ok()??;
        if !answers::link_valid(&asked.link_key, tenant, alert, contact, &tag) {
            return None;
        }
        let c = query::contact_record(&txn, tenant, contact).ok()??;
        let given = stored::answer_of(&txn, alert, contact).ok()?;
        Some(Some(Asked { alert: a, contact: c, answers: asked, given, tag: tag.to_vec() }))
    };
    match read()? {
        Some(asked) => Some(asked),
        None => {
            replica.read_barrier().await.ok()?;
            read().flatten()
        }
    }
}

#[derive(Debug, Deserialize)]
struct Shown {
    #[serde(default)]
    saved: Option<u8>,
}

async fn show(
    State(replica): State<Arc<Replica>>,
    Path(token): Path<String>,
    Query(q): Query<Shown>,
) -> Response {
    match load(&replica, &token).await {
        Some(asked) => page(StatusCode::OK, &render(&asked, &token, q.saved.is_some())),
        None => not_valid(),
    }
}

#[derive(Debug, Deserialize)]
struct Choice {
    option: String,
}

async fn choose(
    State(replica): State<Arc<Replica>>,
    Path(token): Path<String>,
    Form(choice): Form<Choice>,
) -> Response {
    let Some(asked) = load(&replica, &token).await else { return not_valid() };
    let option = match choice.option.trim().parse::<u8>() {
        Ok(n) if n >= 1 && usize::from(n) <= asked.answers.options.len() => n,
        _ => {
            let t = texts(&asked);
            return page(StatusCode::BAD_REQUEST, &render_message(t, t.no_such_option));
        }
    };
    let item = AnswerItem {
        alert: asked.alert.id,
        contact: asked.contact.id,
        option,
        via: AnswerVia::Page,
        link_tag: Some(asked.tag.clone()),
        acknowledges_without_options: false,
    };
    let cmd = DeliveryCommand::Answers { items: vec![item] };
    match replica.write(Request::Delivery(Box::new(cmd))).await {
        Ok(w) => match w.response {
            varsel_raft_store::Response::Delivery(DeliveryReply::Answered { outcomes })
                if matches!(outcomes.first(), Some(AnswerOutcome::Recorded { .. } | AnswerOutcome::Same)) =>
            {
                // The leader applied it; this node, which serves the page the browser is sent
                // back to, may not have yet: wait, so the page shows the answer just given.
                if let Err(e) = replica.wait_applied(w.log_index, std::time::Duration::from_secs(5)).await {
                    tracing::warn!(alert = asked.alert.id, error = %e, "answer recorded; this node lags behind it");
                }
                Redirect::to(&format!("/r/{token}?saved={option}")).into_response()
            }
            other => {
                tracing::warn!(alert = asked.alert.id, ?other, "response page answer not recorded");
                not_valid()
            }
        },
        Err(e) => {
            tracing::warn!(alert = asked.alert.id, error = %e, "response page answer not committed");
            let t = texts(&asked);
            let mut r = page(StatusCode::SERVICE_UNAVAILABLE, &render_message(t, t.try_again));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

fn not_valid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        &render_message(&EN, "This link is not valid. / Denne lenken er ikke gyldig."),
    )
}

/// An HTML page with headers that keep it from being cached, framed, or leaking its link
/// (the token is a capability) to another site.
fn page(status: StatusCode, html: &str) -> Response {
    let mut r = (status, html.to_string()).into_response();
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

/// The page's own words, per language.
struct Texts {
    lang: &'static str,
    heading: &'static str,
    choose: &'static str,
    your_answer: &'static str,
    saved: &'static str,
    change: &'static str,
    no_such_option: &'static str,
    try_again: &'static str,
}

const NB: Texts = Texts {
    lang: "nb",
    heading: "Varsel",
    choose: "Velg svaret ditt:",
    your_answer: "Ditt svar",
    saved: "Takk, svaret ditt er registrert.",
    change: "Du kan endre svaret ved å velge et annet.",
    no_such_option: "Velg et av svarene på siden.",
    try_again: "Svaret kunne ikke lagres akkurat nå. Prøv igjen om litt.",
};

const EN: Texts = Texts {
    lang: "en",
    heading: "Alert",
    choose: "Choose your answer:",
    your_answer: "Your answer",
    saved: "Thank you, your answer is recorded.",
    change: "You can change it by choosing another.",
    no_such_option: "Choose one of the answers on the page.",
    try_again: "Your answer could not be saved just now. Please try again shortly.",
};

/// The recipient's language (their own, else the alert's default): Norwegian words for
/// Norwegian, English otherwise.
fn language(asked: &Asked) -> String {
    asked.contact.language.clone().unwrap_or_else(|| asked.alert.spec.content.default_language.clone())
}

fn texts(asked: &Asked) -> &'static Texts {
    let lang = language(asked);
    if ["nb", "nn", "no"].iter().any(|l| lang == *l || lang.starts_with(&format!("{l}-"))) {
        &NB
    } else {
        &EN
    }
}

/// The alert's text for the recipient: their language's variant, the first text it has among
/// SMS, push, e-mail and voice, with variables filled in and the link itself left out.
fn alert_text(asked: &Asked) -> String {
    let lang = language(asked);
    let content = &asked.alert.spec.content;
    let Some(v) = [Channel::Sms, Channel::Push, Channel::Email, Channel::Voice]
        .into_iter()
        .find_map(|c| content.variant_for(Some(&lang), c).filter(|v| v.has(c)))
    else {
        return String::new();
    };
    let raw = [&v.sms_text, &v.push_body, &v.email_text, &v.voice_script].into_iter().flatten().next();
    let Some(raw) = raw else { return String::new() };
    let Ok(t) = Template::parse("text", raw) else { return raw.clone() };
    let c = &asked.contact;
    t.render_with(|name| match name {
        "name" => Some(c.name.as_deref().unwrap_or("")),
        "external_id" => Some(c.external_id.as_str()),
        LINK_VARIABLE => Some(""),
        other => asked.alert.spec.variables.get(other).map(String::as_str),
    })
    .unwrap_or_else(|_| raw.clone())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:1rem auto;padding:0 1rem;\
color:#111;background:#fff;line-height:1.5}h1{font-size:1.4rem}p.text{font-size:1.15rem;white-space:pre-wrap}\
button{display:block;width:100%;margin:.6rem 0;padding:.9rem;font-size:1.15rem;border:2px solid #114;\
border-radius:.4rem;background:#eef;color:#111}button[aria-pressed=true]{background:#114;color:#fff}\
button:focus{outline:3px solid #c60;outline-offset:2px}.saved{padding:.6rem;border-left:4px solid #060;\
background:#efe}";

fn head(t: &Texts, title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{}</title><style>{STYLE}</style></head><body>",
        t.lang,
        escape(title)
    )
}

fn render(asked: &Asked, token: &str, just_saved: bool) -> String {
    let t = texts(asked);
    let lang = language(asked);
    let default = &asked.alert.spec.content.default_language;
    let mut html = head(t, &asked.alert.spec.title);
    let _ = write!(
        html,
        "<main><h1>{}</h1><p class=\"text\">{}</p>",
        escape(&asked.alert.spec.title),
        escape(&alert_text(asked))
    );
    if let Some(given) = &asked.given {
        let label = asked
            .answers
            .options
            .get(usize::from(given.option).saturating_sub(1))
            .map_or("", |o| o.label(Some(&lang), default));
        let saved = if just_saved { format!("{} ", t.saved) } else { String::new() };
        let _ = write!(
            html,
            "<p class=\"saved\" role=\"status\">{}{}: <strong>{}</strong>. {}</p>",
            escape(&saved),
            t.your_answer,
            escape(label),
            t.change
        );
    }
    let _ = write!(html, "<form method=\"post\" action=\"/r/{}\"><p>{}</p>", escape(token), t.choose);
    for (i, o) in asked.answers.options.iter().enumerate() {
        let n = i + 1;
        let pressed = asked.given.is_some_and(|g| usize::from(g.option) == n);
        let _ = write!(
            html,
            "<button type=\"submit\" name=\"option\" value=\"{n}\" aria-pressed=\"{pressed}\">{n}. {}</button>",
            escape(o.label(Some(&lang), default))
        );
    }
    html.push_str("</form></main></body></html>");
    html
}

fn render_message(t: &Texts, message: &str) -> String {
    format!(
        "{}<main><h1>{}</h1><p>{}</p></main></body></html>",
        head(t, t.heading),
        t.heading,
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: markup in an alert's text or a label cannot become HTML.
    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }
}
