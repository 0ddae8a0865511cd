//! SMPP 3.4 for Varsel: a PDU codec and an ESME client that binds to SMS
//! centres (SMSCs), submits messages and receives delivery receipts and replies.
//!
//! The SMS provider above this crate decides which messages to send, retries
//! across providers and records outcomes; this crate is the protocol layer:
//! it says precisely what happened to each `submit_sm` — accepted (with the
//! SMSC's message id), throttled, rejected (permanently or not), or
//! **outcome unknown** (the message may have been sent) — so the provider can
//! count possible duplicates honestly.
//!
//! # Layout
//!
//! | module | concern |
//! |---|---|
//! | [`address`] | source addresses: TON and NPI from the sender's form |
//! | [`pdu`] | PDU header and bodies, encode/decode (§3–4); limits as constants |
//! | [`tlv`] | optional parameters, typed accessors for the ones we use |
//! | [`status`] | `command_status` codes and their classification |
//! | [`frame`] | splitting a TCP stream into PDUs |
//! | [`receipt`] | telling receipts from MO messages; parsing receipts |
//! | [`concat`](mod@concat) | `submit_sm` parts for long messages (UDH or `message_payload`) |
//! | [`config`] | bind and client configuration with `validate()` |
//! | [`session`] | one bind: window, keep-alive, inbound, graceful unbind |
//! | [`pool`] | several binds with reconnect, load spreading and throttle back-off |
//! | [`error`] | error types; retryable, permanent and unknown-outcome kept apart |
//!
//! # Example
//!
//! ```no_run
//! use varsel_smpp::{BindConfig, ClientConfig, SmppClient, SubmitSm, InboundEvent};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ClientConfig::new("smsc.example:2775", BindConfig::new("varsel", "secret"));
//! config.binds = 2;
//! let (client, mut inbound) = SmppClient::start(config)?;
//! let sm = SubmitSm {
//!     source_addr: "VARSEL".into(),
//!     destination_addr: "4790000001".into(),
//!     registered_delivery: 1,
//!     short_message: b"Evacuate now".to_vec(),
//!     ..SubmitSm::default()
//! };
//! match client.submit(&sm).await {
//!     Ok(outcome) => println!("accepted as {}", outcome.message_id),
//!     Err(e) if e.may_have_been_sent() => println!("unknown outcome: {e}"),
//!     Err(e) => println!("not sent: {e} (retryable: {})", e.is_retryable()),
//! }
//! if let Some(InboundEvent::Receipt(receipt)) = inbound.recv().await.map(|d| d.into_event()) {
//!     println!("{} is {}", receipt.message_id, receipt.state);
//! }
//! client.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Nothing decoded from the network can panic this crate: every decode returns
//! a `Result`, every length is checked against a named bound, and a test feeds
//! the decoder thousands of random byte strings.

#![warn(missing_docs)]

pub mod address;
pub mod concat;
pub mod config;
pub mod error;
pub mod frame;
pub mod pdu;
pub mod pool;
pub mod receipt;
pub mod session;
pub mod status;
pub mod tlv;
mod wire;

pub use concat::{Coding, LongMessageMode, build_submits};
pub use config::{BindConfig, BindType, ClientConfig, Password};
pub use error::{ConnectError, DecodeError, EncodeError, SessionError, SubmitError, UnknownReason};
pub use pdu::{Body, DeliverSm, Header, Pdu, SubmitSm};
pub use pool::{BindHealth, BindStatus, ClientHealth, SmppClient};
pub use receipt::{
    IdFormat, Inbound, MessageState, MobileOriginated, Receipt, classify_deliver_sm, ids_match,
};
pub use session::{
    CloseReason, Delivered, InboundEvent, Session, SessionHandle, SessionState, SubmitOutcome,
};
pub use status::CommandStatus;
pub use tlv::{Tlv, Tlvs};
