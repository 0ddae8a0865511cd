//! The audit trail, a page at a time (newest first, as the service gives it).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use varsel_http::Backend;
use varsel_proto::api as pb;
use varsel_proto::api::audit_service_server::AuditService;

use super::alerts::{PageQuery, call};
use super::{Ctx, Nav, failed, page, time};
use crate::guard;
use crate::session;
use crate::{ClusterView, Console};

/// Records on one page.
pub const AUDIT_PAGE_SIZE: u32 = 100;

/// One page of the tenant's audit trail.
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
    let ctx = Ctx { lang, session: Some(&s), path: "/console/audit", nav: Nav::Audit };
    let t = ctx.t();
    let req =
        pb::ListAuditRequest { page_size: AUDIT_PAGE_SIZE, page_token: q.page_token, ..Default::default() };
    let reply = match call(&s, req, |r| c.backend.audit().list_audit(r)).await {
        Ok(r) => r,
        Err(p) => return failed(&ctx, p),
    };
    page(
        &ctx,
        t.audit_title,
        html! {
            @if reply.records.is_empty() { p { (t.audit_none) } } @else {
                table #audit {
                    thead { tr {
                        th scope="col" { (t.audit_at) } th scope="col" { (t.audit_credential) }
                        th scope="col" { (t.audit_action) } th scope="col" { (t.audit_target) } th scope="col" { (t.audit_detail) }
                    } }
                    tbody { @for r in &reply.records {
                        tr { td { (time(r.at_ms)) } td.num { (r.credential_id) } td { code { (r.action) } } td { (r.target) } td { (r.detail) } }
                    } }
                }
            }
            @if !reply.next_page_token.is_empty() {
                p { a href={"/console/audit?page_token=" (varsel_http::extract::percent_encode(&reply.next_page_token))} { (t.next_page) } }
            }
        },
    )
}
