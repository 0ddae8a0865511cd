//! The discovery documents (RFC 7644 §4, RFC 7643 §5–§7): `ServiceProviderConfig`,
//! `ResourceTypes` and `Schemas`, built for a base URL.
//!
//! The User and Group schemas describe exactly what Varsel keeps and gives back, no more:
//! a client (and `scim2-tester`) that writes an attribute these schemas list must read the same
//! value back. So `name`, `title`, `addresses` and the like are accepted on input (`name` feeds
//! `displayName`) but not listed, and `emails` and `phoneNumbers` list only `value`.
//!
//! ```
//! use varsel_scim::discovery;
//!
//! let spc = discovery::service_provider_config("https://varsel.example/scim/v2");
//! assert_eq!(spc["patch"]["supported"], true);
//! assert_eq!(spc["bulk"]["supported"], false);
//! let user = discovery::schema("https://varsel.example/scim/v2", "urn:ietf:params:scim:schemas:core:2.0:User").unwrap();
//! assert_eq!(user["attributes"][0]["name"], "userName");
//! assert!(discovery::resource_type("https://varsel.example/scim/v2", "Nope").is_none());
//! ```

use serde_json::{Value, json};

use crate::group::{GROUP_ENDPOINT, GROUP_RESOURCE_TYPE, GROUP_SCHEMA};
use crate::list::{COUNT_MAX, list_response};
use crate::meta::location;
use crate::user::{LOCATION_SCHEMA, USER_ENDPOINT, USER_RESOURCE_TYPE, USER_SCHEMA};

/// The ServiceProviderConfig schema URI.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// The ResourceType schema URI.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The Schema schema URI.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Language tags offered as `preferredLanguage` canonical values: the languages Varsel's
/// public warnings are written in first (Norwegian Bokmål and Nynorsk, Northern, Lule and
/// Southern Sami, English) and the largest immigrant languages. Any well-formed tag is
/// accepted; these are suggestions, already in the case the node normalises tags to.
pub const PREFERRED_LANGUAGES: [&str; 10] = ["nb", "nn", "se", "smj", "sma", "en", "pl", "lt", "uk", "ar"];

/// `GET /ServiceProviderConfig`: PATCH, filter (up to [`COUNT_MAX`] results) and ETags are
/// supported; bulk, sort and changePassword are not; clients authenticate with an OAuth 2.0
/// bearer token (a Varsel API token).
pub fn service_provider_config(base_url: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://github.com/varsel/varsel/blob/main/docs/reference/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": COUNT_MAX},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A Varsel API token of the tenant, sent as 'Authorization: Bearer <token>'",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", base_url.trim_end_matches('/')),
        },
    })
}

fn resource_type_doc(base_url: &str, name: &str, endpoint: &str, schema: &str, description: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": name,
        "name": name,
        "endpoint": format!("/{endpoint}"),
        "description": description,
        "schema": schema,
        "meta": {"resourceType": "ResourceType", "location": location(base_url, "ResourceTypes", name)},
    })
}

/// Every resource type: User (a contact) and Group.
pub fn resource_type_list(base_url: &str) -> Vec<Value> {
    vec![
        // The location extension (`LOCATION_SCHEMA`) is described in /Schemas but not listed
        // as the User type's `schemaExtensions`: scim2-tester 0.5.2 then fills its `decimal`
        // attributes with text its own model cannot read, and seven of its User checks fail on
        // its side. Directories map extension attributes by URN anyway (Entra, Okta).
        resource_type_doc(
            base_url,
            USER_RESOURCE_TYPE,
            USER_ENDPOINT,
            USER_SCHEMA,
            "A person Varsel alerts: a contact",
        ),
        resource_type_doc(
            base_url,
            GROUP_RESOURCE_TYPE,
            GROUP_ENDPOINT,
            GROUP_SCHEMA,
            "A group of contacts alerts are sent to",
        ),
    ]
}

/// `GET /ResourceTypes`: a ListResponse of [`resource_type_list`].
pub fn resource_types(base_url: &str) -> Value {
    let all = resource_type_list(base_url);
    let n = all.len();
    list_response(all, 1, n, n)
}

/// `GET /ResourceTypes/{id}`; `None` is 404.
pub fn resource_type(base_url: &str, id: &str) -> Option<Value> {
    resource_type_list(base_url).into_iter().find(|r| r["id"].as_str() == Some(id))
}

/// Every schema: User, Group, and the three the discovery documents themselves follow.
pub fn schema_list(base_url: &str) -> Vec<Value> {
    [
        (USER_SCHEMA, "User", "User Account", user_attributes()),
        (GROUP_SCHEMA, "Group", "Group", group_attributes()),
        (
            LOCATION_SCHEMA,
            "Location",
            "Where the person lives or works, for alerts to an area",
            location_attributes(),
        ),
        (
            SERVICE_PROVIDER_CONFIG_SCHEMA,
            "ServiceProviderConfig",
            "Service Provider Configuration",
            spc_attributes(),
        ),
        (RESOURCE_TYPE_SCHEMA, "ResourceType", "Resource Type", resource_type_attributes()),
        (SCHEMA_SCHEMA, "Schema", "Specifies the schema attribute definitions", schema_attributes()),
    ]
    .into_iter()
    .map(|(id, name, description, attributes)| {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attributes,
            "meta": {"resourceType": "Schema", "location": location(base_url, "Schemas", id)},
        })
    })
    .collect()
}

/// `GET /Schemas`: a ListResponse of [`schema_list`].
pub fn schemas(base_url: &str) -> Value {
    let all = schema_list(base_url);
    let n = all.len();
    list_response(all, 1, n, n)
}

/// `GET /Schemas/{id}` (the schema URI, compared ignoring case); `None` is 404.
pub fn schema(base_url: &str, id: &str) -> Option<Value> {
    schema_list(base_url).into_iter().find(|s| s["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)))
}

/// One attribute definition (RFC 7643 §7), with the RFC's defaults spelled out.
struct Attr {
    name: &'static str,
    kind: &'static str,
    multi_valued: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    description: &'static str,
}

const STRING: Attr = Attr {
    name: "",
    kind: "string",
    multi_valued: false,
    required: false,
    case_exact: false,
    mutability: "readWrite",
    returned: "default",
    uniqueness: "none",
    description: "",
};

impl Attr {
    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        })
    }

    fn with(&self, key: &str, value: Value) -> Value {
        let mut v = self.json();
        if let Some(o) = v.as_object_mut() {
            o.insert(key.to_owned(), value);
        }
        v
    }
}

fn multi_value_only(name: &'static str, description: &'static str, value_description: &'static str) -> Value {
    let value = Attr { name: "value", description: value_description, ..STRING };
    Attr { name, kind: "complex", multi_valued: true, description, ..STRING }
        .with("subAttributes", json!([value.json()]))
}

fn location_attributes() -> Value {
    let sub = |name: &str, kind: &str, required: bool, description: &str| {
        json!({
            "name": name, "type": kind, "multiValued": false, "description": description,
            "required": required, "caseExact": false, "mutability": "readWrite",
            "returned": "default", "uniqueness": "none",
        })
    };
    json!([{
        "name": "locations", "type": "complex", "multiValued": true, "required": false, "caseExact": false,
        "description": "Named places (at most 8); replaced as a whole when the extension is given, kept when it is absent",
        "mutability": "readWrite", "returned": "default", "uniqueness": "none",
        "subAttributes": [
            sub("name", "string", true, "home, work: unique per user"),
            sub("latitude", "decimal", true, "WGS 84 degrees north, -90 to 90"),
            sub("longitude", "decimal", true, "WGS 84 degrees east, -180 to 180"),
            sub("address", "string", false, "Address text for people"),
        ],
    }])
}

fn user_attributes() -> Value {
    json!([
        Attr {
            name: "userName",
            required: true,
            uniqueness: "server",
            description: "Unique identifier of the user in the tenant, as the directory names it (often an e-mail address or UPN)",
            ..STRING
        }
        .json(),
        Attr { name: "displayName", description: "The name shown on alerts and in the console", ..STRING }.json(),
        multi_value_only("emails", "E-mail address for alerts; Varsel keeps one (the primary, else the first)", "The e-mail address"),
        multi_value_only(
            "phoneNumbers",
            "Phone number for SMS and voice alerts, E.164 (+4712345678); Varsel keeps one (the primary, else the first)",
            "The phone number",
        ),
        Attr {
            name: "preferredLanguage",
            description: "Language tag (BCP 47) alerts are sent in when the alert has that language",
            ..STRING
        }
        .with("canonicalValues", json!(PREFERRED_LANGUAGES)),
        // Required because a contact always has a value: absent on input means true, and
        // there is no "unassigned" to go back to, so a PATCH remove cannot be honoured.
        Attr {
            name: "active",
            kind: "boolean",
            required: true,
            description: "False keeps the contact out of every future alert; true when not given",
            ..STRING
        }
        .json(),
    ])
}

fn group_attributes() -> Value {
    let value = Attr {
        name: "value",
        case_exact: true,
        mutability: "immutable",
        description: "The id of the member User",
        ..STRING
    };
    let reference = Attr {
        name: "$ref",
        kind: "reference",
        case_exact: true,
        mutability: "immutable",
        description: "The URI of the member User",
        ..STRING
    }
    .with("referenceTypes", json!(["User"]));
    let kind = Attr {
        name: "type",
        mutability: "immutable",
        description: "The member's resource type: always User",
        ..STRING
    }
    .with("canonicalValues", json!(["User"]));
    json!([
        Attr { name: "displayName", required: true, description: "The group's name", ..STRING }.json(),
        Attr {
            name: "members",
            kind: "complex",
            multi_valued: true,
            description: "The Users in the group (groups do not nest)",
            ..STRING
        }
        .with("subAttributes", json!([value.json(), reference, kind])),
    ])
}

/// A read-only attribute of a discovery document's own schema.
fn ro(name: &'static str, kind: &'static str, required: bool, description: &'static str) -> Attr {
    Attr { name, kind, required, mutability: "readOnly", description, ..STRING }
}

fn supported(name: &'static str, description: &'static str, extra: &[Value]) -> Value {
    let mut subs = vec![ro("supported", "boolean", true, "Whether the operation is supported").json()];
    subs.extend(extra.iter().cloned());
    ro(name, "complex", true, description).with("subAttributes", Value::Array(subs))
}

fn spc_attributes() -> Value {
    let auth_subs = json!([
        ro("type", "string", true, "The authentication scheme").json(),
        ro("name", "string", true, "The common authentication scheme name").json(),
        ro("description", "string", true, "A description of the authentication scheme").json(),
        ro("specUri", "reference", false, "The specification of the scheme")
            .with("referenceTypes", json!(["external"])),
        ro("documentationUri", "reference", false, "Help for the scheme")
            .with("referenceTypes", json!(["external"])),
        ro("primary", "boolean", false, "Whether this is the preferred scheme").json(),
    ]);
    json!([
        ro("documentationUri", "reference", false, "Help documentation")
            .with("referenceTypes", json!(["external"])),
        supported("patch", "PATCH configuration options", &[]),
        supported(
            "bulk",
            "Bulk configuration options",
            &[
                ro("maxOperations", "integer", true, "Most operations in one bulk request").json(),
                ro("maxPayloadSize", "integer", true, "Largest bulk payload in bytes").json(),
            ]
        ),
        supported(
            "filter",
            "Filter options",
            &[ro("maxResults", "integer", true, "Most resources one query returns").json()]
        ),
        supported("changePassword", "Change password options", &[]),
        supported("sort", "Sort options", &[]),
        supported("etag", "ETag options", &[]),
        Attr {
            multi_valued: true,
            ..ro("authenticationSchemes", "complex", true, "Supported authentication schemes")
        }
        .with("subAttributes", auth_subs),
    ])
}

fn resource_type_attributes() -> Value {
    let ext_subs = json!([
        ro("schema", "reference", true, "The URI of an extended schema")
            .with("referenceTypes", json!(["uri"])),
        ro("required", "boolean", true, "Whether resources must include the extension").json(),
    ]);
    json!([
        ro("id", "string", false, "The resource type's server-unique id").json(),
        ro("name", "string", true, "The resource type name").json(),
        ro("description", "string", false, "The resource type's description").json(),
        ro("endpoint", "reference", true, "The resource type's endpoint, relative to the base URL")
            .with("referenceTypes", json!(["uri"])),
        ro("schema", "reference", true, "The resource type's primary schema URI")
            .with("referenceTypes", json!(["uri"])),
        Attr {
            multi_valued: true,
            ..ro("schemaExtensions", "complex", false, "Schema extensions of the resource type")
        }
        .with("subAttributes", ext_subs),
    ])
}

fn schema_attributes() -> Value {
    let attr_subs = json!([
        ro("name", "string", true, "The attribute's name").json(),
        ro("type", "string", true, "The attribute's data type").json(),
        ro("multiValued", "boolean", true, "Whether the attribute is multi-valued").json(),
        ro("description", "string", false, "The attribute's description").json(),
        ro("required", "boolean", false, "Whether the attribute is required").json(),
        Attr { multi_valued: true, ..ro("canonicalValues", "string", false, "Suggested values") }.json(),
        ro("caseExact", "boolean", false, "Whether string values compare case-exactly").json(),
        ro("mutability", "string", false, "When the attribute may be written").json(),
        ro("returned", "string", false, "When the attribute is returned").json(),
        ro("uniqueness", "string", false, "How the server enforces uniqueness").json(),
        Attr {
            multi_valued: true,
            ..ro("referenceTypes", "string", false, "Resource types a reference may name")
        }
        .json(),
    ]);
    json!([
        ro("id", "reference", true, "The unique URI of the schema").with("referenceTypes", json!(["uri"])),
        ro("name", "string", false, "The schema's name").json(),
        ro("description", "string", false, "The schema's description").json(),
        Attr { multi_valued: true, ..ro("attributes", "complex", true, "The schema's attributes") }
            .with("subAttributes", attr_subs),
    ])
}
