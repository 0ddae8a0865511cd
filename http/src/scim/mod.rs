//! SCIM 2.0 (RFC 7643, RFC 7644) under `/scim/v2/`: Users are contacts, Groups are groups.
//!
//! Every route is one catch-all handler that dispatches on the path's segments, like
//! `varsel-scim`'s `examples/memory_server.rs`, so unknown paths under `/scim/v2` are SCIM 404
//! errors and wrong methods SCIM 405 errors, never axum's plain-text answers. The protocol
//! (filters, PATCH, mapping, discovery, paging, ETags) is the `varsel-scim` crate's; reads and
//! writes are the node's gRPC `ContactService`, called in-process through [`Backend`], so the
//! bearer token, roles (viewers read, operators and admins write), tenant isolation and
//! validation messages are the gRPC API's. The contract is `docs/reference/scim.md`.
//!
//! - [`users`]: `/Users`, contacts with their directory attributes.
//! - [`groups`]: `/Groups`, groups and their members.
//! - [`query`]: `GET` queries and `POST .search`: point lookups from indexes, else a bounded scan.

mod groups;
mod query;
mod users;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::Value;
use varsel_scim::{ScimError, discovery, etag};

use crate::Backend;
use crate::extract::JSON_BODY_BYTES_MAX;

/// The path prefix of every SCIM route.
pub const PREFIX: &str = "/scim/v2";

/// The media type of SCIM bodies (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// The SCIM routes, for [`crate::router`].
pub fn router<B: Backend>(backend: Arc<B>) -> axum::Router {
    axum::Router::new()
        .route(PREFIX, any(handle::<B>))
        .route(&format!("{PREFIX}/"), any(handle::<B>))
        .route(&format!("{PREFIX}/{{*rest}}"), any(handle::<B>))
        .layer(DefaultBodyLimit::max(JSON_BODY_BYTES_MAX))
        .with_state(backend)
}

/// One SCIM request, as the resource handlers see it.
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Bytes,
    /// `https://{Host}/scim/v2`: what `meta.location` and member `$ref`s are built from.
    pub(crate) base_url: String,
}

impl Req {
    /// A query parameter by name, ignoring case (RFC 7644 names are case-insensitive).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A header's value, if it is text.
    pub(crate) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, or 400 `invalidSyntax`.
    pub(crate) fn json(&self) -> Result<Value, ScimError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))
    }

    /// A gRPC request carrying `message` and the caller's `Authorization` header.
    pub(crate) fn grpc<T>(&self, message: T) -> Result<tonic::Request<T>, ScimError> {
        let mut req = tonic::Request::new(message);
        if let Some(v) = self.headers.get(header::AUTHORIZATION) {
            let v = v
                .to_str()
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ScimError::new(401, None, "the Authorization header is not valid"))?;
            req.metadata_mut().insert("authorization", v);
        }
        Ok(req)
    }
}

/// A SCIM answer: a status, an optional JSON body and an optional version for `ETag`.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<Value>,
    pub(crate) version: Option<u64>,
    pub(crate) location: Option<String>,
}

impl Answer {
    pub(crate) fn ok(body: Value) -> Answer {
        Answer { status: StatusCode::OK, body: Some(body), version: None, location: None }
    }

    pub(crate) fn with_version(mut self, version: u64) -> Answer {
        self.version = Some(version);
        self
    }
}

fn respond(answer: Result<Answer, ScimError>) -> Response {
    let a = match answer {
        Ok(a) => a,
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Answer { status, body: Some(e.to_json()), version: None, location: None }
        }
    };
    let mut r = match &a.body {
        Some(body) => {
            let bytes = serde_json::to_vec(body).unwrap_or_default();
            (a.status, [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))], bytes).into_response()
        }
        None => a.status.into_response(),
    };
    if let Some(v) = a.version.and_then(|v| HeaderValue::from_str(&etag::weak_etag(v)).ok()) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if let Some(l) = a.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    if a.status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

async fn handle<B: Backend>(
    State(b): State<Arc<B>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let req = Req {
        method,
        query: parse_query(uri.query().unwrap_or("")),
        headers,
        body,
        base_url: format!("https://{host}{PREFIX}"),
    };
    let path = uri.path().strip_prefix(PREFIX).unwrap_or("").to_string();
    respond(route(&*b, &req, &path).await)
}

async fn route<B: Backend>(b: &B, req: &Req, path: &str) -> Result<Answer, ScimError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let base = req.base_url.as_str();
    let get_only = |doc: Option<Value>, what: &str| match (req.method == Method::GET, doc) {
        (true, Some(d)) => Ok(Answer::ok(d)),
        (true, None) => Err(ScimError::not_found(format!("no {what}"))),
        (false, _) => Err(ScimError::method_not_allowed(format!("{what} answers only GET"))),
    };
    match segments.as_slice() {
        ["ServiceProviderConfig"] => {
            get_only(Some(discovery::service_provider_config(base)), "ServiceProviderConfig")
        }
        ["ResourceTypes"] => get_only(Some(discovery::resource_types(base)), "ResourceTypes"),
        ["ResourceTypes", id] => get_only(discovery::resource_type(base, id), &format!("ResourceType {id}")),
        ["Schemas"] => get_only(Some(discovery::schemas(base)), "Schemas"),
        ["Schemas", id] => get_only(discovery::schema(base, id), &format!("Schema {id}")),
        [".search"] if req.method == Method::POST => query::search(b, req, None).await,
        ["Users"] => match req.method {
            Method::GET => query::get(b, req, query::Kind::Users).await,
            Method::POST => users::create(b, req).await,
            _ => Err(ScimError::method_not_allowed("/Users answers GET and POST")),
        },
        ["Groups"] => match req.method {
            Method::GET => query::get(b, req, query::Kind::Groups).await,
            Method::POST => groups::create(b, req).await,
            _ => Err(ScimError::method_not_allowed("/Groups answers GET and POST")),
        },
        ["Users", ".search"] if req.method == Method::POST => {
            query::search(b, req, Some(query::Kind::Users)).await
        }
        ["Groups", ".search"] if req.method == Method::POST => {
            query::search(b, req, Some(query::Kind::Groups)).await
        }
        ["Users", id] => users::resource(b, req, id).await,
        ["Groups", id] => groups::resource(b, req, id).await,
        _ => Err(ScimError::not_found(format!("no SCIM endpoint {PREFIX}{path}"))),
    }
}

/// The `If-Match` check of writes, and `If-None-Match` on reads (304).
pub(crate) fn check_if_match(req: &Req, version: u64) -> Result<(), ScimError> {
    etag::check_if_match(req.header(header::IF_MATCH), version)
}

/// 304 when `If-None-Match` names the current version of a GET.
pub(crate) fn not_modified(req: &Req, version: u64) -> Option<Answer> {
    let h = req.header(header::IF_NONE_MATCH)?;
    (!etag::if_none_match(h, version)).then_some(Answer {
        status: StatusCode::NOT_MODIFIED,
        body: None,
        version: Some(version),
        location: None,
    })
}

/// A resource's version: a 64-bit FNV-1a hash of its SCIM JSON without `meta`, so it changes
/// exactly when what a client reads changes, and is the same on every node.
pub(crate) fn version_of(resource: &Value) -> u64 {
    let mut v = resource.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("meta");
    }
    let text = v.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// RFC 3339 (UTC, seconds) of a time in ms since the epoch.
pub(crate) fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar's 400-year era).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// The SCIM error of a gRPC status: validation errors are 400 `invalidValue` naming the SCIM
/// attribute (`phoneNumbers` for `contact.phone`) with the node's own message; a name or id
/// another record has is 409 `uniqueness`.
pub(crate) fn scim_error(s: &tonic::Status) -> ScimError {
    use tonic::Code as C;
    let detail = scim_names(s.message());
    match s.code() {
        C::InvalidArgument => ScimError::invalid_value(detail),
        C::AlreadyExists => ScimError::uniqueness(detail),
        C::NotFound => ScimError::not_found(detail),
        C::FailedPrecondition => ScimError::new(409, None, detail),
        code => ScimError::new(crate::problem::http_status(code).0.as_u16(), None, detail),
    }
}

/// The node's field names in a message replaced by the SCIM attributes they come from.
fn scim_names(message: &str) -> String {
    const NAMES: [(&str, &str); 7] = [
        ("contact.external_id", "userName"),
        ("contact.phone", "phoneNumbers"),
        ("contact.email", "emails"),
        ("contact.language", "preferredLanguage"),
        ("contact.name", "displayName"),
        ("directory.directory_id", "externalId"),
        ("external_id", "userName"),
    ];
    let mut out = message.to_string();
    for (from, to) in NAMES {
        out = out.replace(from, to);
    }
    out
}

/// Query parameters, percent-decoded (`+` is a space, as forms send it).
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_names() {
        assert_eq!(rfc3339(1_767_225_600_000), "2026-01-01T00:00:00Z");
        assert_eq!(scim_names("contact.phone: must be E.164"), "phoneNumbers: must be E.164");
        assert_eq!(
            parse_query("filter=userName%20eq%20%22a+b%22"),
            [("filter".into(), "userName eq \"a b\"".into())]
        );
    }
}
