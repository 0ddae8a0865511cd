//! Prints the discovery documents and a sample User and Group for a base URL, as one JSON
//! object, so they can be checked by other SCIM implementations (e.g. PyPI `scim2-models`):
//! `cargo run -p varsel-scim --example discovery -- https://varsel.example/scim/v2`.

use serde_json::json;
use varsel_scim::{Meta, ScimGroup, ScimUser, discovery, group, user};

fn main() {
    let base = std::env::args().nth(1).unwrap_or_else(|| "https://varsel.example/scim/v2".to_owned());
    let meta = Meta::new(&base, "2026-12-06T13:00:00Z", "2026-12-06T13:05:00Z", 4);
    let sample_user = ScimUser {
        id: Some("2819c223".into()),
        user_name: "bjensen@example.com".into(),
        external_id: Some("701984".into()),
        display_name: Some("Barbara Jensen".into()),
        phone: Some("+4712345678".into()),
        email: Some("bjensen@example.com".into()),
        preferred_language: Some("nb".into()),
        active: true,
        locations: None,
    };
    let sample_group = ScimGroup {
        id: Some("e9e30dba".into()),
        display_name: "Brannvakt".into(),
        external_id: None,
        members: vec!["2819c223".into()],
    };
    let out = json!({
        "serviceProviderConfig": discovery::service_provider_config(&base),
        "resourceTypes": discovery::resource_types(&base),
        "schemas": discovery::schemas(&base),
        "user": user::to_resource(&sample_user, &meta),
        "group": group::to_resource(&sample_group, &meta),
    });
    println!("{out:#}");
}
