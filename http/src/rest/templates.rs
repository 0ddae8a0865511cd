//! Message templates (gRPC `AlertService`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use varsel_proto::api as pb;
use varsel_proto::api::alert_service_server::AlertService;

use super::Errors;
use crate::Backend;
use crate::extract::{Bearer, Json, PathParams, QueryParams, ReadQuery, json};
use crate::problem::Problem;

/// Creates or replaces the template `name`.
#[utoipa::path(operation_id = "PutTemplate", put, path = "/api/v1/templates/{name}", tag = "templates", request_body = pb::Template,
    params(("name" = String, Path, description = "The template's name")),
    responses((status = 200, description = "Done", body = pb::TemplateReply), Errors), security(("bearer" = [])))]
pub async fn put<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(name): PathParams<String>,
    Json(mut template): Json<pb::Template>,
) -> Result<Response, Problem> {
    if !template.name.is_empty() && template.name != name {
        return Err(Problem::invalid(
            "name",
            "value",
            format!("is {:?}, but the path names {name:?}", template.name),
        ));
    }
    template.name = name;
    let reply =
        b.alerts().put_template(bearer.grpc(pb::PutTemplateRequest { template: Some(template) })?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// One template.
#[utoipa::path(operation_id = "GetTemplate", get, path = "/api/v1/templates/{name}", tag = "templates",
    params(("name" = String, Path, description = "The template's name"), ReadQuery),
    responses((status = 200, description = "Done", body = pb::TemplateReply), Errors), security(("bearer" = [])))]
pub async fn get<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    PathParams(name): PathParams<String>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::GetTemplateRequest { name, consistency: q.consistency() };
    let reply = b.alerts().get_template(bearer.grpc(req)?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}

/// The tenant's templates.
#[utoipa::path(operation_id = "ListTemplates", get, path = "/api/v1/templates", tag = "templates", params(ReadQuery),
    responses((status = 200, description = "Done", body = pb::ListTemplatesReply), Errors), security(("bearer" = [])))]
pub async fn list<B: Backend>(
    State(b): State<Arc<B>>,
    bearer: Bearer,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<Response, Problem> {
    let req = pb::ListTemplatesRequest { consistency: q.consistency() };
    let reply = b.alerts().list_templates(bearer.grpc(req)?).await?;
    Ok(json(StatusCode::OK, reply.get_ref()))
}
