//! The audit trail (gRPC `AuditService`).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use varsel_proto::api as pb;
use varsel_proto::api::Consistency;
use varsel_proto::api::audit_service_server::AuditService;

use super::Errors;
use crate::Backend;
use crate::extract::{Bearer, QueryParams, page};
use crate::problem::Problem;

/// Which audit records, one page at a time (newest last).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Most records in the page (the server bounds it).
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// The tenant (superadmin only; a tenant's credential sees its own).
    pub tenant_id: Option<u64>,
    /// `local` (default) or `linearizable`.
    #[param(value_type = Option<Consistency>)]
    pub consistency: Option<Consistency>,
}

/// A page of the audit trail: who did what, when, at which log index.
#[utoipa::path(operation_id = "ListAudit", get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "Done", body = pb::ListAuditReply), Errors), security(("bearer" = [])))]
pub async fn list<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListAuditRequest {
        page_size: q.page_size.unwrap_or(0),
        page_token: q.page_token.unwrap_or_default(),
        tenant_id: q.tenant_id.unwrap_or(0),
        consistency: q.consistency.unwrap_or(Consistency::Local) as i32,
    };
    let reply = b.audit().list_audit(bearer.grpc(req)?).await?.into_inner();
    Ok(page("/api/v1/audit", &reply, &reply.next_page_token))
}
