//! An Atom feed (RFC 4287) of alerts, each entry linking to its CAP document.
//!
//! This is the "CAP index" form that alert aggregators poll (as the OASIS CAP feeds note and
//! the national weather services publish): one `entry` per alert with
//! `<link rel="alternate" type="application/cap+xml" href="..."/>`. Atom requires of a
//! feed an `id`, `title`, `updated` and an `author` (given once, for the feed), and of each
//! entry an `id`, `title`, `updated` and, without `content`, an alternate link: all are
//! written. Times are RFC 3339, which CAP times already are.
//!
//! ```
//! use varsel_cap::{CapDateTime, Feed, FeedEntry, atom_feed};
//!
//! let t = CapDateTime::parse("2026-12-06T13:00:00+01:00").unwrap();
//! let feed = Feed {
//!     id: "https://varsel.example/api/v1/alerts.atom".into(),
//!     title: "Varsel: public alerts".into(),
//!     updated: t,
//!     author_name: "Bergen kommune".into(),
//!     self_url: None,
//! };
//! let entry = FeedEntry {
//!     id: "urn:varsel:alert:42".into(),
//!     title: "Flom i sentrum & på Bryggen".into(),
//!     updated: t,
//!     summary: None,
//!     cap_url: "https://varsel.example/api/v1/alerts/42.cap".into(),
//! };
//! let xml = atom_feed(&feed, &[entry]);
//! assert!(xml.contains("<title>Flom i sentrum &amp; på Bryggen</title>"));
//! assert!(xml.contains(r#"<link rel="alternate" type="application/cap+xml" href="https://varsel.example/api/v1/alerts/42.cap"/>"#));
//! ```

use crate::datetime::CapDateTime;
use crate::model::CapAlert;
use crate::write::escape_text_into;

/// The Atom namespace.
pub const ATOM_NAMESPACE: &str = "http://www.w3.org/2005/Atom";
/// The media type of a CAP document, as the alternate links give it.
pub const CAP_MEDIA_TYPE: &str = "application/cap+xml";

/// The feed itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    /// A permanent IRI that names the feed (its URL is fine).
    pub id: String,
    /// The feed's title, for people.
    pub title: String,
    /// When the feed last changed (the newest entry's time).
    pub updated: CapDateTime,
    /// The publisher (the tenant's name), written as the feed's `author`.
    pub author_name: String,
    /// The feed's own URL, written as `<link rel="self">` when given.
    pub self_url: Option<String>,
}

/// One alert in the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    /// A permanent IRI that names the alert (`urn:...` or its URL).
    pub id: String,
    /// The alert's title, for people.
    pub title: String,
    /// When the alert was sent or last changed.
    pub updated: CapDateTime,
    /// A short text, written as `summary` when given.
    pub summary: Option<String>,
    /// Where the alert's CAP document is.
    pub cap_url: String,
}

impl FeedEntry {
    /// The entry for `alert`: titled by the first `info`'s headline (its event when it has no
    /// headline, the identifier when it has no `info`), summarised by that `info`'s
    /// description, updated at `sent`.
    pub fn for_alert(alert: &CapAlert, id: impl Into<String>, cap_url: impl Into<String>) -> Self {
        let info = alert.infos.first();
        let title = info
            .map(|i| i.headline.as_deref().filter(|h| !h.trim().is_empty()).unwrap_or(&i.event))
            .unwrap_or(&alert.identifier);
        FeedEntry {
            id: id.into(),
            title: crate::mapping::collapse_whitespace(title),
            updated: alert.sent,
            summary: info.and_then(|i| i.description.as_deref()).map(crate::mapping::collapse_whitespace),
            cap_url: cap_url.into(),
        }
    }
}

/// The feed as an Atom document in UTF-8. The caller bounds the number of entries (a feed
/// page); this writes what it is given.
pub fn atom_feed(feed: &Feed, entries: &[FeedEntry]) -> String {
    let mut out = String::with_capacity(512 + entries.len() * 512);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<feed xmlns=\"{ATOM_NAMESPACE}\">\n"));
    element(&mut out, 1, "id", &feed.id);
    element(&mut out, 1, "title", &feed.title);
    element(&mut out, 1, "updated", &feed.updated.to_string());
    out.push_str("  <author>\n");
    element(&mut out, 2, "name", &feed.author_name);
    out.push_str("  </author>\n");
    if let Some(url) = &feed.self_url {
        link(&mut out, 1, "self", "application/atom+xml", url);
    }
    for entry in entries {
        out.push_str("  <entry>\n");
        element(&mut out, 2, "id", &entry.id);
        element(&mut out, 2, "title", &entry.title);
        element(&mut out, 2, "updated", &entry.updated.to_string());
        if let Some(summary) = &entry.summary {
            element(&mut out, 2, "summary", summary);
        }
        link(&mut out, 2, "alternate", CAP_MEDIA_TYPE, &entry.cap_url);
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

fn element(out: &mut String, depth: usize, name: &str, text: &str) {
    out.push_str(&"  ".repeat(depth));
    out.push_str(&format!("<{name}>"));
    escape_text_into(out, text);
    out.push_str(&format!("</{name}>\n"));
}

fn link(out: &mut String, depth: usize, rel: &str, media_type: &str, href: &str) {
    out.push_str(&"  ".repeat(depth));
    out.push_str(&format!("<link rel=\"{rel}\" type=\"{media_type}\" href=\""));
    escape_text_into(out, href);
    out.push_str("\"/>\n");
}
