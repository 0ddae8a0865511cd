//! `TenantService`: tenants, their limits and credentials.

use tonic::{Request, Response, Status};
use varsel_domain::model::Role;
use varsel_proto::api as pb;
use varsel_proto::api::tenant_service_server::TenantService;
use varsel_raft_store::ops::{DomainReply, Op};
use varsel_raft_store::state_machine::domain::query;

use super::convert::{credential_pb, limits, role, role_pb, tenant_pb};
use super::{ApiContext, idempotency_key, unexpected};
use crate::auth::{credential_token, hash_secret, new_secret};
use varsel_domain::Rule;

use crate::error::ApiError;

/// The tenant service of one node.
#[derive(Debug, Clone)]
pub struct Tenants {
    ctx: ApiContext,
}

impl Tenants {
    /// A service on `ctx`.
    pub fn new(ctx: ApiContext) -> Self {
        Self { ctx }
    }
}

/// `changes` applied over `current`: fields at 0 are left as they are.
fn merge_limits(
    current: &varsel_domain::model::Limits,
    changes: Option<&pb::Limits>,
) -> varsel_domain::model::Limits {
    let Some(c) = changes else { return current.clone() };
    let pick = |v: u64, old: u64| if v == 0 { old } else { v };
    let pick32 = |v: u32, old: u32| if v == 0 { old } else { v };
    varsel_domain::model::Limits {
        max_recipients_per_alert: pick(c.max_recipients_per_alert, current.max_recipients_per_alert),
        max_sms_segments: pick32(c.max_sms_segments, current.max_sms_segments),
        max_alerts_per_minute: pick32(c.max_alerts_per_minute, current.max_alerts_per_minute),
        max_messages_per_alert: pick(c.max_messages_per_alert, current.max_messages_per_alert),
        max_send_rate_per_second: pick32(c.max_send_rate_per_second, current.max_send_rate_per_second),
        max_contacts: pick(c.max_contacts, current.max_contacts),
    }
}

fn tenant_reply(reply: DomainReply, existing: bool) -> Result<Response<pb::TenantReply>, Status> {
    match reply {
        DomainReply::Tenant(t) => {
            Ok(Response::new(pb::TenantReply { tenant: Some(tenant_pb(&t)), existing }))
        }
        other => Err(unexpected(other).into()),
    }
}

#[tonic::async_trait]
impl TenantService for Tenants {
    async fn create_tenant(
        &self,
        req: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::TenantReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        let r = req.into_inner();
        let op = Op::CreateTenant {
            name: r.name.trim().to_string(),
            limits: limits(r.limits.as_ref()),
            idempotency_key: idempotency_key(&r.idempotency_key)?,
        };
        let (reply, existing) = self.ctx.propose_keyed(&actor, op).await?;
        tenant_reply(reply, existing)
    }

    async fn get_tenant(
        &self,
        req: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::TenantReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let id = if r.id == 0 { actor.tenant } else { r.id };
        let visible = actor.role == Role::SuperAdmin || id == actor.tenant;
        let tenant = if visible {
            query::tenant(&self.ctx.replica.state.read_txn(), id).map_err(ApiError::from)?
        } else {
            None
        };
        let t = tenant.ok_or_else(|| ApiError::NotFound(format!("tenant {id} does not exist")))?;
        Ok(Response::new(pb::TenantReply { tenant: Some(tenant_pb(&t)), existing: false }))
    }

    async fn list_tenants(
        &self,
        req: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        self.ctx.consistency(req.get_ref().consistency).await?;
        let txn = self.ctx.replica.state.read_txn();
        let all = query::tenants(&txn).map_err(ApiError::from)?;
        let tenants = all
            .iter()
            .filter(|t| actor.role == Role::SuperAdmin || t.id == actor.tenant)
            .map(tenant_pb)
            .collect();
        Ok(Response::new(pb::ListTenantsReply { tenants }))
    }

    async fn set_limits(
        &self,
        req: Request<pb::SetLimitsRequest>,
    ) -> Result<Response<pb::TenantReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        let r = req.into_inner();
        // A field left at 0 keeps its current value, so a client can change one limit.
        let current = query::tenant(&self.ctx.replica.state.read_txn(), r.tenant_id)
            .map_err(ApiError::from)?
            .map(|t| t.limits)
            .unwrap_or_default();
        let op = Op::SetLimits { tenant: r.tenant_id, limits: merge_limits(&current, r.limits.as_ref()) };
        tenant_reply(self.ctx.propose(&actor, op).await?, false)
    }

    async fn set_retention(
        &self,
        req: Request<pb::SetRetentionRequest>,
    ) -> Result<Response<pb::Retention>, Status> {
        let actor = self.ctx.actor(&req).await?;
        let r = req.into_inner();
        let asked = r.retention.unwrap_or_default();
        let current =
            varsel_raft_store::state_machine::retention::of(&self.ctx.replica.state.read_txn(), r.tenant_id)
                .map_err(ApiError::from)?;
        let secs = |s: u64, field: &str| {
            s.checked_mul(1000)
                .ok_or_else(|| ApiError::InvalidArgument(format!("retention.{field}: too long")))
        };
        let retention = varsel_domain::model::Retention {
            details_ms: if asked.details_seconds == 0 {
                current.details_ms
            } else {
                secs(asked.details_seconds, "details_seconds")?
            },
            alerts_ms: if asked.alerts_seconds == 0 {
                current.alerts_ms
            } else {
                secs(asked.alerts_seconds, "alerts_seconds")?
            },
        };
        let op = Op::SetRetention { tenant: r.tenant_id, retention };
        match self.ctx.propose(&actor, op).await? {
            DomainReply::Retention(r) => Ok(Response::new(pb::Retention {
                details_seconds: r.details_ms / 1000,
                alerts_seconds: r.alerts_ms / 1000,
            })),
            other => Err(unexpected(other).into()),
        }
    }

    async fn create_credential(
        &self,
        req: Request<pb::CreateCredentialRequest>,
    ) -> Result<Response<pb::CreateCredentialReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        let r = req.into_inner();
        let secret = new_secret();
        let op = Op::CreateCredential {
            tenant: r.tenant_id,
            name: r.name.trim().to_string(),
            role: role(r.role)?,
            secret_hash: hash_secret(&secret),
            idempotency_key: idempotency_key(&r.idempotency_key)?,
        };
        // A retry with the same key is refused by the state machine (ALREADY_EXISTS naming the
        // credential): the token of the first request cannot be shown again, see
        // `state_machine::domain::idempotency`.
        match self.ctx.propose(&actor, op).await? {
            DomainReply::Credential(c) => Ok(Response::new(pb::CreateCredentialReply {
                token: credential_token(c.id, &secret),
                credential: Some(credential_pb(&c)),
            })),
            other => Err(unexpected(other).into()),
        }
    }

    async fn list_credentials(
        &self,
        req: Request<pb::ListCredentialsRequest>,
    ) -> Result<Response<pb::ListCredentialsReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        let r = req.into_inner();
        if !actor.role.can_manage_credentials() {
            return Err(ApiError::PermissionDenied(format!(
                "role {} may not list credentials",
                actor.role.as_str()
            ))
            .into());
        }
        let tenant = match (actor.role, r.tenant_id) {
            (Role::SuperAdmin, 0) => {
                return Err(ApiError::invalid(
                    "tenant_id",
                    Rule::Required,
                    "the superadmin must name the tenant",
                )
                .into());
            }
            (Role::SuperAdmin, t) => t,
            (_, 0) => actor.tenant,
            (_, t) if t == actor.tenant => t,
            (_, t) => return Err(ApiError::NotFound(format!("tenant {t} does not exist")).into()),
        };
        self.ctx.consistency(r.consistency).await?;
        let creds = query::credentials(&self.ctx.replica.state.read_txn(), tenant).map_err(ApiError::from)?;
        Ok(Response::new(pb::ListCredentialsReply { credentials: creds.iter().map(credential_pb).collect() }))
    }

    async fn revoke_credential(
        &self,
        req: Request<pb::RevokeCredentialRequest>,
    ) -> Result<Response<pb::Credential>, Status> {
        let actor = self.ctx.actor(&req).await?;
        match self.ctx.propose(&actor, Op::RevokeCredential { id: req.into_inner().id }).await? {
            DomainReply::Credential(c) => Ok(Response::new(credential_pb(&c))),
            other => Err(unexpected(other).into()),
        }
    }

    async fn who_am_i(&self, req: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        let name = query::tenant(&self.ctx.replica.state.read_txn(), actor.tenant)
            .map_err(ApiError::from)?
            .map(|t| t.name)
            .unwrap_or_default();
        Ok(Response::new(pb::WhoAmIReply {
            tenant_id: actor.tenant,
            credential_id: actor.credential,
            role: role_pb(actor.role),
            tenant_name: name,
        }))
    }
}
