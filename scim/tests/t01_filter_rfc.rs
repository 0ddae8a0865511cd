//! The filter examples of RFC 7644 §3.4.2.2, parsed and evaluated against sample Users.

// A test that fails panics; that is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use varsel_scim::filter::{AttrPath, CompareOp, Filter, IndexedAttr, PointLookup};

/// Three users that between them make every RFC example match some and miss others.
fn users() -> Vec<(&'static str, Value)> {
    vec![
        (
            "bjensen",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "id": "2819c223-7f76-453a-919d-413861904646",
                "userName": "bjensen",
                "name": {"familyName": "O'Malley", "givenName": "Barbara"},
                "title": "Tour Guide",
                "userType": "Employee",
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": true},
                    {"value": "babs@jensen.org", "type": "home"}
                ],
                "ims": [{"value": "babs@foo.com", "type": "xmpp"}],
                "active": true,
                "meta": {"lastModified": "2011-05-13T04:42:34Z"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"}
            }),
        ),
        (
            "jsmith",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "c3a26dd3",
                "userName": "JSmith",
                "name": {"familyName": "Smith"},
                "userType": "Intern",
                "emails": [{"value": "jsmith@example.org", "type": "home"}],
                "active": false,
                "meta": {"lastModified": "2011-05-14T00:00:00Z"}
            }),
        ),
        (
            "kari",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "e5f6",
                "userName": "kari",
                "userType": "Contractor",
                "emails": [{"value": "kari@varsel.example", "type": "work"}],
                "meta": {"lastModified": "2011-05-12T00:00:00Z"}
            }),
        ),
    ]
}

fn matching(filter: &str) -> Vec<&'static str> {
    let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    users().into_iter().filter(|(_, u)| f.matches(u)).map(|(n, _)| n).collect()
}

/// Goal: every example filter of RFC 7644 §3.4.2.2 parses and selects the users it should.
/// Method: parse each, evaluate against three users, compare the names that match.
#[test]
fn rfc_examples_select_the_right_users() {
    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "bjensen""#, &["bjensen"]),
        (r#"name.familyName co "O'Malley""#, &["bjensen"]),
        (r#"userName sw "J""#, &["jsmith"]),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#, &["jsmith"]),
        ("title pr", &["bjensen"]),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, &["jsmith"]),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, &["bjensen", "jsmith"]),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, &["kari"]),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, &["bjensen", "kari"]),
        (r#"title pr and userType eq "Employee""#, &["bjensen"]),
        (r#"title pr or userType eq "Intern""#, &["bjensen", "jsmith"]),
        (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, &["bjensen"]),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            &["bjensen"],
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            &["kari"],
        ),
        (r#"userType eq "Employee" and (emails.type eq "work")"#, &["bjensen"]),
        (r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, &["bjensen"]),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            &["bjensen"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(filter), *want, "filter {filter}");
    }
}

/// Goal: names and operators ignore case; strings ignore case except case-exact attributes.
/// Method: mixed-case filters against bjensen; `id` (caseExact) with the wrong case misses.
#[test]
fn case_rules() {
    assert_eq!(matching(r#"USERNAME EQ "BJENSEN""#), ["bjensen"]);
    assert_eq!(matching(r#"Emails[TYPE Eq "WORK"]"#), ["bjensen", "kari"]);
    assert_eq!(matching(r#"id eq "2819c223-7f76-453a-919d-413861904646""#), ["bjensen"]);
    assert!(matching(r#"id eq "2819C223-7F76-453A-919D-413861904646""#).is_empty());
    assert_eq!(
        matching(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#),
        ["bjensen"]
    );
}

/// Goal: number, boolean and null literals compare with their JSON types.
/// Method: `active eq true/false`, `eq null`, numbers against a sample resource.
#[test]
fn literals_of_every_type() {
    assert_eq!(matching("active eq true"), ["bjensen"]);
    assert_eq!(matching("active eq false"), ["jsmith"]);
    assert_eq!(matching("title eq null"), ["jsmith", "kari"]);
    assert_eq!(matching("active ne null"), ["bjensen", "jsmith"]);
    let r = json!({"n": 10, "x": 2.5});
    assert!(Filter::parse("n gt 9.5 and n le 10 and x lt 3").unwrap().matches(&r));
    assert!(!Filter::parse("n co 1").unwrap().matches(&r));
    assert!(!Filter::parse("active gt false").unwrap().matches(&json!({"active": true})));
}

/// Goal: precedence is `not` > `and` > `or`, and the AST says so.
/// Method: parse `a pr or b pr and c pr`; the `and` is the right operand of the `or`.
#[test]
fn and_binds_tighter_than_or() {
    let f = Filter::parse("a pr or b pr and c pr").unwrap();
    let present = |n: &str| Box::new(Filter::Present(AttrPath::parse(n).unwrap()));
    assert_eq!(f, Filter::Or(present("a"), Box::new(Filter::And(present("b"), present("c")))));
    assert!(f.matches(&json!({"a": 1})));
    assert!(!f.matches(&json!({"b": 1})));
}

/// Goal: the server recognises the indexed lookups and nothing else.
/// Method: `point_lookup` on the cheap forms, and on forms that need a scan.
#[test]
fn point_lookups() {
    let lookup = |f: &str| Filter::parse(f).unwrap().point_lookup();
    assert_eq!(
        lookup(r#"userName eq "bjensen""#),
        Some(PointLookup { attr: IndexedAttr::UserName, value: "bjensen".into() })
    );
    assert_eq!(
        lookup(r#"externalId EQ "701984""#),
        Some(PointLookup { attr: IndexedAttr::ExternalId, value: "701984".into() })
    );
    assert_eq!(lookup(r#"displayName eq "Brannvakt""#).map(|l| l.attr), Some(IndexedAttr::DisplayName));
    assert_eq!(
        lookup(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#).map(|l| l.attr),
        Some(IndexedAttr::UserName)
    );
    assert!(IndexedAttr::ExternalId.case_exact() && !IndexedAttr::UserName.case_exact());
    for scan in [
        r#"userName sw "b""#,
        r#"userName eq "a" or userName eq "b""#,
        "userName eq 3",
        r#"name.userName eq "x""#,
    ] {
        assert_eq!(lookup(scan), None, "{scan}");
    }
}

/// Goal: string literals follow JSON escaping. Method: escaped quote and unicode escape.
#[test]
fn json_string_escapes() {
    let f = Filter::parse(r#"displayName eq "say \"hei\" \u00e5""#).unwrap();
    let Filter::Compare { op, value, .. } = &f else { panic!("{f:?}") };
    assert_eq!((*op, value), (CompareOp::Eq, &json!("say \"hei\" å")));
}
