//! Request parts of the REST API, each refusing bad input as a [`Problem`] that names what is
//! wrong: the bearer token, JSON bodies, path and query parameters, `Idempotency-Key`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use varsel_proto::api::Consistency;

use crate::problem::Problem;

/// Largest JSON body accepted: an alert with every language's texts fits many times over.
pub const JSON_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Longest `Idempotency-Key` header (the same bound as the gRPC field's, checked again there).
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 256;

/// The caller's `Authorization` header, passed to the gRPC code as it came; that code checks it.
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        match parts.headers.get(header::AUTHORIZATION) {
            None => Ok(Bearer(None)),
            Some(v) => v.to_str().map(|s| Bearer(Some(s.to_string()))).map_err(|_| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "the Authorization header is not ASCII",
                )
            }),
        }
    }
}

impl Bearer {
    /// The bearer `token` as if it came in an `Authorization` header (the console keeps the
    /// token in its session, not in the browser).
    pub fn from_token(token: &str) -> Self {
        Bearer(Some(format!("Bearer {token}")))
    }

    /// A gRPC request carrying `message` and this caller's token.
    pub fn grpc<T>(&self, message: T) -> Result<tonic::Request<T>, Problem> {
        let mut req = tonic::Request::new(message);
        if let Some(v) = &self.0 {
            let value = v.parse().map_err(|_| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "the Authorization header is not valid",
                )
            })?;
            req.metadata_mut().insert("authorization", value);
        }
        Ok(req)
    }
}

/// A JSON body of type `T`. A body that does not parse is refused naming the field
/// (`contact.phone`) and what was wrong with it; a missing body reads as `{}`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(is_json);
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("request body: {}", e.body_text()),
            )
        })?;
        if json_type == Some(false) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map(Json).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            Problem::invalid(&field, "json", e.inner().to_string())
        })
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// Path parameters of type `T`; a value of the wrong form is refused naming it.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|e| Problem::invalid("path", "value", e.body_text()))
    }
}

/// Query parameters of type `T`; a value of the wrong form is refused naming it.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| QueryParams(q.0))
            .map_err(|e| Problem::invalid("query", "value", e.body_text()))
    }
}

/// The `Idempotency-Key` header: a retried request with the same key does the work once and
/// answers what the first one did.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(v) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        let key = v
            .to_str()
            .map_err(|_| Problem::invalid("Idempotency-Key", "characters", "the header must be ASCII"))?;
        if key.chars().count() > IDEMPOTENCY_KEY_CHARS_MAX {
            return Err(Problem::invalid(
                "Idempotency-Key",
                "too_long",
                format!("at most {IDEMPOTENCY_KEY_CHARS_MAX} characters"),
            ));
        }
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}

impl IdempotencyKey {
    /// Puts the header's key into the request's `idempotency_key` field; a body that names a
    /// different key is refused rather than one of them silently winning.
    pub fn apply(self, field: &mut String) -> Result<(), Problem> {
        let Some(key) = self.0 else { return Ok(()) };
        if !field.is_empty() && *field != key {
            return Err(Problem::invalid(
                "idempotency_key",
                "value",
                "differs from the Idempotency-Key header; give one of them",
            ));
        }
        *field = key;
        Ok(())
    }
}

/// How fresh a read must be.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// `local` (this node's state, the default) or `linearizable` (at least as new as every
    /// write acknowledged before the read began).
    #[param(value_type = Option<Consistency>)]
    pub consistency: Option<Consistency>,
}

impl ReadQuery {
    /// The gRPC field's value.
    pub fn consistency(&self) -> i32 {
        self.consistency.unwrap_or(Consistency::Local) as i32
    }
}

/// One page of a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Most items in the page (the server bounds it; 0 or absent: its default).
    pub page_size: Option<u32>,
    /// The cursor: `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// `local` (default) or `linearizable`.
    #[param(value_type = Option<Consistency>)]
    pub consistency: Option<Consistency>,
}

impl PageQuery {
    /// The gRPC field's value.
    pub fn consistency(&self) -> i32 {
        self.consistency.unwrap_or(Consistency::Local) as i32
    }
}

/// `value` as JSON with `status`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body)
            .into_response(),
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into_response(),
    }
}

/// A page as JSON, with a `Link: <...>; rel="next"` header when there is a next page.
pub fn page<T: Serialize>(path: &str, value: &T, next_page_token: &str) -> Response {
    let mut r = json(StatusCode::OK, value);
    if !next_page_token.is_empty() {
        let link = format!("<{path}?page_token={}>; rel=\"next\"", percent_encode(next_page_token));
        if let Ok(v) = HeaderValue::from_str(&link) {
            r.headers_mut().insert(header::LINK, v);
        }
    }
    r
}

/// Percent-encodes everything but unreserved characters (RFC 3986 section 2.3).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `201 Created` with a `Location` for something new, `200 OK` when an idempotency key or a
/// unique name found it already there.
pub fn created<T: Serialize>(existing: bool, location: &str, value: &T) -> Response {
    if existing {
        return json(StatusCode::OK, value);
    }
    let mut r = json(StatusCode::CREATED, value);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Puts the id from the path into a body's field; a body naming another id is refused.
pub fn same_id(field_name: &str, field: &mut u64, path: u64) -> Result<(), Problem> {
    if *field != 0 && *field != path {
        return Err(Problem::invalid(field_name, "value", format!("is {field}, but the path names {path}")));
    }
    *field = path;
    Ok(())
}
