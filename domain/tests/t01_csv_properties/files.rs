//! Writing a generated file and the outcome it must have, and the checks any parse must pass.

use proptest::prelude::*;
use varsel_domain::Rule;
use varsel_domain::csv_import::{
    ContactRow, EXTERNAL_ID_CHARS_MAX, FIELD_BYTES_MAX, GROUP_NAME_CHARS_MAX, GROUPS_PER_CONTACT_MAX,
    ImportParse, NAME_CHARS_MAX, PUSH_BYTES_MAX, RejectedRow, parse_contacts,
};

use crate::values::{Break, Contact, HeaderSpec, RowKind, RowSpec, Style};
use crate::{COLUMNS, EMAIL, EXTERNAL_ID, GROUPS, LANGUAGE, NAME, OPT_OUT, PHONE, PUSH, REACH};

// ---------------------------------------------------------------------------------------------
// Writing a file and the outcome it must have.
// ---------------------------------------------------------------------------------------------

/// Writes one field as a spreadsheet would: quoted when it must be (or when `style` says),
/// inner quotes doubled, padded with whitespace the import trims.
pub(crate) fn write_field(out: &mut Vec<u8>, value: &[u8], style: &Style) {
    let must_quote = value.iter().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if must_quote || style.quote {
        out.push(b'"');
        out.extend_from_slice(style.pad.as_bytes());
        for &b in value {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.extend_from_slice(style.pad.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(style.pad.as_bytes());
        out.extend_from_slice(value);
        out.extend_from_slice(style.pad.as_bytes());
    }
}

/// The line of the byte at `offset`, as an editor numbers it: `\n`, `\r\n` and a lone `\r`
/// each end one line.
pub(crate) fn line_at(bytes: &[u8], offset: usize) -> u64 {
    let mut line = 1;
    let mut i = 0;
    while i < offset {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') && i + 1 < offset => {
                line += 1;
                i += 1;
            }
            b'\r' | b'\n' => line += 1,
            _ => {}
        }
        i += 1;
    }
    line
}

/// What one rejected row must look like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpectedRejection {
    line: u64,
    field: &'static str,
    rule: Rule,
}

/// The file and what parsing it must give.
#[derive(Debug, Default)]
pub(crate) struct Expected {
    pub(crate) accepted: Vec<ContactRow>,
    pub(crate) rejected: Vec<ExpectedRejection>,
    pub(crate) blank_rows: u64,
}

/// The cells of a valid contact under `columns`, and the row the import must return.
fn valid_cells(columns: &[usize], c: &Contact, id: String) -> (Vec<Vec<u8>>, ContactRow) {
    let present = |col: usize| columns.contains(&col);
    let mut phone = c.phone.clone().filter(|_| present(PHONE));
    let email = c.email.clone().filter(|_| present(EMAIL));
    let push = c.push.clone().filter(|_| present(PUSH));
    if phone.is_none() && email.is_none() && push.is_none() {
        match REACH.iter().find(|&&col| present(col)) {
            Some(&PHONE) | None => phone = Some(c.fallback.clone()),
            Some(&EMAIL) => {
                return valid_cells(
                    columns,
                    &Contact { email: Some(email_of(&c.fallback)), ..c.clone() },
                    id,
                );
            }
            Some(_) => return valid_cells(columns, &Contact { push: Some("{}".into()), ..c.clone() }, id),
        }
    }
    let name = c.name.clone().filter(|_| present(NAME));
    let language = c.language.clone().filter(|_| present(LANGUAGE));
    let opt_out = c.opt_out.clone().filter(|_| present(OPT_OUT));
    let groups = c.groups.clone().filter(|_| present(GROUPS));
    let cell = |col: usize| -> Vec<u8> {
        let written = match col {
            EXTERNAL_ID => Some(id.clone()),
            NAME => name.clone(),
            PHONE => phone.as_ref().map(|p| p.0.clone()),
            EMAIL => email.as_ref().map(|e| e.0.clone()),
            LANGUAGE => language.as_ref().map(|l| l.0.clone()),
            PUSH => push.clone(),
            OPT_OUT => opt_out.as_ref().map(|o| o.0.clone()),
            _ => groups.as_ref().map(|g| g.0.clone()),
        };
        written.unwrap_or_default().into_bytes()
    };
    let cells = columns.iter().map(|&col| cell(col)).collect();
    let row = ContactRow {
        line: 0,
        external_id: id.clone(),
        name,
        phone: phone.map(|p| p.1),
        email: email.map(|e| e.1),
        language: language.map(|l| l.1),
        push,
        opt_out: opt_out.map(|o| o.1).unwrap_or_default(),
        groups: groups.map(|g| g.1).unwrap_or_default(),
        // The generated files have no place columns: places stay as they are.
        locations: None,
    };
    (cells, row)
}

/// A valid address made from a phone number's digits, for a row that needs one.
fn email_of(phone: &(String, String)) -> (String, String) {
    let address = format!("p{}@example.no", &phone.1[1..]);
    (address.clone(), address)
}

/// The cells of a row broken by `b`, and the error it must give; `None` when the break does
/// not apply under this header (its column is absent).
fn broken_cells(
    columns: &[usize],
    c: &Contact,
    id: String,
    b: Break,
) -> Option<(Vec<Vec<u8>>, &'static str, Rule)> {
    let (mut cells, _) = valid_cells(columns, c, id.clone());
    let at = |col: usize| columns.iter().position(|&c| c == col);
    let set = |cells: &mut Vec<Vec<u8>>, col: usize, value: Vec<u8>| -> Option<()> {
        cells[at(col)?] = value;
        Some(())
    };
    let (col, value, rule) = match b {
        Break::IdTooLong => (EXTERNAL_ID, "x".repeat(EXTERNAL_ID_CHARS_MAX + 1).into_bytes(), Rule::TooLong),
        Break::IdEmpty => (EXTERNAL_ID, Vec::new(), Rule::Required),
        Break::NameTooLong => (NAME, "ø".repeat(NAME_CHARS_MAX + 1).into_bytes(), Rule::TooLong),
        Break::NameControl => (NAME, b"Kari\x07Nordmann".to_vec(), Rule::Characters),
        Break::Phone => (PHONE, b"91234567".to_vec(), Rule::Phone),
        Break::Email => (EMAIL, b"kari@localhost".to_vec(), Rule::Email),
        Break::Language => (LANGUAGE, b"norsk".to_vec(), Rule::Language),
        Break::PushNotJson => (PUSH, b"not json".to_vec(), Rule::PushSubscription),
        Break::OptOut => (OPT_OUT, b"sms;fax".to_vec(), Rule::Channel),
        Break::TooManyGroups => {
            let names: Vec<String> = (0..=GROUPS_PER_CONTACT_MAX).map(|i| format!("g{i}")).collect();
            (GROUPS, names.join(";").into_bytes(), Rule::TooMany)
        }
        Break::GroupTooLong => {
            (GROUPS, format!("a;{}", "€".repeat(GROUP_NAME_CHARS_MAX + 1)).into_bytes(), Rule::TooLong)
        }
        Break::FieldTooLong(col) => (col, vec![b'{'; FIELD_BYTES_MAX + 1], Rule::TooLong),
        Break::NotUtf8(col) => (col, b"{Bj\xF8rn".to_vec(), Rule::Utf8),
        Break::Extra => {
            cells.push(b"extra".to_vec());
            return Some((cells, "", Rule::CsvRecord));
        }
        Break::Fewer if columns.last() != Some(&EXTERNAL_ID) => {
            cells.pop();
            return Some((cells, "", Rule::CsvRecord));
        }
        Break::Fewer => return broken_cells(columns, c, id, Break::Extra),
        Break::NoReach => {
            for col in REACH {
                if let Some(i) = at(col) {
                    cells[i].clear();
                }
            }
            return Some((cells, "", Rule::Required));
        }
    };
    set(&mut cells, col, value)?;
    Some((cells, COLUMNS[col], rule))
}

/// Whitespace a blank row's fields hold; the last two are Unicode whitespace that the import
/// trims from values like any other.
const BLANKS: [&str; 5] = ["", " ", "\t", "\u{A0}", "\u{3000}"];

/// Writes the file and works out what the import must return.
pub(crate) fn build(header: &HeaderSpec, rows: &[RowSpec]) -> (Vec<u8>, Expected) {
    let mut out = Vec::new();
    if header.bom {
        out.extend_from_slice("\u{FEFF}".as_bytes());
    }
    for (i, (&col, (upper, pad, quote))) in header.columns.iter().zip(&header.spellings).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let name: String = COLUMNS[col]
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        write_field(&mut out, name.as_bytes(), &Style { quote: *quote, pad });
    }
    out.extend_from_slice(header.line_end.as_bytes());
    let mut expected = Expected::default();
    for (n, row) in rows.iter().enumerate() {
        let start = out.len();
        let cells = match &row.kind {
            RowKind::Valid(c) => {
                let (cells, contact) = valid_cells(&header.columns, c, format!("k{n}:{}", c.id_suffix));
                expected.accepted.push(ContactRow { line: u64::MAX, ..contact });
                cells
            }
            RowKind::Broken(c, b) => {
                let id = format!("b{n}:{}", c.id_suffix);
                match broken_cells(&header.columns, c, id.clone(), *b) {
                    Some((cells, field, rule)) => {
                        expected.rejected.push(ExpectedRejection { line: u64::MAX, field, rule });
                        cells
                    }
                    None => {
                        let extra = broken_cells(&header.columns, c, id, Break::Extra);
                        let cells = extra.map(|(cells, _, _)| cells).unwrap_or_default();
                        expected.rejected.push(ExpectedRejection {
                            line: u64::MAX,
                            field: "",
                            rule: Rule::CsvRecord,
                        });
                        cells
                    }
                }
            }
            RowKind::Blank(which) => {
                expected.blank_rows += 1;
                let blank = BLANKS[which % BLANKS.len()].as_bytes().to_vec();
                vec![blank; header.columns.len()]
            }
        };
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let style = if matches!(row.kind, RowKind::Blank(_)) {
                &Style { quote: false, pad: "" }
            } else {
                &row.styles[i]
            };
            write_field(&mut out, cell, style);
        }
        let line = line_at(&out, start);
        if let (RowKind::Valid(_), Some(r)) = (&row.kind, expected.accepted.last_mut()) {
            r.line = line;
        }
        if let (RowKind::Broken(..), Some(r)) = (&row.kind, expected.rejected.last_mut()) {
            r.line = line;
        }
        out.extend_from_slice(row.line_end.as_bytes());
        for _ in 0..row.empty_lines_after {
            out.extend_from_slice(row.line_end.as_bytes());
        }
    }
    (out, expected)
}

/// Every accepted value obeys the rules the module states (what any input may produce).
fn check_accepted(row: &ContactRow) -> Result<(), TestCaseError> {
    let free_text_ok = |s: &str, max: usize| s.chars().count() <= max && !s.chars().any(char::is_control);
    prop_assert!(
        !row.external_id.is_empty() && free_text_ok(&row.external_id, EXTERNAL_ID_CHARS_MAX),
        "{:?}",
        row
    );
    prop_assert!(row.name.as_deref().is_none_or(|n| free_text_ok(n, NAME_CHARS_MAX)), "{:?}", row);
    let e164 = |p: &str| {
        p.strip_prefix('+').is_some_and(|digits| {
            (7..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        })
    };
    prop_assert!(row.phone.as_deref().is_none_or(e164), "{:?}", row);
    prop_assert!(
        row.push.as_deref().is_none_or(|p| p.starts_with('{') && p.len() <= PUSH_BYTES_MAX),
        "{:?}",
        row
    );
    prop_assert!(row.phone.is_some() || row.email.is_some() || row.push.is_some(), "{:?}", row);
    prop_assert!(row.groups.len() <= GROUPS_PER_CONTACT_MAX);
    for group in &row.groups {
        prop_assert!(!group.is_empty() && !group.contains(';') && free_text_ok(group, GROUP_NAME_CHARS_MAX));
    }
    Ok(())
}

/// What any parse of a file with `header_columns` must satisfy: rows named by a line within
/// the file and in file order, every error naming a column of the header or the whole record.
pub(crate) fn check_parse(
    file: &[u8],
    header_columns: &[&str],
    parse: &ImportParse,
) -> Result<(), TestCaseError> {
    let last_line = line_at(file, file.len());
    for row in &parse.accepted {
        prop_assert!((2..=last_line).contains(&row.line), "line {} of {}", row.line, last_line);
        check_accepted(row)?;
    }
    for row in &parse.rejected {
        prop_assert!((2..=last_line).contains(&row.line), "line {} of {}", row.line, last_line);
        prop_assert!(!row.errors.is_empty(), "{:?}", row);
        for e in &row.errors {
            prop_assert!(e.field.is_empty() || header_columns.contains(&e.field.as_str()), "{:?}", e);
            prop_assert!(!e.message.is_empty());
        }
    }
    let increasing = |lines: Vec<u64>| lines.windows(2).all(|w| w[0] < w[1]);
    prop_assert!(increasing(parse.accepted.iter().map(|r| r.line).collect()));
    prop_assert!(increasing(parse.rejected.iter().map(|r| r.line).collect()));
    Ok(())
}

/// A rejected row in the shape of [`ExpectedRejection`]: its line and first error.
pub(crate) fn as_expected(row: &RejectedRow) -> ExpectedRejection {
    let first = row.errors.first();
    ExpectedRejection {
        line: row.line,
        field: COLUMNS.iter().copied().find(|c| first.is_some_and(|e| e.field == *c)).unwrap_or(""),
        rule: first.map_or(Rule::Value, |e| e.rule),
    }
}

pub(crate) fn parse_ok(file: &[u8]) -> Result<ImportParse, TestCaseError> {
    parse_contacts(file).map_err(|e| TestCaseError::fail(format!("the file must import: {e}")))
}
