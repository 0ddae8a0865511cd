//! Property tests of the CSV contact import (`varsel_domain::csv_import`), through its public
//! API only.
//!
//! What is promised: no file panics the import; every rejected row names the line an editor
//! shows for it and, in each error, the column at fault (or the whole record); a valid row
//! comes back with exactly its values, normalised, never cut; and the limits named in the
//! module hold at their edge. Files are generated as a spreadsheet would write them, with
//! every variation the module documents (header case, order and spacing, a BOM, optional and
//! doubled quotes, LF / CRLF / CR line ends, blank lines, blank rows, quoted values spanning
//! lines, Unicode), with rows that are valid or broken in one known way, so the expected
//! outcome of each row is known; and as token soup and arbitrary bytes.
//!
//! Each test states its number of cases, chosen so this binary runs in a few seconds in a
//! debug build on two cores. A failure prints the minimal failing input;
//! `PROPTEST_RNG_SEED=<n>` replays a run. Not covered here: `IMPORT_ROWS_MAX` (a million rows
//! is too slow for a property test; `csv_import::tests::too_many_rows_fails_the_file` checks
//! it through the bounded parser).

mod files;
mod values;

use proptest::collection::vec;
use proptest::prelude::*;
use varsel_domain::csv_import::{
    EXTERNAL_ID_CHARS_MAX, FIELD_BYTES_MAX, GROUP_NAME_CHARS_MAX, GROUPS_PER_CONTACT_MAX, NAME_CHARS_MAX,
    PUSH_BYTES_MAX, RECORD_BYTES_MAX, parse_contacts,
};
use varsel_domain::{ImportError, Rule};

use files::{ExpectedRejection, as_expected, build, check_parse, line_at, parse_ok, write_field};
use values::{Style, header_spec, row_spec};

/// Runner settings: `cases` per test, no regression files (an input that finds a bug is kept
/// as a unit test next to the parser instead).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// The columns, in the module's order; indexes below refer to this array.
pub(crate) const COLUMNS: [&str; 8] =
    ["external_id", "name", "phone", "email", "language", "push", "opt_out", "groups"];
pub(crate) const EXTERNAL_ID: usize = 0;
pub(crate) const NAME: usize = 1;
pub(crate) const PHONE: usize = 2;
pub(crate) const EMAIL: usize = 3;
pub(crate) const LANGUAGE: usize = 4;
pub(crate) const PUSH: usize = 5;
pub(crate) const OPT_OUT: usize = 6;
pub(crate) const GROUPS: usize = 7;
/// The columns a contact is reached through; a row needs one of them.
pub(crate) const REACH: [usize; 3] = [PHONE, EMAIL, PUSH];

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    /// Goal: every row of a spreadsheet-written file has exactly the outcome it should: valid
    /// rows come back with their exact values (normalised) and line, broken rows are rejected
    /// on their line with the one error naming the broken column, blank rows are counted.
    /// Method: 512 files of 0–12 rows with a random header (subset, order, case, spacing,
    /// BOM), random quoting and padding, LF / CRLF / CR line ends, blank lines, multi-line
    /// quoted push values and Unicode values; each row valid, blank, or broken one way (16
    /// ways, from a bad phone to non-UTF-8 bytes and a wrong field count).
    #[test]
    fn generated_files_import_exactly(header in header_spec(), rows in vec(row_spec(), 0..12)) {
        let (file, expected) = build(&header, &rows);
        let parse = parse_ok(&file)?;
        let names: Vec<&str> = header.columns.iter().map(|&c| COLUMNS[c]).collect();
        check_parse(&file, &names, &parse)?;
        prop_assert_eq!(&parse.accepted, &expected.accepted);
        let rejected: Vec<ExpectedRejection> = parse.rejected.iter().map(as_expected).collect();
        prop_assert_eq!(rejected, expected.rejected);
        prop_assert!(parse.rejected.iter().all(|r| r.errors.len() == 1), "{:?}", parse.rejected);
        prop_assert_eq!(parse.blank_rows, expected.blank_rows);
    }
}

/// Pieces of CSV that matter to a parser: delimiters, quotes, every line end, bytes that are
/// not UTF-8, a BOM, Unicode whitespace, and values that are valid or nearly so.
const TOKENS: [&[u8]; 22] = [
    b",",
    b"\"",
    b"\"\"",
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"\t",
    b";",
    b"k",
    b"+4791234567",
    b"+47 (0)1",
    b"a@b.no",
    b"a@localhost",
    b"nb-NO",
    b"{}",
    b"{\"a\":\n1}",
    b"\xFF",
    b"\xC3",
    "\u{FEFF}".as_bytes(),
    "\u{A0}".as_bytes(),
    "ø😀".as_bytes(),
];

/// Headers for token soup: each one valid, so the rows are what gets parsed.
const HEADERS: [&str; 4] = [
    "external_id,phone,email,push,groups",
    "external_id,name,phone,email,language,push,opt_out,groups",
    "Phone , EXTERNAL_ID",
    "\u{FEFF}\"email\",external_id,\"opt_out\"",
];

proptest! {
    #![proptest_config(config(1024))]

    /// Goal: no arrangement of CSV pieces panics the import or makes it name a row by a line
    /// outside the file, a column outside the header, or out of order. Method: 1,024 files of
    /// a valid header followed by 0–300 tokens from [`TOKENS`].
    #[test]
    fn token_soup_never_panics(
        header in proptest::sample::select(HEADERS.to_vec()),
        tokens in vec(proptest::sample::select(TOKENS.to_vec()), 0..300),
    ) {
        let mut file = format!("{header}\n").into_bytes();
        tokens.iter().for_each(|t| file.extend_from_slice(t));
        if let Ok(parse) = parse_contacts(file.as_slice()) {
            let lower = header.to_ascii_lowercase();
            let columns: Vec<&str> = COLUMNS.iter().copied().filter(|c| lower.contains(c)).collect();
            check_parse(&file, &columns, &parse)?;
        }
    }

    /// Goal: arbitrary bytes, as a whole file or after a valid header, never panic the
    /// import. Method: 1,024 byte strings of up to 2,000 bytes.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2_000), with_header in any::<bool>()) {
        let mut file = if with_header { format!("{}\n", HEADERS[1]).into_bytes() } else { Vec::new() };
        file.extend_from_slice(&bytes);
        if let (Ok(parse), true) = (parse_contacts(file.as_slice()), with_header) {
            check_parse(&file, &COLUMNS, &parse)?;
        }
    }
}

/// A value for a free-text limit: `n` copies of one character of any UTF-8 width, so the
/// limit is seen to count characters, not bytes.
fn repeated(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

fn limit_char() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::sample::select(vec!['x', 'ø', '€', '😀']),
        any::<char>()
            .prop_filter("printable, no separator", |c| !c.is_control() && !c.is_whitespace() && *c != ';'),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Goal: each named limit holds at its edge: a value at the limit is imported exactly,
    /// one unit more rejects the row naming the column; nothing is cut. Method: 256 cases
    /// over `EXTERNAL_ID_CHARS_MAX`, `NAME_CHARS_MAX`, `GROUP_NAME_CHARS_MAX` (characters of
    /// 1–4 bytes), `GROUPS_PER_CONTACT_MAX` and `PUSH_BYTES_MAX` / `FIELD_BYTES_MAX`.
    #[test]
    fn limits_hold_at_their_edge(limit in 0usize..5, over in any::<bool>(), c in limit_char()) {
        let extra = usize::from(over);
        let (id, name, groups, push) = match limit {
            0 => (repeated(c, EXTERNAL_ID_CHARS_MAX + extra), String::new(), String::new(), "{}".to_owned()),
            1 => ("k".into(), repeated(c, NAME_CHARS_MAX + extra), String::new(), "{}".into()),
            2 => ("k".into(), String::new(), repeated(c, GROUP_NAME_CHARS_MAX + extra), "{}".into()),
            3 => {
                let count = GROUPS_PER_CONTACT_MAX + extra;
                let names: Vec<String> = (0..count).map(|i| format!("g{i}")).collect();
                ("k".into(), String::new(), names.join(";"), "{}".into())
            }
            _ => {
                let push = format!("{{{}", "a".repeat(PUSH_BYTES_MAX - 1 + extra));
                ("k".into(), String::new(), String::new(), push)
            }
        };
        let mut file = b"external_id,name,groups,push\n".to_vec();
        for (i, value) in [&id, &name, &groups, &push].into_iter().enumerate() {
            if i > 0 {
                file.push(b',');
            }
            write_field(&mut file, value.as_bytes(), &Style { quote: true, pad: "" });
        }
        let parse = parse_ok(&file)?;
        if over {
            prop_assert!(parse.accepted.is_empty(), "{:?}", parse.accepted);
            let errors = &parse.rejected.first().map(|r| r.errors.clone()).unwrap_or_default();
            let column = ["external_id", "name", "groups", "groups", "push"][limit];
            prop_assert!(errors.len() == 1 && errors[0].field == column, "{:?}", errors);
            let rule = if limit == 3 { Rule::TooMany } else { Rule::TooLong };
            prop_assert_eq!(errors[0].rule, rule);
        } else {
            prop_assert!(parse.rejected.is_empty(), "{:?}", parse.rejected);
            let row = parse.accepted.first().ok_or_else(|| TestCaseError::fail("no row"))?;
            prop_assert_eq!(&row.external_id, &id);
            prop_assert_eq!(row.name.clone().unwrap_or_default(), name);
            prop_assert_eq!(row.groups.join(";"), groups);
            prop_assert_eq!(row.push.as_deref(), Some(push.as_str()));
        }
    }

    /// Goal: a record of up to eight over-long fields, still within `RECORD_BYTES_MAX`, is one
    /// rejected row naming every over-long column, not a failed file; the rows after it still
    /// import. Method: 256 records whose chosen fields are 4–8 KiB.
    #[test]
    fn wide_records_are_rejected_rows(long in vec(any::<bool>(), COLUMNS.len()), extra in 1usize..4_000) {
        let mut file = format!("{}\n", COLUMNS.join(",")).into_bytes();
        for (i, &is_long) in long.iter().enumerate() {
            if i > 0 {
                file.push(b',');
            }
            let value = if is_long { vec![b'{'; FIELD_BYTES_MAX + extra] } else { b"{}".to_vec() };
            write_field(&mut file, &value, &Style { quote: true, pad: "" });
        }
        file.extend_from_slice(b"\nk-2,,+4791234567,,,,,\n");
        let parse = parse_ok(&file)?;
        let expected: Vec<&str> = COLUMNS.iter().zip(&long).filter(|(_, l)| **l).map(|(c, _)| *c).collect();
        if expected.is_empty() {
            prop_assert!(parse.rejected.iter().all(|r| r.errors.iter().all(|e| e.rule != Rule::TooLong)));
        } else {
            let too_long = parse.rejected[0].errors.iter().filter(|e| e.rule == Rule::TooLong);
            let fields: Vec<&str> = too_long.map(|e| e.field.as_str()).collect();
            prop_assert_eq!(fields, expected);
            prop_assert_eq!(parse.rejected[0].line, 2);
        }
        prop_assert_eq!(parse.accepted.last().map(|r| (r.line, r.external_id.as_str())), Some((3, "k-2")));
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// Goal: a double quote left open is never a silent swallow of the rest of the file:
    /// followed by more than `RECORD_BYTES_MAX` bytes it fails the file naming the line it
    /// opened on; followed by less, everything after it is one rejected row on that line,
    /// and the rows before it import. Method: 24 files (each up to ~80 KiB) of 0–4 valid rows,
    /// then a row whose name opens a quote, then short or long filler.
    #[test]
    fn unclosed_quote_is_never_silent(
        before in 0usize..5,
        line_end in proptest::sample::select(vec!["\n", "\r\n", "\r"]),
        long in any::<bool>(),
        filler_rows in 1usize..50,
    ) {
        let mut file = format!("external_id,name,phone{line_end}");
        for i in 0..before {
            file.push_str(&format!("k{i},Kari,+4791234567{line_end}"));
        }
        let open_line = line_at(file.as_bytes(), file.len());
        file.push_str(&format!("k-open,\"Nordmann, Kari,+4791234567{line_end}"));
        let row = format!("k-after,Ola,+4791234568{line_end}");
        let rows = if long { RECORD_BYTES_MAX / row.len() + 1 + filler_rows } else { filler_rows };
        file.push_str(&row.repeat(rows));
        match parse_contacts(file.as_bytes()) {
            Err(ImportError::RecordTooLarge { line, max_bytes }) => {
                prop_assert!(long, "a short runaway record failed the file");
                prop_assert_eq!((line, max_bytes), (open_line, RECORD_BYTES_MAX));
            }
            Ok(parse) => {
                prop_assert!(!long, "{} bytes after an open quote were accepted", row.len() * rows);
                prop_assert_eq!(parse.accepted.len(), before);
                prop_assert_eq!(parse.rejected.iter().map(|r| r.line).collect::<Vec<_>>(), vec![open_line]);
            }
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
        }
    }
}
