//! Properties over generated input: reading never panics on damaged documents, and values
//! with any text or coordinates survive writing and reading.
#![allow(clippy::unwrap_used)]

mod common;

use proptest::prelude::*;
use varsel_cap::{Point, Polygon, parse, to_xml};

/// What XML 1.0 can carry of `text`: the writer replaces the rest by U+FFFD.
fn xml_representable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t'
            | '\n'
            | '\r'
            | '\u{20}'..='\u{D7FF}'
            | '\u{E000}'..='\u{FFFD}'
            | '\u{10000}'..='\u{10FFFF}' => c,
            _ => char::REPLACEMENT_CHARACTER,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Goal: no damaged document makes the reader panic, and whatever it accepts writes back
    /// to the same value. Method: splice a random string into a random fixture at a random
    /// place (replacing up to 40 bytes), parse, and round-trip what is accepted.
    #[test]
    fn damaged_documents_never_panic(
        which in 0..common::FIXTURES.len(),
        at in 0usize..4000,
        cut in 0usize..40,
        insert in "[<>/&;\"a-zA-Z0-9 ,.:+-]{0,12}",
    ) {
        let xml = common::fixture(common::FIXTURES[which]);
        let mut start = at.min(xml.len());
        while !xml.is_char_boundary(start) { start -= 1; }
        let mut end = (start + cut).min(xml.len());
        while !xml.is_char_boundary(end) { end -= 1; }
        let damaged = format!("{}{}{}", &xml[..start], insert, &xml[end..]);
        if let Ok(alert) = parse(&damaged) {
            prop_assert_eq!(parse(&to_xml(&alert)).unwrap(), alert);
        }
    }

    /// Goal: any text survives in free-text elements (escaping is complete). Method: any
    /// string as description, note and area description; compare after a round trip with
    /// what XML can carry of it.
    #[test]
    fn any_text_round_trips(text in any::<String>()) {
        let mut alert = parse(&common::fixture("a1_homeland_security.xml")).unwrap();
        alert.infos[0].description = Some(text.clone());
        alert.note = Some(text.clone());
        alert.infos[0].areas[0].area_desc = format!("x{text}");
        let again = parse(&to_xml(&alert)).unwrap();
        let expected = xml_representable(&text);
        prop_assert_eq!(again.infos[0].description.as_deref(), Some(expected.as_str()));
        prop_assert_eq!(again.note.as_deref(), Some(expected.as_str()));
        prop_assert_eq!(&again.infos[0].areas[0].area_desc, &format!("x{expected}"));
    }

    /// Goal: coordinates are written so that they read back as the same `f64`. Method:
    /// random valid points as a closed polygon.
    #[test]
    fn polygons_round_trip(points in prop::collection::vec((-90.0f64..=90.0, -180.0f64..=180.0), 3..20)) {
        let mut points: Vec<Point> = points.into_iter().map(|(lat, lon)| Point { lat, lon }).collect();
        points.push(points[0]);
        let mut alert = parse(&common::fixture("a2_thunderstorm.xml")).unwrap();
        alert.infos[0].areas[0].polygons = vec![Polygon { points }];
        let again = parse(&to_xml(&alert)).unwrap();
        prop_assert_eq!(again, alert);
    }
}
