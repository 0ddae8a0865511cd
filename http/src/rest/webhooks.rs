//! Outbound webhook subscriptions (gRPC `WebhookService`); events, signatures and retries are
//! described in docs/reference/webhooks.md.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use varsel_proto::api as pb;
use varsel_proto::api::webhook_service_server::WebhookService;

use super::Errors;
use crate::Backend;
use crate::extract::{
    Bearer, IdempotencyKey, Json, PageQuery, PathParams, QueryParams, ReadQuery, created, json, page,
};
use crate::problem::Problem;

/// Subscribes an endpoint to events (admin); the answer carries its signing secret, once.
#[utoipa::path(operation_id = "CreateWebhook", post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = pb::CreateWebhookRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create do its work once")),
    responses((status = 201, description = "Created", body = pb::WebhookReply), Errors), security(("bearer" = [])))]
pub async fn create<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    key: IdempotencyKey,
    Json(mut body): Json<pb::CreateWebhookRequest>,
) -> Result<Response, Problem> {
    key.apply(&mut body.idempotency_key)?;
    let reply = b.webhooks().create_webhook(bearer.grpc(body)?).await?.into_inner();
    let id = reply.webhook.as_ref().map_or(0, |w| w.id);
    Ok(created(false, &format!("/api/v1/webhooks/{id}"), &reply))
}

/// The tenant's subscriptions, with their state.
#[utoipa::path(operation_id = "ListWebhooks", get, path = "/api/v1/webhooks", tag = "webhooks", params(ReadQuery),
    responses((status = 200, description = "Done", body = pb::ListWebhooksReply), Errors), security(("bearer" = [])))]
pub async fn list<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListWebhooksRequest { consistency: q.consistency() };
    let reply = b.webhooks().list_webhooks(bearer.grpc(req)?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// One subscription.
#[utoipa::path(operation_id = "GetWebhook", get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = u64, Path, description = "The subscription's id"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::WebhookReply), Errors), security(("bearer" = [])))]
pub async fn get<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::GetWebhookRequest { id, consistency: q.consistency() };
    let reply = b.webhooks().get_webhook(bearer.grpc(req)?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// Deletes a subscription and what waits for it (admin).
#[utoipa::path(operation_id = "DeleteWebhook", delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = u64, Path, description = "The subscription's id")),
    responses((status = 200, description = "Done", body = pb::DeleteWebhookReply), Errors), security(("bearer" = [])))]
pub async fn delete<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
) -> Result<Response, Problem> {
    let reply = b.webhooks().delete_webhook(bearer.grpc(pb::DeleteWebhookRequest { id })?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// Enables a subscription again after it was disabled for failing (admin).
#[utoipa::path(operation_id = "EnableWebhook", post, path = "/api/v1/webhooks/{id}/enable", tag = "webhooks",
    params(("id" = u64, Path, description = "The subscription's id")),
    responses((status = 200, description = "Done", body = pb::WebhookReply), Errors), security(("bearer" = [])))]
pub async fn enable<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
) -> Result<Response, Problem> {
    let reply = b.webhooks().enable_webhook(bearer.grpc(pb::EnableWebhookRequest { id })?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// A page of a subscription's recent delivery attempts, newest first.
#[utoipa::path(operation_id = "ListWebhookDeliveries", get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = u64, Path, description = "The subscription's id"), PageQuery),
    responses((status = 200, description = "Done", body = pb::ListWebhookDeliveriesReply), Errors), security(("bearer" = [])))]
pub async fn deliveries<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListWebhookDeliveriesRequest {
        webhook_id: id,
        page_size: q.page_size.unwrap_or(0),
        page_token: q.page_token.clone().unwrap_or_default(),
        consistency: q.consistency(),
    };
    let reply = b.webhooks().list_webhook_deliveries(bearer.grpc(req)?).await?.into_inner();
    Ok(page(&format!("/api/v1/webhooks/{id}/deliveries"), &reply, &reply.next_page_token))
}
