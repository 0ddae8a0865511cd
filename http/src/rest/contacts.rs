//! Contacts, imports, export and erasure (gRPC `ContactService`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use varsel_proto::api as pb;
use varsel_proto::api::contact_service_server::ContactService;

use super::Errors;
use crate::Backend;
use crate::extract::{Bearer, Json, PageQuery, PathParams, QueryParams, ReadQuery, created, json, page};
use crate::problem::Problem;

/// Creates or updates a contact, keyed by `external_id`.
#[utoipa::path(operation_id = "UpsertContact", post, path = "/api/v1/contacts", tag = "contacts", request_body = pb::Contact,
    responses((status = 201, description = "Created", body = pb::ContactReply), (status = 200, description = "Updated", body = pb::ContactReply), Errors),
    security(("bearer" = [])))]
pub async fn upsert<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    Json(contact): Json<pb::Contact>,
) -> Result<Response, Problem> {
    let req = pb::UpsertContactRequest { contact: Some(contact), ..Default::default() };
    let reply = b.contacts().upsert_contact(bearer.grpc(req)?).await?.into_inner();
    let id = reply.contact.as_ref().map_or(0, |c| c.id);
    Ok(created(!reply.created, &format!("/api/v1/contacts/{id}"), &reply))
}

/// A page of the tenant's contacts.
#[utoipa::path(operation_id = "ListContacts", get, path = "/api/v1/contacts", tag = "contacts", params(PageQuery),
    responses((status = 200, description = "Done", body = pb::ListContactsReply), Errors), security(("bearer" = [])))]
pub async fn list<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListContactsRequest {
        page_size: q.page_size.unwrap_or(0),
        page_token: q.page_token.clone().unwrap_or_default(),
        consistency: q.consistency(),
    };
    let reply = b.contacts().list_contacts(bearer.grpc(req)?).await?.into_inner();
    Ok(page("/api/v1/contacts", &reply, &reply.next_page_token))
}

/// One contact by id.
#[utoipa::path(operation_id = "GetContact", get, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = u64, Path, description = "The contact's id"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::ContactReply), Errors), security(("bearer" = [])))]
pub async fn get<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let key = Some(pb::get_contact_request::Key::Id(id));
    let reply = b
        .contacts()
        .get_contact(bearer.grpc(pb::GetContactRequest { key, consistency: q.consistency() })?)
        .await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// One contact by its external id.
#[utoipa::path(operation_id = "GetContactByExternalId", get, path = "/api/v1/contacts/by-external-id/{external_id}", tag = "contacts",
    params(("external_id" = String, Path, description = "The contact's external id"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::ContactReply), Errors), security(("bearer" = [])))]
pub async fn get_by_external_id<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(external_id): PathParams<String>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let key = Some(pb::get_contact_request::Key::ExternalId(external_id));
    let reply = b
        .contacts()
        .get_contact(bearer.grpc(pb::GetContactRequest { key, consistency: q.consistency() })?)
        .await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// Deletes a contact (it leaves its groups; alerts already accepted still reach it).
#[utoipa::path(operation_id = "DeleteContact", delete, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = u64, Path, description = "The contact's id")),
    responses((status = 200, description = "Done", body = pb::DeleteContactReply), Errors), security(("bearer" = [])))]
pub async fn delete<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
) -> Result<Response, Problem> {
    let req = pb::DeleteContactRequest { id, idempotency_key: String::new() };
    let reply = b.contacts().delete_contact(bearer.grpc(req)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// Everything held about one contact (GDPR article 15), as JSON.
#[utoipa::path(operation_id = "ExportContact", get, path = "/api/v1/contacts/{id}/export", tag = "contacts",
    params(("id" = u64, Path, description = "The contact's id"), ReadQuery),
    responses((status = 200, description = "The contact, its memberships and every delivery record about it",
        content_type = "application/json", body = Object), Errors),
    security(("bearer" = [])))]
pub async fn export<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let key = Some(pb::export_contact_request::Key::Id(id));
    let req = pb::ExportContactRequest { key, consistency: q.consistency() };
    let reply = b.contacts().export_contact(bearer.grpc(req)?).await?.into_inner();
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], reply.json).into_response())
}

/// Erases a contact (GDPR article 17): personal data in delivery records becomes `[erased]`.
#[utoipa::path(operation_id = "EraseContact", post, path = "/api/v1/contacts/{id}/erase", tag = "contacts",
    params(("id" = u64, Path, description = "The contact's id")),
    responses((status = 200, description = "Done", body = pb::EraseContactReply), Errors), security(("bearer" = [])))]
pub async fn erase<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
) -> Result<Response, Problem> {
    let reply = b.contacts().erase_contact(bearer.grpc(pb::EraseContactRequest { id })?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// How an import reads its file.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's name, for the report and the audit trail.
    pub filename: Option<String>,
    /// Make this group exactly the file's rows: members missing from the file leave it, in
    /// one replicated step (rows the import rejects keep their contact in the group).
    pub sync_group: Option<String>,
    /// With `sync_group`: check and report what would change, write nothing.
    pub dry_run: Option<bool>,
    /// With `sync_group`: refuse when more than this share of the members would leave
    /// (default 10; 100 removes without bound).
    pub max_remove_percent: Option<u32>,
    /// With `sync_group`: refuse when more than this share of the rows is rejected (default 5).
    pub max_rejected_percent: Option<u32>,
}

/// Imports contacts from a CSV file (the body, `text/csv`), streamed as it arrives; the report
/// lists every rejected row with its line and reasons. With `sync_group`, the group becomes
/// exactly the file's rows (`varsel contact import --sync`).
#[utoipa::path(operation_id = "ImportContacts", post, path = "/api/v1/contacts/import", tag = "contacts",
    request_body(content = String, content_type = "text/csv", description = "The CSV file (columns as for `varsel contact import`, docs/reference/cli.md)"),
    params(ImportQuery),
    responses((status = 200, description = "Done", body = pb::ImportReport), Errors), security(("bearer" = [])))]
pub async fn import<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<ImportQuery>,
    body: axum::body::Body,
) -> Result<Response, Problem> {
    let first = pb::ImportChunk {
        data: Vec::new(),
        filename: q.filename.unwrap_or_default(),
        sync_group: q.sync_group.unwrap_or_default(),
        dry_run: q.dry_run.unwrap_or(false),
        max_remove_percent: q.max_remove_percent.unwrap_or(0),
        max_rejected_percent: q.max_rejected_percent.unwrap_or(0),
    };
    let stream = crate::import::chunks(first, body);
    let reply = b.contacts().import_contacts(bearer.grpc(stream)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}
