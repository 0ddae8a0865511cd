//! The core User schema (RFC 7643 §4.1) as Varsel stores a contact: [`ScimUser`].
//!
//! A Varsel contact has one phone number and one e-mail address, so of `phoneNumbers` and
//! `emails` we keep the value marked `primary`, else the first; what we give back is that one
//! value alone (`[{"value": ...}]`), without `type` or `primary`, since those are not kept and
//! a client reading back what it wrote must find it unchanged. `displayName` comes from `displayName`, else `name.formatted`, else
//! `name.givenName` and `name.familyName`. `active` defaults to true and also accepts the
//! strings `"True"`/`"False"` Entra ID sends.
//!
//! ```
//! use serde_json::json;
//! use varsel_scim::user;
//!
//! let u = user::from_resource(&json!({
//!     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!     "userName": "bjensen@example.com",
//!     "name": {"givenName": "Barbara", "familyName": "Jensen"},
//!     "emails": [{"value": "home@example.com"}, {"value": "bjensen@example.com", "primary": true}],
//!     "active": "True",
//! }))?;
//! assert_eq!(u.display_name.as_deref(), Some("Barbara Jensen"));
//! assert_eq!(u.email.as_deref(), Some("bjensen@example.com"));
//! assert!(u.active);
//!
//! let e = user::from_resource(&json!({"schemas": [user::USER_SCHEMA]})).unwrap_err();
//! assert_eq!((e.status, e.scim_type), (400, Some("invalidValue")));
//! assert!(e.detail.contains("userName"));
//! # Ok::<(), varsel_scim::ScimError>(())
//! ```

use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::json::attr;
use crate::meta::Meta;
use crate::read::{check_schemas, opt_bool, opt_string, primary_value};

/// The core User schema URI.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Varsel's User extension: the places where a person lives or works, for area alerts.
pub const LOCATION_SCHEMA: &str = "urn:varsel:params:scim:schemas:extension:location:2.0:User";
/// Most places one user has (a contact keeps at most 8).
pub const LOCATIONS_MAX: usize = 8;

/// A place of the location extension: `{"name", "latitude", "longitude", "address"}`,
/// WGS 84 degrees (the node checks ranges and names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimPlace {
    /// `home`, `work`: unique per user.
    pub name: String,
    /// Degrees north, -90 to 90.
    pub latitude: serde_json::Number,
    /// Degrees east, -180 to 180.
    pub longitude: serde_json::Number,
    /// Address text for people.
    pub address: Option<String>,
}
/// The resource type name of Users.
pub const USER_RESOURCE_TYPE: &str = "User";
/// The endpoint of Users under the base URL.
pub const USER_ENDPOINT: &str = "Users";

/// A SCIM User as a Varsel contact sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScimUser {
    /// The server's id of the contact; `None` before it is created.
    pub id: Option<String>,
    /// `userName`: unique per tenant, compared ignoring case.
    pub user_name: String,
    /// `externalId`: the client's own id (Entra's objectId, Okta's user id), case-exact.
    pub external_id: Option<String>,
    /// The name alerts and the console show.
    pub display_name: Option<String>,
    /// The chosen `phoneNumbers` value, as the client sent it (the node normalises it).
    pub phone: Option<String>,
    /// The chosen `emails` value.
    pub email: Option<String>,
    /// `preferredLanguage`, e.g. `nb-NO` (the node checks it is a language tag).
    pub preferred_language: Option<String>,
    /// `active`: false keeps the contact but out of every future alert.
    pub active: bool,
    /// The location extension's places; `None` when the body has no extension object, which
    /// leaves the contact's places as they are (directories that do not know the extension
    /// replace users without it).
    pub locations: Option<Vec<ScimPlace>>,
}

/// The SCIM JSON of a user, with `meta` from `meta`.
pub fn to_resource(user: &ScimUser, meta: &Meta) -> Value {
    let mut r = Map::new();
    let places = user.locations.as_deref().filter(|l| !l.is_empty());
    r.insert(
        "schemas".into(),
        if places.is_some() { json!([USER_SCHEMA, LOCATION_SCHEMA]) } else { json!([USER_SCHEMA]) },
    );
    if let Some(places) = places {
        let list: Vec<Value> = places
            .iter()
            .map(|p| {
                let mut o = json!({"name": p.name, "latitude": p.latitude, "longitude": p.longitude});
                if let Some(a) = &p.address {
                    o["address"] = Value::from(a.as_str());
                }
                o
            })
            .collect();
        r.insert(LOCATION_SCHEMA.into(), json!({ "locations": list }));
    }
    if let Some(id) = &user.id {
        r.insert("id".into(), Value::from(id.as_str()));
    }
    if let Some(x) = &user.external_id {
        r.insert("externalId".into(), Value::from(x.as_str()));
    }
    r.insert("userName".into(), Value::from(user.user_name.as_str()));
    if let Some(d) = &user.display_name {
        r.insert("displayName".into(), Value::from(d.as_str()));
    }
    if let Some(p) = &user.phone {
        r.insert("phoneNumbers".into(), json!([{"value": p}]));
    }
    if let Some(e) = &user.email {
        r.insert("emails".into(), json!([{"value": e}]));
    }
    if let Some(l) = &user.preferred_language {
        r.insert("preferredLanguage".into(), Value::from(l.as_str()));
    }
    r.insert("active".into(), Value::Bool(user.active));
    r.insert("meta".into(), meta.to_json(USER_RESOURCE_TYPE, USER_ENDPOINT, user.id.as_deref()));
    Value::Object(r)
}

/// A user from a POST or PUT body (or a resource after PATCH). Refuses a body without the User
/// schema in `schemas` (400 `invalidSyntax`), without a non-empty string `userName`, or with an
/// attribute of the wrong type (400 `invalidValue`, naming the attribute). Attributes Varsel
/// does not keep are ignored, as RFC 7644 §3.3 allows.
pub fn from_resource(body: &Value) -> Result<ScimUser, ScimError> {
    check_schemas(body, USER_SCHEMA)?;
    let user_name = opt_string(body, "userName", "userName")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("'userName' is required and must be a non-empty string"))?;
    Ok(ScimUser {
        id: opt_string(body, "id", "id")?,
        user_name,
        external_id: opt_string(body, "externalId", "externalId")?,
        display_name: display_name(body)?,
        phone: primary_value(body, "phoneNumbers")?,
        email: primary_value(body, "emails")?,
        preferred_language: opt_string(body, "preferredLanguage", "preferredLanguage")?
            .filter(|s| !s.trim().is_empty()),
        active: opt_bool(body, "active", "active")?.unwrap_or(true),
        locations: places(body)?,
    })
}

/// The location extension's places, if the body carries the extension object.
fn places(body: &Value) -> Result<Option<Vec<ScimPlace>>, ScimError> {
    let Some(ext) = attr(body, LOCATION_SCHEMA).filter(|e| !e.is_null()) else { return Ok(None) };
    let what = |i: usize, a: &str| format!("{LOCATION_SCHEMA}:locations[{i}].{a}");
    let list = match attr(ext, "locations") {
        None | Some(Value::Null) => return Ok(Some(Vec::new())),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ScimError::invalid_value(format!("'{LOCATION_SCHEMA}:locations' must be an array")));
        }
    };
    if list.len() > LOCATIONS_MAX {
        return Err(ScimError::invalid_value(format!(
            "'{LOCATION_SCHEMA}:locations' has {} places; at most {LOCATIONS_MAX}",
            list.len()
        )));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let number = |a: &str| match attr(p, a) {
            Some(Value::Number(n)) => Ok(n.clone()),
            _ => Err(ScimError::invalid_value(format!("'{}' is required and must be a number", what(i, a)))),
        };
        let name = opt_string(p, "name", &what(i, "name"))?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ScimError::invalid_value(format!("'{}' is required", what(i, "name"))))?;
        out.push(ScimPlace {
            name,
            latitude: number("latitude")?,
            longitude: number("longitude")?,
            address: opt_string(p, "address", &what(i, "address"))?,
        });
    }
    Ok(Some(out))
}

/// `displayName`, else `name.formatted`, else given and family names joined by a space.
fn display_name(body: &Value) -> Result<Option<String>, ScimError> {
    let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    if let Some(d) = non_empty(opt_string(body, "displayName", "displayName")?) {
        return Ok(Some(d));
    }
    let Some(name) = attr(body, "name").filter(|n| !n.is_null()) else { return Ok(None) };
    if !name.is_object() {
        return Err(ScimError::invalid_value("'name' must be an object"));
    }
    if let Some(f) = non_empty(opt_string(name, "formatted", "name.formatted")?) {
        return Ok(Some(f));
    }
    let parts: Vec<String> = [("givenName", "name.givenName"), ("familyName", "name.familyName")]
        .into_iter()
        .map(|(n, what)| opt_string(name, n, what))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect();
    Ok(if parts.is_empty() { None } else { Some(parts.join(" ")) })
}
