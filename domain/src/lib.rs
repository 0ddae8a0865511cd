//! Varsel's domain rules: pure functions that decide whether input is acceptable and what it
//! costs, shared by the API, the Raft state machine and the senders.
//!
//! Nothing here does I/O (the CSV import reads from any `std::io::Read` it is given; [`clock`]
//! reads the wall clock, for the one place every crate takes it from), awaits,
//! or panics on any input: every function takes untrusted API input and answers with a value
//! or an error that names the field and says what to fix. Every limit is a named constant, and
//! nothing is truncated silently.
//!
//! # Layout
//!
//! - [`error`]: [`ValidationError`] (field, [`Rule`] code, message) and [`ValidationErrors`];
//!   [`SmsError`] for the SMS codecs; [`ImportError`] for a CSV file that cannot be imported.
//! - [`clock`]: the wall clock in ms and s since the Unix epoch.
//! - [`channel`]: [`Channel`], the delivery channels (SMS, voice, e-mail, push).
//! - [`sms`]: GSM 03.38 / UCS-2 encoding choice, exact segment counting, the encoders and
//!   decoders the SMPP client uses, and the per-tenant segment limit check.
//! - [`phone`]: E.164 phone number normalisation.
//! - [`email`]: e-mail address syntax (the deliverable part of RFC 5321).
//! - [`language`]: language tags (the common subset of BCP 47).
//! - [`message_key`]: the idempotency key of one message, made and parsed.
//! - [`idempotency`]: the idempotency keys of requests that create or change something.
//! - [`template`]: `{{variable}}` templates, parsed once and rendered per recipient.
//! - [`csv_import`]: bulk contact import from CSV, reporting every bad row with its line.
//! - [`model`]: the replicated records: tenants, credentials, contacts, groups, templates,
//!   alerts, audit records.
//! - [`alert_spec`]: the rules for an alert request (content, variables, segments, policy,
//!   timing).
//!
//! # Example
//!
//! ```
//! use varsel_domain::{phone, sms};
//!
//! let info = sms::check_segments("sms.text", "Evakuer sentrum innen kl. 14. Svar OK.", 3)?;
//! assert_eq!((info.encoding, info.segments), (sms::SmsEncoding::Gsm7, 1));
//!
//! let err = phone::normalize_e164("contacts[3].phone", "+0471234").unwrap_err();
//! assert_eq!(err.field, "contacts[3].phone");
//! # Ok::<(), varsel_domain::ValidationError>(())
//! ```

// Every public item is documented: these rules are the reference for API errors.
#![warn(missing_docs)]

pub mod alert_spec;
pub mod answers;
pub mod cap_route;
pub mod channel;
pub mod clock;
pub mod csv_import;
pub mod email;
pub mod error;
pub mod idempotency;
pub mod language;
pub mod location;
pub mod message_key;
pub mod model;
pub mod phone;
pub mod sms;
pub mod template;

pub use channel::Channel;
pub use error::{ImportError, Rule, SmsError, ValidationError, ValidationErrors};
