//! Bad filters are refused with 400 `invalidFilter` naming the position and the rule, bounds
//! hold, and no input makes the parser or evaluator panic.

// A test that fails panics; that is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::json;
use varsel_scim::filter::{FILTER_LENGTH_MAX, FILTER_NESTING_MAX, Filter};

/// Goal: each malformed filter is refused as invalidFilter with a useful detail.
/// Method: a table of bad filters and a fragment the detail must contain.
#[test]
fn malformed_filters_are_refused() {
    let cases = [
        ("", "empty"),
        ("userName", "expected an operator"),
        ("userName eq", "expected a value"),
        (r#"userName xx "a""#, "'xx' is not an operator"),
        (r#"userName eq "a"#, "no closing double quote"),
        (r#"userName eq bjensen"#, "expected a value"),
        (r#"(userName eq "a""#, "expected ')'"),
        (r#"userName eq "a")"#, "expected 'and', 'or'"),
        (r#"userName eq "a" and"#, "filter ended"),
        (r#"not userName eq "a""#, "'not' must be followed"),
        (r#"emails[type eq "work""#, "expected ']'"),
        (r#"emails[type[value eq "a"]]"#, "cannot contain another value filter"),
        (r#"emails.value[type eq "a"]"#, "not to a sub-attribute"),
        (r#"a.b.c eq "x""#, "more than one '.'"),
        (r#"1abc eq "x""#, "not an attribute path"),
        (r#"and eq "x""#, "keyword"),
        (r#"n eq 1.2.3"#, "not a JSON number"),
        (r#"userName eq "\x""#, "JSON escape"),
    ];
    for (filter, fragment) in cases {
        let e = Filter::parse(filter).expect_err(filter);
        assert_eq!((e.status, e.scim_type), (400, Some("invalidFilter")), "{filter}");
        assert!(e.detail.contains(fragment), "{filter}: detail {:?} lacks {fragment:?}", e.detail);
    }
}

/// Goal: the detail names the position of the fault. Method: an unknown operator at char 10.
#[test]
fn detail_names_the_position() {
    let e = Filter::parse(r#"userName is "a""#).unwrap_err();
    assert_eq!(
        e.detail,
        "invalid filter at character 10: 'is' is not an operator: expected eq ne co sw ew gt ge lt le or pr"
    );
    assert_eq!(e.to_json()["scimType"], "invalidFilter");
}

/// Goal: length and nesting bounds are enforced exactly at the constants.
/// Method: filters just within and just past each bound.
#[test]
fn bounds() {
    let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    assert!(Filter::parse(&nested(FILTER_NESTING_MAX)).is_ok());
    let e = Filter::parse(&nested(FILTER_NESTING_MAX + 1)).unwrap_err();
    assert!(e.detail.contains("nests deeper"), "{}", e.detail);
    let nots =
        format!("{}a pr{}", "not (".repeat(FILTER_NESTING_MAX + 1), ")".repeat(FILTER_NESTING_MAX + 1));
    assert!(Filter::parse(&nots).is_err());

    let long = format!(r#"userName eq "{}""#, "x".repeat(FILTER_LENGTH_MAX));
    let e = Filter::parse(&long).unwrap_err();
    assert!(e.detail.contains("longer than the 4096"), "{}", e.detail);
    let just = format!(r#"a eq "{}""#, "x".repeat(FILTER_LENGTH_MAX - 7));
    assert_eq!(just.len(), FILTER_LENGTH_MAX);
    assert!(Filter::parse(&just).is_ok());
}

/// Goal: the longest possible chain of `or` terms (a left-deep tree as deep as the filter is
/// long) parses, evaluates and drops without exhausting the stack. Method: `a pr or a pr ...`
/// up to the length bound, on a test thread's default stack.
#[test]
fn longest_chain_evaluates() {
    let term = "x pr or ";
    let mut s = term.repeat((FILTER_LENGTH_MAX - 4) / term.len());
    s.push_str("a pr");
    assert!(s.len() <= FILTER_LENGTH_MAX);
    let f = Filter::parse(&s).unwrap();
    assert!(f.matches(&json!({"a": 1})));
    assert!(!f.matches(&json!({"b": 1})));
    let and = format!("{}a pr", "x pr and ".repeat((FILTER_LENGTH_MAX - 4) / 9));
    assert!(!Filter::parse(&and).unwrap().matches(&json!({"a": 1})));
}

proptest! {
    /// Goal: no input makes parsing or evaluation panic. Method: arbitrary strings and
    /// strings built from filter tokens, parsed and (when valid) evaluated.
    #[test]
    fn never_panics(s in "\\PC{0,200}") {
        if let Ok(f) = Filter::parse(&s) {
            f.matches(&json!({"userName": "a", "emails": [{"value": "b"}]}));
        }
    }

    /// Goal: token soup (the shapes a fuzzer would find first) never panics either.
    #[test]
    fn token_soup_never_panics(parts in proptest::collection::vec(prop::sample::select(vec![
        "(", ")", "[", "]", "not", "and", "or", "pr", "eq", "co", "gt", "userName", "emails",
        "emails.value", "\"x\"", "\"", "1", "-", "true", "null", "urn:a:b", ".", " "
    ]), 0..40)) {
        let s = parts.join(" ");
        if let Ok(f) = Filter::parse(&s) {
            f.matches(&json!({"userName": "x", "emails": [{"value": "x"}], "n": 1}));
        }
    }
}
