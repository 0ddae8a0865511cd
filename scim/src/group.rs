//! The core Group schema (RFC 7643 §4.2) as Varsel stores a group: [`ScimGroup`].
//!
//! Members are contacts (Users) by id; Varsel groups do not nest, so a member of type `Group`
//! is refused. Each member is given back as `{"value", "$ref", "type": "User"}`, the `$ref`
//! being the member's User location.
//!
//! ```
//! use serde_json::json;
//! use varsel_scim::{Meta, group};
//!
//! let g = group::from_resource(&json!({
//!     "schemas": [group::GROUP_SCHEMA],
//!     "displayName": "Brannvakt",
//!     "members": [{"value": "2819c223"}],
//! }))?;
//! assert_eq!(g.members, ["2819c223"]);
//! let meta = Meta::new("https://varsel.example/scim/v2/", "2026-12-06T13:00:00Z", "2026-12-06T13:00:00Z", 3);
//! let r = group::to_resource(&g, &meta);
//! assert_eq!(r["members"][0]["$ref"], "https://varsel.example/scim/v2/Users/2819c223");
//! # Ok::<(), varsel_scim::ScimError>(())
//! ```

use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::json::attr;
use crate::meta::{Meta, location};
use crate::read::{check_schemas, opt_string};
use crate::user::USER_ENDPOINT;

/// The core Group schema URI.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The resource type name of Groups.
pub const GROUP_RESOURCE_TYPE: &str = "Group";
/// The endpoint of Groups under the base URL.
pub const GROUP_ENDPOINT: &str = "Groups";
/// Most members one request body may list. Directories send large groups in PATCH batches
/// (Entra sends at most 1,000 member changes per request); a PUT of a whole municipality's
/// staff fits too. A larger body is refused, not truncated.
pub const GROUP_MEMBERS_MAX: usize = 100_000;

/// A SCIM Group as a Varsel group sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScimGroup {
    /// The server's id of the group; `None` before it is created.
    pub id: Option<String>,
    /// `displayName`: required, unique per tenant, compared ignoring case.
    pub display_name: String,
    /// `externalId`: the client's own id, case-exact.
    pub external_id: Option<String>,
    /// The ids of the member contacts, in the order given, without duplicates.
    pub members: Vec<String>,
}

/// The SCIM JSON of a group, with `meta` from `meta`.
pub fn to_resource(group: &ScimGroup, meta: &Meta) -> Value {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([GROUP_SCHEMA]));
    if let Some(id) = &group.id {
        r.insert("id".into(), Value::from(id.as_str()));
    }
    if let Some(x) = &group.external_id {
        r.insert("externalId".into(), Value::from(x.as_str()));
    }
    r.insert("displayName".into(), Value::from(group.display_name.as_str()));
    if !group.members.is_empty() {
        let members: Vec<Value> = group
            .members
            .iter()
            .map(|m| json!({"value": m, "$ref": location(&meta.base_url, USER_ENDPOINT, m), "type": "User"}))
            .collect();
        r.insert("members".into(), Value::Array(members));
    }
    r.insert("meta".into(), meta.to_json(GROUP_RESOURCE_TYPE, GROUP_ENDPOINT, group.id.as_deref()));
    Value::Object(r)
}

/// A group from a POST or PUT body (or a resource after PATCH). Refuses a body without the
/// Group schema (400 `invalidSyntax`), without a non-empty `displayName`, or with a member
/// that has no string `value` or is a Group (400 `invalidValue`, naming the member).
pub fn from_resource(body: &Value) -> Result<ScimGroup, ScimError> {
    check_schemas(body, GROUP_SCHEMA)?;
    let display_name =
        opt_string(body, "displayName", "displayName")?.filter(|s| !s.trim().is_empty()).ok_or_else(
            || ScimError::invalid_value("'displayName' is required and must be a non-empty string"),
        )?;
    Ok(ScimGroup {
        id: opt_string(body, "id", "id")?,
        display_name,
        external_id: opt_string(body, "externalId", "externalId")?,
        members: members(body)?,
    })
}

fn members(body: &Value) -> Result<Vec<String>, ScimError> {
    let items = match attr(body, "members") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ScimError::invalid_value("'members' must be an array")),
    };
    if items.len() > GROUP_MEMBERS_MAX {
        return Err(ScimError::invalid_value(format!(
            "'members' lists {} members, more than the {GROUP_MEMBERS_MAX} accepted in one request",
            items.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(ScimError::invalid_value(format!("'members[{i}]' must be an object")));
        }
        let value = opt_string(item, "value", &format!("members[{i}].value"))?
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ScimError::invalid_value(format!("'members[{i}].value' is required")))?;
        let kind = opt_string(item, "type", &format!("members[{i}].type"))?;
        if kind.is_some_and(|k| k.eq_ignore_ascii_case("Group")) {
            return Err(ScimError::invalid_value(format!(
                "'members[{i}]' is a Group: Varsel groups hold only Users, they do not nest"
            )));
        }
        if seen.insert(value.clone()) {
            out.push(value);
        }
    }
    Ok(out)
}
