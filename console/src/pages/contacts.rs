//! Contacts and groups: the list with a search, editing one contact, and a CSV upload that
//! shows each rejected row and why.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use varsel_http::Backend;
use varsel_http::problem::Problem;
use varsel_proto::api as pb;
use varsel_proto::api::contact_service_server::ContactService;

use super::alerts::call;
use super::{Ctx, Nav, failed, grpc, page, problem_markup, time};
use crate::guard;
use crate::i18n::Text;
use crate::session::{self, Session};
use crate::{ClusterView, Console};

/// Contacts on one page of the list.
pub const CONTACTS_PAGE_SIZE: u32 = 100;

/// Pages a search reads at most (the API has no text search): a search looks through the
/// first `SEARCH_PAGES_MAX * SEARCH_PAGE_SIZE` contacts, and says so when there were more.
pub const SEARCH_PAGES_MAX: usize = 20;
/// Contacts per page read by a search.
pub const SEARCH_PAGE_SIZE: u32 = 1_000;
/// Matches a search shows at most.
pub const SEARCH_MATCHES_MAX: usize = 100;

/// `?q=` and `?page_token=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page_token: String,
}

/// The groups, the contacts (a page, or the matches of a search) and the upload form.
pub async fn list<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::session(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let ctx = Ctx { lang, session: Some(&s), path: "/console/contacts", nav: Nav::Contacts };
    let groups =
        match call(&s, pb::ListGroupsRequest { consistency: 0 }, |r| c.backend.contacts().list_groups(r))
            .await
        {
            Ok(g) => g.groups,
            Err(p) => return failed(&ctx, p),
        };
    let found = if q.q.trim().is_empty() {
        let req = pb::ListContactsRequest {
            page_size: CONTACTS_PAGE_SIZE,
            page_token: q.page_token,
            consistency: 0,
        };
        call(&s, req, |r| c.backend.contacts().list_contacts(r))
            .await
            .map(|r| (r.contacts, r.next_page_token, false))
    } else {
        search(&c, &s, q.q.trim()).await.map(|(found, more)| (found, String::new(), more))
    };
    let (contacts, next, truncated) = match found {
        Ok(x) => x,
        Err(p) => return failed(&ctx, p),
    };
    let t = ctx.t();
    page(
        &ctx,
        t.contacts_title,
        html! {
            (groups_table(t, &groups))
            section aria-labelledby="contacts-h" {
                h2 #contacts-h { (t.contacts_list) }
                form method="get" action="/console/contacts" role="search" {
                    label for="q" { (t.contacts_search) }
                    input #q type="search" name="q" value=(q.q) aria-describedby="q-help";
                    p #q-help .hint { (t.contacts_search_hint) }
                    button type="submit" { (t.search) }
                }
                @if truncated { p.notice { (t.contacts_search_truncated) } }
                (contacts_table(t, &contacts, s.can_write()))
                @if !next.is_empty() {
                    p { a href={"/console/contacts?page_token=" (varsel_http::extract::percent_encode(&next))} { (t.next_page) } }
                }
            }
            @if s.can_write() { (upload_form(&ctx)) }
        },
    )
}

/// Contacts whose external id, name, phone or e-mail contains `q` (ignoring case), reading at
/// most [`SEARCH_PAGES_MAX`] pages; answers whether it stopped before the end.
async fn search<B: Backend, V: ClusterView>(
    c: &Arc<Console<B, V>>,
    s: &Session,
    q: &str,
) -> Result<(Vec<pb::Contact>, bool), Problem> {
    let needle = q.to_lowercase();
    let mut found = Vec::new();
    let mut token = String::new();
    for _ in 0..SEARCH_PAGES_MAX {
        let req = pb::ListContactsRequest { page_size: SEARCH_PAGE_SIZE, page_token: token, consistency: 0 };
        let page = call(s, req, |r| c.backend.contacts().list_contacts(r)).await?;
        for contact in page.contacts {
            let hay = [&contact.external_id, &contact.name, &contact.phone, &contact.email];
            if hay.iter().any(|h| h.to_lowercase().contains(&needle)) {
                found.push(contact);
                if found.len() >= SEARCH_MATCHES_MAX {
                    return Ok((found, true));
                }
            }
        }
        if page.next_page_token.is_empty() {
            return Ok((found, false));
        }
        token = page.next_page_token;
    }
    Ok((found, true))
}

fn groups_table(t: &Text, groups: &[pb::Group]) -> Markup {
    html! {
        section aria-labelledby="groups-h" {
            h2 #groups-h { (t.groups_title) }
            @if groups.is_empty() { p { (t.groups_none) } } @else {
                table {
                    thead { tr { th scope="col" { (t.group_name) } th scope="col" { (t.group_members) } th scope="col" { (t.alert_created) } } }
                    tbody { @for g in groups { tr { td { (g.name) } td.num { (g.member_count) } td { (time(g.created_at_ms)) } } } }
                }
            }
        }
    }
}

fn contacts_table(t: &Text, contacts: &[pb::Contact], can_edit: bool) -> Markup {
    html! {
        @if contacts.is_empty() { p { (t.contacts_none) } } @else {
            table #contacts {
                thead { tr {
                    th scope="col" { (t.contact_external_id) } th scope="col" { (t.contact_name) }
                    th scope="col" { (t.contact_phone) } th scope="col" { (t.contact_email) }
                    th scope="col" { (t.contact_language) } th scope="col" { (t.contact_groups) }
                } }
                tbody { @for k in contacts {
                    tr {
                        td { @if can_edit { a href={"/console/contacts/" (k.id)} { (k.external_id) } } @else { (k.external_id) } }
                        td { (k.name) } td { (k.phone) } td { (k.email) } td { (k.language) } td { (k.groups.join(", ")) }
                    }
                } }
            }
        }
    }
}

fn upload_form(ctx: &Ctx<'_>) -> Markup {
    let t = ctx.t();
    html! {
        section aria-labelledby="import-h" {
            h2 #import-h { (t.import_title) }
            p.hint { (t.import_hint) }
            form method="post" action="/console/contacts/import" enctype="multipart/form-data" {
                (ctx.csrf_field())
                label for="file" { (t.import_file) }
                input #file type="file" name="file" accept=".csv,text/csv" required;
                button type="submit" #import { (t.import_submit) }
            }
        }
    }
}

/// One contact's form.
pub async fn edit<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::session(&c, &headers) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let path = format!("/console/contacts/{id}");
    let ctx = Ctx { lang, session: Some(&s), path: &path, nav: Nav::Contacts };
    match get_contact(&c, &s, &id).await {
        Ok(k) => edit_page(&ctx, &k, None, StatusCode::OK),
        Err(p) => failed(&ctx, p),
    }
}

async fn get_contact<B: Backend, V: ClusterView>(
    c: &Arc<Console<B, V>>,
    s: &Session,
    id: &str,
) -> Result<pb::Contact, Problem> {
    let id: u64 = id
        .parse()
        .map_err(|_| Problem::invalid("id", "value", format!("contact id: not a whole number: {id:?}")))?;
    let req = pb::GetContactRequest { key: Some(pb::get_contact_request::Key::Id(id)), consistency: 0 };
    Ok(call(s, req, |r| c.backend.contacts().get_contact(r)).await?.contact.unwrap_or_default())
}

fn edit_page(ctx: &Ctx<'_>, k: &pb::Contact, error: Option<Problem>, status: StatusCode) -> Response {
    let t = ctx.t();
    let editable = ctx.session.is_some_and(Session::can_write);
    let mut r = page(
        ctx,
        &format!("{} {}", t.contact_title, k.external_id),
        html! {
            @if let Some(p) = &error { (problem_markup(t, p)) }
            form method="post" action={"/console/contacts/" (k.id)} {
                (ctx.csrf_field())
                fieldset disabled[!editable] {
                    legend { (t.contact_title) }
                    (text_input("external_id", t.contact_external_id, &k.external_id, "text"))
                    (text_input("name", t.contact_name, &k.name, "text"))
                    (text_input("phone", t.contact_phone, &k.phone, "tel"))
                    (text_input("email", t.contact_email, &k.email, "email"))
                    (text_input("language", t.contact_language, &k.language, "text"))
                    (text_input("groups", t.contact_groups, &k.groups.join(", "), "text"))
                    p.hint { (t.contact_groups_hint) }
                }
                @if editable { button type="submit" #save { (t.save) } }
            }
        },
    );
    *r.status_mut() = status;
    r
}

fn text_input(name: &str, label: &str, value: &str, kind: &str) -> Markup {
    html! {
        label for=(name) { (label) }
        input type=(kind) id=(name) name=(name) value=(value);
    }
}

/// The contact form's fields.
#[derive(Debug, Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    external_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    groups: String,
}

/// Saves the contact: the form's fields replace those; what the form does not show (push
/// subscription, opt-outs, places, directory attributes) stays as it was.
pub async fn save<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ContactForm>,
) -> Response {
    let lang = session::language(&headers);
    let s = match guard::writer(&c, &headers, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let path = format!("/console/contacts/{id}");
    let ctx = Ctx { lang, session: Some(&s), path: &path, nav: Nav::Contacts };
    let mut k = match get_contact(&c, &s, &id).await {
        Ok(k) => k,
        Err(p) => return failed(&ctx, p),
    };
    k.external_id = f.external_id.trim().to_string();
    k.name = f.name.trim().to_string();
    k.phone = f.phone.trim().to_string();
    k.email = f.email.trim().to_string();
    k.language = f.language.trim().to_string();
    k.groups = f.groups.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect();
    let req = pb::UpsertContactRequest {
        contact: Some(k.clone()),
        replace_id: k.id,
        keep_locations: true,
        ..Default::default()
    };
    match call(&s, req, |r| c.backend.contacts().upsert_contact(r)).await {
        Ok(_) => Redirect::to(&format!(
            "/console/contacts?q={}",
            varsel_http::extract::percent_encode(&k.external_id)
        ))
        .into_response(),
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            edit_page(&ctx, &k, Some(p), status)
        }
    }
}

/// Imports an uploaded CSV file (multipart: `csrf` first, then `file`) and shows the report:
/// counts, and every rejected row with its line and reasons.
pub async fn import<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let lang = session::language(&headers);
    let (csrf, file) = match read_upload(&mut multipart).await {
        Ok(x) => x,
        Err(p) => return p.into_response(),
    };
    let s = match guard::writer(&c, &headers, &csrf) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let ctx = Ctx { lang, session: Some(&s), path: "/console/contacts", nav: Nav::Contacts };
    let Some((filename, bytes)) = file else {
        return failed(&ctx, Problem::invalid("file", "required", ctx.t().import_no_file));
    };
    let first = pb::ImportChunk { filename, ..Default::default() };
    let stream = varsel_http::import::chunks(first, axum::body::Body::from(bytes));
    let report = match grpc(&s, stream) {
        Ok(req) => c.backend.contacts().import_contacts(req).await.map(tonic::Response::into_inner),
        Err(p) => return failed(&ctx, p),
    };
    match report {
        Ok(r) => page(&ctx, ctx.t().import_report, report_markup(ctx.t(), &r)),
        Err(st) => failed(&ctx, Problem::from_status(&st)),
    }
}

/// The CSRF field and the file (name, bytes) of an upload.
async fn read_upload(m: &mut Multipart) -> Result<(String, Option<(String, Vec<u8>)>), Problem> {
    let mut csrf = String::new();
    let mut file = None;
    loop {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(Problem::invalid("file", "multipart", e.body_text())),
        };
        match field.name() {
            Some("csrf") => {
                csrf = field.text().await.map_err(|e| Problem::invalid("csrf", "multipart", e.body_text()))?
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("upload.csv").to_string();
                let bytes =
                    field.bytes().await.map_err(|e| Problem::invalid("file", "multipart", e.body_text()))?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    Ok((csrf, file))
}

fn report_markup(t: &Text, r: &pb::ImportReport) -> Markup {
    html! {
        dl.summary #import-summary {
            dt { (t.import_rows) } dd { (r.rows) }
            dt { (t.import_created) } dd { (r.created) }
            dt { (t.import_updated) } dd { (r.updated) }
            dt { (t.import_rejected) } dd #rejected-count { (r.rejected.len()) }
        }
        @if !r.rejected.is_empty() {
            table #rejected {
                caption { (t.import_rejected_caption) }
                thead { tr { th scope="col" { (t.import_line) } th scope="col" { (t.contact_external_id) } th scope="col" { (t.import_errors) } } }
                tbody { @for row in &r.rejected {
                    tr { td.num { (row.line) } td { (row.external_id) } td { ul { @for e in &row.errors { li { (e) } } } } }
                } }
            }
        }
        p { a href="/console/contacts" { (t.back_to_contacts) } }
    }
}
