//! `AuditService`: who did what, when, per tenant.

use tonic::{Request, Response, Status};
use varsel_domain::model::Role;
use varsel_proto::api as pb;
use varsel_proto::api::audit_service_server::AuditService;
use varsel_raft_store::state_machine::domain::query;

use super::ApiContext;
use super::convert::{page_size, page_token};
use crate::error::ApiError;

/// Default page size.
pub const PAGE_DEFAULT: usize = 100;

/// The audit service of one node.
#[derive(Debug, Clone)]
pub struct Audit {
    ctx: ApiContext,
}

impl Audit {
    /// A service on `ctx`.
    pub fn new(ctx: ApiContext) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl AuditService for Audit {
    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        let r = req.into_inner();
        let tenant = match (actor.role, r.tenant_id) {
            (Role::SuperAdmin, 0) => 0,
            (Role::SuperAdmin, t) => t,
            (_, 0) => actor.tenant,
            (_, t) if t == actor.tenant => t,
            (_, t) => return Err(ApiError::NotFound(format!("tenant {t} does not exist")).into()),
        };
        self.ctx.consistency(r.consistency).await?;
        let limit = page_size(r.page_size, PAGE_DEFAULT);
        let page =
            query::audit(&self.ctx.replica.state.read_txn(), tenant, page_token(&r.page_token)?, limit)
                .map_err(ApiError::from)?;
        let next = if page.len() == limit {
            page.last().map(|(i, _)| i.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let records = page
            .into_iter()
            .map(|(log_index, a)| pb::AuditRecord {
                log_index,
                at_ms: a.at_ms,
                credential_id: a.credential,
                action: a.action,
                target: a.target,
                detail: a.detail,
            })
            .collect();
        Ok(Response::new(pb::ListAuditReply { records, next_page_token: next }))
    }
}
