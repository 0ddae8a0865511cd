//! The CAP 1.2 message as Rust values: one struct per element with children, one enum per
//! enumerated element, in the order and with the names of the specification (OASIS CAP 1.2,
//! section 3.2, "Data Dictionary").
//!
//! Free text (`headline`, `description`, `areaDesc`, ...) is kept exactly as the document has
//! it, whitespace included, so that writing and reading again gives the same value; the
//! texts for people ([`crate::mapping`]) collapse the whitespace. Structured values (times,
//! enumerations, points, references) are kept parsed.

use serde::{Deserialize, Serialize};

use crate::datetime::CapDateTime;
use crate::geo::{Circle, Polygon};

/// What the reader and writer need of every enumerated element.
pub trait CapEnum: Sized + Copy + 'static {
    /// The value CAP spells `text`, if any.
    fn from_cap(text: &str) -> Option<Self>;
    /// Every value, in the schema's order.
    fn values() -> &'static [Self];
    /// The value as CAP writes it.
    fn as_cap(self) -> &'static str;
}

/// Declares an enumerated CAP element: the Rust enum, its CAP spelling both ways and the list
/// of values for error messages. The spelling is the schema's, case-sensitive.
macro_rules! cap_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in the schema's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The value as CAP writes it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value CAP spells `text` (exactly, case included), if any.
            pub fn from_cap(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl CapEnum for $name {
            fn from_cap(text: &str) -> Option<Self> {
                $name::from_cap(text)
            }
            fn values() -> &'static [Self] {
                $name::ALL
            }
            fn as_cap(self) -> &'static str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

cap_enum! {
    /// `status`: the appropriate handling of the message.
    Status {
        /// Actionable by all targeted recipients.
        Actual = "Actual",
        /// Actionable only by designated exercise participants.
        Exercise = "Exercise",
        /// For messages that support alert network internal functions.
        System = "System",
        /// Technical testing only; all recipients disregard.
        Test = "Test",
        /// A preliminary template or draft, not actionable in its current form.
        Draft = "Draft",
    }
}

cap_enum! {
    /// `msgType`: the nature of the message.
    MsgType {
        /// Initial information requiring attention by targeted recipients.
        Alert = "Alert",
        /// Updates and supersedes the earlier message(s) in `references`.
        Update = "Update",
        /// Cancels the earlier message(s) in `references`.
        Cancel = "Cancel",
        /// Acknowledges receipt and acceptance of the message(s) in `references`.
        Ack = "Ack",
        /// Indicates rejection of the message(s) in `references`.
        Error = "Error",
    }
}

cap_enum! {
    /// `scope`: the intended distribution.
    Scope {
        /// For general dissemination to unrestricted audiences.
        Public = "Public",
        /// For dissemination only to users with a known operational requirement (`restriction`).
        Restricted = "Restricted",
        /// For dissemination only to the specified `addresses`.
        Private = "Private",
    }
}

cap_enum! {
    /// `category`: the category of the subject event.
    Category {
        /// Geophysical (including landslide).
        Geo = "Geo",
        /// Meteorological (including flood).
        Met = "Met",
        /// General emergency and public safety.
        Safety = "Safety",
        /// Law enforcement, military, homeland and local/private security.
        Security = "Security",
        /// Rescue and recovery.
        Rescue = "Rescue",
        /// Fire suppression and rescue.
        Fire = "Fire",
        /// Medical and public health.
        Health = "Health",
        /// Pollution and other environmental.
        Env = "Env",
        /// Public and private transportation.
        Transport = "Transport",
        /// Utility, telecommunication, other non-transport infrastructure.
        Infra = "Infra",
        /// Chemical, Biological, Radiological, Nuclear or High-Yield Explosive threat or attack.
        Cbrne = "CBRNE",
        /// Other events.
        Other = "Other",
    }
}

cap_enum! {
    /// `responseType`: the type of action recommended for the audience.
    ResponseType {
        /// Take shelter in place.
        Shelter = "Shelter",
        /// Relocate.
        Evacuate = "Evacuate",
        /// Make preparations.
        Prepare = "Prepare",
        /// Execute a pre-planned activity.
        Execute = "Execute",
        /// Avoid the subject event.
        Avoid = "Avoid",
        /// Attend to information sources.
        Monitor = "Monitor",
        /// Evaluate the information in this message (not for public warnings).
        Assess = "Assess",
        /// The subject event no longer poses a threat.
        AllClear = "AllClear",
        /// No action recommended.
        None = "None",
    }
}

cap_enum! {
    /// `urgency`: how soon responsive action should be taken.
    Urgency {
        /// Responsive action should be taken immediately.
        Immediate = "Immediate",
        /// Responsive action should be taken soon (within the next hour).
        Expected = "Expected",
        /// Responsive action should be taken in the near future.
        Future = "Future",
        /// Responsive action is no longer required.
        Past = "Past",
        /// Urgency not known.
        Unknown = "Unknown",
    }
}

cap_enum! {
    /// `severity`: the threat to life or property.
    Severity {
        /// Extraordinary threat to life or property.
        Extreme = "Extreme",
        /// Significant threat to life or property.
        Severe = "Severe",
        /// Possible threat to life or property.
        Moderate = "Moderate",
        /// Minimal to no known threat to life or property.
        Minor = "Minor",
        /// Severity unknown.
        Unknown = "Unknown",
    }
}

cap_enum! {
    /// `certainty`: how certain the subject event is.
    Certainty {
        /// Determined to have occurred or to be ongoing.
        Observed = "Observed",
        /// Likely (p > ~50%).
        Likely = "Likely",
        /// Possible but not likely (p <= ~50%).
        Possible = "Possible",
        /// Not expected to occur (p ~ 0).
        Unlikely = "Unlikely",
        /// Certainty unknown.
        Unknown = "Unknown",
    }
}

/// The language an `info` has when it names none (CAP 1.2, `language`).
pub const DEFAULT_LANGUAGE: &str = "en-US";

/// `alert`: the whole message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapAlert {
    /// `identifier`: unique for the sender; no spaces, commas, `<` or `&`.
    pub identifier: String,
    /// `sender`: globally unique originator; no spaces, commas, `<` or `&`.
    pub sender: String,
    /// `sent`: when the message originated.
    pub sent: CapDateTime,
    /// `status`.
    pub status: Status,
    /// `msgType`.
    pub msg_type: MsgType,
    /// `source`: the particular source of the message.
    pub source: Option<String>,
    /// `scope`.
    pub scope: Scope,
    /// `restriction`: the rule for a `Restricted` message, as text.
    pub restriction: Option<String>,
    /// `addresses`: the recipients of a `Private` message, space-separated, multi-word
    /// addresses in double quotes; kept as written.
    pub addresses: Option<String>,
    /// `code*`: special handling codes.
    pub codes: Vec<String>,
    /// `note`: a free-text note (required in practice for `Error` messages).
    pub note: Option<String>,
    /// `references`: the earlier messages this one updates, cancels or answers.
    pub references: Vec<Reference>,
    /// `incidents`: related incidents, space-separated, multi-word names in double quotes;
    /// kept as written.
    pub incidents: Option<String>,
    /// `info*`: one per language (or per event).
    pub infos: Vec<Info>,
}

/// One `sender,identifier,sent` triple of `references`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The earlier message's `sender`.
    pub sender: String,
    /// The earlier message's `identifier`.
    pub identifier: String,
    /// The earlier message's `sent`.
    pub sent: CapDateTime,
}

impl Reference {
    /// The triple as CAP writes it, which is also the [`CapAlert::dedup_key`] of the message
    /// it names: look a referenced alert up by this.
    pub fn key(&self) -> String {
        crate::dedup_key_of(&self.sender, &self.identifier, &self.sent)
    }

    /// The [`CapAlert::idempotency_key`] of the message it names.
    pub fn idempotency_key(&self) -> String {
        crate::idempotency_key_of(&self.key())
    }
}

/// A `valueName`/`value` pair: `eventCode`, `parameter` and `geocode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValuePair {
    /// `valueName`: the system that defines the value (`SAME`, `FIPS6`, ...).
    pub value_name: String,
    /// `value`.
    pub value: String,
}

/// `info`: the event in one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// `language`: an RFC 3066 tag; [`DEFAULT_LANGUAGE`] when the document has none.
    pub language: String,
    /// `category+`: at least one.
    pub categories: Vec<Category>,
    /// `event`: the type of event, as text.
    pub event: String,
    /// `responseType*`.
    pub response_types: Vec<ResponseType>,
    /// `urgency`.
    pub urgency: Urgency,
    /// `severity`.
    pub severity: Severity,
    /// `certainty`.
    pub certainty: Certainty,
    /// `audience`.
    pub audience: Option<String>,
    /// `eventCode*`.
    pub event_codes: Vec<ValuePair>,
    /// `effective`: when the information becomes effective (default: `sent`).
    pub effective: Option<CapDateTime>,
    /// `onset`: expected time of the beginning of the event.
    pub onset: Option<CapDateTime>,
    /// `expires`: when the information no longer holds.
    pub expires: Option<CapDateTime>,
    /// `senderName`: the originator, for people.
    pub sender_name: Option<String>,
    /// `headline`: a brief human-readable headline (the specification suggests under 160
    /// characters, for SMS).
    pub headline: Option<String>,
    /// `description`: the event in detail.
    pub description: Option<String>,
    /// `instruction`: the recommended action.
    pub instruction: Option<String>,
    /// `web`: a URI with more information.
    pub web: Option<String>,
    /// `contact`: how to follow up.
    pub contact: Option<String>,
    /// `parameter*`: system-specific additional parameters.
    pub parameters: Vec<ValuePair>,
    /// `resource*`.
    pub resources: Vec<Resource>,
    /// `area*`.
    pub areas: Vec<Area>,
}

/// `resource`: a file with more information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `resourceDesc`: what the resource is.
    pub resource_desc: String,
    /// `mimeType`.
    pub mime_type: String,
    /// `size`: in bytes.
    pub size: Option<u64>,
    /// `uri`.
    pub uri: Option<String>,
    /// `derefUri`: the content itself, base64.
    pub deref_uri: Option<String>,
    /// `digest`: SHA-1 of the content, hex.
    pub digest: Option<String>,
}

/// `area`: where the event is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// `areaDesc`: the area, for people.
    pub area_desc: String,
    /// `polygon*`.
    pub polygons: Vec<Polygon>,
    /// `circle*`.
    pub circles: Vec<Circle>,
    /// `geocode*`.
    pub geocodes: Vec<ValuePair>,
    /// `altitude`: in feet above mean sea level (WGS 84 datum).
    pub altitude: Option<f64>,
    /// `ceiling`: the upper bound, in feet; only with `altitude`.
    pub ceiling: Option<f64>,
}
