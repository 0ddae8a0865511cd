//! Tests of the CSV contact import.
#![allow(clippy::unwrap_used)]

use super::*;

fn parse_ok(file: &str) -> ImportParse {
    parse_contacts(file.as_bytes()).unwrap()
}

fn header_error(file: &[u8]) -> String {
    match parse_contacts(file) {
        Err(ImportError::Header(errors)) => errors.to_string(),
        other => panic!("expected a header error, got {other:?}"),
    }
}

/// (line, external_id) of every accepted row.
fn accepted_lines(parse: &ImportParse) -> Vec<(u64, &str)> {
    parse.accepted.iter().map(|row| (row.line, row.external_id.as_str())).collect()
}

/// Goal: every field of a full row is read and normalised. Method: one row with all columns.
#[test]
fn full_row_is_normalised() {
    let file = "external_id,name,phone,email,language,push,opt_out,groups\n\
                k-1, Kari Nordmann ,+47 912 34 567,Kari@Example.NO,NB,\"{\"\"endpoint\"\":\"\"x\"\"}\",Voice; sms ,brann;stab;brann\n";
    let parse = parse_ok(file);
    assert!(parse.rejected.is_empty(), "{:?}", parse.rejected);
    let row = &parse.accepted[0];
    assert_eq!(row.line, 2);
    assert_eq!(row.external_id, "k-1");
    assert_eq!(row.name.as_deref(), Some("Kari Nordmann"));
    assert_eq!(row.phone.as_deref(), Some("+4791234567"));
    assert_eq!(row.email.as_deref(), Some("Kari@example.no"));
    assert_eq!(row.language.as_deref(), Some("nb"));
    assert_eq!(row.push.as_deref(), Some("{\"endpoint\":\"x\"}"));
    assert_eq!(row.opt_out, BTreeSet::from([Channel::Sms, Channel::Voice]));
    assert_eq!(row.groups, ["brann", "stab"]);
}

/// Goal: header names are matched ignoring case, spaces and order, and a BOM is ignored.
/// Method: the same row under several headers.
#[test]
fn header_variations() {
    for header in
        ["external_id,phone", "EXTERNAL_ID,Phone", " External_Id , PHONE ", "\u{FEFF}external_id,phone"]
    {
        let parse = parse_ok(&format!("{header}\nk-1,+4791234567\n"));
        assert_eq!(accepted_lines(&parse), [(2, "k-1")], "{header:?}");
    }
    let parse = parse_ok("phone,external_id\n+4791234567,k-1\n");
    assert_eq!(parse.accepted[0].phone.as_deref(), Some("+4791234567"));
}

/// Goal: a bad header fails the whole file, listing every problem.
/// Method: unknown, duplicate and missing columns, wrong delimiter, empty and non-UTF-8 files.
#[test]
fn bad_headers_fail_the_file() {
    let e = header_error(b"external_id,phnoe,mobil,email\n");
    assert!(e.contains("unknown columns \"phnoe\", \"mobil\"; the columns are external_id, name"), "{e}");
    let e = header_error(b"external_id,phone,Phone,bogus\n");
    assert!(e.contains("column phone appears twice") && e.contains("unknown columns \"bogus\""), "{e}");
    assert!(header_error(b"name,phone\n").contains("no external_id column"));
    assert!(header_error(b"external_id,phone,\n").contains("unknown columns an unnamed column 3;"));
    assert!(header_error(b"external_id,name\n").contains("none of the columns phone, email and push"));
    assert!(header_error(b"external_id;phone\nk-1;+4791234567\n").contains("separated by semicolons"));
    assert!(header_error(b"").contains("the file is empty"));
    assert!(header_error(b"\n\n").contains("the file is empty"));
    assert!(header_error(b"external_id,ph\xF8ne\n").contains("header column 2 is not UTF-8"));
}

/// Goal: line numbers are those an editor shows, with LF, CRLF and CR line ends, blank lines and
/// quoted values spanning lines. Method: the same file with both line ends; the multi-line
/// values are pretty-printed push subscriptions.
#[test]
fn line_numbers_with_crlf_quotes_and_blank_lines() {
    let file = "external_id,name,phone,push\n\
                k-1,\"Nordmann, Kari\",+4791234567,\n\
                \n\
                k-2,,,\"{\n  \"\"endpoint\"\": 1}\"\n\
                k-3,\"Ola, jr.\",,\"{\n\n  \"\"keys\"\": 2}\"\n\
                k-4,Ola,+4791234570,\n\
                k-5,Bad,12345,\n";
    for line_end in ["\n", "\r\n", "\r"] {
        let parse = parse_ok(&file.replace('\n', line_end));
        assert_eq!(accepted_lines(&parse), [(2, "k-1"), (4, "k-2"), (6, "k-3"), (9, "k-4")], "{line_end:?}");
        assert_eq!(parse.accepted[0].name.as_deref(), Some("Nordmann, Kari"));
        assert_eq!(
            parse.accepted[2].push.as_deref(),
            Some(format!("{{{line_end}{line_end}  \"keys\": 2}}").as_str())
        );
        assert_eq!(parse.rejected[0].line, 10);
    }
    // A line break inside a name is refused, on the row's first line.
    let parse = parse_ok("external_id,name,phone\r\nk-1,\"a\r\nb\",+4791234567\r\nk-2,c,+4791234567\r\n");
    assert_eq!(parse.rejected[0].errors[0].rule, Rule::Characters);
    assert_eq!(parse.rejected[0].line, 2);
    assert_eq!(parse.accepted[0].line, 4);
}

/// Goal: a row with several problems reports all of them, and its neighbours are imported.
/// Method: a row breaking five rules between two good rows.
#[test]
fn row_with_several_errors_lists_all() {
    let file = "external_id,phone,email,language,opt_out,push\n\
                k-1,+4791234567,,,,\n\
                k-2,4791234567,kari@localhost,norsk,sms;fax,not json\n\
                k-3,,ola@example.no,,,\n";
    let parse = parse_ok(file);
    assert_eq!(accepted_lines(&parse), [(2, "k-1"), (4, "k-3")]);
    let rejected = &parse.rejected[0];
    assert_eq!((rejected.line, rejected.external_id.as_deref()), (3, Some("k-2")));
    let fields: Vec<(&str, Rule)> = rejected.errors.iter().map(|e| (e.field.as_str(), e.rule)).collect();
    assert_eq!(
        fields,
        [
            ("phone", Rule::Phone),
            ("email", Rule::Email),
            ("language", Rule::Language),
            ("push", Rule::PushSubscription),
            ("opt_out", Rule::Channel),
        ]
    );
    assert!(rejected.errors[4].message.starts_with("has unknown channels \"fax\""));
}

/// Goal: rows lacking an id or any way to reach the contact are rejected with clear reasons.
/// Method: a row without external_id and one with only a name.
#[test]
fn required_values() {
    let parse = parse_ok("external_id,name,phone,email\n,Kari,+4791234567,\nk-2,Ola,,\n");
    assert!(parse.accepted.is_empty());
    assert_eq!(parse.rejected[0].external_id, None);
    assert_eq!(parse.rejected[0].errors[0].to_string(), "external_id: is empty");
    assert_eq!(parse.rejected[1].external_id.as_deref(), Some("k-2"));
    assert!(parse.rejected[1].errors[0].message.starts_with("has no phone, email or push"));
}

/// Goal: a repeated external_id rejects the later row, naming the first line, whether or not
/// the first row was valid. Method: three rows with one id, the first of them invalid too.
#[test]
fn duplicate_external_ids() {
    let file = "external_id,phone\nk-1,+4791234567\nk-2,bad\nk-1,+4791234568\nk-2,+4791234569\n";
    let parse = parse_ok(file);
    assert_eq!(accepted_lines(&parse), [(2, "k-1")]);
    let lines: Vec<u64> = parse.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 5]);
    assert_eq!(parse.rejected[1].errors[0].to_string(), "external_id: \"k-1\" is already used on line 2");
    assert_eq!(parse.rejected[2].errors[0].rule, Rule::Duplicate);
}

/// Goal: malformed records are rejected rows, not failed files. Method: too few fields,
/// non-empty extra fields, invalid UTF-8; empty extra fields and blank rows are harmless.
#[test]
fn malformed_records_are_rejected_rows() {
    let mut file = b"external_id,name,phone\nk-1,+4791234567\nk-2,a,+4791234567,extra\n".to_vec();
    file.extend_from_slice(b"k-3,Bj\xF8rn,+4791234567\nk-4,b,+4791234567,,\n,,\n , , \nk-5,c,+4791234567\n");
    let parse = parse_contacts(file.as_slice()).unwrap();
    assert_eq!(accepted_lines(&parse), [(5, "k-4"), (8, "k-5")]);
    assert_eq!(parse.blank_rows, 2);
    let rejected: Vec<(u64, Option<&str>, Rule)> =
        parse.rejected.iter().map(|r| (r.line, r.external_id.as_deref(), r.errors[0].rule)).collect();
    assert_eq!(
        rejected,
        [(2, Some("k-1"), Rule::CsvRecord), (3, Some("k-2"), Rule::CsvRecord), (4, Some("k-3"), Rule::Utf8)]
    );
    assert!(parse.rejected[0].errors[0].message.starts_with("has 2 fields but the header has 3 columns"));
    assert_eq!(parse.rejected[2].errors[0].field, "name");
}

/// Goal: a row whose fields hold only Unicode whitespace is blank, like one of spaces, and so
/// are such extra fields; the value rules already trim that whitespace. Method: the row the
/// property tests found (two no-break spaces), an ideographic space, and a valid row with a
/// no-break space after its last column.
#[test]
fn unicode_whitespace_is_blank() {
    let parse = parse_ok("external_id,phone\n\u{A0},\u{A0}\n\u{3000},\nk-1,+4791234567,\u{A0}\n");
    assert!(parse.rejected.is_empty(), "{:?}", parse.rejected);
    assert_eq!(parse.blank_rows, 2);
    assert_eq!(accepted_lines(&parse), [(4, "k-1")]);
}

/// Goal: over-long values are refused per field and a runaway quote fails the file with the
/// line it starts on. Method: a 5 KiB name; an unclosed quote followed by 100 KiB of rows.
#[test]
fn size_bounds() {
    let long = "x".repeat(FIELD_BYTES_MAX + 1);
    let parse = parse_ok(&format!("external_id,name,phone\nk-1,{long},+4791234567\nk-2,,+4791234567\n"));
    assert_eq!(parse.rejected[0].errors[0].rule, Rule::TooLong);
    assert_eq!(parse.rejected[0].errors[0].field, "name");
    assert_eq!(accepted_lines(&parse), [(3, "k-2")]);
    let too_long_name = "y".repeat(NAME_CHARS_MAX + 1);
    let parse = parse_ok(&format!("external_id,name,phone\nk-1,{too_long_name},+4791234567\n"));
    assert!(parse.rejected[0].errors[0].message.starts_with("is 201 characters long"));

    let mut file = "external_id,name,phone\nk-1,ok,+4791234567\n\nk-2,\"unclosed,+4791234567\n".to_owned();
    file.push_str(&"k-3,more,+4791234567\n".repeat(5_000));
    match parse_contacts(file.as_bytes()) {
        Err(ImportError::RecordTooLarge { line, max_bytes }) => {
            assert_eq!((line, max_bytes), (4, RECORD_BYTES_MAX))
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    // An unclosed quote near the end swallows less than the bound: one rejected row, named.
    let parse = parse_ok("external_id,name,phone\nk-1,\"unclosed,+4791234567\nk-2,b,+4791234567\n");
    assert_eq!(parse.rejected.len(), 1);
    assert_eq!(parse.rejected[0].line, 2);
}

/// Goal: more rows than the limit fail the file with advice to split, at the limit it passes.
/// Method: the bounded parser with a small limit.
#[test]
fn too_many_rows_fails_the_file() {
    let file = format!("external_id,phone\n{}", "k,+4791234567\n".repeat(11));
    assert!(parse_contacts_bounded(file.as_bytes(), 11).is_ok());
    let e = parse_contacts_bounded(file.as_bytes(), 10).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the file has more than 10 contact rows; split it into files of at most 10 rows each"
    );
}

/// Goal: group and opt-out lists are bounded and validated. Method: too many groups, a group
/// name with a control character, empty items.
#[test]
fn lists() {
    let groups = (0..=GROUPS_PER_CONTACT_MAX).map(|i| format!("g{i}")).collect::<Vec<_>>().join(";");
    let file = format!(
        "external_id,phone,groups,opt_out\nk-1,+4791234567,{groups},\nk-2,+4791234567,;a;; b ;,email;\n"
    );
    let parse = parse_ok(&file);
    assert_eq!(parse.rejected[0].errors[0].rule, Rule::TooMany);
    assert_eq!(parse.accepted[0].groups, ["a", "b"]);
    assert_eq!(parse.accepted[0].opt_out, BTreeSet::from([Channel::Email]));
}

/// Goal: a large file parses and keeps every row. Method: 10,000 generated rows, every
/// hundredth one invalid; no timing assertion (benchmarks measure speed).
#[test]
fn ten_thousand_rows() {
    let mut file = String::from("external_id,name,phone,email,groups\r\n");
    for i in 0..10_000 {
        let phone = if i % 100 == 99 { "bad".to_owned() } else { format!("+479{i:07}") };
        file.push_str(&format!("id-{i},\"Person, {i}\",{phone},p{i}@example.no,alle;gruppe-{}\r\n", i % 7));
    }
    let parse = parse_ok(&file);
    assert_eq!(parse.accepted.len(), 9_900);
    assert_eq!(parse.rejected.len(), 100);
    assert_eq!(parse.rejected[0].line, 101);
    assert_eq!(parse.accepted.last().map(|row| row.line), Some(10_000));
}

/// Goal: no input makes the import panic, and rows come out in file order with rising line
/// numbers. Method: seeded random files from CSV-significant tokens after a valid header;
/// `VARSEL_SEED=<n>` replays a failure.
#[test]
fn random_files_never_panic() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    const TOKENS: [&[u8]; 12] =
        [b",", b"\"", b"\n", b"\r\n", b"\r", b"k", b"+4791234567", b"a@b.no", b"\xFF", b";", b" ", b"{}"];
    let seed = std::env::var("VARSEL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("random_files_never_panic: VARSEL_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..500 {
        let mut file = b"external_id,phone,email,push,groups\n".to_vec();
        for _ in 0..rng.random_range(0..200) {
            file.extend_from_slice(TOKENS[rng.random_range(0..TOKENS.len())]);
        }
        let Ok(parse) = parse_contacts(file.as_slice()) else { continue };
        let mut lines: Vec<u64> = parse.accepted.iter().map(|r| r.line).collect();
        lines.extend(parse.rejected.iter().map(|r| r.line));
        lines.sort_unstable();
        let mut unique = lines.clone();
        unique.dedup();
        assert_eq!(lines, unique, "seed {seed}, round {round}: two rows on one line");
        assert!(lines.iter().all(|&line| line >= 2), "seed {seed}, round {round}");
    }
}

/// Goal: places come as `lat`/`lon` (with `address`) and as a `locations` column; every bad
/// value is reported on its row and column, and a file without place columns leaves places
/// alone (`None`). Method: one file with good and bad rows.
#[test]
fn place_columns() {
    let file = "external_id,phone,lat,lon,address,locations\n\
                a,+4791000001,59.9139,10.7522,Storgata 1,work:60.39;5.32\n\
                b,+4791000002,59.9139,10.7522,,\"work:60.39,5.32;hytte:61.1,9.06\"\n\
                c,+4791000003,,,,\n\
                d,+4791000004,91,10,,\n\
                e,+4791000005,59.9,,,\n\
                f,+4791000006,,,Storgata 2,\n\
                g,+4791000007,59.9,10.7,,\"home:60,10\"\n";
    let parse = parse_ok(file);
    let ok: Vec<_> = parse.accepted.iter().map(|r| (r.external_id.as_str(), r.locations.clone())).collect();
    assert_eq!(ok.len(), 2, "{:?}", parse.rejected);
    let b = ok[0].1.as_ref().unwrap();
    assert_eq!(
        b.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["home:59.9139,10.7522", "work:60.39,5.32", "hytte:61.1,9.06"]
    );
    assert_eq!(ok[1], ("c", Some(vec![])), "a row without places clears them");
    let errors: Vec<(u64, String, Rule)> = parse
        .rejected
        .iter()
        .flat_map(|r| r.errors.iter().map(move |e| (r.line, e.field.clone(), e.rule)))
        .collect();
    assert_eq!(
        errors,
        [
            (2, "locations".to_string(), Rule::Value),
            (5, "lat".to_string(), Rule::Range),
            (6, "lon".to_string(), Rule::Required),
            (7, "address".to_string(), Rule::Value),
            (8, "locations.name".to_string(), Rule::Duplicate),
        ]
    );
    // Without place columns: places are left as they are.
    let parse = parse_ok("external_id,phone\nx,+4791000008\n");
    assert_eq!(parse.accepted[0].locations, None);
    // lat without lon is a header error.
    assert!(header_error(b"external_id,phone,lat\n").contains("lat column but no lon"));
}
