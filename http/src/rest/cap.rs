//! CAP 1.2 over REST (gRPC `CapService`): messages in as XML, an alert's CAP document and the
//! tenant's Atom feed out, and the routes that decide where messages go.

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use varsel_proto::api as pb;
use varsel_proto::api::cap_service_server::CapService;

use super::Errors;
use crate::Backend;
use crate::extract::{Bearer, Json, PathParams, QueryParams, ReadQuery, created, json};
use crate::problem::Problem;

/// The media type of CAP documents.
pub const CAP_XML: &str = "application/cap+xml";

/// The media type of Atom feeds.
pub const ATOM_XML: &str = "application/atom+xml";

/// A CAP document in a request body: XML (`application/cap+xml`, `application/xml` or
/// `text/xml`), UTF-8.
#[derive(Debug)]
pub struct CapBody(String);

impl<S: Send + Sync> FromRequest<S> for CapBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let kind = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if !matches!(kind.as_deref(), Some(CAP_XML | "application/xml" | "text/xml")) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "a CAP message is XML: Content-Type application/cap+xml",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("request body: {}", e.body_text()),
            )
        })?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|e| Problem::invalid("alert", "utf8", format!("the document is not UTF-8: {e}")))?;
        Ok(CapBody(text))
    }
}

fn xml(media_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, media_type)], body).into_response()
}

/// Acts on a CAP 1.2 message: Alert and Update create an alert to the groups of the tenant's
/// matching routes (Exercise: to its exercise group only), Cancel cancels what it references,
/// Test, Draft and System are checked and stored, never sent. A repost of the same message
/// (sender, identifier, sent) answers what the first did.
#[utoipa::path(operation_id = "SubmitCap", post, path = "/api/v1/cap", tag = "cap",
    request_body(content = String, content_type = "application/cap+xml", description = "A CAP 1.2 alert document"),
    responses((status = 201, description = "An alert was created", body = pb::SubmitCapReply),
        (status = 200, description = "Stored, cancelled, or received before", body = pb::SubmitCapReply), Errors),
    security(("bearer" = [])))]
pub async fn submit<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    CapBody(body): CapBody,
) -> Result<Response, Problem> {
    let reply = b.cap().submit_cap(bearer.grpc(pb::SubmitCapRequest { xml: body })?).await?.into_inner();
    let new_alert = reply.alert.as_ref().filter(|_| !reply.existing).map(|a| a.id);
    Ok(match new_alert {
        Some(id) => created(false, &format!("/api/v1/alerts/{id}"), &reply),
        None => json(StatusCode::OK, &reply),
    })
}

/// The alert as a CAP 1.2 document: the message it came from, or a description of an alert
/// made through the API.
#[utoipa::path(operation_id = "GetAlertCap", get, path = "/api/v1/alerts/{id}.cap", tag = "cap",
    params(("id" = u64, Path, description = "The alert's id"), ReadQuery),
    responses((status = 200, description = "A CAP 1.2 alert document", content_type = "application/cap+xml", body = String), Errors),
    security(("bearer" = [])))]
pub async fn alert_cap<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(id): PathParams<u64>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::GetAlertCapRequest { alert_id: id, consistency: q.consistency() };
    let doc = b.cap().get_alert_cap(bearer.grpc(req)?).await?.into_inner();
    Ok(xml(CAP_XML, doc.xml))
}

/// An Atom feed of the tenant's public alerts that came in as CAP, newest first.
#[utoipa::path(operation_id = "CapFeed", get, path = "/api/v1/cap/feed", tag = "cap", params(ReadQuery),
    responses((status = 200, description = "An Atom feed", content_type = "application/atom+xml", body = String), Errors),
    security(("bearer" = [])))]
pub async fn feed<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let doc = b.cap().cap_feed(bearer.grpc(pb::CapFeedRequest { consistency: q.consistency() })?).await?;
    Ok(xml(ATOM_XML, doc.into_inner().xml))
}

/// Replaces the tenant's CAP routes and exercise group (admin).
#[utoipa::path(operation_id = "PutCapConfig", put, path = "/api/v1/cap/config", tag = "cap", request_body = pb::CapConfig,
    responses((status = 200, description = "Done", body = pb::CapConfig), Errors), security(("bearer" = [])))]
pub async fn put_config<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    Json(config): Json<pb::CapConfig>,
) -> Result<Response, Problem> {
    let reply =
        b.cap().put_cap_config(bearer.grpc(pb::PutCapConfigRequest { config: Some(config) })?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// The tenant's CAP routes and exercise group.
#[utoipa::path(operation_id = "GetCapConfig", get, path = "/api/v1/cap/config", tag = "cap", params(ReadQuery),
    responses((status = 200, description = "Done", body = pb::CapConfig), Errors), security(("bearer" = [])))]
pub async fn get_config<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let reply = b
        .cap()
        .get_cap_config(bearer.grpc(pb::GetCapConfigRequest { consistency: q.consistency() })?)
        .await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}
