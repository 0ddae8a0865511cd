//! Delivery receipts and mobile-originated messages in `deliver_sm`.
//!
//! An SMSC uses `deliver_sm` for two different things: telling us what became of
//! a message we sent (a receipt), and passing on a message a phone sent to us
//! (mobile-originated, "MO"). `esm_class` bits 2–5 tell them apart (§5.2.12):
//! 0x04 SMSC delivery receipt, 0x08 SME delivery acknowledgement, 0x10 SME
//! manual/user acknowledgement, 0x20 intermediate delivery notification; 0x00
//! is an ordinary (MO) message.
//!
//! Receipt contents come two ways. SMPP 3.4 Appendix B describes a de-facto text
//! format in `short_message`:
//!
//! ```text
//! id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//! ```
//!
//! which SMSCs vary freely (field case, missing fields, `submit_date`, hex or
//! decimal ids). The TLVs `receipted_message_id` and `message_state` say the same
//! thing unambiguously; when present they win, and the text fills in the rest.

use crate::pdu::DeliverSm;
use std::fmt;

/// `esm_class` mask of the message-type bits (§5.2.12, bits 5–2).
pub const ESM_CLASS_TYPE_MASK: u8 = 0x3C;
/// `esm_class` message type: SMSC delivery receipt.
pub const ESM_CLASS_SMSC_RECEIPT: u8 = 0x04;
/// `esm_class` message type: SME delivery acknowledgement.
pub const ESM_CLASS_SME_DELIVERY_ACK: u8 = 0x08;
/// `esm_class` message type: SME manual/user acknowledgement.
pub const ESM_CLASS_SME_USER_ACK: u8 = 0x10;
/// `esm_class` message type: intermediate delivery notification.
pub const ESM_CLASS_INTERMEDIATE: u8 = 0x20;
/// `esm_class` bit: `short_message` starts with a user data header.
pub const ESM_CLASS_UDHI: u8 = 0x40;

/// What a receipt reports on (from `esm_class`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptKind {
    /// 0x04: the SMSC's delivery receipt, final or not according to its state.
    SmscDeliveryReceipt,
    /// 0x08: the recipient's handset acknowledged delivery.
    SmeDeliveryAck,
    /// 0x10: the recipient acknowledged manually.
    SmeUserAck,
    /// 0x20: an intermediate notification (e.g. still en route).
    IntermediateNotification,
}

/// The state of a message (TLV `message_state` values of §5.3.2.35 and the
/// receipt text `stat` codes of Appendix B).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageState {
    /// `ENROUTE` (1): on its way.
    Enroute,
    /// `DELIVRD` (2): delivered to the handset.
    Delivered,
    /// `EXPIRED` (3): validity period passed before delivery.
    Expired,
    /// `DELETED` (4): deleted before delivery.
    Deleted,
    /// `UNDELIV` (5): undeliverable.
    Undeliverable,
    /// `ACCEPTD` (6): accepted (e.g. read by a customer service operator).
    Accepted,
    /// `UNKNOWN` (7): the SMSC does not know.
    Unknown,
    /// `REJECTD` (8): rejected.
    Rejected,
    /// A state code we do not recognise, as received (empty when none was given).
    Unrecognized(String),
}

impl MessageState {
    /// From a `message_state` TLV value.
    pub fn from_tlv(value: u8) -> MessageState {
        match value {
            1 => MessageState::Enroute,
            2 => MessageState::Delivered,
            3 => MessageState::Expired,
            4 => MessageState::Deleted,
            5 => MessageState::Undeliverable,
            6 => MessageState::Accepted,
            7 => MessageState::Unknown,
            8 => MessageState::Rejected,
            other => MessageState::Unrecognized(other.to_string()),
        }
    }

    /// From a receipt text `stat` code, case-insensitively.
    pub fn from_stat(stat: &str) -> MessageState {
        match stat.trim().to_ascii_uppercase().as_str() {
            "ENROUTE" => MessageState::Enroute,
            "DELIVRD" | "DELIVERED" => MessageState::Delivered,
            "EXPIRED" => MessageState::Expired,
            "DELETED" => MessageState::Deleted,
            "UNDELIV" | "UNDELIVERABLE" => MessageState::Undeliverable,
            "ACCEPTD" | "ACCEPTED" => MessageState::Accepted,
            "UNKNOWN" => MessageState::Unknown,
            "REJECTD" | "REJECTED" => MessageState::Rejected,
            _ => MessageState::Unrecognized(stat.trim().to_string()),
        }
    }

    /// `true` for states after which no further receipt is expected.
    pub fn is_final(&self) -> bool {
        !matches!(self, MessageState::Enroute | MessageState::Accepted | MessageState::Unrecognized(_))
    }
}

/// A parsed delivery receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// What kind of notification this is.
    pub kind: ReceiptKind,
    /// The SMSC message id, as in the `submit_sm_resp` (see [`Receipt::matches_message_id`]).
    pub message_id: String,
    /// The reported state.
    pub state: MessageState,
    /// `sub:` number of messages originally submitted.
    pub submitted: Option<u32>,
    /// `dlvrd:` number of messages delivered.
    pub delivered: Option<u32>,
    /// `submit date:` as sent (`YYMMDDhhmm`, sometimes with seconds); not interpreted, SMSC clocks and zones vary.
    pub submit_date: Option<String>,
    /// `done date:` as sent.
    pub done_date: Option<String>,
    /// `err:` the network or SMSC error code, as sent.
    pub error: Option<String>,
    /// `network_error_code` TLV as (network type, code), when present.
    pub network_error: Option<(u8, u16)>,
    /// `text:` the first characters of the original message, when sent.
    pub text: Option<String>,
    /// The recipient of the original message (the receipt's `source_addr`).
    pub recipient: String,
    /// `true` when the id and state came from TLVs rather than text.
    pub from_tlvs: bool,
}

impl Receipt {
    /// `true` when `message_id` (from a `submit_sm_resp`) names the message this
    /// receipt is about, comparing as [`IdFormat::Same`].
    pub fn matches_message_id(&self, message_id: &str) -> bool {
        ids_match(message_id, &self.message_id, IdFormat::Same)
    }
}

/// How an SMSC writes the same message id in `submit_sm_resp` and in receipts.
///
/// Several SMSCs return a hex id in the response and the decimal rendering of
/// the same number in the receipt text (or the reverse). Which one an SMSC does
/// is a property of that SMSC, so it is configuration, not guesswork: trying
/// both renderings for every id would make response id `10` match the receipt
/// for message `16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IdFormat {
    /// The same string, compared case-insensitively and ignoring leading zeros.
    #[default]
    Same,
    /// Hexadecimal in the response, decimal in the receipt.
    HexResponseDecimalReceipt,
    /// Decimal in the response, hexadecimal in the receipt.
    DecimalResponseHexReceipt,
}

/// `true` when the receipt id `receipt_id` names the message the SMSC
/// accepted as `response_id`.
pub fn ids_match(response_id: &str, receipt_id: &str, format: IdFormat) -> bool {
    let (a, b) = (response_id.trim(), receipt_id.trim());
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let numeric = |s: &str, radix: u32| u128::from_str_radix(s, radix).ok();
    match format {
        IdFormat::Same => {
            let strip = |s: &str| s.trim_start_matches('0').to_ascii_lowercase();
            strip(a) == strip(b)
        }
        IdFormat::HexResponseDecimalReceipt => numeric(a, 16).is_some_and(|n| numeric(b, 10) == Some(n)),
        IdFormat::DecimalResponseHexReceipt => numeric(a, 10).is_some_and(|n| numeric(b, 16) == Some(n)),
    }
}

/// A message a phone sent to one of our numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MobileOriginated {
    /// The sender (`source_addr`).
    pub from: String,
    /// The sender's type of number.
    pub from_ton: u8,
    /// Our number it was sent to (`destination_addr`).
    pub to: String,
    /// Coding of `payload` (0x00 GSM-7 unpacked, 0x08 UCS-2, …).
    pub data_coding: u8,
    /// `esm_class` as received; bit 0x40 means `payload` starts with a UDH (a
    /// segment of a concatenated MO message, which the caller reassembles).
    pub esm_class: u8,
    /// The user data: `short_message`, or `message_payload` when that is used.
    pub payload: Vec<u8>,
}

/// What a `deliver_sm` carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A delivery receipt or notification.
    Receipt(Receipt),
    /// A mobile-originated message.
    MobileOriginated(MobileOriginated),
}

/// A `deliver_sm` that cannot be classified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// A receipt without a message id, in neither TLV nor text.
    #[error("receipt has no message id")]
    MissingId,
    /// An `esm_class` message type that is neither a receipt nor an ordinary message.
    #[error("unsupported esm_class message type 0x{0:02X}")]
    UnsupportedType(u8),
}

/// Tells a receipt from a mobile-originated message and parses it.
pub fn classify_deliver_sm(sm: &DeliverSm) -> Result<Inbound, ReceiptError> {
    let kind = match sm.esm_class & ESM_CLASS_TYPE_MASK {
        0 => return Ok(Inbound::MobileOriginated(mobile_originated(sm))),
        ESM_CLASS_SMSC_RECEIPT => ReceiptKind::SmscDeliveryReceipt,
        ESM_CLASS_SME_DELIVERY_ACK => ReceiptKind::SmeDeliveryAck,
        ESM_CLASS_SME_USER_ACK => ReceiptKind::SmeUserAck,
        ESM_CLASS_INTERMEDIATE => ReceiptKind::IntermediateNotification,
        other => return Err(ReceiptError::UnsupportedType(other)),
    };
    parse_receipt(sm, kind).map(Inbound::Receipt)
}

fn mobile_originated(sm: &DeliverSm) -> MobileOriginated {
    MobileOriginated {
        from: sm.source_addr.clone(),
        from_ton: sm.source_addr_ton,
        to: sm.destination_addr.clone(),
        data_coding: sm.data_coding,
        esm_class: sm.esm_class,
        payload: sm.payload().to_vec(),
    }
}

/// Builds a receipt from TLVs and text, TLVs first.
fn parse_receipt(sm: &DeliverSm, kind: ReceiptKind) -> Result<Receipt, ReceiptError> {
    let text = ReceiptText::parse(sm.payload());
    let tlv_id = sm.tlvs.receipted_message_id().filter(|id| !id.is_empty());
    let tlv_state = sm.tlvs.message_state().map(MessageState::from_tlv);
    let from_tlvs = tlv_id.is_some();
    let message_id = tlv_id.or(text.id.clone()).filter(|id| !id.is_empty()).ok_or(ReceiptError::MissingId)?;
    let state = tlv_state
        .or_else(|| text.stat.as_deref().map(MessageState::from_stat))
        .unwrap_or(MessageState::Unrecognized(String::new()));
    Ok(Receipt {
        kind,
        message_id,
        state,
        submitted: text.sub.as_deref().and_then(|v| v.parse().ok()),
        delivered: text.dlvrd.as_deref().and_then(|v| v.parse().ok()),
        submit_date: text.submit_date,
        done_date: text.done_date,
        error: text.err,
        network_error: sm.tlvs.network_error_code(),
        text: text.text,
        recipient: sm.source_addr.clone(),
        from_tlvs,
    })
}

/// The fields of an Appendix B receipt text; every one optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiptText {
    /// `id:`
    pub id: Option<String>,
    /// `sub:`
    pub sub: Option<String>,
    /// `dlvrd:`
    pub dlvrd: Option<String>,
    /// `submit date:`
    pub submit_date: Option<String>,
    /// `done date:`
    pub done_date: Option<String>,
    /// `stat:`
    pub stat: Option<String>,
    /// `err:`
    pub err: Option<String>,
    /// `text:` (everything after it, as it may contain spaces and colons).
    pub text: Option<String>,
}

/// The receipt keys we look for, each with the spellings SMSCs use.
const KEYS: &[(Key, &[&str])] = &[
    (Key::Id, &["id"]),
    (Key::Sub, &["sub"]),
    (Key::Dlvrd, &["dlvrd"]),
    (Key::SubmitDate, &["submit date", "submit_date"]),
    (Key::DoneDate, &["done date", "done_date"]),
    (Key::Stat, &["stat"]),
    (Key::Err, &["err"]),
    (Key::Text, &["text"]),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

impl ReceiptText {
    /// Parses receipt text. Keys are matched case-insensitively at the start of a
    /// word and must be followed by `:`; a value runs to the next key. Anything
    /// unrecognised is ignored, so this never fails.
    pub fn parse(raw: &[u8]) -> ReceiptText {
        let s = String::from_utf8_lossy(raw);
        let marks = find_keys(&s);
        let mut out = ReceiptText::default();
        for (i, mark) in marks.iter().enumerate() {
            let value_end = marks.get(i + 1).map_or(s.len(), |next| next.key_start);
            let value = s.get(mark.value_start..value_end).unwrap_or("").trim().to_string();
            out.set(mark.key, value);
        }
        out
    }

    fn set(&mut self, key: Key, value: String) {
        let slot = match key {
            Key::Id => &mut self.id,
            Key::Sub => &mut self.sub,
            Key::Dlvrd => &mut self.dlvrd,
            Key::SubmitDate => &mut self.submit_date,
            Key::DoneDate => &mut self.done_date,
            Key::Stat => &mut self.stat,
            Key::Err => &mut self.err,
            Key::Text => &mut self.text,
        };
        slot.get_or_insert(value);
    }
}

/// A key found in receipt text.
#[derive(Clone, Copy, Debug)]
struct Mark {
    key: Key,
    key_start: usize,
    value_start: usize,
}

/// Finds each key and where its value starts, in order; stops after `text:`,
/// whose value is the rest of the message.
fn find_keys(s: &str) -> Vec<Mark> {
    let bytes = s.as_bytes();
    let mut marks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || bytes[i - 1].is_ascii_whitespace();
        if let Some((key, len)) = at_word_start.then(|| key_at(&bytes[i..])).flatten() {
            marks.push(Mark { key, key_start: i, value_start: i + len });
            if key == Key::Text {
                break;
            }
            i += len;
        } else {
            i += 1;
        }
    }
    marks
}

/// The key (and the length of `key:`) at the start of `rest`.
fn key_at(rest: &[u8]) -> Option<(Key, usize)> {
    KEYS.iter().find_map(|(key, spellings)| {
        spellings.iter().find_map(|name| {
            let n = name.len();
            let head = rest.get(..n)?;
            (head.eq_ignore_ascii_case(name.as_bytes()) && rest.get(n) == Some(&b':'))
                .then_some((*key, n + 1))
        })
    })
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = match self {
            MessageState::Enroute => "ENROUTE",
            MessageState::Delivered => "DELIVRD",
            MessageState::Expired => "EXPIRED",
            MessageState::Deleted => "DELETED",
            MessageState::Undeliverable => "UNDELIV",
            MessageState::Accepted => "ACCEPTD",
            MessageState::Unknown => "UNKNOWN",
            MessageState::Rejected => "REJECTD",
            MessageState::Unrecognized(s) => return write!(f, "unrecognized({s})"),
        };
        f.write_str(code)
    }
}

#[cfg(test)]
#[path = "receipt_tests.rs"]
mod tests;
