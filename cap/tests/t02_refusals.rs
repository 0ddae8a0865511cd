//! Bad CAP is refused, and the error names the element (as a path) and the rule in words a
//! person can act on: malformed XML, a wrong or missing namespace, and each rule of CAP 1.2.
#![allow(clippy::unwrap_used)]

mod common;

use varsel_cap::limits::{DOCUMENT_BYTES_MAX, INFOS_MAX, POLYGON_POINTS_MAX, XML_NODES_MAX};
use varsel_cap::{CapError, CapRule, parse};

/// The thunderstorm warning (A.2), the base the cases below break.
fn base() -> String {
    common::fixture("a2_thunderstorm.xml")
}

/// `base()` with `from` replaced by `to` (which must occur).
fn with(from: &str, to: &str) -> String {
    let xml = base();
    assert!(xml.contains(from), "the fixture has no {from:?}");
    xml.replacen(from, to, 1)
}

fn refused(xml: &str) -> CapError {
    match parse(xml) {
        Ok(alert) => panic!("accepted: {alert:?}"),
        Err(e) => e,
    }
}

/// Checks path, rule, a fragment of the message, and that a line number is given.
fn assert_refused(case: &str, xml: &str, path: &str, rule: CapRule, fragment: &str) {
    let err = refused(xml);
    assert_eq!((err.path.as_str(), err.rule), (path, rule), "{case}: {err}");
    assert!(err.message.contains(fragment), "{case}: {:?} lacks {fragment:?}", err.message);
    assert!(err.line.is_some(), "{case}: no line in {err}");
}

const POLYGON: &str = "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14";
const POLYGON_PATH: &str = "alert/info[1]/area[1]/polygon[1]";

/// Goal: bytes that are not well-formed XML are refused as such. Method: an unclosed
/// element, plain text, a DTD (refused so entities cannot expand), a document past the node
/// bound; each names `document`.
#[test]
fn malformed_xml() {
    let unclosed = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n<identifier>x</alert>";
    assert_refused("unclosed", unclosed, "document", CapRule::Xml, "is not well-formed XML");
    assert_eq!(refused(unclosed).line, Some(2));
    assert_refused("text", "hello", "document", CapRule::Xml, "is not well-formed XML");
    assert_refused("empty", "", "document", CapRule::Xml, "is not well-formed XML");
    let dtd = format!(
        "<!DOCTYPE alert [<!ENTITY a \"aaaa\">]>\n{}",
        base().replace("<?xml version = \"1.0\" encoding = \"UTF-8\"?>", "")
    );
    assert_refused("dtd", &dtd, "document", CapRule::Xml, "DTD");
    let nodes = with("<scope>", &format!("{}<scope>", "<!---->".repeat(XML_NODES_MAX as usize)));
    assert_refused("nodes", &nodes, "document", CapRule::Xml, "XML nodes");
    let large = with("<scope>", &format!("<!--{}--><scope>", "x".repeat(DOCUMENT_BYTES_MAX)));
    let err = refused(&large);
    assert_eq!((err.path.as_str(), err.rule), ("document", CapRule::TooLarge));
}

/// Goal: only CAP 1.2 is accepted. Method: CAP 1.1's namespace, no namespace, and another
/// root element.
#[test]
fn wrong_namespace() {
    let v11 = base().replace("cap:1.2", "cap:1.1");
    assert_refused("1.1", &v11, "alert", CapRule::Namespace, "only CAP 1.2");
    let none = base().replace(" xmlns = \"urn:oasis:names:tc:emergency:cap:1.2\"", "");
    assert_refused("none", &none, "alert", CapRule::Namespace, "has no namespace");
    let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"/>";
    assert_refused("root", atom, "document", CapRule::Namespace, "the root element is `feed`");
    let foreign = with("<contact>", "<x:colour xmlns:x=\"urn:example\">red</x:colour><contact>");
    assert_refused(
        "foreign child",
        &foreign,
        "alert/info[1]/colour",
        CapRule::Namespace,
        "only CAP elements",
    );
}

/// Goal: the structure of the schema is enforced. Method: a missing element, a missing
/// `category`, an empty `event`, an unknown element, two elements swapped, a repeated one,
/// an element inside a text element, stray text between elements.
#[test]
fn structure() {
    let no_sender = with("<sender>KSTO@NWS.NOAA.GOV</sender>", "");
    assert_refused("missing", &no_sender, "alert/sender", CapRule::Required, "is missing");
    let no_category = with("<category>Met</category>", "");
    assert_refused(
        "category",
        &no_category,
        "alert/info[1]/category[1]",
        CapRule::Required,
        "requires `category`",
    );
    let empty_event = with("<event>SEVERE THUNDERSTORM</event>", "<event>  </event>");
    assert_refused("empty", &empty_event, "alert/info[1]/event", CapRule::Required, "is empty");
    let unknown = with("<contact>", "<colour>red</colour><contact>");
    assert_refused(
        "unknown",
        &unknown,
        "alert/info[1]/colour",
        CapRule::UnknownElement,
        "not an element of `info`",
    );
    let swapped = with(
        "<sent>2003-06-17T14:57:00-07:00</sent>\n    <status>Actual</status>",
        "<status>Actual</status><sent>2003-06-17T14:57:00-07:00</sent>",
    );
    assert_refused("swapped", &swapped, "alert/sent", CapRule::Order, "puts `sent` before `status`");
    let late = with(
        "<contact>BARUFFALDI/JUSKIE</contact>",
        "<contact>BARUFFALDI/JUSKIE</contact><headline>again</headline>",
    );
    assert_refused("repeated", &late, "alert/info[1]/headline", CapRule::Repeated, "more than once");
    let late_category = with("<contact>", "<category>Geo</category><contact>");
    assert_refused(
        "late",
        &late_category,
        "alert/info[1]/category",
        CapRule::Order,
        "puts `category` before `event`",
    );
    let nested = with("<event>SEVERE THUNDERSTORM</event>", "<event>SEVERE <b>THUNDER</b>STORM</event>");
    assert_refused("nested", &nested, "alert/info[1]/event", CapRule::Content, "holds only text");
    let stray = with("<category>Met</category>", "stray words<category>Met</category>");
    assert_refused("stray", &stray, "alert/info[1]", CapRule::Content, "outside its elements");
    let signed = with("</alert>", "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"/></alert>");
    assert!(parse(&signed).is_ok(), "an XML signature may close the alert");
    let after_signature = with(
        "</alert>",
        "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"/><note>late</note></alert>",
    );
    assert_refused(
        "after signature",
        &after_signature,
        "alert/note",
        CapRule::Order,
        "after the XML signature",
    );
}

/// Goal: enumerated elements take only the schema's values. Method: a misspelt status, a
/// lowercase urgency, an unknown category in the second place; the message lists the values.
#[test]
fn enumerations() {
    let status = with("<status>Actual</status>", "<status>Actuall</status>");
    assert_refused(
        "status",
        &status,
        "alert/status",
        CapRule::Enumeration,
        "Actual, Exercise, System, Test, Draft",
    );
    let urgency = with("<urgency>Immediate</urgency>", "<urgency>immediate</urgency>");
    assert_refused("urgency", &urgency, "alert/info[1]/urgency", CapRule::Enumeration, "case matters");
    let category = with("<category>Met</category>", "<category>Met</category><category>Weather</category>");
    assert_refused("category", &category, "alert/info[1]/category[2]", CapRule::Enumeration, "\"Weather\"");
    let scope = with("<scope>Public</scope>", "<scope>Private</scope>");
    assert_refused("private", &scope, "alert/addresses", CapRule::Required, "scope is Private");
}

/// Goal: times must be CAP dateTimes. Method: `Z`, fractional seconds, no offset, 30
/// February, each in a different element.
#[test]
fn date_times() {
    let z = with("<sent>2003-06-17T14:57:00-07:00</sent>", "<sent>2003-06-17T21:57:00Z</sent>");
    assert_refused("Z", &z, "alert/sent", CapRule::DateTime, "CAP writes UTC as -00:00");
    let fraction =
        with("<sent>2003-06-17T14:57:00-07:00</sent>", "<sent>2003-06-17T14:57:00.250-07:00</sent>");
    assert_refused("fraction", &fraction, "alert/sent", CapRule::DateTime, "fractional seconds");
    let no_offset =
        with("<expires>2003-06-17T16:00:00-07:00</expires>", "<expires>2003-06-17T16:00:00</expires>");
    assert_refused("offset", &no_offset, "alert/info[1]/expires", CapRule::DateTime, "no offset from UTC");
    let feb30 =
        with("<expires>2003-06-17T16:00:00-07:00</expires>", "<expires>2003-02-30T16:00:00-07:00</expires>");
    assert_refused("day", &feb30, "alert/info[1]/expires", CapRule::DateTime, "has day 30");
}

/// Goal: identifier and sender hold no spaces, commas, `<` or `&`. Method: one of each.
#[test]
fn identifier_and_sender_characters() {
    let space = with("<identifier>KSTO1055887203</identifier>", "<identifier>KSTO 1055887203</identifier>");
    assert_refused("space", &space, "alert/identifier", CapRule::Characters, "forbids spaces, commas");
    let comma = with("<sender>KSTO@NWS.NOAA.GOV</sender>", "<sender>KSTO,NWS</sender>");
    assert_refused("comma", &comma, "alert/sender", CapRule::Characters, "','");
    let amp = with("<sender>KSTO@NWS.NOAA.GOV</sender>", "<sender>KSTO&amp;NWS</sender>");
    assert_refused("amp", &amp, "alert/sender", CapRule::Characters, "'&'");
    let lt = with("<identifier>KSTO1055887203</identifier>", "<identifier>KSTO&lt;1</identifier>");
    assert_refused("lt", &lt, "alert/identifier", CapRule::Characters, "'<'");
    let padded =
        with("<identifier>KSTO1055887203</identifier>", "<identifier>\n  KSTO1055887203\n</identifier>");
    assert_eq!(parse(&padded).unwrap().identifier, "KSTO1055887203", "indentation is not part of it");
}

/// Goal: references are `sender,identifier,sent` triples. Method: a pair, a bad time, a
/// triple with an empty identifier.
#[test]
fn references() {
    let xml = common::fixture("a3_earthquake.xml");
    let good = "trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00";
    let pair = xml.replace(good, "trinet@caltech.edu,TRI13970876.1");
    assert_refused("pair", &pair, "alert/references", CapRule::References, "not three values");
    let time = xml.replace(good, &format!("{good} trinet@caltech.edu,TRI2,yesterday"));
    assert_refused("time", &time, "alert/references", CapRule::References, "reference 2: the sent time");
    let empty = xml.replace(good, "trinet@caltech.edu,,2003-06-11T20:30:00-07:00");
    assert_refused("empty", &empty, "alert/references", CapRule::References, "empty or invalid");
}

/// Goal: polygons are closed rings of at least 4 valid points. Method: 3 points, an open
/// ring, latitude 91, longitude -181, a point that is not a pair, an exponent, too many
/// points; and the path of a polygon in a second `info`.
#[test]
fn polygons() {
    let poly = |text: &str| with(POLYGON, text);
    let three = poly("38.47,-120.14 38.34,-119.95 38.47,-120.14");
    assert_refused(
        "three",
        &three,
        POLYGON_PATH,
        CapRule::Polygon,
        "has 3 points; a polygon needs at least 4",
    );
    let open = poly("38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89");
    assert_refused("open", &open, POLYGON_PATH, CapRule::Polygon, "is not closed");
    let lat = poly("91,-120.14 38.34,-119.95 38.52,-119.74 91,-120.14");
    assert_refused(
        "lat",
        &lat,
        POLYGON_PATH,
        CapRule::Polygon,
        "point 1: has the latitude 91, outside -90 to 90",
    );
    let lon = poly("38.47,-181 38.34,-119.95 38.52,-119.74 38.47,-181");
    assert_refused("lon", &lon, POLYGON_PATH, CapRule::Polygon, "longitude -181, outside -180 to 180");
    let pair = poly("38.47,-120.14 38.34;-119.95 38.52,-119.74 38.47,-120.14");
    assert_refused("pair", &pair, POLYGON_PATH, CapRule::Polygon, "point 2: has the point");
    let exponent = poly("3.8e1,-120.14 38.34,-119.95 38.52,-119.74 3.8e1,-120.14");
    assert_refused("exponent", &exponent, POLYGON_PATH, CapRule::Polygon, "not a decimal number");
    let many = poly(&"1,1 ".repeat(POLYGON_POINTS_MAX + 1));
    assert_refused(
        "many",
        &many,
        POLYGON_PATH,
        CapRule::Polygon,
        &format!("more than {POLYGON_POINTS_MAX} points"),
    );
    let amber = common::fixture("a4_amber.xml");
    let second = amber.replacen(
        "<areaDesc>condado de Los Ángeles</areaDesc>",
        "<areaDesc>condado de Los Ángeles</areaDesc><polygon>1,1 2,2 1,1</polygon>",
        1,
    );
    assert_refused(
        "second info",
        &second,
        "alert/info[2]/area[1]/polygon[1]",
        CapRule::Polygon,
        "has 3 points",
    );
}

/// Goal: circles are `lat,lon radius` with a radius in km from 0. Method: no radius, a
/// negative radius, a second circle that is wrong.
#[test]
fn circles() {
    let xml = common::fixture("a3_earthquake.xml");
    let path = "alert/info[1]/area[1]/circle[1]";
    let no_radius = xml.replace("<circle>32.9525,-115.5527 0</circle>", "<circle>32.9525,-115.5527</circle>");
    assert_refused("no radius", &no_radius, path, CapRule::Circle, "a circle is a centre and a radius in km");
    let negative =
        xml.replace("<circle>32.9525,-115.5527 0</circle>", "<circle>32.9525,-115.5527 -1</circle>");
    assert_refused("negative", &negative, path, CapRule::Circle, "outside 0 to");
    let second = xml.replace(
        "<circle>32.9525,-115.5527 0</circle>",
        "<circle>32.9525,-115.5527 0</circle><circle>32,-200 1</circle>",
    );
    assert_refused("second", &second, "alert/info[1]/area[1]/circle[2]", CapRule::Circle, "longitude -200");
}

/// Goal: the remaining rules: bounds on repeats, language tags, numbers, ceiling only with
/// altitude. Method: one document per rule.
#[test]
fn other_rules() {
    let info = base();
    let start = info.find("<info>").unwrap();
    let end = info.find("</info>").unwrap() + "</info>".len();
    let block = &info[start..end];
    let too_many = info.replacen(block, &block.repeat(INFOS_MAX + 1), 1);
    assert_refused(
        "infos",
        &too_many,
        &format!("alert/info[{}]", INFOS_MAX + 1),
        CapRule::TooMany,
        "at most 32",
    );
    let language = with("<category>Met</category>", "<language>en_US</language><category>Met</category>");
    assert_refused("language", &language, "alert/info[1]/language", CapRule::Language, "RFC 3066");
    let ceiling = with("</geocode>\n        </area>", "</geocode><ceiling>100</ceiling></area>");
    assert_refused(
        "ceiling",
        &ceiling,
        "alert/info[1]/area[1]/ceiling",
        CapRule::Combination,
        "only together with altitude",
    );
    let altitude = with("</geocode>\n        </area>", "</geocode><altitude>1e3</altitude></area>");
    assert_refused("altitude", &altitude, "alert/info[1]/area[1]/altitude", CapRule::Number, "not a decimal");
    let xml = common::fixture("a1_homeland_security.xml");
    let size = xml.replace("<mimeType>image/gif</mimeType>", "<mimeType>image/gif</mimeType><size>-5</size>");
    assert_refused("size", &size, "alert/info[1]/resource[1]/size", CapRule::Number, "whole number");
}

/// Goal: the error reads well as one line. Method: the Display form of a polygon error.
#[test]
fn display_form() {
    let err = refused(&with(POLYGON, "1,1 2,2 1,1"));
    assert_eq!(
        err.to_string(),
        format!(
            "{POLYGON_PATH} (line {}): has 3 points; a polygon needs at least 4, the first repeated as the last",
            err.line.unwrap()
        )
    );
    assert_eq!(err.rule.code(), "polygon");
}

/// Goal: a request body is read as UTF-8 only, with or without a byte order mark. Method: the
/// fixture as bytes, with a BOM, and with one Latin-1 byte.
#[test]
fn request_bodies() {
    let xml = base();
    assert!(varsel_cap::parse_bytes(xml.as_bytes()).is_ok());
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(xml.as_bytes());
    assert!(varsel_cap::parse_bytes(&bom).is_ok());
    let latin1 = xml.replacen("SACRAMENTO", "SACRAMENT\u{1}", 1).replace('\u{1}', "?");
    let mut bytes = latin1.into_bytes();
    let at = bytes.iter().position(|b| *b == b'?').unwrap();
    bytes[at] = 0xD8; // 'Ø' in Latin-1, not UTF-8 on its own
    let err = varsel_cap::parse_bytes(&bytes).unwrap_err();
    assert_eq!((err.path.as_str(), err.rule), ("document", CapRule::Xml));
    assert_eq!(err.message, format!("is not UTF-8 at byte {at}; Varsel reads CAP documents in UTF-8 only"));
    let large = vec![b' '; varsel_cap::DOCUMENT_BYTES_MAX + 1];
    assert_eq!(varsel_cap::parse_bytes(&large).unwrap_err().rule, CapRule::TooLarge);
}
