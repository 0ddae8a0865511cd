//! Helpers: encoding, the checks any decode must pass, and the mutations that break an encoded PDU.

use proptest::prelude::*;
use proptest::sample::Index;
use varsel_smpp::pdu::{HEADER_LEN, Header, MAX_COMMAND_LENGTH};
use varsel_smpp::tlv::tag;
use varsel_smpp::{Body, Pdu, Tlvs};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

pub(crate) fn encode(pdu: &Pdu) -> Result<Vec<u8>, TestCaseError> {
    pdu.encode().map_err(|e| TestCaseError::fail(format!("a valid PDU must encode: {e}; {pdu:?}")))
}

pub(crate) fn set_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = bytes.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}

/// What any successful decode must satisfy: the length used is the header's, the PDU
/// re-encodes (when its fields are within limits) to bytes that decode to the same PDU, and
/// its TLVs' typed accessors agree with their lengths.
pub(crate) fn check_decoded(bytes: &[u8]) -> Result<Option<Pdu>, TestCaseError> {
    let (pdu, used) = match Pdu::decode(bytes) {
        Ok(decoded) => decoded,
        Err(e) => {
            let _ = e.status(); // every error maps to a status for the generic_nack
            return Ok(None);
        }
    };
    let header =
        Header::decode(bytes).map_err(|e| TestCaseError::fail(format!("header of a decoded PDU: {e}")))?;
    prop_assert_eq!(used, header.command_length as usize);
    prop_assert!(used <= bytes.len() && (HEADER_LEN..=MAX_COMMAND_LENGTH as usize).contains(&used));
    if let Ok(again) = pdu.encode() {
        prop_assert_eq!(Pdu::decode(&again).map(|(p, _)| p), Ok(pdu.clone()), "input {:02X?}", bytes);
    }
    match &pdu.body {
        Body::SubmitSm(sm) | Body::DeliverSm(sm) => check_tlv_accessors(&sm.tlvs)?,
        Body::BindTransmitterResp(r) | Body::BindReceiverResp(r) | Body::BindTransceiverResp(r) => {
            check_tlv_accessors(&r.tlvs)?
        }
        _ => {}
    }
    Ok(Some(pdu))
}

/// The typed TLV accessors read a value only when its length is the spec's, whatever the
/// TLVs hold (`tlv.rs`).
fn check_tlv_accessors(tlvs: &Tlvs) -> Result<(), TestCaseError> {
    let len = |t: u16| tlvs.get(t).map(<[u8]>::len);
    prop_assert_eq!(tlvs.message_state().is_some(), len(tag::MESSAGE_STATE) == Some(1));
    prop_assert_eq!(tlvs.user_message_reference().is_some(), len(tag::USER_MESSAGE_REFERENCE) == Some(2));
    prop_assert_eq!(tlvs.sar_msg_ref_num().is_some(), len(tag::SAR_MSG_REF_NUM) == Some(2));
    prop_assert_eq!(tlvs.sar_total_segments().is_some(), len(tag::SAR_TOTAL_SEGMENTS) == Some(1));
    prop_assert_eq!(tlvs.sar_segment_seqnum().is_some(), len(tag::SAR_SEGMENT_SEQNUM) == Some(1));
    prop_assert_eq!(tlvs.network_error_code().is_some(), len(tag::NETWORK_ERROR_CODE) == Some(3));
    prop_assert_eq!(tlvs.receipted_message_id().is_some(), len(tag::RECEIPTED_MESSAGE_ID).is_some());
    prop_assert_eq!(tlvs.message_payload().map(<[u8]>::len), len(tag::MESSAGE_PAYLOAD));
    Ok(())
}

/// Where the fields that carry lengths are in an encoded PDU: the `sm_length` octet and each
/// TLV's length field (TLVs are the end of a body, so their offsets follow from their sizes).
pub(crate) fn length_fields(pdu: &Pdu, encoded_len: usize) -> (Option<usize>, Vec<usize>) {
    let (tlvs, short_message) = match &pdu.body {
        Body::SubmitSm(sm) | Body::DeliverSm(sm) => (&sm.tlvs, Some(&sm.short_message)),
        Body::BindTransmitterResp(r) | Body::BindReceiverResp(r) | Body::BindTransceiverResp(r) => {
            (&r.tlvs, None)
        }
        _ => return (None, Vec::new()),
    };
    let tlv_bytes: usize = tlvs.0.iter().map(|t| 4 + t.value.len()).sum();
    let tlv_start = encoded_len - tlv_bytes;
    let mut at = tlv_start;
    let tlv_lengths = tlvs
        .0
        .iter()
        .map(|t| {
            let field = at + 2;
            at += 4 + t.value.len();
            field
        })
        .collect();
    (short_message.map(|sm| tlv_start - sm.len() - 1), tlv_lengths)
}

/// One way of breaking an encoded PDU.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Overwrite `command_length` (any value, or the true length off by a little).
    CommandLength(u32),
    CommandLengthOffBy(i8),
    /// Set `sm_length` (submit_sm / deliver_sm only).
    SmLength(u8),
    /// Set the length of one TLV.
    TlvLength(Index, u16),
    /// Cut the PDU short.
    Truncate(Index),
    /// Overwrite one byte.
    Overwrite(Index, u8),
    /// Insert a byte.
    Insert(Index, u8),
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<u32>().prop_map(Mutation::CommandLength),
        any::<i8>().prop_map(Mutation::CommandLengthOffBy),
        any::<u8>().prop_map(Mutation::SmLength),
        (any::<Index>(), any::<u16>()).prop_map(|(i, v)| Mutation::TlvLength(i, v)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Overwrite(i, v)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Insert(i, v)),
    ]
}

pub(crate) fn apply(
    mutation: &Mutation,
    bytes: &mut Vec<u8>,
    sm_length: Option<usize>,
    tlv_lengths: &[usize],
) {
    match mutation {
        Mutation::CommandLength(v) => set_u32(bytes, 0, *v),
        Mutation::CommandLengthOffBy(d) => {
            let len = (bytes.len() as i64 + i64::from(*d)).max(0) as u32;
            set_u32(bytes, 0, len);
        }
        Mutation::SmLength(v) => {
            if let Some(slot) = sm_length.and_then(|at| bytes.get_mut(at)) {
                *slot = *v;
            }
        }
        Mutation::TlvLength(i, v) => {
            if !tlv_lengths.is_empty() {
                let at = tlv_lengths[i.index(tlv_lengths.len())];
                if let Some(slot) = bytes.get_mut(at..at + 2) {
                    slot.copy_from_slice(&v.to_be_bytes());
                }
            }
        }
        Mutation::Truncate(i) => {
            let len = i.index(bytes.len() + 1);
            bytes.truncate(len);
        }
        Mutation::Overwrite(i, v) => {
            if !bytes.is_empty() {
                let at = i.index(bytes.len());
                bytes[at] = *v;
            }
        }
        Mutation::Insert(i, v) => {
            let at = i.index(bytes.len() + 1);
            bytes.insert(at, *v);
        }
    }
}
