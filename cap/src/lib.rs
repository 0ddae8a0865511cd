//! CAP 1.2 (OASIS Common Alerting Protocol, version 1.2, 2010) in and out, with no I/O: read
//! and check an `alert`, write one, list alerts in an Atom feed, and map an alert onto what
//! a Varsel alert needs (priority, language, texts per channel).
//!
//! Every function takes untrusted input and answers with a value or a [`CapError`] that
//! names the element as a path (`alert/info[2]/area[1]/polygon[1]`), the [`CapRule`] broken
//! and what to fix. Nothing panics on any input, every bound is a named constant
//! ([`limits`]), and no text is cut short.
//!
//! # Layout
//!
//! - [`error`]: [`CapError`] (path, [`CapRule`] code, message, line) and the crate `Result`.
//! - [`limits`]: the bounds on a document (bytes, XML nodes, `info`s, areas, points, ...).
//! - [`model`]: [`CapAlert`] and its parts, one type per CAP element, enumerations included.
//! - [`datetime`]: [`CapDateTime`], CAP's one time format, to and from Unix time.
//! - [`geo`]: points, polygons and circles, read by `varsel-geo`'s reader of CAP's syntax (the
//!   one in Varsel) and kept as `f64`; `to_area` turns them into `varsel-geo` areas.
//! - `read`: [`parse`] and [`parse_bytes`], the reader that checks every rule; `read/children.rs`
//!   walks one element's children in the schema's order and names what is out of place.
//! - `write`: [`to_xml`], the writer, elements in the schema's order.
//! - [`atom`]: [`atom_feed`], an Atom (RFC 4287) index of CAP documents.
//! - [`mapping`]: [`mapping::priority`], [`mapping::language`], [`mapping::channel_texts`]; the
//!   tables are in its documentation and in `cap/MAPPING.md`.
//!
//! # Example
//!
//! ```
//! let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
//! <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
//!   <identifier>BRG-2026-0042</identifier>
//!   <sender>beredskap@bergen.kommune.no</sender>
//!   <sent>2026-12-06T13:00:00+01:00</sent>
//!   <status>Actual</status>
//!   <msgType>Alert</msgType>
//!   <scope>Public</scope>
//!   <info>
//!     <language>nb-NO</language>
//!     <category>Met</category>
//!     <event>Flom</event>
//!     <urgency>Immediate</urgency>
//!     <severity>Severe</severity>
//!     <certainty>Observed</certainty>
//!     <headline>Flom i Bergen sentrum</headline>
//!     <instruction>Hold deg unna Bryggen.</instruction>
//!     <area>
//!       <areaDesc>Bergen sentrum</areaDesc>
//!       <circle>60.3975,5.3240 1.5</circle>
//!     </area>
//!   </info>
//! </alert>"#;
//! let alert = varsel_cap::parse(xml)?;
//! assert_eq!(alert.dedup_key(), "beredskap@bergen.kommune.no,BRG-2026-0042,2026-12-06T13:00:00+01:00");
//! assert_eq!(alert.priority(), varsel_domain::model::Priority::Crisis);
//! assert_eq!(varsel_cap::mapping::language(&alert.infos[0], 1)?, "nb");
//! assert_eq!(varsel_cap::parse(&varsel_cap::to_xml(&alert))?, alert);
//!
//! let err = varsel_cap::parse(&xml.replace("<circle>60.3975,5.3240 1.5", "<circle>60.3975,5.3240")).unwrap_err();
//! assert_eq!(err.path, "alert/info[1]/area[1]/circle[1]");
//! assert_eq!(err.rule, varsel_cap::CapRule::Circle);
//! # Ok::<(), varsel_cap::CapError>(())
//! ```

// Every public item is documented: this crate is the reference for the CAP endpoints.
#![warn(missing_docs)]

pub mod atom;
pub mod datetime;
pub mod error;
pub mod geo;
pub mod limits;
pub mod mapping;
pub mod model;
mod read;
mod write;

pub use atom::{Feed, FeedEntry, atom_feed};
pub use datetime::CapDateTime;
pub use error::{CapError, CapRule, Result};
pub use geo::{Circle, Point, Polygon};
pub use limits::DOCUMENT_BYTES_MAX;
pub use mapping::ChannelTexts;
pub use model::*;
pub use read::{parse, parse_bytes};
pub use write::to_xml;

/// The XML namespace of CAP 1.2; documents in any other (CAP 1.0, 1.1) are refused.
pub const CAP_NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// The XML Signature namespace, whose elements may follow the CAP elements of `alert`.
pub const XMLDSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The media type of a CAP document.
pub const CAP_MEDIA_TYPE: &str = atom::CAP_MEDIA_TYPE;

impl CapAlert {
    /// The key that makes receiving a CAP message idempotent: `sender,identifier,sent`, the
    /// form in which `references` names a message, so an Update's or Cancel's
    /// [`Reference::key`] finds the alert it acts on. Neither `sender` nor `identifier` can
    /// hold a comma, so the key is unambiguous; `sent` is kept with the offset it was written
    /// in (the specification identifies messages by the three values as written).
    pub fn dedup_key(&self) -> String {
        dedup_key_of(&self.sender, &self.identifier, &self.sent)
    }

    /// [`dedup_key`](CapAlert::dedup_key) as a Varsel idempotency key: `cap-sha256:` and the
    /// SHA-256 of the key in hex, 75 characters, so it fits Varsel's limit of
    /// [`varsel_domain::idempotency::KEY_CHARS_MAX`] however long the sender and identifier.
    pub fn idempotency_key(&self) -> String {
        idempotency_key_of(&self.dedup_key())
    }

    /// Checks the alert against every rule [`parse`] checks, by writing it and reading it
    /// back: use it on an alert built from other data before serving it.
    pub fn validate(&self) -> Result<()> {
        parse(&to_xml(self)).map(|_| ())
    }
}

pub(crate) fn idempotency_key_of(dedup_key: &str) -> String {
    use sha2::Digest as _;
    format!("cap-sha256:{}", hex::encode(sha2::Sha256::digest(dedup_key.as_bytes())))
}

pub(crate) fn dedup_key_of(sender: &str, identifier: &str, sent: &CapDateTime) -> String {
    format!("{sender},{identifier},{sent}")
}
