//! The Atom feed of alerts is well-formed XML (checked by `xmllint --noout`) and lists each
//! entry with a link to its CAP document.
#![allow(clippy::unwrap_used)]

mod common;

use varsel_cap::atom::ATOM_NAMESPACE;
use varsel_cap::{CapDateTime, Feed, FeedEntry, atom_feed, parse};

fn feed() -> Feed {
    Feed {
        id: "https://varsel.example/api/v1/alerts.atom?tenant=bergen&lang=nb".into(),
        title: "Bergen kommune: offentlige varsler".into(),
        updated: CapDateTime::parse("2026-12-06T17:30:00-00:00").unwrap(),
        author_name: "Bergen kommune <beredskap>".into(),
        self_url: Some("https://varsel.example/api/v1/alerts.atom?tenant=bergen&lang=nb".into()),
    }
}

/// Goal: a feed of every fixture is well-formed and lists each alert with its CAP link.
/// Method: one entry per fixture (`FeedEntry::for_alert`), xmllint --noout, then read the
/// feed back and compare ids, titles and links, `&` in URLs included.
#[test]
fn feed_is_well_formed_and_lists_entries() {
    let entries: Vec<FeedEntry> = common::FIXTURES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let alert = parse(&common::fixture(name)).unwrap();
            FeedEntry::for_alert(
                &alert,
                format!("urn:varsel:alert:{i}"),
                format!("https://varsel.example/api/v1/alerts/{i}.cap?x=1&y=2"),
            )
        })
        .collect();
    let xml = atom_feed(&feed(), &entries);
    let (ok, output) = common::xmllint(&["--noout"], &xml);
    assert!(ok, "xmllint: {output}\n{xml}");

    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!((root.tag_name().namespace(), root.tag_name().name()), (Some(ATOM_NAMESPACE), "feed"));
    let read: Vec<(String, String, String, String)> = root
        .children()
        .filter(|n| n.has_tag_name((ATOM_NAMESPACE, "entry")))
        .map(|e| {
            let child = |name: &str| e.children().find(|n| n.has_tag_name((ATOM_NAMESPACE, name))).unwrap();
            let link = child("link");
            assert_eq!(link.attribute("rel"), Some("alternate"));
            assert_eq!(link.attribute("type"), Some("application/cap+xml"));
            let text = |name: &str| child(name).text().unwrap_or("").to_string();
            (text("id"), text("title"), text("updated"), link.attribute("href").unwrap().to_string())
        })
        .collect();
    let expected: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| (e.id.clone(), e.title.clone(), e.updated.to_string(), e.cap_url.clone()))
        .collect();
    assert_eq!(read, expected);
    assert_eq!(read[0].1, "Homeland Security Sets Code ORANGE");
    assert_eq!(read[4].1, "Flom på Bryggen: evakuer nå");
    let author = root.descendants().find(|n| n.has_tag_name((ATOM_NAMESPACE, "name"))).unwrap();
    assert_eq!(author.text(), Some("Bergen kommune <beredskap>"));
}

/// Goal: an empty feed is still a valid-looking feed. Method: no entries, xmllint --noout.
#[test]
fn empty_feed_is_well_formed() {
    let xml = atom_feed(&Feed { self_url: None, ..feed() }, &[]);
    let (ok, output) = common::xmllint(&["--noout"], &xml);
    assert!(ok, "xmllint: {output}\n{xml}");
    assert!(!xml.contains("<entry>"));
}
