//! The `meta` attribute every resource carries (RFC 7643 §3.1).

use serde_json::{Value, json};

use crate::etag::weak_etag;

/// What the server knows about a stored record beyond its SCIM attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The SCIM base URL, e.g. `https://node1.varsel.example/scim/v2` (no trailing slash
    /// needed). Locations and member `$ref`s are built from it, so it must be the URL clients
    /// use: the tester compares `$ref` values with `meta.location` byte for byte.
    pub base_url: String,
    /// When the record was created, RFC 3339 in UTC (`2026-12-06T13:00:00Z`).
    pub created: String,
    /// When the record was last changed, RFC 3339 in UTC.
    pub last_modified: String,
    /// The record's version; `meta.version` and the `ETag` header are [`weak_etag`] of it.
    pub version: u64,
}

impl Meta {
    /// A `Meta` from its parts.
    pub fn new(base_url: &str, created: &str, last_modified: &str, version: u64) -> Meta {
        Meta {
            base_url: base_url.to_owned(),
            created: created.to_owned(),
            last_modified: last_modified.to_owned(),
            version,
        }
    }

    /// The `meta` object of a resource of `resource_type` (`User`, `Group`) served under
    /// `endpoint` (`Users`, `Groups`) with this `id`.
    pub fn to_json(&self, resource_type: &str, endpoint: &str, id: Option<&str>) -> Value {
        let mut meta = json!({
            "resourceType": resource_type,
            "created": self.created,
            "lastModified": self.last_modified,
            "version": weak_etag(self.version),
        });
        if let (Some(id), Some(obj)) = (id, meta.as_object_mut()) {
            obj.insert("location".to_owned(), Value::from(location(&self.base_url, endpoint, id)));
        }
        meta
    }
}

/// `{base_url}/{endpoint}/{id}`, with exactly one `/` between the parts; the `Location` header
/// of a 201 Created is this too.
pub fn location(base_url: &str, endpoint: &str, id: &str) -> String {
    format!("{}/{endpoint}/{id}", base_url.trim_end_matches('/'))
}
