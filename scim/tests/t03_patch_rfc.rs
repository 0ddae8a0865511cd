//! The PATCH examples of RFC 7644 §3.5.2, applied to sample resources.

// A test that fails panics; that is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use varsel_scim::patch::{self, PATCH_OP_SCHEMA};

const BJENSEN: &str = "2819c223-7f76-453a-919d-413861904646";
const JSMITH: &str = "902c246b-6245-4190-8e05-00816be7344a";

fn patch(resource: &mut Value, ops: Value) -> Result<(), varsel_scim::ScimError> {
    patch::apply(resource, &json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}))
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "acbf3ae7",
        "displayName": "Tour Guides",
        "members": [{"value": BJENSEN}, {"value": JSMITH}]
    })
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": BJENSEN,
        "userName": "bjensen",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work"},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"}]
    })
}

/// Goal: §3.5.2.1 "add a member to a group" appends, and adding an existing member is a no-op.
/// Method: add one new member (with display and $ref as the RFC sends) and then bjensen again.
#[test]
fn add_member() {
    let mut g = group();
    let new = json!({"display": "Babs", "$ref": "https://example.com/v2/Users/abc", "value": "abc"});
    patch(&mut g, json!([{"op": "add", "path": "members", "value": [new.clone()]}])).unwrap();
    assert_eq!(g["members"], json!([{"value": BJENSEN}, {"value": JSMITH}, new]));
    patch(&mut g, json!([{"op": "add", "path": "members", "value": [{"value": BJENSEN}]}])).unwrap();
    assert_eq!(g["members"].as_array().map(Vec::len), Some(3));
}

/// Goal: §3.5.2.1 add without a path merges the attributes given.
/// Method: the RFC's example adds a home e-mail and a nickname.
#[test]
fn add_without_path() {
    let mut u = user();
    let ops = json!([{"op": "add", "value": {
        "emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@x.org", "type": "other"}],
        "nickname": "Babs"
    }}]);
    patch(&mut u, ops).unwrap();
    assert_eq!(u["nickname"], "Babs");
    assert_eq!(u["emails"].as_array().map(Vec::len), Some(3), "duplicate home e-mail not added twice");
}

/// Goal: §3.5.2.2 remove a member with a value filter, all members, and e-mails by filter.
/// Method: the RFC's three remove examples.
#[test]
fn remove_examples() {
    let mut g = group();
    patch(&mut g, json!([{"op": "remove", "path": format!("members[value eq \"{BJENSEN}\"]")}])).unwrap();
    assert_eq!(g["members"], json!([{"value": JSMITH}]));
    patch(&mut g, json!([{"op": "remove", "path": "members"}])).unwrap();
    assert!(g.get("members").is_none());

    let mut u = user();
    patch(&mut u, json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]))
        .unwrap();
    assert_eq!(u["emails"], json!([{"value": "babs@jensen.org", "type": "home"}]));
}

/// Goal: §3.5.2.2's "remove all, then add" in one request replaces the member list.
/// Method: two operations in one request.
#[test]
fn remove_all_then_add() {
    let mut g = group();
    let ops = json!([
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"value": "x1"}, {"value": "x2"}]}
    ]);
    patch(&mut g, ops).unwrap();
    assert_eq!(g["members"], json!([{"value": "x1"}, {"value": "x2"}]));
}

/// Goal: §3.5.2.3 replace: members, a filtered sub-attribute, a sub-attribute, no path.
/// Method: the RFC's replace examples, one after another.
#[test]
fn replace_examples() {
    let mut g = group();
    patch(&mut g, json!([{"op": "replace", "path": "members", "value": [{"value": "only"}]}])).unwrap();
    assert_eq!(g["members"], json!([{"value": "only"}]));

    let mut u = user();
    patch(&mut u, json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]))
        .unwrap();
    assert_eq!(u["addresses"][0]["streetAddress"], "1010 Broadway Ave");
    assert_eq!(u["addresses"][0]["locality"], "Hollywood");

    patch(&mut u, json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {"type": "work", "locality": "Oslo"}}]))
        .unwrap();
    assert_eq!(u["addresses"], json!([{"type": "work", "locality": "Oslo"}]));

    patch(&mut u, json!([{"op": "replace", "path": "name.familyName", "value": "Jensen-Hansen"}])).unwrap();
    assert_eq!(u["name"], json!({"familyName": "Jensen-Hansen", "givenName": "Barbara"}));

    patch(
        &mut u,
        json!([{"op": "replace", "value": {"emails": [{"value": "new@example.com"}], "nickname": "Babs"}}]),
    )
    .unwrap();
    assert_eq!(
        (u["emails"].clone(), u["nickname"].clone()),
        (json!([{"value": "new@example.com"}]), json!("Babs"))
    );
}

/// Goal: every error of §3.5.2 has its scimType and a detail naming the operation.
/// Method: one bad request per error; the resource is unchanged after each.
#[test]
fn errors() {
    let cases = [
        (json!([{"op": "replace", "path": "id", "value": "x"}]), "mutability", "'id' is readOnly"),
        (json!([{"op": "remove", "path": "meta"}]), "mutability", "'meta' is readOnly"),
        (json!([{"op": "replace", "value": {"id": "other"}}]), "mutability", "'id'"),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]),
            "invalidPath",
            "no closing",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq]", "value": "x"}]),
            "invalidPath",
            "expected a value",
        ),
        (json!([{"op": "replace", "path": "a.b.c", "value": "x"}]), "invalidPath", "more than one"),
        (
            json!([{"op": "replace", "path": "emails[type co \"x\"].value", "value": "y"}]),
            "noTarget",
            "no element of 'emails'",
        ),
        (json!([{"op": "remove"}]), "noTarget", "needs a 'path'"),
        (json!([{"op": "add", "path": "nickname"}]), "invalidValue", "needs a 'value'"),
        (json!([{"op": "add", "value": "just a string"}]), "invalidValue", "must be an object"),
        (json!([{"op": "move", "path": "a", "value": 1}]), "invalidSyntax", "must be \"add\""),
        (json!([]), "invalidSyntax", "from 1 to 1000"),
        (
            json!([{"op": "replace", "path": "userName", "value": "ok"}, {"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
            "Operations[1]",
        ),
    ];
    for (ops, scim_type, fragment) in cases {
        let mut u = user();
        let e = patch(&mut u, ops.clone()).expect_err(&ops.to_string());
        assert_eq!((e.status, e.scim_type), (400, Some(scim_type)), "{ops}: {}", e.detail);
        assert!(e.detail.contains(fragment), "{ops}: {:?} lacks {fragment:?}", e.detail);
        assert_eq!(u, user(), "{ops}: resource changed by a failed PATCH");
    }
    let e = patch::apply(&mut user(), &json!({"Operations": [{"op": "remove", "path": "x"}]})).unwrap_err();
    assert_eq!(e.scim_type, Some("invalidSyntax"));
}

/// Goal: `id` echoed unchanged in a path-less value is accepted (clients send the whole
/// resource). Method: replace with the same id and a new userName.
#[test]
fn same_id_is_ignored() {
    let mut u = user();
    patch(&mut u, json!([{"op": "replace", "value": {"id": BJENSEN, "userName": "babs", "schemas": ["x"]}}]))
        .unwrap();
    assert_eq!((u["id"].as_str(), u["userName"].as_str()), (Some(BJENSEN), Some("babs")));
    assert_eq!(u["schemas"], user()["schemas"]);
}

/// Goal: extension attributes are reached by their schema URI, with and without a path.
/// Method: set the enterprise employeeNumber both ways, then remove it.
#[test]
fn extension_attributes() {
    let ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut u = user();
    patch(&mut u, json!([{"op": "add", "path": format!("{ext}:employeeNumber"), "value": "701984"}]))
        .unwrap();
    assert_eq!(u[ext]["employeeNumber"], "701984");
    patch(&mut u, json!([{"op": "replace", "value": {ext: {"department": "Tour"}}}])).unwrap();
    assert_eq!(u[ext], json!({"employeeNumber": "701984", "department": "Tour"}));
    patch(&mut u, json!([{"op": "remove", "path": format!("{ext}:employeeNumber")}])).unwrap();
    assert_eq!(u[ext], json!({"department": "Tour"}));
}
