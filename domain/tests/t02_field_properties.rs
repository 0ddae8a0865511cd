//! Property tests of the field parsers that take untrusted input: phone numbers, e-mail
//! addresses, language tags, templates, the SMS encoders and decoders, message keys and
//! channel names.
//!
//! What is promised: no input panics; an error names the field it was given; a normalising
//! function is idempotent (`normalise(normalise(x)) == normalise(x)`) and keeps every
//! character that carries meaning; what is encoded decodes back to the same text, and what is
//! split rejoins to it. Inputs are arbitrary strings and bytes and generated near-valid values
//! (separators, case, Unicode, lengths at the limits).
//!
//! Each test states its number of cases, chosen so this binary runs in a few seconds in a
//! debug build on two cores. A failure prints the minimal failing input;
//! `PROPTEST_RNG_SEED=<n>` replays a run.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;
use varsel_domain::email::{EMAIL_CHARS_MAX, validate_email};
use varsel_domain::language::{LANGUAGE_TAG_CHARS_MAX, normalize_language};
use varsel_domain::message_key::{message_key, parse_message_key};
use varsel_domain::phone::{E164_DIGITS_MAX, E164_DIGITS_MIN, normalize_e164};
use varsel_domain::sms::{
    self, CONCATENATED_SEGMENTS_MAX, GSM7_SEGMENT_SEPTETS_MAX, GSM7_SINGLE_SEPTETS_MAX, SmsEncoding,
    UCS2_SEGMENT_UNITS_MAX, UCS2_SINGLE_UNITS_MAX,
};
use varsel_domain::template::{TEMPLATE_PLACEHOLDERS_MAX, Template, VARIABLE_NAME_CHARS_MAX};
use varsel_domain::{Channel, Rule, SmsError, ValidationError};

/// Runner settings: `cases` per test, no regression files (an input that finds a bug is kept
/// as a unit test next to the parser instead).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// The field name every call is given; errors must name it.
const FIELD: &str = "contacts[7].value";

/// An error names the field it was given and says something.
fn check_error(e: &ValidationError) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.field.as_str(), FIELD);
    prop_assert!(!e.message.is_empty());
    Ok(())
}

/// Arbitrary text: any Unicode, or printable ASCII, or pieces that matter to these parsers.
fn any_text(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>().prop_map(String::from),
        proptest::char::range(' ', '~').prop_map(String::from),
        proptest::sample::select(pieces).prop_map(str::to_owned),
    ];
    vec(piece, 0..24).prop_map(|p| p.concat())
}

// ---------------------------------------------------------------------------------------------
// Phone numbers
// ---------------------------------------------------------------------------------------------

const PHONE_PIECES: &[&str] =
    &["+", "0", "1", "47", "9", " ", "\u{A0}", "-", ".", "(", ")", "(0)", "00", "\t", "x", "١", "+47"];

/// A number of 1–17 digits written with separators, sometimes with surrounding whitespace.
fn near_phone() -> impl Strategy<Value = String> {
    let separator = proptest::sample::select(vec!["", "", "", " ", "-", ".", "(", ")", "\u{A0}"]);
    (any::<bool>(), vec(("[0-9]", separator), 1..=17), " {0,2}").prop_map(|(plus, digits, pad)| {
        let body: String = digits.into_iter().map(|(d, s)| format!("{s}{d}")).collect();
        format!("{pad}{}{body}{pad}", if plus { "+" } else { "" })
    })
}

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: phone normalisation never panics, names the field in its errors, is idempotent,
    /// outputs only E.164, and keeps every digit it was given. Method: 2,048 inputs, half
    /// arbitrary text over phone-like pieces, half numbers of 1–17 digits with separators.
    #[test]
    fn phone_normalisation(input in prop_oneof![any_text(PHONE_PIECES), near_phone()]) {
        match normalize_e164(FIELD, &input) {
            Err(e) => check_error(&e)?,
            Ok(e164) => {
                let digits = e164.strip_prefix('+').unwrap_or_default();
                prop_assert!((E164_DIGITS_MIN..=E164_DIGITS_MAX).contains(&digits.len()), "{}", e164);
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'), "{}", e164);
                let given: String = input.chars().filter(char::is_ascii_digit).collect();
                prop_assert_eq!(digits, given.as_str());
                prop_assert_eq!(normalize_e164(FIELD, &e164), Ok(e164.clone()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// E-mail addresses
// ---------------------------------------------------------------------------------------------

const EMAIL_PIECES: &[&str] = &[
    "@",
    ".",
    "..",
    "-",
    "a",
    "Z",
    "0",
    "_",
    "+",
    "\"",
    "[",
    "]",
    " ",
    "ø",
    "xn--",
    "@example.NO",
    "localhost",
];

/// An address built from parts, sometimes broken by one inserted piece.
fn near_email() -> impl Strategy<Value = String> {
    let local = vec("[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}", 1..=4).prop_map(|runs| runs.join("."));
    let labels = vec("[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", 1..=4).prop_map(|l| l.join("."));
    let insert = proptest::option::weighted(
        0.3,
        (any::<proptest::sample::Index>(), proptest::sample::select(EMAIL_PIECES)),
    );
    (local, labels, "[A-Za-z]{2,6}", " {0,2}", insert).prop_map(|(local, domain, tld, pad, insert)| {
        let mut address = format!("{local}@{domain}.{tld}");
        if let Some((at, piece)) = insert {
            let mut i = at.index(address.len() + 1);
            while !address.is_char_boundary(i) {
                i -= 1;
            }
            address.insert_str(i, piece);
        }
        format!("{pad}{address}{pad}")
    })
}

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: e-mail validation never panics, names the field, is idempotent, and changes
    /// nothing but surrounding whitespace and the domain's case. Method: 2,048 inputs,
    /// arbitrary text over address-like pieces and generated addresses (local parts of every
    /// `atext` character, up to four labels) with one piece sometimes inserted anywhere.
    #[test]
    fn email_validation(input in prop_oneof![any_text(EMAIL_PIECES), near_email()]) {
        match validate_email(FIELD, &input) {
            Err(e) => check_error(&e)?,
            Ok(address) => {
                prop_assert!(address.chars().count() <= EMAIL_CHARS_MAX);
                let (local, domain) = address.split_once('@').unwrap_or_default();
                prop_assert!(!domain.contains('@') && domain == domain.to_ascii_lowercase(), "{}", address);
                let (given_local, given_domain) = input.trim().rsplit_once('@').unwrap_or_default();
                prop_assert_eq!(local, given_local);
                prop_assert_eq!(domain, given_domain.to_ascii_lowercase());
                prop_assert_eq!(validate_email(FIELD, &address), Ok(address.clone()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Language tags
// ---------------------------------------------------------------------------------------------

const LANGUAGE_PIECES: &[&str] = &["-", "_", "en", "NB", "Latn", "419", "x", "toolongsubtag", "ø", " "];

fn near_language() -> impl Strategy<Value = String> {
    ("[A-Za-z]{1,4}", vec("[A-Za-z0-9]{0,9}", 0..=4), " {0,1}").prop_map(|(primary, rest, pad)| {
        let subtags: Vec<String> = std::iter::once(primary).chain(rest).collect();
        format!("{pad}{}{pad}", subtags.join("-"))
    })
}

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: language tags never panic the parser, errors name the field, normalisation is
    /// idempotent and only changes case. Method: 2,048 inputs, arbitrary text over tag-like
    /// pieces and tags of a 1–4 letter primary and 0–4 subtags of 0–9 characters.
    #[test]
    fn language_normalisation(input in prop_oneof![any_text(LANGUAGE_PIECES), near_language()]) {
        match normalize_language(FIELD, &input) {
            Err(e) => check_error(&e)?,
            Ok(tag) => {
                prop_assert!(tag.len() <= LANGUAGE_TAG_CHARS_MAX);
                prop_assert!(tag.eq_ignore_ascii_case(input.trim()), "{} from {:?}", tag, input);
                prop_assert_eq!(normalize_language(FIELD, &tag), Ok(tag.clone()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

const TEMPLATE_PIECES: &[&str] =
    &["{{", "}}", "{", "}", " ", "name", "a.b", "_x", "1", "ø", "{{ name }}", "\n"];

/// One piece of a template: literal text (never holding `{{`, never ending in `{`) or a
/// variable with whitespace inside its braces.
#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Variable { name: String, before: &'static str, after: &'static str },
}

fn literal() -> impl Strategy<Value = String> {
    any_text(TEMPLATE_PIECES).prop_map(|mut s| {
        while s.contains("{{") {
            s = s.replace("{{", "{");
        }
        if s.ends_with('{') {
            s.push('.');
        }
        s
    })
}

fn variable_name() -> impl Strategy<Value = String> {
    let longest = format!("[A-Za-z_][A-Za-z0-9_.]{{{}}}", VARIABLE_NAME_CHARS_MAX - 1);
    let longest = proptest::string::string_regex(&longest).expect("a valid regex");
    prop_oneof![8 => "[A-Za-z_][A-Za-z0-9_.]{0,12}".boxed(), 1 => longest.boxed()]
}

fn piece() -> impl Strategy<Value = Piece> {
    let space = proptest::sample::select(vec!["", "", " ", "  ", "\t", "\u{A0}"]);
    prop_oneof![
        literal().prop_map(Piece::Literal),
        (variable_name(), space.clone(), space).prop_map(|(name, before, after)| Piece::Variable {
            name,
            before,
            after
        }),
    ]
}

/// A variable's value: any text, sometimes looking like a placeholder (which stays literal).
fn value() -> impl Strategy<Value = String> {
    prop_oneof![".{0,12}", Just("{{name}}".to_owned()), Just(String::new())]
}

proptest! {
    #![proptest_config(config(1024))]

    /// Goal: any text either parses or fails with a syntax, length or count error that names
    /// the field (and, for syntax, a position inside the text); a parsed template keeps its
    /// text and renders without panicking. Method: 1,024 texts over brace-heavy pieces.
    #[test]
    fn any_template_text(text in any_text(TEMPLATE_PIECES)) {
        match Template::parse(FIELD, &text) {
            Err(e) => {
                check_error(&e)?;
                if e.rule == Rule::TemplateSyntax {
                    let position: usize = e.message.rsplit(' ').next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    prop_assert!((1..=text.chars().count()).contains(&position), "{}", e.message);
                }
            }
            Ok(template) => {
                prop_assert_eq!(template.as_str(), text.as_str());
                let rendered = template.render_with(|_| Some("value"));
                prop_assert!(rendered.is_ok(), "{:?}", rendered);
                if template.variables().is_empty() {
                    prop_assert_eq!(template.render_with(|_| None), Ok(text.clone()));
                }
            }
        }
    }

    /// Goal: a well-formed template parses, lists exactly its variables and renders to the
    /// literal text with each value inserted once, as is (a value that looks like `{{x}}`
    /// stays literal). Method: 1,024 templates of 0–12 literal and variable pieces, with
    /// whitespace (also no-break) inside the braces and names up to the length limit.
    #[test]
    fn template_renders_exactly(pieces in vec(piece(), 0..12), values in vec(value(), 12)) {
        let mut text = String::new();
        let mut names = BTreeSet::new();
        for p in &pieces {
            match p {
                Piece::Literal(s) => text.push_str(s),
                Piece::Variable { name, before, after } => {
                    text.push_str(&format!("{{{{{before}{name}{after}}}}}"));
                    names.insert(name.clone());
                }
            }
        }
        let vars: BTreeMap<String, String> = names.iter().cloned().zip(values.iter().cloned()).collect();
        let mut expected = String::new();
        for p in &pieces {
            match p {
                Piece::Literal(s) => expected.push_str(s),
                Piece::Variable { name, .. } => expected.push_str(vars.get(name).map_or("", String::as_str)),
            }
        }
        let template = Template::parse(FIELD, &text).map_err(|e| TestCaseError::fail(format!("{e} in {text:?}")))?;
        prop_assert_eq!(template.variables(), names.iter().map(String::as_str).collect::<BTreeSet<_>>());
        for name in &names {
            prop_assert!(template.uses(name), "{} is used in {:?}", name, text);
        }
        prop_assert!(!template.uses("not_a_variable_here"), "an unused name in {:?}", text);
        prop_assert_eq!(template.render(&vars), Ok(expected));
        prop_assert!(template.check_known(&names).is_ok());
        if let Some(missing) = names.iter().next() {
            let mut fewer = vars.clone();
            fewer.remove(missing);
            let e = template.render(&fewer).err().ok_or_else(|| TestCaseError::fail("a value is missing"))?;
            prop_assert!(e.rule == Rule::MissingValue && e.message.contains(missing.as_str()), "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Goal: the placeholder and name limits hold at their edge. Method: 64 templates of
    /// 250–260 placeholders (more than `TEMPLATE_PLACEHOLDERS_MAX` is `TooMany`) and names of
    /// 63–66 characters (more than `VARIABLE_NAME_CHARS_MAX` is a syntax error).
    #[test]
    fn template_limits(count in 250usize..=260, name_len in 63usize..=66) {
        let many = "{{a}} ".repeat(count);
        match Template::parse(FIELD, &many) {
            Ok(_) => prop_assert!(count <= TEMPLATE_PLACEHOLDERS_MAX),
            Err(e) => prop_assert!(count > TEMPLATE_PLACEHOLDERS_MAX && e.rule == Rule::TooMany, "{}", e),
        }
        let named = format!("{{{{{}}}}}", "n".repeat(name_len));
        match Template::parse(FIELD, &named) {
            Ok(_) => prop_assert!(name_len <= VARIABLE_NAME_CHARS_MAX),
            Err(e) => prop_assert!(name_len > VARIABLE_NAME_CHARS_MAX && e.rule == Rule::TemplateSyntax, "{}", e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SMS encoding
// ---------------------------------------------------------------------------------------------

/// The GSM 03.38 default alphabet and its extension characters, written out here rather than
/// read from the implementation.
const GSM7: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNO\
                    PQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà\u{C}^{}\\[~]|€";

/// Text as authors write it: GSM-7 only (extension characters included), GSM-7 with some
/// other character, or anything (emoji are surrogate pairs in UCS-2).
fn sms_text() -> impl Strategy<Value = String> {
    let gsm: Vec<char> = GSM7.chars().collect();
    let gsm_char = proptest::sample::select(gsm);
    let other = prop_oneof![any::<char>(), proptest::sample::select(vec!['😀', '🚨', 'ç', 'Ω', '€', '{'])];
    let short = prop_oneof![
        vec(gsm_char.clone(), 0..400),
        vec(prop_oneof![20 => gsm_char, 1 => other.clone()], 0..400),
        vec(other, 0..200),
    ];
    prop_oneof![30 => short, 1 => (1usize..4).prop_map(|extra| vec!['😀'; 8_500 + extra * 20])]
        .prop_map(|chars| chars.into_iter().collect())
}

fn decode(encoding: SmsEncoding, payload: &[u8]) -> Result<String, SmsError> {
    match encoding {
        SmsEncoding::Gsm7 => sms::decode_gsm7_unpacked(payload),
        SmsEncoding::Ucs2 => sms::decode_ucs2(payload),
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Goal: splitting never truncates: the payloads decode and rejoin to exactly the text,
    /// their number is `analyse`'s segment count, each fits one SMS and no character is cut
    /// in two; a text over 255 segments is an error, and `check_segments` agrees with the
    /// count and names the field. Method: 512 texts of GSM-7, mixed and arbitrary characters,
    /// up to 400 characters, and a few of ~8,500 emoji (over 255 UCS-2 segments).
    #[test]
    fn sms_split_rejoins_exactly(text in sms_text(), max_segments in 1u32..6) {
        let info = sms::analyse(&text);
        prop_assert_eq!(info.chars, text.chars().count());
        match sms::check_segments(FIELD, &text, max_segments) {
            Ok(checked) => prop_assert!(checked == info && info.segments <= max_segments as usize),
            Err(e) => {
                check_error(&e)?;
                prop_assert!(info.segments > max_segments as usize && e.rule == Rule::SmsSegments);
            }
        }
        let split = match sms::split_segments(&text) {
            Ok(split) => split,
            Err(e) => {
                prop_assert!(info.segments > CONCATENATED_SEGMENTS_MAX, "{}", e);
                return Ok(());
            }
        };
        prop_assert_eq!(split.encoding, info.encoding);
        prop_assert_eq!(split.payloads.len(), info.segments);
        let (single, segment) = match info.encoding {
            SmsEncoding::Gsm7 => (GSM7_SINGLE_SEPTETS_MAX, GSM7_SEGMENT_SEPTETS_MAX),
            SmsEncoding::Ucs2 => (UCS2_SINGLE_UNITS_MAX * 2, UCS2_SEGMENT_UNITS_MAX * 2),
        };
        let max = if split.payloads.len() == 1 { single } else { segment };
        let mut rejoined = String::new();
        for payload in &split.payloads {
            prop_assert!(payload.len() <= max, "{} > {}", payload.len(), max);
            // Each payload decodes on its own: no escape pair or surrogate pair is cut.
            let part = decode(split.encoding, payload).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert!(split.encoding == SmsEncoding::Ucs2 || payload.last() != Some(&0x1B));
            rejoined.push_str(&part);
        }
        prop_assert_eq!(rejoined, text);
    }

    /// Goal: the encoders and decoders are inverse, and the GSM-7 encoder names the first
    /// character it cannot encode. Method: 512 texts as above.
    #[test]
    fn sms_encoders_round_trip(text in sms_text()) {
        prop_assert_eq!(sms::decode_ucs2(&sms::encode_ucs2(&text)), Ok(text.clone()));
        match sms::encode_gsm7_unpacked(&text) {
            Ok(septets) => prop_assert_eq!(sms::decode_gsm7_unpacked(&septets), Ok(text.clone())),
            Err(SmsError::NotGsm7 { ch, index }) => {
                prop_assert_eq!(text.chars().nth(index), Some(ch));
                prop_assert!(!GSM7.contains(ch) && text.chars().take(index).all(|c| GSM7.contains(c)));
            }
            Err(e) => return Err(TestCaseError::fail(format!("unexpected {e}"))),
        }
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: the decoders never panic on received bytes, and their errors point at the bad
    /// byte or unit; septets without escapes re-encode to the same bytes. Method: 2,048 byte
    /// strings, arbitrary or septets (escapes included) of up to 300 bytes.
    #[test]
    fn sms_decoders_never_panic(
        bytes in prop_oneof![vec(any::<u8>(), 0..300), vec(prop_oneof![10 => 0u8..0x80, 1 => Just(0x1Bu8)], 0..300)],
    ) {
        match sms::decode_gsm7_unpacked(&bytes) {
            Ok(text) => {
                prop_assert!(bytes.iter().all(|b| *b < 0x80));
                if !bytes.contains(&0x1B) {
                    prop_assert_eq!(sms::encode_gsm7_unpacked(&text), Ok(bytes.clone()));
                }
            }
            Err(SmsError::NotSeptet { byte, offset }) => prop_assert!(byte > 0x7F && bytes.get(offset) == Some(&byte)),
            Err(e) => return Err(TestCaseError::fail(format!("unexpected {e}"))),
        }
        match sms::decode_ucs2(&bytes) {
            Ok(text) => prop_assert_eq!(sms::encode_ucs2(&text), bytes),
            Err(SmsError::OddLength { len }) => prop_assert!(len == bytes.len() && len % 2 == 1),
            Err(SmsError::UnpairedSurrogate { unit }) => prop_assert!((0xD800..=0xDFFF).contains(&unit)),
            Err(e) => return Err(TestCaseError::fail(format!("unexpected {e}"))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Message keys and channel names (read back from providers' receipts and from spreadsheets)
// ---------------------------------------------------------------------------------------------

const KEY_PIECES: &[&str] =
    &["a", "c", "-", "sms", "voice", "email", "push", "0", "12", "255", "256", "+1", "-1"];

fn channel() -> impl Strategy<Value = Channel> {
    proptest::sample::select(Channel::ALL.to_vec())
}

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: a message key parses back to what made it, and any other text parses without
    /// panicking, to nothing or to a key whose own printing parses back to it. Method: 2,048
    /// keys from arbitrary ids, and arbitrary text over key pieces.
    #[test]
    fn message_keys(
        alert in any::<u64>(), contact in any::<u64>(), ch in channel(), step in any::<u8>(),
        text in any_text(KEY_PIECES),
    ) {
        let key = message_key(alert, contact, ch, step);
        prop_assert_eq!(parse_message_key(&key), Some((alert, contact, ch, step)));
        if let Some((a, c, ch, s)) = parse_message_key(&text) {
            prop_assert_eq!(parse_message_key(&message_key(a, c, ch, s)), Some((a, c, ch, s)));
        }
    }

    /// Goal: channel names parse ignoring case and surrounding whitespace, print as they
    /// parse, and anything else is an error quoting the input. Method: 2,048 channel names
    /// in random case and padding, and arbitrary text.
    #[test]
    fn channel_names(ch in channel(), upper in vec(any::<bool>(), 5), pad in "[ \t]{0,2}", text in ".{0,12}") {
        let name: String = ch.as_str().chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c }).collect();
        prop_assert_eq!(format!("{pad}{name}{pad}").parse::<Channel>(), Ok(ch));
        prop_assert_eq!(ch.to_string().parse::<Channel>(), Ok(ch));
        match text.parse::<Channel>() {
            Ok(parsed) => prop_assert!(parsed.as_str().eq_ignore_ascii_case(text.trim())),
            Err(e) => prop_assert_eq!(e.0, text),
        }
    }
}
