//! No input makes PATCH, the mappings or the projection panic, and a failed PATCH leaves the
//! resource unchanged.

// A test that fails panics; that is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use varsel_scim::{group, list, patch, user};

/// Arbitrary JSON up to a small depth.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        prop::sample::select(vec!["", "a", "True", "false", "userName", "emails", "members", "x@y"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["value", "type", "primary", "userName", "emails", "schemas"]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Paths shaped like the ones clients send, and broken variants.
fn any_path() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "userName",
        "emails",
        "emails.value",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "members[value eq \"a\"]",
        "name.givenName",
        "id",
        "meta",
        "urn:x:ext:2.0:User:n",
        "emails[",
        "a]b",
        "emails[type eq \"w\"].",
        "members[value co \"a\"].display",
        "",
        "[]",
        "active",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    /// Goal: PATCH never panics, and is all-or-nothing. Method: random operations on a user.
    #[test]
    fn patch_never_panics(ops in prop::collection::vec((prop::sample::select(vec!["add", "Replace", "remove", "x"]), any_path(), any_json()), 1..5)) {
        let start = json!({"schemas": [user::USER_SCHEMA], "id": "1", "userName": "u", "emails": [{"value": "a", "type": "work"}]});
        let mut r = start.clone();
        let operations: Vec<Value> = ops.iter().map(|(op, path, value)| json!({"op": op, "path": path, "value": value})).collect();
        let result = patch::apply(&mut r, &json!({"schemas": [patch::PATCH_OP_SCHEMA], "Operations": operations}));
        if result.is_err() {
            prop_assert_eq!(r, start);
        } else {
            let _ = user::from_resource(&r);
        }
    }

    /// Goal: the mappings and projection never panic on any body.
    #[test]
    fn mappings_never_panic(body in any_json(), extra in any_json()) {
        let _ = user::from_resource(&body);
        let _ = group::from_resource(&body);
        let mut with_schema = json!({"schemas": [user::USER_SCHEMA, group::GROUP_SCHEMA], "userName": "u", "displayName": "d"});
        if let (Some(o), Value::Object(e)) = (with_schema.as_object_mut(), extra) {
            o.extend(e);
        }
        let _ = user::from_resource(&with_schema);
        let _ = group::from_resource(&with_schema);
        let paths = list::parse_attribute_list("userName,emails.value,urn:x:y:User:z").unwrap_or_default();
        let _ = list::project(&with_schema, &paths, &[]);
        let _ = list::project(&with_schema, &[], &paths);
        let _ = patch::apply(&mut with_schema.clone(), &body);
    }
}
