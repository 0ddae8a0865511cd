//! SCIM 2.0 (RFC 7643, RFC 7644) as pure functions over `serde_json` values: the protocol
//! half of Varsel's `/scim/v2/` surface. The HTTP crate routes requests, calls the node's
//! contact and group services, and uses this crate for everything SCIM-specific; nothing
//! here does I/O, and no input makes anything here panic.
//!
//! # Layout
//!
//! - [`error`]: [`ScimError`] (HTTP status, RFC 7644 §3.12 `scimType`, detail) and its JSON body.
//! - [`filter`]: filter expressions parsed into a [`Filter`], evaluated against a resource,
//!   and recognised as point lookups (`userName eq "x"`).
//! - [`patch`]: PatchOp requests (RFC 7644 §3.5.2) applied to a resource's JSON.
//! - [`user`]: [`ScimUser`] and the core User schema, both ways.
//! - [`group`]: [`ScimGroup`] and the core Group schema, both ways.
//! - [`meta`]: [`Meta`], the `meta` attribute (resource type, times, location, version).
//! - [`discovery`]: `ServiceProviderConfig`, `ResourceTypes` and `Schemas` documents.
//! - [`list`]: `ListResponse`, `startIndex`/`count` paging, and `attributes` /
//!   `excludedAttributes` projection.
//! - [`etag`]: weak ETags from versions; `If-Match` and `If-None-Match`.
//!
//! Examples: `examples/memory_server.rs` serves `/scim/v2/` from memory on std's
//! `TcpListener`, showing what each route does with this crate (PyPI `scim2-tester` 0.5.2
//! passes all 73 of its checks against it: run `examples/run_scim2_tester.py`);
//! `examples/discovery.rs` prints the discovery documents.
//!
//! # A request, end to end
//!
//! ```
//! use serde_json::json;
//! use varsel_scim::{Meta, ScimUser, patch, user};
//!
//! // POST /Users: the body becomes a ScimUser the node stores as a contact.
//! let body = json!({
//!     "schemas": [user::USER_SCHEMA],
//!     "userName": "bjensen",
//!     "phoneNumbers": [{"value": "+4712345678", "type": "mobile"}],
//! });
//! let mut stored = user::from_resource(&body)?;
//! stored.id = Some("2819c223".into());
//! let meta = Meta::new("https://varsel.example/scim/v2", "2026-12-06T13:00:00Z", "2026-12-06T13:00:00Z", 1);
//!
//! // PATCH /Users/2819c223, as Entra ID sends it.
//! let mut resource = user::to_resource(&stored, &meta);
//! patch::apply(&mut resource, &json!({
//!     "schemas": [patch::PATCH_OP_SCHEMA],
//!     "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
//! }))?;
//! assert!(!user::from_resource(&resource)?.active);
//! # Ok::<(), varsel_scim::ScimError>(())
//! ```

pub mod discovery;
pub mod error;
pub mod etag;
pub mod filter;
pub mod group;
mod json;
pub mod list;
pub mod meta;
pub mod patch;
mod read;
pub mod user;

pub use error::ScimError;
pub use filter::Filter;
pub use group::{GROUP_SCHEMA, ScimGroup};
pub use meta::Meta;
pub use read::VALUE_LENGTH_MAX;
pub use user::{LOCATION_SCHEMA, ScimPlace, ScimUser, USER_SCHEMA};
