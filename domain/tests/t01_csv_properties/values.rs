//! Strategies: each valid value, contact, broken row, row and header the generated files are made of.

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::prelude::*;
use varsel_domain::Channel;
use varsel_domain::csv_import::{NAME_CHARS_MAX, PUSH_BYTES_MAX};

use crate::{COLUMNS, EXTERNAL_ID, REACH};

// ---------------------------------------------------------------------------------------------
// Values: each valid value as written in the file and as the import must return it.
// ---------------------------------------------------------------------------------------------

/// A character of free text: mostly ASCII (including the CSV-significant `,` and `"`), some
/// Unicode of every UTF-8 width; never a control character, which free text may not hold.
fn text_char() -> impl Strategy<Value = char> {
    let any_char = any::<char>().prop_map(|c| if c.is_control() { '?' } else { c });
    prop_oneof![3 => proptest::char::range(' ', '~'), 1 => any_char]
}

/// Free text of `len` characters, without surrounding whitespace (the import trims it).
fn text(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    vec(text_char(), len).prop_map(|chars| chars.into_iter().collect::<String>().trim().to_owned())
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![4 => text(1..=20), 1 => text(NAME_CHARS_MAX - 5..=NAME_CHARS_MAX)]
        .prop_filter("not empty after trimming", |s| !s.is_empty())
}

/// A phone number written with separators, and its E.164 form.
fn phone() -> impl Strategy<Value = (String, String)> {
    let separator = proptest::sample::select(vec!["", "", "", " ", "-", ".", "\u{A0}"]);
    (proptest::char::range('1', '9'), vec((proptest::char::range('0', '9'), separator), 6..=14)).prop_map(
        |(first, rest)| {
            let mut written = format!("+{first}");
            let mut e164 = written.clone();
            for (digit, separator) in rest {
                written.push_str(separator);
                written.push(digit);
                e164.push(digit);
            }
            (written, e164)
        },
    )
}

/// An e-mail address with a mixed-case domain, and its normal form (domain lowercased).
fn email() -> impl Strategy<Value = (String, String)> {
    let local = vec("[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}", 1..=3).prop_map(|runs| runs.join("."));
    let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?";
    let domain = (vec(label, 1..=2), "[A-Za-z][A-Za-z0-9]{1,5}").prop_map(|(labels, tld)| {
        let mut labels = labels;
        labels.push(tld);
        labels.join(".")
    });
    (local, domain).prop_map(|(local, domain)| {
        (format!("{local}@{domain}"), format!("{local}@{}", domain.to_ascii_lowercase()))
    })
}

/// A language tag in any case, and its conventional case.
fn language() -> impl Strategy<Value = (String, String)> {
    let script = proptest::option::of("[A-Za-z]{4}");
    let region = proptest::option::of(prop_oneof!["[A-Za-z]{2}", "[0-9]{3}"]);
    ("[A-Za-z]{2,3}", script, region).prop_map(|(primary, script, region)| {
        let mut written = primary.clone();
        let mut expected = primary.to_ascii_lowercase();
        if let Some(script) = script {
            let lower = script.to_ascii_lowercase();
            written.push_str(&format!("-{script}"));
            expected.push_str(&format!("-{}{}", lower[..1].to_ascii_uppercase(), &lower[1..]));
        }
        if let Some(region) = region {
            written.push_str(&format!("-{region}"));
            expected.push_str(&format!("-{}", region.to_ascii_uppercase()));
        }
        (written, expected)
    })
}

/// A push subscription: `{`, then anything (quotes, commas, line breaks of every kind,
/// Unicode), sometimes close to the byte limit (leaving room for the padding a field may have
/// around it, since `FIELD_BYTES_MAX` counts the field before trimming).
fn push() -> impl Strategy<Value = String> {
    let any_text =
        vec(prop_oneof![4 => text_char(), 1 => proptest::sample::select(vec!['\n', '\r', '\t'])], 0..80)
            .prop_map(|chars| format!("{{{}", chars.into_iter().collect::<String>()).trim_end().to_owned());
    let long = (1usize..=64)
        .prop_map(|short| format!("{{{}", "\"k\":1,".repeat((PUSH_BYTES_MAX - 2 * 2 - short) / 6)));
    prop_oneof![6 => any_text, 1 => long]
}

/// Opt-outs written with any case, spaces and empty items, and the set they mean.
fn opt_out() -> impl Strategy<Value = (String, BTreeSet<Channel>)> {
    let item = (proptest::sample::select(Channel::ALL.to_vec()), vec(any::<bool>(), 5), " {0,2}");
    vec((item, any::<bool>()), 1..=5).prop_map(|items| {
        let mut written = Vec::new();
        let mut set = BTreeSet::new();
        for ((channel, upper, pad), empty_after) in items {
            let name: String = channel
                .as_str()
                .chars()
                .zip(upper)
                .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            written.push(format!("{pad}{name}{pad}"));
            if empty_after {
                written.push(String::new());
            }
            set.insert(channel);
        }
        (written.join(";"), set)
    })
}

/// Group names (repeats and empty items allowed) and the list they mean: in order, each once.
fn groups() -> impl Strategy<Value = (String, Vec<String>)> {
    let group = text(1..=16).prop_map(|s| s.replace(';', ":")).prop_filter("not empty", |s| !s.is_empty());
    vec((group, " {0,2}", any::<bool>()), 1..=6).prop_map(|items| {
        let mut written = Vec::new();
        let mut list: Vec<String> = Vec::new();
        for (group, pad, empty_after) in items {
            written.push(format!("{pad}{group}{pad}"));
            if empty_after {
                written.push(String::new());
            }
            if !list.contains(&group) {
                list.push(group);
            }
        }
        (written.join(";"), list)
    })
}

/// A valid contact: one optional value per column, and a phone number to use when the
/// header's reach columns would all be empty.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub(crate) id_suffix: String,
    pub(crate) name: Option<String>,
    pub(crate) phone: Option<(String, String)>,
    pub(crate) email: Option<(String, String)>,
    pub(crate) language: Option<(String, String)>,
    pub(crate) push: Option<String>,
    pub(crate) opt_out: Option<(String, BTreeSet<Channel>)>,
    pub(crate) groups: Option<(String, Vec<String>)>,
    pub(crate) fallback: (String, String),
}

fn contact() -> impl Strategy<Value = Contact> {
    use proptest::option::of;
    let a = (text(0..=60), of(name()), of(phone()), of(email()));
    let b = (of(language()), of(push()), of(opt_out()), of(groups()), phone());
    (a, b).prop_map(|((id_suffix, name, phone, email), (language, push, opt_out, groups, fallback))| {
        Contact { id_suffix, name, phone, email, language, push, opt_out, groups, fallback }
    })
}

/// One way a row is broken, with the single error it must produce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Break {
    IdTooLong,
    IdEmpty,
    NameTooLong,
    NameControl,
    Phone,
    Email,
    Language,
    PushNotJson,
    OptOut,
    TooManyGroups,
    GroupTooLong,
    /// More than `FIELD_BYTES_MAX` bytes in the given column.
    FieldTooLong(usize),
    /// Bytes that are not UTF-8 in the given column.
    NotUtf8(usize),
    /// One field fewer than the header (or, when that would drop `external_id`, one more).
    Fewer,
    /// A non-empty field after the last column.
    Extra,
    /// No phone, email or push.
    NoReach,
}

fn broken() -> impl Strategy<Value = Break> {
    let column = 0..COLUMNS.len();
    prop_oneof![
        proptest::sample::select(vec![
            Break::IdTooLong,
            Break::IdEmpty,
            Break::NameTooLong,
            Break::NameControl,
            Break::Phone,
            Break::Email,
            Break::Language,
            Break::PushNotJson,
            Break::OptOut,
            Break::TooManyGroups,
            Break::GroupTooLong,
            Break::Fewer,
            Break::Extra,
            Break::NoReach,
        ]),
        column.clone().prop_map(Break::FieldTooLong),
        column.prop_map(Break::NotUtf8),
    ]
}

/// What a row is.
#[derive(Debug, Clone)]
pub(crate) enum RowKind {
    Valid(Contact),
    Broken(Contact, Break),
    /// Every field only whitespace (the `usize` picks the whitespace).
    Blank(usize),
}

fn row_kind() -> impl Strategy<Value = RowKind> {
    prop_oneof![
        5 => contact().prop_map(RowKind::Valid),
        3 => (contact(), broken()).prop_map(|(c, b)| RowKind::Broken(c, b)),
        1 => any::<usize>().prop_map(RowKind::Blank),
    ]
}

/// How one field is written: always quoted or only when it must be, and whitespace padding.
#[derive(Debug, Clone)]
pub(crate) struct Style {
    pub(crate) quote: bool,
    pub(crate) pad: &'static str,
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), proptest::sample::select(vec!["", "", " ", "  ", "\t"]))
        .prop_map(|(quote, pad)| Style { quote, pad })
}

/// A row with how it is written.
#[derive(Debug, Clone)]
pub(crate) struct RowSpec {
    pub(crate) kind: RowKind,
    pub(crate) styles: Vec<Style>,
    pub(crate) line_end: &'static str,
    pub(crate) empty_lines_after: usize,
}

pub(crate) fn row_spec() -> impl Strategy<Value = RowSpec> {
    let line_end = proptest::sample::select(vec!["\n", "\r\n", "\r"]);
    (row_kind(), vec(style(), COLUMNS.len() + 1), line_end, prop_oneof![4 => Just(0usize), 1 => 1usize..=2])
        .prop_map(|(kind, styles, line_end, empty_lines_after)| RowSpec {
            kind,
            styles,
            line_end,
            empty_lines_after,
        })
}

/// The header: which columns, in which order, spelt how.
#[derive(Debug, Clone)]
pub(crate) struct HeaderSpec {
    pub(crate) columns: Vec<usize>,
    pub(crate) spellings: Vec<(Vec<bool>, &'static str, bool)>,
    pub(crate) bom: bool,
    pub(crate) line_end: &'static str,
}

pub(crate) fn header_spec() -> impl Strategy<Value = HeaderSpec> {
    let optional = vec(any::<bool>(), COLUMNS.len());
    let spelling = (vec(any::<bool>(), 11), proptest::sample::select(vec!["", " ", "  "]), any::<bool>());
    (optional, any::<usize>(), any::<bool>(), proptest::sample::select(vec!["\n", "\r\n", "\r"]))
        .prop_flat_map(move |(optional, reach, bom, line_end)| {
            let mut columns: Vec<usize> =
                (0..COLUMNS.len()).filter(|&c| c == EXTERNAL_ID || optional[c]).collect();
            if !REACH.iter().any(|c| columns.contains(c)) {
                columns.push(REACH[reach % REACH.len()]);
            }
            let n = columns.len();
            (Just(columns).prop_shuffle(), vec(spelling.clone(), n), Just(bom), Just(line_end))
        })
        .prop_map(|(columns, spellings, bom, line_end)| HeaderSpec { columns, spellings, bom, line_end })
}
