//! Alerts, their progress as Server-Sent Events, acknowledgements and replies (gRPC
//! `AlertService`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;
use varsel_proto::api as pb;
use varsel_proto::api::Consistency;
use varsel_proto::api::alert_service_server::AlertService;

use super::Errors;
use crate::Backend;
use crate::extract::same_id;
use crate::extract::{
    Bearer, IdempotencyKey, Json, PageQuery, PathParams, QueryParams, ReadQuery, created, json, page,
};
use crate::problem::Problem;

/// How often an idle event stream sends a comment, so proxies and clients see it is alive.
pub const SSE_KEEP_ALIVE_S: u64 = 15;

/// Creates an alert; recipients are fixed when it is accepted.
#[utoipa::path(operation_id = "CreateAlert", post, path = "/api/v1/alerts", tag = "alerts", request_body = pb::CreateAlertRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create send once")),
    responses((status = 201, description = "Created", body = pb::AlertReply), (status = 200, description = "Already created with this key", body = pb::AlertReply), Errors),
    security(("bearer" = [])))]
pub async fn create<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    key: IdempotencyKey,
    Json(mut body): Json<pb::CreateAlertRequest>,
) -> Result<Response, Problem> {
    key.apply(&mut body.idempotency_key)?;
    let reply = b.alerts().create_alert(bearer.grpc(body)?).await?.into_inner();
    let id = reply.alert.as_ref().map_or(0, |a| a.id);
    Ok(created(reply.existing, &format!("/api/v1/alerts/{id}"), &reply))
}

/// How many contacts, per channel, targets (groups, contacts, areas) would reach now; sends
/// nothing.
#[utoipa::path(operation_id = "PreviewAlert", post, path = "/api/v1/alerts/preview", tag = "alerts", request_body = pb::PreviewAlertRequest,
    responses((status = 200, description = "Done", body = pb::PreviewAlertReply), Errors), security(("bearer" = [])))]
pub async fn preview<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    Json(body): Json<pb::PreviewAlertRequest>,
) -> Result<Response, Problem> {
    let reply = b.alerts().preview_alert(bearer.grpc(body)?).await?.into_inner();
    Ok(json(StatusCode::OK, &reply))
}

/// A page of the tenant's alerts.
#[utoipa::path(operation_id = "ListAlerts", get, path = "/api/v1/alerts", tag = "alerts", params(PageQuery),
    responses((status = 200, description = "Done", body = pb::ListAlertsReply), Errors), security(("bearer" = [])))]
pub async fn list<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListAlertsRequest {
        page_size: q.page_size.unwrap_or(0),
        page_token: q.page_token.clone().unwrap_or_default(),
        consistency: q.consistency(),
    };
    let reply = b.alerts().list_alerts(bearer.grpc(req)?).await?.into_inner();
    Ok(page("/api/v1/alerts", &reply, &reply.next_page_token))
}

/// One alert with its progress.
#[utoipa::path(operation_id = "GetAlert", get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = u64, Path, description = "The alert's id"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::AlertReply), Errors), security(("bearer" = [])))]
pub async fn get<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let reply =
        b.alerts().get_alert(bearer.grpc(pb::GetAlertRequest { id, consistency: q.consistency() })?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// `GET /api/v1/alerts/{id}` and `GET /api/v1/alerts/{id}.cap`, told apart by the suffix.
pub async fn get_or_cap<B: Backend>(
    state: State<Arc<B>>,
    bearer: Bearer,
    PathParams(raw): PathParams<String>,
    query: QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let (digits, as_cap) = match raw.strip_suffix(".cap") {
        Some(d) => (d, true),
        None => (raw.as_str(), false),
    };
    let id: u64 = digits.parse().map_err(|_| {
        Problem::invalid("path", "value", format!("alert id: not a whole number: {digits:?}"))
    })?;
    if as_cap {
        super::cap::alert_cap(state, bearer, PathParams(id), query).await
    } else {
        get(state, bearer, PathParams(id), query).await
    }
}

/// Cancels an alert: nothing more is handed to providers.
#[utoipa::path(operation_id = "CancelAlert", post, path = "/api/v1/alerts/{id}/cancel", tag = "alerts",
    params(("id" = u64, Path, description = "The alert's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried cancel answer as the first")),
    responses((status = 200, description = "Done", body = pb::AlertReply), Errors), security(("bearer" = [])))]
pub async fn cancel<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    key: IdempotencyKey,
) -> Result<Response, Problem> {
    let mut req = pb::CancelAlertRequest { id, idempotency_key: String::new() };
    key.apply(&mut req.idempotency_key)?;
    let reply = b.alerts().cancel_alert(bearer.grpc(req)?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// Resumes an alert held after a restore from backup.
#[utoipa::path(operation_id = "ResumeAlert", post, path = "/api/v1/alerts/{id}/resume", tag = "alerts",
    params(("id" = u64, Path, description = "The alert's id")),
    responses((status = 200, description = "Done", body = pb::AlertReply), Errors), security(("bearer" = [])))]
pub async fn resume<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
) -> Result<Response, Problem> {
    let reply = b.alerts().resume_alert(bearer.grpc(pb::ResumeAlertRequest { id })?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// The alert's progress as Server-Sent Events: an `alert` event (an `AlertReply` as JSON) now
/// and at each change, until the alert is finished; a `problem` event if the watch fails.
#[utoipa::path(operation_id = "WatchAlert", get, path = "/api/v1/alerts/{id}/events", tag = "alerts",
    params(("id" = u64, Path, description = "The alert's id")),
    responses((status = 200, description = "`event: alert` with an AlertReply as `data`, at each change",
        content_type = "text/event-stream", body = String), Errors),
    security(("bearer" = [])))]
pub async fn watch<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
) -> Result<Response, Problem> {
    let stream = b.alerts().watch_alert(bearer.grpc(pb::WatchAlertRequest { id })?).await?.into_inner();
    let events = stream.map(|item| {
        let event = match item {
            Ok(reply) => Event::default().event("alert").json_data(&reply),
            Err(status) => Event::default().event("problem").json_data(Problem::from_status(&status)),
        };
        Ok::<_, Infallible>(event.unwrap_or_else(|e| Event::default().event("problem").data(e.to_string())))
    });
    let keep_alive = KeepAlive::new().interval(Duration::from_secs(SSE_KEEP_ALIVE_S));
    Ok(Sse::new(events).keep_alive(keep_alive).into_response())
}

/// Records that a contact acknowledged the alert (stops its escalation for that contact).
#[utoipa::path(operation_id = "Acknowledge", post, path = "/api/v1/alerts/{id}/acknowledgements", tag = "alerts", request_body = pb::AckRequest,
    params(("id" = u64, Path, description = "The alert's id")),
    responses((status = 200, description = "Done", body = pb::AckReply), Errors), security(("bearer" = [])))]
pub async fn acknowledge<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    Json(mut body): Json<pb::AckRequest>,
) -> Result<Response, Problem> {
    same_id("alert_id", &mut body.alert_id, id)?;
    let reply = b.alerts().acknowledge(bearer.grpc(body)?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// A page of the replies attributed to the alert.
#[utoipa::path(operation_id = "ListReplies", get, path = "/api/v1/alerts/{id}/replies", tag = "alerts",
    params(("id" = u64, Path, description = "The alert's id"), PageQuery),
    responses((status = 200, description = "Done", body = pb::ListRepliesReply), Errors), security(("bearer" = [])))]
pub async fn replies<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListRepliesRequest {
        alert_id: id,
        unmatched: false,
        tenant_id: 0,
        page_size: q.page_size.unwrap_or(0),
        page_token: q.page_token.clone().unwrap_or_default(),
        consistency: q.consistency(),
    };
    let reply = b.alerts().list_replies(bearer.grpc(req)?).await?.into_inner();
    Ok(page(&format!("/api/v1/alerts/{id}/replies"), &reply, &reply.next_page_token))
}

/// Which unmatched replies, one page at a time.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RepliesQuery {
    /// Most replies in the page (the server bounds it).
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// The tenant (superadmin only).
    pub tenant_id: Option<u64>,
    /// `local` (default) or `linearizable`.
    #[param(value_type = Option<Consistency>)]
    pub consistency: Option<Consistency>,
}

/// A page of the replies no alert could be found for.
#[utoipa::path(operation_id = "ListUnmatchedReplies", get, path = "/api/v1/replies", tag = "alerts", params(RepliesQuery),
    responses((status = 200, description = "Done", body = pb::ListRepliesReply), Errors), security(("bearer" = [])))]
pub async fn unmatched_replies<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<RepliesQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListRepliesRequest {
        alert_id: 0,
        unmatched: true,
        tenant_id: q.tenant_id.unwrap_or(0),
        page_size: q.page_size.unwrap_or(0),
        page_token: q.page_token.unwrap_or_default(),
        consistency: q.consistency.unwrap_or(Consistency::Local) as i32,
    };
    let reply = b.alerts().list_replies(bearer.grpc(req)?).await?.into_inner();
    Ok(page("/api/v1/replies", &reply, &reply.next_page_token))
}
