//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! A gRPC status becomes a problem with the matching HTTP status; when the status carries
//! `google.rpc.BadRequest` details (the node attaches them to every validation error), each
//! field violation becomes an entry of `errors` naming the field, the rule and what is wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic_types::StatusExt;
use utoipa::ToSchema;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client is told to wait before retrying when the cluster is unavailable (no
/// leader, a leader change under way): elections take about a second.
pub const RETRY_AFTER_UNAVAILABLE_S: u32 = 1;

/// A problem (RFC 9457 section 3).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Identifies the kind of problem: `urn:varsel:problem:` and the gRPC code's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, and what to do.
    pub detail: String,
    /// Each field at fault (validation errors), when known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One field that breaks one rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// Path of the field in the request (`contact.phone`, `targets.group_names[1]`); empty
    /// for the request as a whole.
    pub field: String,
    /// The rule it breaks (`phone`, `too_long`, `required`, `json`...).
    pub rule: String,
    /// What is wrong and how to fix it.
    pub detail: String,
}

impl Problem {
    /// A problem of `status` with `code` (the kebab-case kind) and `detail`.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:varsel:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A request that breaks a rule at `field`.
    pub fn invalid(field: &str, rule: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut p = Problem::new(StatusCode::BAD_REQUEST, "invalid-argument", format!("{field}: {detail}"));
        p.errors.push(FieldProblem { field: field.to_string(), rule: rule.to_string(), detail });
        p
    }

    /// The problem of a gRPC status.
    pub fn from_status(status: &tonic::Status) -> Self {
        let (http, code) = http_status(status.code());
        let mut p = Problem::new(http, code, status.message());
        if let Some(bad) = status.get_details_bad_request() {
            p.errors = bad
                .field_violations
                .into_iter()
                .map(|v| FieldProblem { field: v.field, rule: v.reason, detail: v.description })
                .collect();
        }
        p
    }
}

impl From<tonic::Status> for Problem {
    fn from(s: tonic::Status) -> Self {
        Problem::from_status(&s)
    }
}

/// The HTTP status and problem kind of a gRPC code.
pub fn http_status(code: tonic::Code) -> (StatusCode, &'static str) {
    use tonic::Code as C;
    match code {
        C::InvalidArgument | C::OutOfRange => (StatusCode::BAD_REQUEST, "invalid-argument"),
        C::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        C::PermissionDenied => (StatusCode::FORBIDDEN, "permission-denied"),
        C::NotFound => (StatusCode::NOT_FOUND, "not-found"),
        C::AlreadyExists => (StatusCode::CONFLICT, "already-exists"),
        // The request conflicts with the state (a running alert, a contact in use): 409, as
        // 412 is for conditional headers.
        C::FailedPrecondition | C::Aborted => (StatusCode::CONFLICT, "failed-precondition"),
        C::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "resource-exhausted"),
        C::Unavailable | C::Cancelled => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        C::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "deadline-exceeded"),
        C::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "unimplemented"),
        C::Ok | C::Unknown | C::Internal | C::DataLoss => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut r =
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))], body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_UNAVAILABLE_S));
        }
        r
    }
}
