//! User and Group mapping both ways: round trips, choice of phone/e-mail/name, validation.

// A test that fails panics; that is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use varsel_scim::{Meta, ScimGroup, ScimUser, group, user};

fn meta(version: u64) -> Meta {
    Meta::new("https://varsel.example/scim/v2/", "2026-12-06T13:00:00Z", "2026-12-06T13:05:00Z", version)
}

fn full_user() -> ScimUser {
    ScimUser {
        id: Some("2819c223".into()),
        user_name: "bjensen@example.com".into(),
        external_id: Some("701984".into()),
        display_name: Some("Barbara Jensen".into()),
        phone: Some("+4712345678".into()),
        email: Some("bjensen@example.com".into()),
        preferred_language: Some("nb".into()),
        active: false,
        locations: Some(vec![varsel_scim::ScimPlace {
            name: "home".into(),
            latitude: serde_json::Number::from_f64(60.3913).unwrap(),
            longitude: serde_json::Number::from_f64(5.3221).unwrap(),
            address: Some("Bryggen 1".into()),
        }]),
    }
}

/// Goal: a user survives to_resource then from_resource unchanged, with and without options.
/// Method: a full user and a minimal one.
#[test]
fn user_round_trip() {
    for u in [
        full_user(),
        ScimUser { id: Some("1".into()), user_name: "min".into(), active: true, ..ScimUser::default() },
    ] {
        assert_eq!(user::from_resource(&user::to_resource(&u, &meta(1))).unwrap(), u);
    }
}

/// Goal: the rendered user has the core schema, the attributes and a complete `meta`.
/// Method: compare the JSON of a full user field by field.
#[test]
fn user_resource_shape() {
    let r = user::to_resource(&full_user(), &meta(42));
    assert_eq!(r["schemas"], json!([user::USER_SCHEMA, user::LOCATION_SCHEMA]));
    assert_eq!(
        r[user::LOCATION_SCHEMA],
        json!({"locations": [{"name": "home", "latitude": 60.3913, "longitude": 5.3221, "address": "Bryggen 1"}]})
    );
    assert_eq!(r["phoneNumbers"], json!([{"value": "+4712345678"}]));
    assert_eq!(r["emails"], json!([{"value": "bjensen@example.com"}]));
    assert_eq!(
        r["meta"],
        json!({
            "resourceType": "User",
            "created": "2026-12-06T13:00:00Z",
            "lastModified": "2026-12-06T13:05:00Z",
            "location": "https://varsel.example/scim/v2/Users/2819c223",
            "version": "W/\"42\""
        })
    );
    let bare = user::to_resource(&ScimUser { user_name: "x".into(), ..ScimUser::default() }, &meta(1));
    assert!(
        bare.get("emails").is_none() && bare.get("id").is_none() && bare["meta"].get("location").is_none()
    );
}

/// Goal: the primary phone and e-mail are kept, else the first non-empty; the name falls back
/// from displayName to name.formatted to given + family. Method: bodies for each case.
#[test]
fn choices_from_input() {
    let base = |extra: serde_json::Value| {
        let mut b = json!({"schemas": [user::USER_SCHEMA], "userName": "u"});
        if let (Some(o), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        user::from_resource(&b).unwrap()
    };
    let u = base(
        json!({"phoneNumbers": [{"value": ""}, {"value": "+471", "type": "work"}, {"value": "+472", "primary": "True"}]}),
    );
    assert_eq!(u.phone.as_deref(), Some("+472"));
    let u = base(json!({"emails": [{"value": "a@x"}, {"value": "b@x"}]}));
    assert_eq!(u.email.as_deref(), Some("a@x"));
    let u = base(json!({"name": {"formatted": "Ms. Barbara J Jensen III", "givenName": "B"}}));
    assert_eq!(u.display_name.as_deref(), Some("Ms. Barbara J Jensen III"));
    let u = base(json!({"name": {"givenName": "Barbara", "familyName": "Jensen"}, "displayName": ""}));
    assert_eq!(u.display_name.as_deref(), Some("Barbara Jensen"));
    let u = base(json!({"name": {"familyName": "Jensen"}, "USERNAME": "ignored-duplicate-case"}));
    assert_eq!(u.display_name.as_deref(), Some("Jensen"));
    assert!(base(json!({})).active, "active defaults to true");
    assert!(!base(json!({"active": "false"})).active);
}

/// Goal: invalid bodies are refused with the right scimType and the attribute named.
/// Method: a table of bad bodies.
#[test]
fn user_validation() {
    let s = user::USER_SCHEMA;
    let cases = [
        (json!([]), "invalidSyntax", "JSON object"),
        (json!({"userName": "a"}), "invalidSyntax", "'schemas'"),
        (json!({"schemas": [group::GROUP_SCHEMA], "userName": "a"}), "invalidSyntax", "'schemas'"),
        (json!({"schemas": [s]}), "invalidValue", "'userName' is required"),
        (json!({"schemas": [s], "userName": "  "}), "invalidValue", "'userName' is required"),
        (json!({"schemas": [s], "userName": 7}), "invalidValue", "'userName' must be a string"),
        (json!({"schemas": [s], "userName": "a", "active": 1}), "invalidValue", "'active'"),
        (
            json!({"schemas": [s], "userName": "a", "emails": "a@b"}),
            "invalidValue",
            "'emails' must be an array",
        ),
        (
            json!({"schemas": [s], "userName": "a", "emails": [{"value": 3}]}),
            "invalidValue",
            "'emails[0].value'",
        ),
        (json!({"schemas": [s], "userName": "a", "phoneNumbers": [1]}), "invalidValue", "'phoneNumbers[0]'"),
        (json!({"schemas": [s], "userName": "a", "name": "B"}), "invalidValue", "'name' must be an object"),
        (
            json!({"schemas": [s], "userName": "x".repeat(varsel_scim::VALUE_LENGTH_MAX + 1)}),
            "invalidValue",
            "longer than",
        ),
    ];
    for (body, scim_type, fragment) in cases {
        let e = user::from_resource(&body).expect_err(&body.to_string());
        assert_eq!((e.status, e.scim_type), (400, Some(scim_type)), "{body}");
        assert!(e.detail.contains(fragment), "{body}: {:?} lacks {fragment:?}", e.detail);
    }
}

/// Goal: a group round-trips, members get `$ref` and `type`, duplicates collapse.
/// Method: render, read back, and read a body with a repeated member.
#[test]
fn group_round_trip() {
    let g = ScimGroup {
        id: Some("g1".into()),
        display_name: "Brannvakt".into(),
        external_id: Some("ext".into()),
        members: vec!["u1".into(), "u2".into()],
    };
    let r = group::to_resource(&g, &meta(2));
    assert_eq!(
        r["members"][1],
        json!({"value": "u2", "$ref": "https://varsel.example/scim/v2/Users/u2", "type": "User"})
    );
    assert_eq!(r["meta"]["location"], "https://varsel.example/scim/v2/Groups/g1");
    assert_eq!(group::from_resource(&r).unwrap(), g);
    let empty = ScimGroup { members: vec![], ..g.clone() };
    assert!(group::to_resource(&empty, &meta(2)).get("members").is_none());
    let dup = json!({"schemas": [group::GROUP_SCHEMA], "displayName": "d", "members": [{"value": "a"}, {"value": "a"}]});
    assert_eq!(group::from_resource(&dup).unwrap().members, ["a"]);
}

/// Goal: invalid group bodies are refused naming the attribute. Method: a table.
#[test]
fn group_validation() {
    let s = group::GROUP_SCHEMA;
    let cases = [
        (json!({"schemas": [s]}), "'displayName' is required"),
        (json!({"schemas": [s], "displayName": "d", "members": {}}), "'members' must be an array"),
        (json!({"schemas": [s], "displayName": "d", "members": ["u1"]}), "'members[0]' must be an object"),
        (
            json!({"schemas": [s], "displayName": "d", "members": [{"display": "x"}]}),
            "'members[0].value' is required",
        ),
        (
            json!({"schemas": [s], "displayName": "d", "members": [{"value": "g", "type": "Group"}]}),
            "do not nest",
        ),
    ];
    for (body, fragment) in cases {
        let e = group::from_resource(&body).expect_err(&body.to_string());
        assert_eq!((e.status, e.scim_type), (400, Some("invalidValue")), "{body}");
        assert!(e.detail.contains(fragment), "{body}: {:?}", e.detail);
    }
    let many: Vec<_> = (0..=group::GROUP_MEMBERS_MAX).map(|i| json!({"value": i.to_string()})).collect();
    let e = group::from_resource(&json!({"schemas": [s], "displayName": "d", "members": many})).unwrap_err();
    assert!(e.detail.contains("more than the 100000"), "{}", e.detail);
}
