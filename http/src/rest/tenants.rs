//! Tenants and credentials (gRPC `TenantService`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use varsel_proto::api as pb;
use varsel_proto::api::tenant_service_server::TenantService;

use super::Errors;
use crate::Backend;
use crate::extract::{
    Bearer, IdempotencyKey, Json, PathParams, QueryParams, ReadQuery, created, json, same_id,
};
use crate::problem::Problem;

/// Who the token belongs to.
#[utoipa::path(operation_id = "WhoAmI", get, path = "/api/v1/whoami", tag = "tenants",
    responses((status = 200, description = "Done", body = pb::WhoAmIReply), Errors), security(("bearer" = [])))]
pub async fn whoami<B: Backend>(State(b): State<Arc<B>>, bearer: Bearer) -> Result<Response, Problem> {
    let reply = b.tenants().who_am_i(bearer.grpc(pb::WhoAmIRequest {})?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// Creates a tenant (superadmin).
#[utoipa::path(operation_id = "CreateTenant", post, path = "/api/v1/tenants", tag = "tenants", request_body = pb::CreateTenantRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create do its work once")),
    responses((status = 201, description = "Created", body = pb::TenantReply), (status = 200, description = "Already created with this key", body = pb::TenantReply), Errors),
    security(("bearer" = [])))]
pub async fn create<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    key: IdempotencyKey,
    Json(mut body): Json<pb::CreateTenantRequest>,
) -> Result<Response, Problem> {
    key.apply(&mut body.idempotency_key)?;
    let reply = b.tenants().create_tenant(bearer.grpc(body)?).await?.into_inner();
    let id = reply.tenant.as_ref().map_or(0, |t| t.id);
    Ok(created(reply.existing, &format!("/api/v1/tenants/{id}"), &reply))
}

/// Every tenant (superadmin).
#[utoipa::path(operation_id = "ListTenants", get, path = "/api/v1/tenants", tag = "tenants", params(ReadQuery),
    responses((status = 200, description = "Done", body = pb::ListTenantsReply), Errors), security(("bearer" = [])))]
pub async fn list<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListTenantsRequest { consistency: q.consistency() };
    let reply = b.tenants().list_tenants(bearer.grpc(req)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// One tenant.
#[utoipa::path(operation_id = "GetTenant", get, path = "/api/v1/tenants/{id}", tag = "tenants",
    params(("id" = u64, Path, description = "The tenant's id"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::TenantReply), Errors), security(("bearer" = [])))]
pub async fn get<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::GetTenantRequest { id, consistency: q.consistency() };
    let reply = b.tenants().get_tenant(bearer.grpc(req)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// Replaces a tenant's limits (superadmin).
#[utoipa::path(operation_id = "SetLimits", put, path = "/api/v1/tenants/{id}/limits", tag = "tenants", request_body = pb::Limits,
    params(("id" = u64, Path, description = "The tenant's id")),
    responses((status = 200, description = "Done", body = pb::TenantReply), Errors), security(("bearer" = [])))]
pub async fn set_limits<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    Json(limits): Json<pb::Limits>,
) -> Result<Response, Problem> {
    let req = pb::SetLimitsRequest { tenant_id: id, limits: Some(limits) };
    let reply = b.tenants().set_limits(bearer.grpc(req)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// Sets how long a tenant's delivery details and alerts are kept (superadmin).
#[utoipa::path(operation_id = "SetRetention", put, path = "/api/v1/tenants/{id}/retention", tag = "tenants", request_body = pb::Retention,
    params(("id" = u64, Path, description = "The tenant's id")),
    responses((status = 200, description = "Done", body = pb::Retention), Errors), security(("bearer" = [])))]
pub async fn set_retention<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    Json(retention): Json<pb::Retention>,
) -> Result<Response, Problem> {
    let req = pb::SetRetentionRequest { tenant_id: id, retention: Some(retention) };
    let reply = b.tenants().set_retention(bearer.grpc(req)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// Creates a credential; its token is in the answer, once.
#[utoipa::path(operation_id = "CreateCredential", post, path = "/api/v1/tenants/{id}/credentials", tag = "tenants",
    request_body = pb::CreateCredentialRequest,
    params(("id" = u64, Path, description = "The tenant's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create do its work once")),
    responses((status = 201, description = "Created", body = pb::CreateCredentialReply), Errors),
    security(("bearer" = [])))]
pub async fn create_credential<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    key: IdempotencyKey,
    Json(mut body): Json<pb::CreateCredentialRequest>,
) -> Result<Response, Problem> {
    same_id("tenant_id", &mut body.tenant_id, id)?;
    key.apply(&mut body.idempotency_key)?;
    let reply = b.tenants().create_credential(bearer.grpc(body)?).await?.into_inner();
    let cred = reply.credential.as_ref().map_or(0, |c| c.id);
    // A retried create is refused (409 naming the credential): its token is shown once only.
    Ok(created(false, &format!("/api/v1/credentials/{cred}"), &reply))
}

/// A tenant's credentials (never their tokens).
#[utoipa::path(operation_id = "ListCredentials", get, path = "/api/v1/tenants/{id}/credentials", tag = "tenants",
    params(("id" = u64, Path, description = "The tenant's id"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::ListCredentialsReply), Errors), security(("bearer" = [])))]
pub async fn list_credentials<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListCredentialsRequest { tenant_id: id, consistency: q.consistency() };
    let reply = b.tenants().list_credentials(bearer.grpc(req)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// Revokes a credential: its token stops working on every node.
#[utoipa::path(operation_id = "RevokeCredential", delete, path = "/api/v1/credentials/{id}", tag = "tenants",
    params(("id" = u64, Path, description = "The credential's id")),
    responses((status = 200, description = "Done", body = pb::Credential), Errors), security(("bearer" = [])))]
pub async fn revoke_credential<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
) -> Result<Response, Problem> {
    let reply =
        b.tenants().revoke_credential(bearer.grpc(pb::RevokeCredentialRequest { id })?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}
