//! The SMPP 3.4 PDU codec (§3.2 header, §4 PDUs).
//!
//! A PDU is a 16-byte big-endian header (`command_length`, `command_id`,
//! `command_status`, `sequence_number`) followed by a body of mandatory fields and
//! optional TLVs. [`Pdu::decode`] takes bytes from the network and returns a
//! [`Pdu`] or a [`DecodeError`]; it never panics and never reads past
//! `command_length`. [`Pdu::encode`] refuses any field that breaks an SMPP limit,
//! so an encoded PDU is always one a conforming SMSC can decode.
//!
//! Command ids this crate does not model (`data_sm`, `query_sm`, `outbind`, …)
//! decode to [`Body::Unknown`] with their header, so a session can answer a
//! request with `generic_nack` and ignore a stray response.

use crate::error::{DecodeError, EncodeError};
use crate::status::CommandStatus;
use crate::tlv::{Tlv, Tlvs, tag};
use crate::wire::{Reader, Writer};
use std::fmt;

/// Size of the PDU header.
pub const HEADER_LEN: usize = 16;

/// Largest `command_length` we accept or produce. The spec sets no limit; real
/// PDUs are a few hundred octets, and `message_payload` bodies stay far below this.
/// A larger length is treated as a corrupt stream rather than a reason to
/// allocate: a peer could otherwise make us buffer up to 4 GiB.
pub const MAX_COMMAND_LENGTH: u32 = 64 * 1024;

/// Largest `short_message` (§5.2.22: `sm_length` 0–254).
pub const MAX_SHORT_MESSAGE_LEN: usize = 254;

/// The interface version we announce in binds (§5.2.4: 0x34 = SMPP 3.4).
pub const INTERFACE_VERSION: u8 = 0x34;

/// Maximum C-Octet string lengths (§4, including the NUL terminator).
pub mod max_len {
    /// `system_id`.
    pub const SYSTEM_ID: usize = 16;
    /// `password`.
    pub const PASSWORD: usize = 9;
    /// `system_type`.
    pub const SYSTEM_TYPE: usize = 13;
    /// `address_range` in binds.
    pub const ADDRESS_RANGE: usize = 41;
    /// `service_type`.
    pub const SERVICE_TYPE: usize = 6;
    /// `source_addr` / `destination_addr` in `submit_sm` and `deliver_sm`.
    pub const ADDRESS: usize = 21;
    /// `schedule_delivery_time` / `validity_period`.
    pub const TIME: usize = 17;
    /// `message_id` in responses.
    pub const MESSAGE_ID: usize = 65;
}

/// Command ids (§5.1.2).
pub mod command_id {
    /// `generic_nack`.
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    /// `bind_receiver`.
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    /// `bind_receiver_resp`.
    pub const BIND_RECEIVER_RESP: u32 = 0x8000_0001;
    /// `bind_transmitter`.
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    /// `bind_transmitter_resp`.
    pub const BIND_TRANSMITTER_RESP: u32 = 0x8000_0002;
    /// `submit_sm`.
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    /// `submit_sm_resp`.
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    /// `deliver_sm`.
    pub const DELIVER_SM: u32 = 0x0000_0005;
    /// `deliver_sm_resp`.
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    /// `unbind`.
    pub const UNBIND: u32 = 0x0000_0006;
    /// `unbind_resp`.
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    /// `bind_transceiver`.
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    /// `bind_transceiver_resp`.
    pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
    /// `enquire_link`.
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    /// `enquire_link_resp`.
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
    /// The bit that marks a response.
    pub const RESPONSE_BIT: u32 = 0x8000_0000;
}

/// The 16-byte PDU header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Total PDU length including the header.
    pub command_length: u32,
    /// What the PDU is.
    pub command_id: u32,
    /// Zero in requests; the outcome in responses.
    pub command_status: CommandStatus,
    /// Correlates a response with its request.
    pub sequence_number: u32,
}

impl Header {
    /// Decodes a header from the first 16 bytes of `buf` and checks its length
    /// bounds ([`HEADER_LEN`]..=[`MAX_COMMAND_LENGTH`]).
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        let Some(head) = buf.get(..HEADER_LEN) else {
            return Err(DecodeError::Truncated { needed: HEADER_LEN, available: buf.len() });
        };
        let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let header = Header {
            command_length: word(0),
            command_id: word(4),
            command_status: CommandStatus(word(8)),
            sequence_number: word(12),
        };
        let len = header.command_length;
        if (len as usize) < HEADER_LEN || len > MAX_COMMAND_LENGTH {
            return Err(DecodeError::InvalidLength(len));
        }
        Ok(header)
    }

    /// `true` when the command id has the response bit set.
    pub fn is_response(&self) -> bool {
        self.command_id & command_id::RESPONSE_BIT != 0
    }
}

/// The fields of `bind_transmitter`, `bind_receiver` and `bind_transceiver` (§4.1).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bind {
    /// Our account name at the SMSC (≤15 octets).
    pub system_id: String,
    /// Our password (≤8 octets). Never printed by `Debug`.
    pub password: String,
    /// Type of ESME (≤12 octets), often empty.
    pub system_type: String,
    /// SMPP version we speak; [`INTERFACE_VERSION`].
    pub interface_version: u8,
    /// TON of `address_range`.
    pub addr_ton: u8,
    /// NPI of `address_range`.
    pub addr_npi: u8,
    /// Addresses this bind serves (≤40 octets), often empty.
    pub address_range: String,
}

impl fmt::Debug for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bind")
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("system_type", &self.system_type)
            .field("interface_version", &self.interface_version)
            .field("addr_ton", &self.addr_ton)
            .field("addr_npi", &self.addr_npi)
            .field("address_range", &self.address_range)
            .finish()
    }
}

/// The body of a bind response (§4.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BindResp {
    /// The SMSC's identifier; empty when the bind failed and no body came.
    pub system_id: String,
    /// Optional parameters (`sc_interface_version`).
    pub tlvs: Tlvs,
}

/// The fields shared by `submit_sm` (§4.4.1) and `deliver_sm` (§4.6.1).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ShortMessage {
    /// SMS application service (≤5 octets); empty for the SMSC default.
    pub service_type: String,
    /// Type of number of the source address.
    pub source_addr_ton: u8,
    /// Numbering plan of the source address.
    pub source_addr_npi: u8,
    /// Source address (≤20 octets).
    pub source_addr: String,
    /// Type of number of the destination address.
    pub dest_addr_ton: u8,
    /// Numbering plan of the destination address.
    pub dest_addr_npi: u8,
    /// Destination address (≤20 octets).
    pub destination_addr: String,
    /// Message mode and type; 0x40 = UDH indicator, bits 2–5 = receipt kinds.
    pub esm_class: u8,
    /// GSM protocol id.
    pub protocol_id: u8,
    /// Priority level.
    pub priority_flag: u8,
    /// Scheduled delivery time (empty or 16 octets).
    pub schedule_delivery_time: String,
    /// Validity period (empty or 16 octets).
    pub validity_period: String,
    /// Receipt request (bit 0 = SMSC delivery receipt).
    pub registered_delivery: u8,
    /// Replace an earlier message with the same addresses.
    pub replace_if_present_flag: u8,
    /// Coding of the user data: 0x00 SMSC default (GSM-7), 0x08 UCS-2, …
    pub data_coding: u8,
    /// Index of a canned message; 0 for none.
    pub sm_default_msg_id: u8,
    /// User data, ≤254 octets; its length is `sm_length` on the wire.
    pub short_message: Vec<u8>,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

/// A `submit_sm`: a message from us to the SMSC.
pub type SubmitSm = ShortMessage;
/// A `deliver_sm`: a receipt or mobile-originated message from the SMSC to us.
pub type DeliverSm = ShortMessage;

impl ShortMessage {
    /// The user data: `short_message`, or the `message_payload` TLV when
    /// `short_message` is empty.
    pub fn payload(&self) -> &[u8] {
        match self.tlvs.message_payload() {
            Some(payload) if self.short_message.is_empty() => payload,
            _ => &self.short_message,
        }
    }
}

/// The body of `submit_sm_resp` and `deliver_sm_resp` (§4.4.2, §4.6.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MessageResp {
    /// The SMSC's id for the message; empty in `deliver_sm_resp` and error responses.
    pub message_id: String,
}

/// A `submit_sm_resp`.
pub type SubmitSmResp = MessageResp;
/// A `deliver_sm_resp`.
pub type DeliverSmResp = MessageResp;

/// What a PDU is, with its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `bind_transmitter`.
    BindTransmitter(Bind),
    /// `bind_receiver`.
    BindReceiver(Bind),
    /// `bind_transceiver`.
    BindTransceiver(Bind),
    /// `bind_transmitter_resp`.
    BindTransmitterResp(BindResp),
    /// `bind_receiver_resp`.
    BindReceiverResp(BindResp),
    /// `bind_transceiver_resp`.
    BindTransceiverResp(BindResp),
    /// `unbind`.
    Unbind,
    /// `unbind_resp`.
    UnbindResp,
    /// `submit_sm`.
    SubmitSm(Box<SubmitSm>),
    /// `submit_sm_resp`.
    SubmitSmResp(SubmitSmResp),
    /// `deliver_sm`.
    DeliverSm(Box<DeliverSm>),
    /// `deliver_sm_resp`.
    DeliverSmResp(DeliverSmResp),
    /// `enquire_link`.
    EnquireLink,
    /// `enquire_link_resp`.
    EnquireLinkResp,
    /// `generic_nack`.
    GenericNack,
    /// A command id this crate does not model, with its header and raw body.
    Unknown {
        /// The header as received.
        header: Header,
        /// The body bytes after the header.
        body: Vec<u8>,
    },
}

/// One SMPP PDU: header fields and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    /// `command_status`: zero in requests.
    pub command_status: CommandStatus,
    /// `sequence_number`.
    pub sequence_number: u32,
    /// The command and its fields.
    pub body: Body,
}

impl Pdu {
    /// A request (or OK response) with status `ESME_ROK`.
    pub fn new(sequence_number: u32, body: Body) -> Pdu {
        Pdu { command_status: CommandStatus::ESME_ROK, sequence_number, body }
    }

    /// A response with the given status.
    pub fn response(sequence_number: u32, command_status: CommandStatus, body: Body) -> Pdu {
        Pdu { command_status, sequence_number, body }
    }

    /// The `command_id` of this PDU.
    pub fn command_id(&self) -> u32 {
        use command_id as id;
        match &self.body {
            Body::BindTransmitter(_) => id::BIND_TRANSMITTER,
            Body::BindReceiver(_) => id::BIND_RECEIVER,
            Body::BindTransceiver(_) => id::BIND_TRANSCEIVER,
            Body::BindTransmitterResp(_) => id::BIND_TRANSMITTER_RESP,
            Body::BindReceiverResp(_) => id::BIND_RECEIVER_RESP,
            Body::BindTransceiverResp(_) => id::BIND_TRANSCEIVER_RESP,
            Body::Unbind => id::UNBIND,
            Body::UnbindResp => id::UNBIND_RESP,
            Body::SubmitSm(_) => id::SUBMIT_SM,
            Body::SubmitSmResp(_) => id::SUBMIT_SM_RESP,
            Body::DeliverSm(_) => id::DELIVER_SM,
            Body::DeliverSmResp(_) => id::DELIVER_SM_RESP,
            Body::EnquireLink => id::ENQUIRE_LINK,
            Body::EnquireLinkResp => id::ENQUIRE_LINK_RESP,
            Body::GenericNack => id::GENERIC_NACK,
            Body::Unknown { header, .. } => header.command_id,
        }
    }

    /// Encodes the PDU, checking every field against its SMPP limit.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        encode_frame(self.command_id(), self.command_status, self.sequence_number, |w| {
            encode_body(&self.body, w)
        })
    }

    /// Decodes the first PDU in `buf` and returns it with the number of bytes it
    /// used. `DecodeError::Truncated` means `buf` holds less than one PDU.
    pub fn decode(buf: &[u8]) -> Result<(Pdu, usize), DecodeError> {
        let header = Header::decode(buf)?;
        let len = header.command_length as usize;
        let Some(frame) = buf.get(..len) else {
            return Err(DecodeError::Truncated { needed: len, available: buf.len() });
        };
        Ok((Pdu::decode_body(header, &frame[HEADER_LEN..])?, len))
    }

    /// Decodes a body whose header has already been read.
    pub fn decode_body(header: Header, body: &[u8]) -> Result<Pdu, DecodeError> {
        use command_id as id;
        let mut r = Reader::new(body);
        let decoded = match header.command_id {
            id::BIND_TRANSMITTER => Body::BindTransmitter(decode_bind(&mut r)?),
            id::BIND_RECEIVER => Body::BindReceiver(decode_bind(&mut r)?),
            id::BIND_TRANSCEIVER => Body::BindTransceiver(decode_bind(&mut r)?),
            id::BIND_TRANSMITTER_RESP => Body::BindTransmitterResp(decode_bind_resp(&mut r)?),
            id::BIND_RECEIVER_RESP => Body::BindReceiverResp(decode_bind_resp(&mut r)?),
            id::BIND_TRANSCEIVER_RESP => Body::BindTransceiverResp(decode_bind_resp(&mut r)?),
            id::UNBIND => Body::Unbind,
            id::UNBIND_RESP => Body::UnbindResp,
            id::SUBMIT_SM => Body::SubmitSm(Box::new(decode_short_message(&mut r)?)),
            id::SUBMIT_SM_RESP => Body::SubmitSmResp(decode_message_resp(&mut r)?),
            id::DELIVER_SM => Body::DeliverSm(Box::new(decode_short_message(&mut r)?)),
            id::DELIVER_SM_RESP => Body::DeliverSmResp(decode_message_resp(&mut r)?),
            id::ENQUIRE_LINK => Body::EnquireLink,
            id::ENQUIRE_LINK_RESP => Body::EnquireLinkResp,
            id::GENERIC_NACK => Body::GenericNack,
            _ => Body::Unknown { header, body: body.to_vec() },
        };
        // Bodyless PDUs (enquire_link, unbind, generic_nack …) with trailing bytes
        // are accepted: some SMSCs pad them, and nothing in them is lost.
        Ok(Pdu {
            command_status: header.command_status,
            sequence_number: header.sequence_number,
            body: decoded,
        })
    }
}

/// Encodes a `submit_sm` with sequence number 0, without copying the message into
/// a [`Pdu`] first; the session patches the number in with [`set_sequence_number`].
pub(crate) fn encode_submit_sm(sm: &SubmitSm) -> Result<Vec<u8>, EncodeError> {
    encode_frame(command_id::SUBMIT_SM, CommandStatus::ESME_ROK, 0, |w| encode_short_message(sm, w))
}

/// Writes a header, lets `body` write the rest, then fills in `command_length`.
fn encode_frame(
    command_id: u32,
    status: CommandStatus,
    sequence_number: u32,
    body: impl FnOnce(&mut Writer) -> Result<(), EncodeError>,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::with_capacity(64);
    w.u32(0); // command_length, patched below
    w.u32(command_id);
    w.u32(status.0);
    w.u32(sequence_number);
    body(&mut w)?;
    let len = w.len();
    if len > MAX_COMMAND_LENGTH as usize {
        return Err(EncodeError::PduTooLong(len));
    }
    w.patch_u32(0, len as u32);
    Ok(w.into_vec())
}

/// Writes `sequence_number` into an encoded PDU. Lets a caller encode a PDU
/// before the session assigns its sequence number.
pub(crate) fn set_sequence_number(frame: &mut [u8], sequence_number: u32) {
    if let Some(slot) = frame.get_mut(12..16) {
        slot.copy_from_slice(&sequence_number.to_be_bytes());
    }
}

fn encode_body(body: &Body, w: &mut Writer) -> Result<(), EncodeError> {
    match body {
        Body::BindTransmitter(b) | Body::BindReceiver(b) | Body::BindTransceiver(b) => encode_bind(b, w),
        Body::BindTransmitterResp(r) | Body::BindReceiverResp(r) | Body::BindTransceiverResp(r) => {
            w.c_string(&r.system_id, max_len::SYSTEM_ID, "system_id")?;
            r.tlvs.encode(w)
        }
        Body::SubmitSm(sm) | Body::DeliverSm(sm) => encode_short_message(sm, w),
        Body::SubmitSmResp(r) | Body::DeliverSmResp(r) => {
            w.c_string(&r.message_id, max_len::MESSAGE_ID, "message_id")
        }
        Body::Unbind | Body::UnbindResp | Body::EnquireLink | Body::EnquireLinkResp | Body::GenericNack => {
            Ok(())
        }
        Body::Unknown { body, .. } => {
            w.bytes(body);
            Ok(())
        }
    }
}

fn encode_bind(b: &Bind, w: &mut Writer) -> Result<(), EncodeError> {
    w.c_string(&b.system_id, max_len::SYSTEM_ID, "system_id")?;
    w.c_string(&b.password, max_len::PASSWORD, "password")?;
    w.c_string(&b.system_type, max_len::SYSTEM_TYPE, "system_type")?;
    w.u8(b.interface_version);
    w.u8(b.addr_ton);
    w.u8(b.addr_npi);
    w.c_string(&b.address_range, max_len::ADDRESS_RANGE, "address_range")
}

fn decode_bind(r: &mut Reader<'_>) -> Result<Bind, DecodeError> {
    Ok(Bind {
        system_id: r.c_string(max_len::SYSTEM_ID, "system_id")?,
        password: r.c_string(max_len::PASSWORD, "password")?,
        system_type: r.c_string(max_len::SYSTEM_TYPE, "system_type")?,
        interface_version: r.u8("interface_version")?,
        addr_ton: r.u8("addr_ton")?,
        addr_npi: r.u8("addr_npi")?,
        address_range: r.c_string(max_len::ADDRESS_RANGE, "address_range")?,
    })
}

/// A failed bind may come without a body (§4.1.2), so an empty body is accepted.
fn decode_bind_resp(r: &mut Reader<'_>) -> Result<BindResp, DecodeError> {
    if r.is_empty() {
        return Ok(BindResp::default());
    }
    let system_id = r.c_string(max_len::SYSTEM_ID, "system_id")?;
    Ok(BindResp { system_id, tlvs: Tlvs::decode(r)? })
}

/// Error responses carry no body (§4.4.2), so an empty body is accepted. Trailing
/// bytes (SMPP 5.0 TLVs from newer SMSCs) are ignored.
fn decode_message_resp(r: &mut Reader<'_>) -> Result<MessageResp, DecodeError> {
    if r.is_empty() {
        return Ok(MessageResp::default());
    }
    Ok(MessageResp { message_id: r.c_string(max_len::MESSAGE_ID, "message_id")? })
}

fn encode_short_message(sm: &ShortMessage, w: &mut Writer) -> Result<(), EncodeError> {
    let sm_length = sm.short_message.len();
    if sm_length > MAX_SHORT_MESSAGE_LEN {
        return Err(EncodeError::ShortMessageTooLong(sm_length));
    }
    if sm_length > 0 && sm.tlvs.message_payload().is_some() {
        return Err(EncodeError::PayloadConflict);
    }
    w.c_string(&sm.service_type, max_len::SERVICE_TYPE, "service_type")?;
    w.u8(sm.source_addr_ton);
    w.u8(sm.source_addr_npi);
    w.c_string(&sm.source_addr, max_len::ADDRESS, "source_addr")?;
    w.u8(sm.dest_addr_ton);
    w.u8(sm.dest_addr_npi);
    w.c_string(&sm.destination_addr, max_len::ADDRESS, "destination_addr")?;
    w.u8(sm.esm_class);
    w.u8(sm.protocol_id);
    w.u8(sm.priority_flag);
    w.c_string(&sm.schedule_delivery_time, max_len::TIME, "schedule_delivery_time")?;
    w.c_string(&sm.validity_period, max_len::TIME, "validity_period")?;
    w.u8(sm.registered_delivery);
    w.u8(sm.replace_if_present_flag);
    w.u8(sm.data_coding);
    w.u8(sm.sm_default_msg_id);
    w.u8(sm_length as u8);
    w.bytes(&sm.short_message);
    sm.tlvs.encode(w)
}

fn decode_short_message(r: &mut Reader<'_>) -> Result<ShortMessage, DecodeError> {
    let mut sm = ShortMessage {
        service_type: r.c_string(max_len::SERVICE_TYPE, "service_type")?,
        source_addr_ton: r.u8("source_addr_ton")?,
        source_addr_npi: r.u8("source_addr_npi")?,
        source_addr: r.c_string(max_len::ADDRESS, "source_addr")?,
        dest_addr_ton: r.u8("dest_addr_ton")?,
        dest_addr_npi: r.u8("dest_addr_npi")?,
        destination_addr: r.c_string(max_len::ADDRESS, "destination_addr")?,
        esm_class: r.u8("esm_class")?,
        protocol_id: r.u8("protocol_id")?,
        priority_flag: r.u8("priority_flag")?,
        schedule_delivery_time: r.c_string(max_len::TIME, "schedule_delivery_time")?,
        validity_period: r.c_string(max_len::TIME, "validity_period")?,
        registered_delivery: r.u8("registered_delivery")?,
        replace_if_present_flag: r.u8("replace_if_present_flag")?,
        data_coding: r.u8("data_coding")?,
        sm_default_msg_id: r.u8("sm_default_msg_id")?,
        ..ShortMessage::default()
    };
    let sm_length = r.u8("sm_length")?;
    if usize::from(sm_length) > MAX_SHORT_MESSAGE_LEN || usize::from(sm_length) > r.remaining() {
        return Err(DecodeError::InvalidSmLength(sm_length));
    }
    sm.short_message = r.bytes(usize::from(sm_length), "short_message")?.to_vec();
    sm.tlvs = Tlvs::decode(r)?;
    Ok(sm)
}

/// Builds the `message_payload` TLV for a body longer than `short_message` allows.
pub fn message_payload_tlv(payload: &[u8]) -> Tlv {
    Tlv::new(tag::MESSAGE_PAYLOAD, payload)
}

#[cfg(test)]
#[path = "pdu_tests.rs"]
mod tests;
