//! Groups and their members (gRPC `ContactService`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use varsel_proto::api as pb;
use varsel_proto::api::contact_service_server::ContactService;

use super::Errors;
use crate::Backend;
use crate::extract::same_id;
use crate::extract::{
    Bearer, IdempotencyKey, Json, PageQuery, PathParams, QueryParams, ReadQuery, created, json, page,
};
use crate::problem::Problem;

/// Creates a group; a group of that name already there is answered with `200`.
#[utoipa::path(operation_id = "CreateGroup", post, path = "/api/v1/groups", tag = "groups", request_body = pb::CreateGroupRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create do its work once")),
    responses((status = 201, description = "Created", body = pb::GroupReply), (status = 200, description = "Already there", body = pb::GroupReply), Errors),
    security(("bearer" = [])))]
pub async fn create<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    key: IdempotencyKey,
    Json(mut body): Json<pb::CreateGroupRequest>,
) -> Result<Response, Problem> {
    key.apply(&mut body.idempotency_key)?;
    let reply = b.contacts().create_group(bearer.grpc(body)?).await?.into_inner();
    let id = reply.group.as_ref().map_or(0, |g| g.id);
    Ok(created(reply.existing, &format!("/api/v1/groups/{id}"), &reply))
}

/// The tenant's groups.
#[utoipa::path(operation_id = "ListGroups", get, path = "/api/v1/groups", tag = "groups", params(ReadQuery),
    responses((status = 200, description = "Done", body = pb::ListGroupsReply), Errors), security(("bearer" = [])))]
pub async fn list<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListGroupsRequest { consistency: q.consistency() };
    let reply = b.contacts().list_groups(bearer.grpc(req)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// One group by id.
#[utoipa::path(operation_id = "GetGroup", get, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = u64, Path, description = "The group's id"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::GroupReply), Errors), security(("bearer" = [])))]
pub async fn get<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let key = Some(pb::get_group_request::Key::Id(id));
    let reply = b
        .contacts()
        .get_group(bearer.grpc(pb::GetGroupRequest { key, consistency: q.consistency() })?)
        .await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// One group by name.
#[utoipa::path(operation_id = "GetGroupByName", get, path = "/api/v1/groups/by-name/{name}", tag = "groups",
    params(("name" = String, Path, description = "The group's name"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::GroupReply), Errors), security(("bearer" = [])))]
pub async fn get_by_name<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(name): PathParams<String>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let key = Some(pb::get_group_request::Key::Name(name));
    let reply = b
        .contacts()
        .get_group(bearer.grpc(pb::GetGroupRequest { key, consistency: q.consistency() })?)
        .await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// Deletes a group (its contacts stay).
#[utoipa::path(operation_id = "DeleteGroup", delete, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = u64, Path, description = "The group's id")),
    responses((status = 200, description = "Done", body = pb::DeleteGroupReply), Errors), security(("bearer" = [])))]
pub async fn delete<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
) -> Result<Response, Problem> {
    let req = pb::DeleteGroupRequest { id, idempotency_key: String::new() };
    let reply = b.contacts().delete_group(bearer.grpc(req)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// Adds and removes members, by contact id or external id, in one step.
#[utoipa::path(operation_id = "ChangeMembers", post, path = "/api/v1/groups/{id}/members", tag = "groups", request_body = pb::ChangeMembersRequest,
    params(("id" = u64, Path, description = "The group's id")),
    responses((status = 200, description = "Done", body = pb::ChangeMembersReply), Errors), security(("bearer" = [])))]
pub async fn change_members<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    Json(mut body): Json<pb::ChangeMembersRequest>,
) -> Result<Response, Problem> {
    same_id("group_id", &mut body.group_id, id)?;
    let reply = b.contacts().change_members(bearer.grpc(body)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// A page of a group's members.
#[utoipa::path(operation_id = "ListMembers", get, path = "/api/v1/groups/{id}/members", tag = "groups",
    params(("id" = u64, Path, description = "The group's id"), PageQuery),
    responses((status = 200, description = "Done", body = pb::ListMembersReply), Errors), security(("bearer" = [])))]
pub async fn list_members<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListMembersRequest {
        group_id: id,
        page_size: q.page_size.unwrap_or(0),
        page_token: q.page_token.clone().unwrap_or_default(),
        consistency: q.consistency(),
    };
    let reply = b.contacts().list_members(bearer.grpc(req)?).await?.into_inner();
    Ok(page(&format!("/api/v1/groups/{id}/members"), &reply, &reply.next_page_token))
}

/// Renames a group and sets its directory id (SCIM Group `externalId`), in one step.
#[utoipa::path(operation_id = "UpdateGroup", patch, path = "/api/v1/groups/{id}", tag = "groups", request_body = pb::UpdateGroupRequest,
    params(("id" = u64, Path, description = "The group's id")),
    responses((status = 200, description = "Done", body = pb::GroupReply), Errors), security(("bearer" = [])))]
pub async fn update<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    Json(mut body): Json<pb::UpdateGroupRequest>,
) -> Result<Response, Problem> {
    same_id("id", &mut body.id, id)?;
    let reply = b.contacts().update_group(bearer.grpc(body)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}
