//! The examples of the CAP 1.2 specification (Appendix A) and our own Alert, Update and Cancel
//! go in and come out: each parses, and what `to_xml` writes parses to an equal value.
#![allow(clippy::unwrap_used)]

mod common;

use varsel_cap::{
    CapDateTime, Category, Certainty, MsgType, ResponseType, Scope, Severity, Status, Urgency, parse, to_xml,
};
use varsel_domain::model::Priority;

/// Goal: every fixture round-trips. Method: parse, write, parse again, compare the values;
/// then write again and compare the texts (writing is deterministic).
#[test]
fn every_fixture_round_trips() {
    for name in common::FIXTURES {
        let alert = parse(&common::fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let xml = to_xml(&alert);
        let again = parse(&xml).unwrap_or_else(|e| panic!("{name} as written: {e}\n{xml}"));
        assert_eq!(again, alert, "{name}");
        assert_eq!(to_xml(&again), xml, "{name}");
        alert.validate().unwrap();
    }
}

/// Goal: A.1 (homeland security advisory) is read field by field. Method: check the header,
/// the defaulted language, the parameter and the resource.
#[test]
fn a1_homeland_security_advisory() {
    let alert = parse(&common::fixture("a1_homeland_security.xml")).unwrap();
    assert_eq!(alert.identifier, "43b080713727");
    assert_eq!(alert.sender, "hsas@dhs.gov");
    assert_eq!(alert.sent, CapDateTime::parse("2003-04-02T14:39:01-05:00").unwrap());
    assert_eq!((alert.status, alert.msg_type, alert.scope), (Status::Actual, MsgType::Alert, Scope::Public));
    let info = &alert.infos[0];
    assert_eq!(info.language, "en-US", "the default language");
    assert_eq!(info.categories, [Category::Security]);
    assert_eq!(
        (info.urgency, info.severity, info.certainty),
        (Urgency::Immediate, Severity::Severe, Certainty::Likely)
    );
    assert_eq!(info.parameters[0].value_name, "HSAS");
    assert_eq!(info.parameters[0].value, "ORANGE");
    assert_eq!(info.resources[0].mime_type, "image/gif");
    assert_eq!(info.resources[0].uri.as_deref(), Some("http://www.dhs.gov/dhspublic/getAdvisoryImage"));
    assert_eq!(info.areas[0].area_desc, "U.S. nationwide and interests worldwide");
    assert_eq!(alert.dedup_key(), "hsas@dhs.gov,43b080713727,2003-04-02T14:39:01-05:00");
    assert_eq!(alert.priority(), Priority::Crisis);
}

/// Goal: A.2 (severe thunderstorm) keeps its polygon and geocodes. Method: check the points,
/// the response type, the event code and `expires` in Unix time.
#[test]
fn a2_thunderstorm_polygon() {
    let alert = parse(&common::fixture("a2_thunderstorm.xml")).unwrap();
    let info = &alert.infos[0];
    assert_eq!(info.response_types, [ResponseType::Shelter]);
    assert_eq!(info.event_codes[0].value, "SVR");
    assert_eq!(info.expires.unwrap().unix_seconds(), 1_055_890_800);
    let area = &info.areas[0];
    let polygon = &area.polygons[0];
    assert_eq!(polygon.points.len(), 5);
    assert_eq!((polygon.points[1].lat, polygon.points[1].lon), (38.34, -119.95));
    assert_eq!(polygon.points.first(), polygon.points.last());
    let codes: Vec<&str> = area.geocodes.iter().map(|g| g.value.as_str()).collect();
    assert_eq!(codes, ["006109", "006009", "006003"]);
}

/// Goal: A.3 (earthquake) is an Update with a reference and a circle of radius 0. Method:
/// check the reference triple, that its key has the form of a dedup key, and the circle.
#[test]
fn a3_earthquake_update_circle() {
    let alert = parse(&common::fixture("a3_earthquake.xml")).unwrap();
    assert_eq!(alert.msg_type, MsgType::Update);
    assert_eq!(alert.references.len(), 1);
    assert_eq!(alert.references[0].key(), "trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00");
    let circle = alert.infos[0].areas[0].circles[0];
    assert_eq!((circle.center.lat, circle.center.lon, circle.radius_km), (32.9525, -115.5527, 0.0));
    assert_eq!(alert.infos[0].parameters.len(), 5);
    assert_eq!(alert.priority(), Priority::Routine, "urgency Past");
}

/// Goal: A.4 (AMBER alert) has two languages, and non-ASCII text survives. Method: check the
/// languages, the Spanish event and the Varsel language codes.
#[test]
fn a4_amber_two_languages() {
    let alert = parse(&common::fixture("a4_amber.xml")).unwrap();
    assert_eq!(alert.source.as_deref(), Some("SW"));
    let languages: Vec<&str> = alert.infos.iter().map(|i| i.language.as_str()).collect();
    assert_eq!(languages, ["en-US", "es-US"]);
    assert_eq!(alert.infos[1].event, "Abducción de Niño");
    assert_eq!(varsel_cap::mapping::language(&alert.infos[0], 1).unwrap(), "en");
    assert_eq!(varsel_cap::mapping::language(&alert.infos[1], 2).unwrap(), "es");
}

/// Goal: our Alert, Update and Cancel read as one incident. Method: the Update's and the
/// Cancel's references name the earlier messages by their dedup keys; the Cancel was sent in
/// UTC written -00:00, which is kept.
#[test]
fn alert_update_cancel_chain() {
    let first = parse(&common::fixture("n1_flood_alert.xml")).unwrap();
    let update = parse(&common::fixture("n2_flood_update.xml")).unwrap();
    let cancel = parse(&common::fixture("n3_flood_cancel.xml")).unwrap();
    assert_eq!(update.msg_type, MsgType::Update);
    assert_eq!(update.references[0].key(), first.dedup_key());
    assert_eq!(cancel.msg_type, MsgType::Cancel);
    let keys: Vec<String> = cancel.references.iter().map(|r| r.key()).collect();
    assert_eq!(keys, [first.dedup_key(), update.dedup_key()]);
    assert_eq!(cancel.sent.to_string(), "2026-12-06T17:30:00-00:00");
    assert!(to_xml(&cancel).contains("<sent>2026-12-06T17:30:00-00:00</sent>"));
    assert_eq!(first.codes, ["profile:NO-CAP:0.1", "IPAWSv1.0"]);
    assert_eq!(first.note.as_deref(), Some("Flomvarsel for Bergen sentrum & Bryggen"));
    let area = &first.infos[0].areas[0];
    assert_eq!((area.altitude, area.ceiling), (Some(0.0), Some(30.5)));
    assert_eq!(first.infos[0].resources[0].size, Some(48213));
    assert_eq!(
        first.infos[0].web.as_deref(),
        Some("https://www.bergen.kommune.no/flom?område=bryggen&språk=nb")
    );
    let languages: Vec<String> = [&first.infos[0], &first.infos[1], &update.infos[0]]
        .iter()
        .enumerate()
        .map(|(i, info)| varsel_cap::mapping::language(info, i + 1).unwrap())
        .collect();
    assert_eq!(languages, ["nb", "en", "nn"]);
    assert_eq!(
        (first.priority(), update.priority(), cancel.priority()),
        (Priority::Crisis, Priority::Crisis, Priority::Routine)
    );
}

/// Goal: text that needs escaping survives a round trip. Method: put `&`, `<`, `>`, quotes, a
/// carriage return, a CDATA section's text and non-BMP characters in free text, write, read.
#[test]
fn escaping_round_trips() {
    let mut alert = parse(&common::fixture("a1_homeland_security.xml")).unwrap();
    let tricky = "a & b < c > d \"e\" 'f' ]]> \r\n\ttab 🚨 Ålesund";
    alert.infos[0].description = Some(tricky.to_string());
    alert.note = Some("  leading and trailing  ".to_string());
    alert.codes.push("<code>".to_string());
    let again = parse(&to_xml(&alert)).unwrap();
    assert_eq!(again, alert);
    let cdata = common::fixture("a2_thunderstorm.xml").replace(
        "<contact>BARUFFALDI/JUSKIE</contact>",
        "<contact><![CDATA[A & <B>]]> and <!-- note --> C</contact>",
    );
    assert_eq!(parse(&cdata).unwrap().infos[0].contact.as_deref(), Some("A & <B> and  C"));
}

/// Goal: the namespace counts, not the prefix. Method: the thunderstorm warning with every
/// element written as `cap:name` under `xmlns:cap` reads as the unprefixed one.
#[test]
fn prefixed_namespace_reads_the_same() {
    let xml = common::fixture("a2_thunderstorm.xml");
    let prefixed = xml
        .replace("<alert xmlns = ", "<alert xmlns:cap = ")
        .replace("</", "</cap:")
        .replace('<', "<cap:")
        .replace("<cap:/cap:", "</cap:")
        .replace("<cap:?xml", "<?xml");
    assert!(prefixed.contains("<cap:alert xmlns:cap = "), "{prefixed}");
    assert_eq!(parse(&prefixed).unwrap(), parse(&xml).unwrap());
}
