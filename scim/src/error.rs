//! [`ScimError`]: an HTTP status, an RFC 7644 §3.12 `scimType` and a detail for the client.
//!
//! Every error this crate returns is one of these, so the HTTP layer answers with
//! [`ScimError::status`] and [`ScimError::to_json`] and never matches on text.

use serde_json::{Value, json};

/// The schema URI of an error response (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// `scimType` values of RFC 7644 §3.12, Table 9. Typed constants so a typo cannot reach a client.
pub mod scim_type {
    /// The filter syntax was invalid, or its attribute and operator combination is unsupported.
    pub const INVALID_FILTER: &str = "invalidFilter";
    /// The filter yields too many results for the server to process.
    pub const TOO_MANY: &str = "tooMany";
    /// One or more attribute values are already in use or reserved.
    pub const UNIQUENESS: &str = "uniqueness";
    /// The attempted modification is not compatible with the attribute's mutability.
    pub const MUTABILITY: &str = "mutability";
    /// The request body structure was invalid or did not conform to the schema.
    pub const INVALID_SYNTAX: &str = "invalidSyntax";
    /// The `path` attribute was invalid or malformed.
    pub const INVALID_PATH: &str = "invalidPath";
    /// The path did not yield an attribute or value that could be operated on.
    pub const NO_TARGET: &str = "noTarget";
    /// A required value was missing, or the value given was not compatible.
    pub const INVALID_VALUE: &str = "invalidValue";
    /// The specified SCIM protocol version is not supported.
    pub const INVALID_VERS: &str = "invalidVers";
    /// The request cannot be completed for a reason such as a policy.
    pub const SENSITIVE: &str = "sensitive";
}

/// A SCIM error: what the HTTP layer sends as status and `urn:...:Error` body.
///
/// ```
/// use varsel_scim::ScimError;
///
/// let e = ScimError::invalid_value("userName is required");
/// assert_eq!(e.status, 400);
/// assert_eq!(e.to_json()["scimType"], "invalidValue");
/// assert_eq!(e.to_json()["status"], "400");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCIM {status} {}: {detail}", scim_type.unwrap_or("-"))]
pub struct ScimError {
    /// The HTTP status code.
    pub status: u16,
    /// The RFC 7644 §3.12 `scimType`, one of [`scim_type`]; only for 400 (and 409 uniqueness).
    pub scim_type: Option<&'static str>,
    /// A human-readable explanation naming the attribute, position or rule.
    pub detail: String,
}

impl ScimError {
    /// An error with a status, an optional `scimType` and a detail.
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }

    /// 400 `invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type::INVALID_FILTER), detail)
    }

    /// 400 `invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type::INVALID_PATH), detail)
    }

    /// 400 `noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type::NO_TARGET), detail)
    }

    /// 400 `invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type::INVALID_VALUE), detail)
    }

    /// 400 `invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type::INVALID_SYNTAX), detail)
    }

    /// 400 `mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type::MUTABILITY), detail)
    }

    /// 400 `tooMany`.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type::TOO_MANY), detail)
    }

    /// 409 `uniqueness` (RFC 7644 §3.3: a duplicate `userName`, `externalId` or `displayName`).
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(scim_type::UNIQUENESS), detail)
    }

    /// 404 without `scimType`: the resource, endpoint, schema or resource type is unknown.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// 412 without `scimType`: an `If-Match` precondition failed (RFC 7644 §3.14).
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }

    /// 405: discovery endpoints answer only GET, the tester checks POST/PUT/PATCH/DELETE.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(405, None, detail)
    }

    /// 501: a feature the [`ServiceProviderConfig`](crate::discovery::service_provider_config)
    /// announces as unsupported (bulk, sort, changePassword, root `/.search`).
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }

    /// The JSON error body (RFC 7644 §3.12). `status` is a string, as the RFC's examples and
    /// its schema show; `scimType` is left out when there is none.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".to_owned(), Value::from(t));
        }
        body
    }
}
