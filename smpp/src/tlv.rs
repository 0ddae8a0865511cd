//! Optional parameters (TLVs, SMPP 3.4 §5.3).
//!
//! Every TLV is kept as `(tag, bytes)` in wire order, so unknown and vendor tags
//! (0x1400–0x3FFF) pass through untouched; the few tags Varsel acts on get typed
//! accessors on [`Tlvs`].

use crate::error::{DecodeError, EncodeError};
use crate::wire::{Reader, Writer};

/// Tag numbers of the optional parameters Varsel reads or writes.
pub mod tag {
    /// `receipted_message_id`: C-Octet string, the SMSC message id a receipt is about.
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    /// `user_message_reference`: 2 octets, an ESME-chosen reference.
    pub const USER_MESSAGE_REFERENCE: u16 = 0x0204;
    /// `sar_msg_ref_num`: 2 octets, reference shared by the segments of one message.
    pub const SAR_MSG_REF_NUM: u16 = 0x020C;
    /// `sar_total_segments`: 1 octet.
    pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
    /// `sar_segment_seqnum`: 1 octet, 1-based.
    pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
    /// `sc_interface_version`: 1 octet, in bind responses.
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
    /// `network_error_code`: 3 octets (type, code), in failed receipts.
    pub const NETWORK_ERROR_CODE: u16 = 0x0423;
    /// `message_payload`: the whole message body when it is not in `short_message`.
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    /// `message_state`: 1 octet, the final state a receipt reports.
    pub const MESSAGE_STATE: u16 = 0x0427;
}

/// One optional parameter: a tag and its raw value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlv {
    /// The parameter tag.
    pub tag: u16,
    /// The raw value (its length is the TLV's length field).
    pub value: Vec<u8>,
}

impl Tlv {
    /// A TLV from a tag and value bytes.
    pub fn new(tag: u16, value: impl Into<Vec<u8>>) -> Self {
        Tlv { tag, value: value.into() }
    }

    /// A TLV holding a 1-octet integer.
    pub fn u8(tag: u16, value: u8) -> Self {
        Tlv::new(tag, [value])
    }

    /// A TLV holding a 2-octet big-endian integer.
    pub fn u16(tag: u16, value: u16) -> Self {
        Tlv::new(tag, value.to_be_bytes())
    }

    /// A TLV holding a C-Octet string (the value includes the NUL terminator).
    pub fn c_string(tag: u16, value: &str) -> Self {
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        Tlv::new(tag, bytes)
    }
}

/// The optional parameters of one PDU, in wire order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tlvs(pub Vec<Tlv>);

impl Tlvs {
    /// The value of the first TLV with `tag`.
    pub fn get(&self, tag: u16) -> Option<&[u8]> {
        self.0.iter().find(|t| t.tag == tag).map(|t| t.value.as_slice())
    }

    /// Appends a TLV.
    pub fn push(&mut self, tlv: Tlv) {
        self.0.push(tlv);
    }

    /// Replaces the value of `tag` (or appends it).
    pub fn set(&mut self, tlv: Tlv) {
        match self.0.iter_mut().find(|t| t.tag == tlv.tag) {
            Some(existing) => *existing = tlv,
            None => self.0.push(tlv),
        }
    }

    /// `true` when there is no TLV.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `message_payload` (0x0424), raw bytes.
    pub fn message_payload(&self) -> Option<&[u8]> {
        self.get(tag::MESSAGE_PAYLOAD)
    }

    /// `receipted_message_id` (0x001E) without its NUL terminator. SMSCs disagree on
    /// whether they send the terminator, so both forms are accepted.
    pub fn receipted_message_id(&self) -> Option<String> {
        let raw = self.get(tag::RECEIPTED_MESSAGE_ID)?;
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
        Some(String::from_utf8_lossy(&raw[..end]).into_owned())
    }

    /// `message_state` (0x0427), when present and one octet long.
    pub fn message_state(&self) -> Option<u8> {
        self.get_u8(tag::MESSAGE_STATE)
    }

    /// `user_message_reference` (0x0204).
    pub fn user_message_reference(&self) -> Option<u16> {
        self.get_u16(tag::USER_MESSAGE_REFERENCE)
    }

    /// `sar_msg_ref_num` (0x020C).
    pub fn sar_msg_ref_num(&self) -> Option<u16> {
        self.get_u16(tag::SAR_MSG_REF_NUM)
    }

    /// `sar_total_segments` (0x020E).
    pub fn sar_total_segments(&self) -> Option<u8> {
        self.get_u8(tag::SAR_TOTAL_SEGMENTS)
    }

    /// `sar_segment_seqnum` (0x020F).
    pub fn sar_segment_seqnum(&self) -> Option<u8> {
        self.get_u8(tag::SAR_SEGMENT_SEQNUM)
    }

    /// `network_error_code` (0x0423) as (network type, error code).
    pub fn network_error_code(&self) -> Option<(u8, u16)> {
        match self.get(tag::NETWORK_ERROR_CODE)? {
            [kind, hi, lo] => Some((*kind, u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        }
    }

    fn get_u8(&self, tag: u16) -> Option<u8> {
        match self.get(tag)? {
            [v] => Some(*v),
            _ => None,
        }
    }

    fn get_u16(&self, tag: u16) -> Option<u16> {
        match self.get(tag)? {
            [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        }
    }

    /// Reads TLVs until the reader is empty. A TLV whose length runs past the end
    /// of the body is an error, never a short read.
    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut tlvs = Vec::new();
        while !reader.is_empty() {
            let tag = reader.u16("tlv tag")?;
            let len = usize::from(reader.u16("tlv length")?);
            let value = reader.bytes(len, "tlv value")?.to_vec();
            tlvs.push(Tlv { tag, value });
        }
        Ok(Tlvs(tlvs))
    }

    pub(crate) fn encode(&self, writer: &mut Writer) -> Result<(), EncodeError> {
        for tlv in &self.0 {
            let len = u16::try_from(tlv.value.len())
                .map_err(|_| EncodeError::TlvTooLong { tag: tlv.tag, len: tlv.value.len() })?;
            writer.u16(tlv.tag);
            writer.u16(len);
            writer.bytes(&tlv.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: typed accessors read the spec encodings and refuse wrong lengths.
    /// Method: build TLVs by hand, including a one-byte `user_message_reference`.
    #[test]
    fn accessors() {
        let tlvs = Tlvs(vec![
            Tlv::c_string(tag::RECEIPTED_MESSAGE_ID, "abc123"),
            Tlv::u8(tag::MESSAGE_STATE, 2),
            Tlv::new(tag::USER_MESSAGE_REFERENCE, [7]),
            Tlv::u16(tag::SAR_MSG_REF_NUM, 0x1234),
            Tlv::u8(tag::SAR_TOTAL_SEGMENTS, 3),
            Tlv::u8(tag::SAR_SEGMENT_SEQNUM, 1),
            Tlv::new(tag::NETWORK_ERROR_CODE, [3, 0, 9]),
        ]);
        assert_eq!(tlvs.receipted_message_id().as_deref(), Some("abc123"));
        assert_eq!(tlvs.message_state(), Some(2));
        assert_eq!(tlvs.user_message_reference(), None);
        assert_eq!(tlvs.sar_msg_ref_num(), Some(0x1234));
        assert_eq!(tlvs.sar_total_segments(), Some(3));
        assert_eq!(tlvs.sar_segment_seqnum(), Some(1));
        assert_eq!(tlvs.network_error_code(), Some((3, 9)));
        let unterminated = Tlvs(vec![Tlv::new(tag::RECEIPTED_MESSAGE_ID, *b"xyz")]);
        assert_eq!(unterminated.receipted_message_id().as_deref(), Some("xyz"));
    }
}
