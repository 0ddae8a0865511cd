//! ListResponse, paging, .search bodies, attribute projection, ETags, and the error body.

// A test that fails panics; that is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use varsel_scim::list::{self, COUNT_DEFAULT, COUNT_MAX, Paging};
use varsel_scim::{ScimError, etag};

/// Goal: paging follows RFC 7644 §3.4.2.4: startIndex below 1 is 1, negative count is 0,
/// count is capped; non-integers are invalidValue. Method: a table of parameter pairs.
#[test]
fn paging_parameters() {
    let p = |s: Option<&str>, c: Option<&str>| list::parse_paging(s, c).map(|p| (p.start_index, p.count));
    assert_eq!(p(None, None), Ok((1, COUNT_DEFAULT)));
    assert_eq!(p(Some("0"), Some("0")), Ok((1, 0)));
    assert_eq!(p(Some("-5"), Some("-1")), Ok((1, 0)));
    assert_eq!(p(Some("11"), Some("10")), Ok((11, 10)));
    assert!(p(Some("99999999999999999999"), None).is_err(), "beyond i64 is not an integer we take");
    assert_eq!(p(None, Some("100000")), Ok((1, COUNT_MAX)));
    let e = list::parse_paging(Some("one"), None).unwrap_err();
    assert_eq!(
        (e.scim_type, e.detail.as_str()),
        (Some("invalidValue"), "'startIndex' must be an integer, got 'one'")
    );
}

/// Goal: the page window is the right 0-based slice, empty past the end.
/// Method: windows over 25 results.
#[test]
fn windows() {
    let w = |start_index, count| Paging { start_index, count }.window(25);
    assert_eq!(w(1, 10), 0..10);
    assert_eq!(w(21, 10), 20..25);
    assert_eq!(w(30, 10), 25..25);
    assert_eq!(w(1, 0), 0..0);
    assert_eq!(w(0, 5), 0..5, "a start index of 0 built by hand is read as 1");
    assert_eq!(w(usize::MAX, usize::MAX), 25..25);
}

/// Goal: the ListResponse has the RFC 7644 §3.4.2 members. Method: build one, read it.
#[test]
fn list_response_shape() {
    let r = list::list_response(vec![json!({"id": "1"})], 3, 1, 7);
    assert_eq!(
        r,
        json!({"schemas": [list::LIST_RESPONSE_SCHEMA], "totalResults": 7, "startIndex": 3, "itemsPerPage": 1, "Resources": [{"id": "1"}]})
    );
}

/// Goal: `attributes` keeps only the named (sub-)attributes plus id, schemas, meta;
/// `excludedAttributes` drops them but never id, schemas, meta. Method: project a user.
#[test]
fn projection() {
    let u = json!({
        "schemas": ["s"], "id": "1", "meta": {"version": "W/\"1\""},
        "userName": "b", "displayName": "B",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x"}],
        "urn:x:ext:2.0:User": {"employeeNumber": "7", "cost": "9"}
    });
    let attrs =
        list::parse_attribute_list("USERNAME, name.givenName,emails.value,urn:x:ext:2.0:User:employeeNumber")
            .unwrap();
    assert_eq!(
        list::project(&u, &attrs, &[]),
        json!({
            "schemas": ["s"], "id": "1", "meta": {"version": "W/\"1\""}, "userName": "b",
            "name": {"givenName": "Barbara"}, "emails": [{"value": "a@x"}, {"value": "b@x"}],
            "urn:x:ext:2.0:User": {"employeeNumber": "7"}
        })
    );
    let excl =
        list::parse_attribute_list("displayName,id,meta,emails.type,name,urn:x:ext:2.0:User:cost").unwrap();
    assert_eq!(
        list::project(&u, &[], &excl),
        json!({
            "schemas": ["s"], "id": "1", "meta": {"version": "W/\"1\""}, "userName": "b",
            "emails": [{"value": "a@x"}, {"value": "b@x"}],
            "urn:x:ext:2.0:User": {"employeeNumber": "7"}
        })
    );
    assert_eq!(list::parse_attribute_list("a b").unwrap_err().scim_type, Some("invalidValue"));
    let too_many = vec!["a"; list::ATTRIBUTES_MAX + 1].join(",");
    assert!(list::parse_attribute_list(&too_many).is_err());
}

/// Goal: GET parameters and `.search` bodies become the same Query; sortBy and bad filters
/// are refused. Method: parse both forms of one query.
#[test]
fn queries() {
    let get = list::parse_query(Some(r#"userName eq "b""#), Some("displayName"), None, Some("2"), Some("5"))
        .unwrap();
    let post = list::parse_search_request(&json!({
        "schemas": [list::SEARCH_REQUEST_SCHEMA], "filter": "userName eq \"b\"",
        "attributes": ["displayName"], "startIndex": 2, "count": 5
    }))
    .unwrap();
    assert_eq!(get, post);
    let e =
        list::parse_search_request(&json!({"schemas": [list::SEARCH_REQUEST_SCHEMA], "sortBy": "userName"}))
            .unwrap_err();
    assert!(e.detail.contains("sorting is not supported"));
    let e = list::parse_query(Some("userName eq"), None, None, None, None).unwrap_err();
    assert_eq!(e.scim_type, Some("invalidFilter"));
    assert_eq!(list::parse_search_request(&json!({})).unwrap_err().scim_type, Some("invalidSyntax"));
}

/// Goal: ETags are weak, compare weakly, and `If-Match` / `If-None-Match` decide as RFC 9110
/// says. Method: a table of header values against version 7.
#[test]
fn etags() {
    assert_eq!(etag::weak_etag(7), "W/\"7\"");
    assert_eq!(etag::opaque_tag(" W/\"7\" "), Some("7"));
    assert_eq!(etag::opaque_tag("7"), None);
    for (header, matches) in [
        ("W/\"7\"", true),
        ("\"7\"", true),
        ("*", true),
        ("W/\"6\", W/\"7\"", true),
        ("W/\"6\"", false),
        ("7", false),
        ("", false),
        ("W/\"7", false),
    ] {
        assert_eq!(etag::if_match(header, 7), matches, "{header}");
        assert_eq!(etag::if_none_match(header, 7), !matches, "{header}");
    }
    assert_eq!(etag::check_if_match(None, 7), Ok(()));
    let e = etag::check_if_match(Some("W/\"6\""), 7).unwrap_err();
    assert_eq!((e.status, e.scim_type), (412, None));
    assert!(e.detail.contains("W/\"7\""));
}

/// Goal: the error body follows RFC 7644 §3.12 (status as a string, scimType only when set).
/// Method: render a 400 and a 404.
#[test]
fn error_body() {
    assert_eq!(
        ScimError::invalid_filter("bad").to_json(),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", "scimType": "invalidFilter", "detail": "bad"})
    );
    assert_eq!(
        ScimError::not_found("no User 'x'").to_json(),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "404", "detail": "no User 'x'"})
    );
    assert_eq!(ScimError::uniqueness("taken").status, 409);
}
