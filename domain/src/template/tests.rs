//! Tests of template parsing, checking and rendering.
#![allow(clippy::unwrap_used)]

use super::*;

fn parse(text: &str) -> Template {
    Template::parse("sms.text", text).unwrap()
}

fn parse_err(text: &str) -> ValidationError {
    Template::parse("sms.text", text).unwrap_err()
}

/// Goal: a typical alert template parses, lists its variables and renders.
/// Method: Norwegian text with spaced and unspaced braces and a repeated variable.
#[test]
fn parses_and_renders() {
    let t = parse("Hei {{name}}, evakuer {{ area }} innen {{time}}. {{name}}: svar OK.");
    assert_eq!(t.variables(), BTreeSet::from(["area", "name", "time"]));
    let vars = BTreeMap::from([
        ("name".to_owned(), "Kari".to_owned()),
        ("area".to_owned(), "Sentrum".to_owned()),
        ("time".to_owned(), "14:00".to_owned()),
    ]);
    assert_eq!(t.render(&vars).unwrap(), "Hei Kari, evakuer Sentrum innen 14:00. Kari: svar OK.");
    assert_eq!(t.to_string(), t.as_str());
    assert_eq!(t.field(), "sms.text");
}

/// Goal: texts without variables, and braces that open nothing, are literal.
/// Method: empty text, single braces, a stray `}}`, adjacent placeholders.
#[test]
fn literals_and_edges() {
    let none = |_: &str| None;
    assert_eq!(parse("").render_with(none).unwrap(), "");
    assert_eq!(parse("{ a } }} x").render_with(none).unwrap(), "{ a } }} x");
    let t = parse("{{a}}{{b}}}");
    assert_eq!(t.render_with(|n| Some(if n == "a" { "1" } else { "2" })).unwrap(), "12}");
    assert_eq!(parse("{{user.first_name}}").variables(), BTreeSet::from(["user.first_name"]));
}

/// Goal: a value is inserted literally, never expanded again (no injection through values).
/// Method: a value that looks like a placeholder.
#[test]
fn values_are_not_expanded() {
    let t = parse("Hei {{name}}");
    assert_eq!(t.render_with(|_| Some("{{area}}")).unwrap(), "Hei {{area}}");
}

/// Goal: syntax errors name the problem and its position in characters.
/// Method: unclosed, empty, invalid and over-long names.
#[test]
fn syntax_errors() {
    let e = parse_err("Hei ø {{name");
    assert_eq!(e.rule, Rule::TemplateSyntax);
    assert_eq!(e.to_string(), "sms.text: '{{' is never closed by '}}' at position 7");
    assert_eq!(parse_err("a {{ }} b").message, "empty '{{}}' at position 3");
    assert!(parse_err("{{1abc}}").message.starts_with("invalid variable name \"1abc\""));
    assert!(parse_err("{{first name}}").message.starts_with("invalid variable name \"first name\""));
    assert!(parse_err("{{{name}}}").message.starts_with("invalid variable name \"{name\""));
    assert!(parse_err("{{a {{b}}").message.starts_with("invalid variable name \"a {{b\""));
    let long = format!("{{{{{}}}}}", "a".repeat(VARIABLE_NAME_CHARS_MAX + 1));
    assert!(parse_err(&long).message.starts_with("variable name longer than"));
    assert!(Template::parse("f", &format!("{{{{{}}}}}", "a".repeat(VARIABLE_NAME_CHARS_MAX))).is_ok());
}

/// Goal: the bounds on size and placeholders hold and are reported, not cut.
/// Method: one over each limit, and the limits themselves.
#[test]
fn bounds() {
    assert!(Template::parse("f", &"x".repeat(TEMPLATE_BYTES_MAX)).is_ok());
    assert_eq!(parse_err(&"x".repeat(TEMPLATE_BYTES_MAX + 1)).rule, Rule::TooLong);
    assert!(Template::parse("f", &"{{a}}".repeat(TEMPLATE_PLACEHOLDERS_MAX)).is_ok());
    assert_eq!(parse_err(&"{{a}}".repeat(TEMPLATE_PLACEHOLDERS_MAX + 1)).rule, Rule::TooMany);
    let t = parse(&"{{a}}".repeat(TEMPLATE_PLACEHOLDERS_MAX));
    let value = "v".repeat(RENDERED_BYTES_MAX / TEMPLATE_PLACEHOLDERS_MAX + 1);
    assert_eq!(t.render_with(|_| Some(&value)).unwrap_err().rule, Rule::TooLong);
}

/// Goal: rendering fails naming every variable without a value.
/// Method: two of three variables missing.
#[test]
fn missing_values_are_all_named() {
    let t = parse("{{name}} {{area}} {{time}}");
    let vars = BTreeMap::from([("name", "Kari")]);
    let e = t.render(&vars).unwrap_err();
    assert_eq!(e.rule, Rule::MissingValue);
    assert_eq!(e.to_string(), "sms.text: has no value for {{area}}, {{time}}");
}

/// Goal: unknown variables are found at creation time, all of them, with the known ones
/// listed. Method: a typo and an unknown name against a known set.
#[test]
fn check_known_lists_unknown_and_known() {
    let known: BTreeSet<String> = ["area", "name", "time"].map(String::from).into();
    assert!(parse("{{name}} {{area}}").check_known(&known).is_ok());
    let e = parse("{{nmae}} {{area}} {{x}}").check_known(&known).unwrap_err();
    assert_eq!(e.rule, Rule::UnknownVariable);
    assert_eq!(e.message, "uses unknown variables {{nmae}}, {{x}}; known are {{area}}, {{name}}, {{time}}");
    let many: BTreeSet<String> = (0..30).map(|i| format!("v{i:02}")).collect();
    assert!(parse("{{x}}").check_known(&many).unwrap_err().message.ends_with("and 10 more"));
    assert!(
        parse("{{x}}").check_known(&BTreeSet::<&str>::new()).unwrap_err().message.ends_with("known are none")
    );
}

/// Goal: no text makes parsing or rendering panic, and a parsed template renders when every
/// variable has a value. Method: seeded random texts from brace-heavy tokens;
/// `VARSEL_SEED=<n>` replays a failure.
#[test]
fn random_texts_never_panic() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    const TOKENS: [&str; 9] = ["{{", "}}", "{", "}", "a", " ", "ø", "_x.y", "😀"];
    let seed = std::env::var("VARSEL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("random_texts_never_panic: VARSEL_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..2_000 {
        let text: String =
            (0..rng.random_range(0..30)).map(|_| TOKENS[rng.random_range(0..TOKENS.len())]).collect();
        if let Ok(t) = Template::parse("f", &text) {
            let rendered = t.render_with(|_| Some("V"));
            assert!(rendered.is_ok(), "seed {seed}, round {round}, text {text:?}");
            let without_vars = t.render_with(|_| None);
            assert_eq!(without_vars.is_err(), !t.variables().is_empty(), "seed {seed}, round {round}");
        }
    }
}
