//! The discovery documents carry what RFC 7643 §5–§7 and RFC 7644 §4 require, and what
//! scim2-tester reads from them.

// A test that fails panics; that is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use varsel_scim::discovery;

const BASE: &str = "https://varsel.example/scim/v2";

/// Goal: ServiceProviderConfig says what Varsel supports. Method: read each capability.
#[test]
fn service_provider_config() {
    let spc = discovery::service_provider_config(BASE);
    assert_eq!(spc["schemas"][0], discovery::SERVICE_PROVIDER_CONFIG_SCHEMA);
    for (feature, supported) in [
        ("patch", true),
        ("filter", true),
        ("etag", true),
        ("bulk", false),
        ("changePassword", false),
        ("sort", false),
    ] {
        assert_eq!(spc[feature]["supported"], supported, "{feature}");
    }
    assert_eq!(spc["filter"]["maxResults"], varsel_scim::list::COUNT_MAX);
    assert_eq!(spc["bulk"]["maxOperations"], 0);
    let auth = &spc["authenticationSchemes"][0];
    assert_eq!((auth["type"].as_str(), auth["primary"].as_bool()), (Some("oauthbearertoken"), Some(true)));
    assert!(auth["name"].is_string() && auth["description"].is_string());
    assert_eq!(spc["meta"]["location"], format!("{BASE}/ServiceProviderConfig"));
}

/// Goal: ResourceTypes lists User and Group with endpoints and schemas that /Schemas serves.
/// Method: walk the list; look each up by id and its schema by URI.
#[test]
fn resource_types() {
    let list = discovery::resource_types(BASE);
    assert_eq!(list["totalResults"], 2);
    let Value::Array(types) = &list["Resources"] else { panic!("{list}") };
    let names: Vec<_> = types.iter().map(|t| t["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["User", "Group"]);
    for t in types {
        let id = t["id"].as_str().unwrap_or_default();
        assert_eq!(discovery::resource_type(BASE, id).as_ref(), Some(t));
        assert!(t["endpoint"].as_str().is_some_and(|e| e.starts_with('/')));
        let schema = t["schema"].as_str().unwrap_or_default();
        assert!(discovery::schema(BASE, schema).is_some(), "{schema}");
        assert_eq!(t["meta"]["location"], format!("{BASE}/ResourceTypes/{id}"));
    }
    assert!(discovery::resource_type(BASE, "Alert").is_none());
}

/// Goal: every schema (User, Group, and the three the tester requires) is complete: every
/// attribute has all RFC 7643 §7 characteristics, recursively. Method: walk the attributes.
#[test]
fn schemas_are_complete() {
    let list = discovery::schemas(BASE);
    let Value::Array(schemas) = &list["Resources"] else { panic!("{list}") };
    let names: Vec<_> = schemas.iter().map(|s| s["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["User", "Group", "Location", "ServiceProviderConfig", "ResourceType", "Schema"]);
    fn check(attrs: &Value, at: &str) {
        let Value::Array(attrs) = attrs else { panic!("{at}: attributes not an array") };
        for a in attrs {
            let name = a["name"].as_str().unwrap_or_default();
            for key in [
                "type",
                "multiValued",
                "description",
                "required",
                "caseExact",
                "mutability",
                "returned",
                "uniqueness",
            ] {
                assert!(a.get(key).is_some(), "{at}.{name} lacks {key}");
            }
            if a["type"] == "complex" {
                check(&a["subAttributes"], &format!("{at}.{name}"));
            }
            if a["type"] == "reference" {
                assert!(a["referenceTypes"].is_array(), "{at}.{name} lacks referenceTypes");
            }
        }
    }
    for s in schemas {
        let id = s["id"].as_str().unwrap_or_default();
        check(&s["attributes"], id);
        assert_eq!(discovery::schema(BASE, id).as_ref(), Some(s));
        assert_eq!(s["meta"]["location"], format!("{BASE}/Schemas/{id}"));
    }
    assert!(discovery::schema(BASE, "urn:nope").is_none());
}

/// Goal: the User and Group schemas declare what the server relies on: userName required
/// and server-unique, displayName required for groups, member ids case-exact and immutable.
/// Method: look the characteristics up by name.
#[test]
fn user_and_group_characteristics() {
    let find = |schema: &Value, name: &str| -> Value {
        schema["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name).cloned())
            .unwrap_or_default()
    };
    let user = discovery::schema(BASE, varsel_scim::USER_SCHEMA).unwrap_or_default();
    let user_name = find(&user, "userName");
    assert_eq!(
        (user_name["required"].as_bool(), user_name["uniqueness"].as_str()),
        (Some(true), Some("server"))
    );
    assert_eq!(find(&user, "emails")["multiValued"], true);
    assert_eq!(find(&user, "active")["type"], "boolean");
    assert!(
        find(&user, "preferredLanguage")["canonicalValues"]
            .as_array()
            .is_some_and(|v| v.contains(&"nb".into()))
    );
    let group = discovery::schema(BASE, varsel_scim::GROUP_SCHEMA).unwrap_or_default();
    assert_eq!(find(&group, "displayName")["required"], true);
    let members = find(&group, "members");
    let subs = members["subAttributes"].as_array().cloned().unwrap_or_default();
    let value = subs.iter().find(|s| s["name"] == "value").cloned().unwrap_or_default();
    assert_eq!((value["caseExact"].as_bool(), value["mutability"].as_str()), (Some(true), Some("immutable")));
    let reference = subs.iter().find(|s| s["name"] == "$ref").cloned().unwrap_or_default();
    assert_eq!(reference["referenceTypes"], serde_json::json!(["User"]));
}
