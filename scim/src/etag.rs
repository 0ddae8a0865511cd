//! Weak ETags from a resource's version number, and the `If-Match` / `If-None-Match` checks
//! (RFC 7644 §3.14, RFC 9110 §13.1).
//!
//! The version is the node's record version (a number that changes on every write), so the
//! ETag is `W/"<version>"`. Comparison is weak (RFC 9110 §8.8.3.2): `W/"3"` and `"3"` match,
//! which is what SCIM clients expect since servers hand out weak tags.
//!
//! ```
//! use varsel_scim::etag;
//!
//! assert_eq!(etag::weak_etag(7), r#"W/"7""#);
//! assert!(etag::if_match(r#"W/"7""#, 7));
//! assert!(etag::if_match("*", 7));
//! assert!(!etag::if_match(r#"W/"6", W/"5""#, 7));
//! assert!(etag::check_if_match(Some(r#"W/"6""#), 7).is_err());
//! ```

use crate::error::ScimError;

/// Most entity tags read from one header: a client has no reason to send more than a few, and
/// the bound keeps a hostile header from costing more than this many comparisons.
pub const ETAGS_PER_HEADER_MAX: usize = 64;

/// The weak ETag of a version: `W/"<version>"`, also the `meta.version` value.
pub fn weak_etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The opaque tag of an entity tag (`W/"x"` or `"x"` → `x`), or `None` if it is not quoted.
pub fn opaque_tag(etag: &str) -> Option<&str> {
    let t = etag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.strip_prefix('"')?.strip_suffix('"').filter(|inner| !inner.contains('"'))
}

/// Whether a header value (`*` or a comma-separated list of entity tags) names this version,
/// by weak comparison. Malformed tags match nothing.
pub fn header_matches(header: &str, version: u64) -> bool {
    let header = header.trim();
    if header == "*" {
        return true;
    }
    let current = version.to_string();
    header.split(',').take(ETAGS_PER_HEADER_MAX).filter_map(opaque_tag).any(|tag| tag == current)
}

/// `If-Match`: true when the write may proceed (`*`, or a listed tag is the current version).
pub fn if_match(header: &str, version: u64) -> bool {
    header_matches(header, version)
}

/// `If-None-Match`: true when the request may proceed, i.e. no listed tag is current. On GET a
/// false answer means 304 Not Modified; on a write, 412.
pub fn if_none_match(header: &str, version: u64) -> bool {
    !header_matches(header, version)
}

/// For PUT, PATCH and DELETE: no header passes; a header that names another version is
/// 412 Precondition Failed, with a detail giving the current tag.
pub fn check_if_match(header: Option<&str>, version: u64) -> Result<(), ScimError> {
    match header {
        Some(h) if !if_match(h, version) => Err(ScimError::precondition_failed(format!(
            "If-Match {h} does not match the current version {}",
            weak_etag(version)
        ))),
        _ => Ok(()),
    }
}
