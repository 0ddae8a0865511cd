//! PATCH requests as Entra ID and Okta send them, through the whole round trip the server
//! does: stored record → `to_resource` → `patch::apply` → `from_resource`.

// A test that fails panics; that is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use varsel_scim::patch::{self, PATCH_OP_SCHEMA};
use varsel_scim::{Meta, ScimError, ScimGroup, ScimUser, group, user};

fn meta() -> Meta {
    Meta::new("https://varsel.example/scim/v2", "2026-12-06T13:00:00Z", "2026-12-06T13:00:00Z", 1)
}

fn stored_user() -> ScimUser {
    ScimUser {
        id: Some("u1".into()),
        user_name: "kari@kommune.no".into(),
        external_id: Some("0c4a9a1e".into()),
        display_name: Some("Kari Nordmann".into()),
        phone: Some("+4791234567".into()),
        email: Some("kari@kommune.no".into()),
        preferred_language: Some("nb".into()),
        active: true,
        locations: Some(vec![varsel_scim::ScimPlace {
            name: "home".into(),
            latitude: serde_json::Number::from_f64(59.9139).unwrap(),
            longitude: serde_json::Number::from_f64(10.7522).unwrap(),
            address: None,
        }]),
    }
}

fn patch_user(u: &ScimUser, ops: Value) -> Result<ScimUser, ScimError> {
    let mut r = user::to_resource(u, &meta());
    patch::apply(&mut r, &json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}))?;
    user::from_resource(&r)
}

fn patch_group(g: &ScimGroup, ops: Value) -> Result<ScimGroup, ScimError> {
    let mut r = group::to_resource(g, &meta());
    patch::apply(&mut r, &json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}))?;
    group::from_resource(&r)
}

/// Goal: Entra's deactivation (`"Replace"`, boolean as the string `"False"`) deactivates, and
/// `"True"` reactivates. Method: both requests through the round trip.
#[test]
fn entra_active_as_string() {
    let off =
        patch_user(&stored_user(), json!([{"op": "Replace", "path": "active", "value": "False"}])).unwrap();
    assert!(!off.active);
    let on = patch_user(&off, json!([{"op": "replace", "path": "active", "value": "True"}])).unwrap();
    assert!(on.active);
    let e = patch_user(&off, json!([{"op": "replace", "path": "active", "value": "maybe"}])).unwrap_err();
    assert_eq!((e.scim_type, e.detail.as_str()), (Some("invalidValue"), "'active' must be a boolean"));
}

/// Goal: Entra's attribute updates by filtered path change the one phone and e-mail Varsel
/// keeps, whether or not an element of that type exists. Method: Entra's default mappings.
#[test]
fn entra_filtered_paths_update_the_kept_value() {
    let ops = json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "kari.n@kommune.no"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+4799999999"},
        {"op": "Replace", "path": "name.givenName", "value": "Kari"},
        {"op": "Replace", "path": "preferredLanguage", "value": "nn"},
        {"op": "Add", "path": "externalId", "value": "new-object-id"}
    ]);
    let u = patch_user(&stored_user(), ops).unwrap();
    assert_eq!(u.email.as_deref(), Some("kari.n@kommune.no"));
    assert_eq!(u.phone.as_deref(), Some("+4799999999"));
    assert_eq!(u.preferred_language.as_deref(), Some("nn"));
    assert_eq!(u.external_id.as_deref(), Some("new-object-id"));
    assert_eq!(u.display_name.as_deref(), Some("Kari Nordmann"), "displayName wins over name");
}

/// Goal: Entra's path-less replace with dotted and filtered keys works.
/// Method: `{"op":"Replace","value":{"active":false,"emails[type eq \"work\"].value":...}}`.
#[test]
fn entra_pathless_with_paths_as_keys() {
    let ops = json!([{"op": "Replace", "value": {
        "active": false,
        "emails[type eq \"work\"].value": "k@kommune.no",
        "displayName": "Kari N."
    }}]);
    let u = patch_user(&stored_user(), ops).unwrap();
    assert_eq!(
        (u.active, u.email.as_deref(), u.display_name.as_deref()),
        (false, Some("k@kommune.no"), Some("Kari N."))
    );
}

/// Goal: Entra's group membership changes (add and remove with a value list).
/// Method: add two members, remove one by value list, remove one that is not there.
#[test]
fn entra_group_members() {
    let g = ScimGroup {
        id: Some("g1".into()),
        display_name: "Brannvakt".into(),
        external_id: None,
        members: vec!["u1".into()],
    };
    let g = patch_group(
        &g,
        json!([{"op": "Add", "path": "members", "value": [{"value": "u2"}, {"value": "u3"}]}]),
    )
    .unwrap();
    assert_eq!(g.members, ["u1", "u2", "u3"]);
    let g =
        patch_group(&g, json!([{"op": "Remove", "path": "members", "value": [{"value": "u2"}]}])).unwrap();
    assert_eq!(g.members, ["u1", "u3"]);
    let g =
        patch_group(&g, json!([{"op": "Remove", "path": "members", "value": [{"value": "gone"}]}])).unwrap();
    assert_eq!(g.members, ["u1", "u3"]);
    let g = patch_group(&g, json!([{"op": "Replace", "path": "displayName", "value": "Brannvakt Nord"}]))
        .unwrap();
    assert_eq!(g.display_name, "Brannvakt Nord");
}

/// Goal: Okta's forms: path-less replace echoing `id`, member removal by filter, member add
/// with `display`. Method: each request through the group round trip.
#[test]
fn okta_group_forms() {
    let g = ScimGroup {
        id: Some("g1".into()),
        display_name: "Vakt".into(),
        external_id: None,
        members: vec!["u1".into(), "u2".into()],
    };
    let g =
        patch_group(&g, json!([{"op": "replace", "value": {"id": "g1", "displayName": "Vakt 2"}}])).unwrap();
    assert_eq!(g.display_name, "Vakt 2");
    let g = patch_group(&g, json!([{"op": "remove", "path": "members[value eq \"u1\"]"}])).unwrap();
    assert_eq!(g.members, ["u2"]);
    let g = patch_group(
        &g,
        json!([{"op": "add", "path": "members", "value": [{"value": "u9", "display": "Ola"}]}]),
    )
    .unwrap();
    assert_eq!(g.members, ["u2", "u9"]);
    let e = patch_group(
        &g,
        json!([{"op": "add", "path": "members", "value": [{"value": "g7", "type": "Group"}]}]),
    )
    .unwrap_err();
    assert!(e.detail.contains("do not nest"), "{}", e.detail);
}

/// Goal: Okta deactivation (boolean, path-less) and the resulting resource are what the
/// tester reads back. Method: `{"op":"replace","value":{"active":false}}`, then to_resource.
#[test]
fn okta_deactivate() {
    let u = patch_user(&stored_user(), json!([{"op": "replace", "value": {"active": false}}])).unwrap();
    assert!(!u.active);
    assert_eq!(user::to_resource(&u, &meta())["active"], false);
}

/// Goal: removing the user's phone and e-mail leaves them unset; removing `userName` is
/// refused by the mapping (it is required). Method: remove paths through the round trip.
#[test]
fn remove_then_required_check() {
    let u = patch_user(
        &stored_user(),
        json!([{"op": "remove", "path": "phoneNumbers"}, {"op": "remove", "path": "emails"}]),
    )
    .unwrap();
    assert_eq!((u.phone, u.email), (None, None));
    let e = patch_user(&stored_user(), json!([{"op": "remove", "path": "userName"}])).unwrap_err();
    assert_eq!((e.status, e.scim_type), (400, Some("invalidValue")));
    assert!(e.detail.contains("userName"));
}

/// Goal: what scim2-tester's PATCH checks send round-trips exactly: the value added is the
/// value read back. Method: add each published attribute the way the tester does.
#[test]
fn tester_add_round_trips() {
    let bare = ScimUser { id: Some("u5".into()), user_name: "x".into(), active: true, ..ScimUser::default() };
    for (path, value) in [
        ("emails", json!([{"value": "a@b.com"}])),
        ("phoneNumbers", json!([{"value": "+4712345678"}])),
        ("displayName", json!("D")),
        ("preferredLanguage", json!("se")),
        ("externalId", json!("e")),
        ("active", json!(false)),
    ] {
        let u = patch_user(&bare, json!([{"op": "add", "path": path, "value": value.clone()}])).unwrap();
        assert_eq!(user::to_resource(&u, &meta())[path], value, "{path}");
    }
    let g = ScimGroup { id: Some("g".into()), display_name: "G".into(), ..ScimGroup::default() };
    let members = json!([{"value": "u5", "$ref": "https://varsel.example/scim/v2/Users/u5", "type": "User"}]);
    let g = patch_group(&g, json!([{"op": "add", "path": "members", "value": members.clone()}])).unwrap();
    assert_eq!(group::to_resource(&g, &meta())["members"], members);
}

/// Goal: the location extension is patched like any attribute: replaced by its full path, and
/// a body without the extension leaves `locations` as `None` (the node then keeps the places).
/// Method: PATCH a stored user with places.
#[test]
fn location_extension_patches() {
    let u = stored_user();
    let path = format!("{}:locations", varsel_scim::LOCATION_SCHEMA);
    let work = json!([{"name": "work", "latitude": 60.39, "longitude": 5.32, "address": "Kaigaten 1"}]);
    let patched = patch_user(&u, json!([{"op": "replace", "path": path, "value": work}])).unwrap();
    let places = patched.locations.unwrap();
    assert_eq!(
        (places.len(), places[0].name.as_str(), places[0].address.as_deref()),
        (1, "work", Some("Kaigaten 1"))
    );
    assert_eq!(places[0].latitude.as_f64(), Some(60.39));
    // Other attributes patched: the places ride along unchanged.
    let patched = patch_user(&u, json!([{"op": "replace", "path": "displayName", "value": "K"}])).unwrap();
    assert_eq!(patched.locations, u.locations);
    // A body without the extension: nothing said about places.
    let bare = user::from_resource(&json!({"schemas": [user::USER_SCHEMA], "userName": "x"})).unwrap();
    assert_eq!(bare.locations, None);
    // A place without a latitude is refused, naming it.
    let bad = json!({"schemas": [user::USER_SCHEMA], "userName": "x",
        (varsel_scim::LOCATION_SCHEMA): {"locations": [{"name": "home", "longitude": 5.0}]}});
    let e = user::from_resource(&bad).unwrap_err();
    assert!(e.detail.contains("locations[0].latitude"), "{}", e.detail);
}
