//! What `to_xml` writes validates against the OASIS CAP 1.2 schema (`CAP-v1.2.xsd`), checked
//! by `xmllint --schema` (Debian `libxml2-utils`; the test fails with that hint when it is
//! missing and installs nothing).
#![allow(clippy::unwrap_used)]

mod common;

use varsel_cap::{CapDateTime, parse, to_xml};

/// Goal: every fixture, as we write it, is valid CAP 1.2. Method: parse, write, xmllint
/// --schema.
#[test]
fn fixtures_as_written_validate() {
    for name in common::FIXTURES {
        let alert = parse(&common::fixture(name)).unwrap();
        common::assert_schema_valid(&to_xml(&alert), name);
    }
}

/// Goal: text that needs escaping and times written from Unix time still validate. Method:
/// special characters in every kind of free text, a `sent` from `from_unix_seconds`.
#[test]
fn escaped_text_and_utc_times_validate() {
    let mut alert = parse(&common::fixture("n1_flood_alert.xml")).unwrap();
    alert.sent = CapDateTime::from_unix_seconds(1_796_562_000).unwrap();
    alert.note = Some("a & b < c > d \"e\" ]]> \r\n 🚨".into());
    alert.infos[0].headline = Some("<b>Flom</b> & fare".into());
    alert.infos[0].areas[0].area_desc = "Bryggen & Torget <sentrum>".into();
    alert.infos[0].parameters[0].value = "&amp; literally".into();
    alert.validate().unwrap();
    common::assert_schema_valid(&to_xml(&alert), "escaped");
}

/// Goal: the checker itself checks (a test that cannot fail proves nothing). Method: break
/// the order of a valid document and see xmllint refuse it.
#[test]
fn xmllint_refuses_a_broken_document() {
    let xml = to_xml(&parse(&common::fixture("a2_thunderstorm.xml")).unwrap());
    let broken = xml.replacen("<status>Actual</status>", "", 1).replacen(
        "<scope>",
        "<status>Actual</status><scope>",
        1,
    );
    let xsd = common::xsd();
    let (ok, output) = common::xmllint(&["--noout", "--schema", xsd.to_str().unwrap()], &broken);
    assert!(!ok, "xmllint accepted a document with status out of order:\n{output}");
}
