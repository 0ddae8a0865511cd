//! Building `submit_sm` PDUs for messages longer than one SMS.
//!
//! Another crate splits text into segments and encodes them; this module only
//! wraps already-encoded segments for the wire, in one of three ways
//! ([`LongMessageMode`]):
//!
//! * **UDH concatenation** (3GPP TS 23.040 §9.2.3.24.1): every segment becomes
//!   its own `submit_sm` whose `short_message` starts with a user data header
//!   carrying (reference, total, sequence), and `esm_class` gets the UDHI bit
//!   (0x40). With an 8-bit reference the header is `05 00 03 ref total seq`
//!   (6 octets); with a 16-bit reference `06 08 04 refhi reflo total seq`
//!   (7 octets).
//! * **`message_payload`**: one `submit_sm` with `sm_length` 0 and the whole body
//!   in the `message_payload` TLV; the SMSC splits it.
//!
//! # Segment sizes, and why GSM-7 segments are 153 septets
//!
//! On the air one SMS carries 140 octets of user data. For GSM-7, 160 septets
//! pack into those 140 octets. A 6-octet UDH takes 48 bits; septets after it
//! start on a septet boundary, so one fill bit pads it to 49 bits = 7 septets,
//! leaving 160 − 7 = **153 septets**. A 7-octet UDH (16-bit reference) takes
//! 56 bits = 8 septets exactly, leaving **152**. For UCS-2, 140 − 6 = 134
//! octets (**67 characters**) and 140 − 7 = 133, rounded down to an even
//! **132** octets.
//!
//! Over SMPP with `data_coding` 0x00 (SMSC default alphabet) we send GSM-7
//! **unpacked**: one septet per octet, and the SMSC packs for the air. So
//! `short_message` holds 6 UDH octets followed by up to 153 septet octets =
//! 159 octets, well within the 254-octet `short_message` limit; the SMSC does
//! the fill-bit alignment when it packs. (An SMSC configured for packed GSM-7
//! over SMPP would need 6 + ⌈153×7/8⌉ = 140 octets instead; we do not support
//! that variant, and we say so rather than guess.) The limits below are what
//! fits one air-interface SMS, not the SMPP field size, because a segment that
//! fits SMPP but not the air would be split again or refused by the SMSC.
//!
//! GSM-7 extension characters (`€`, `{`, `}`, …) are two septets, escape 0x1B
//! then the character; a segment must not end in the middle of such a pair, and
//! a UCS-2 segment must not end between the two halves of a surrogate pair
//! (emoji). Both are checked, since a split there corrupts the character.

use crate::error::EncodeError;
use crate::pdu::SubmitSm;
use crate::receipt::ESM_CLASS_UDHI;
use crate::tlv::{Tlv, tag};

/// Most segments one concatenated message can have (the UDH count is one octet).
pub const MAX_SEGMENTS: usize = 255;
/// Septets in a single (unconcatenated) GSM-7 SMS.
pub const GSM7_SINGLE_MAX_SEPTETS: usize = 160;
/// Septets per segment after an 8-bit-reference UDH.
pub const GSM7_UDH8_MAX_SEPTETS: usize = 153;
/// Septets per segment after a 16-bit-reference UDH.
pub const GSM7_UDH16_MAX_SEPTETS: usize = 152;
/// Octets in a single UCS-2 SMS.
pub const UCS2_SINGLE_MAX_OCTETS: usize = 140;
/// UCS-2 octets per segment after an 8-bit-reference UDH.
pub const UCS2_UDH8_MAX_OCTETS: usize = 134;
/// UCS-2 octets per segment after a 16-bit-reference UDH.
pub const UCS2_UDH16_MAX_OCTETS: usize = 132;
/// Largest body we put in `message_payload`: what [`MAX_SEGMENTS`] UCS-2
/// segments could carry, so switching mode never admits a longer message.
pub const MAX_MESSAGE_PAYLOAD_LEN: usize = MAX_SEGMENTS * UCS2_UDH8_MAX_OCTETS;

/// GSM-7 escape to the extension table.
const GSM7_ESCAPE: u8 = 0x1B;

/// How a message of more than one segment goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LongMessageMode {
    /// One `submit_sm` per segment with an 8-bit-reference UDH. Supported everywhere.
    #[default]
    Udh8,
    /// One `submit_sm` per segment with a 16-bit-reference UDH (fewer reference collisions).
    Udh16,
    /// One `submit_sm` with the whole body in the `message_payload` TLV.
    MessagePayload,
}

/// The encoding of the segments, which sets `data_coding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// GSM 03.38 default alphabet, unpacked (one septet per octet): `data_coding` 0x00.
    Gsm7,
    /// UCS-2 / UTF-16 big-endian: `data_coding` 0x08.
    Ucs2,
}

impl Coding {
    /// The `data_coding` value.
    pub fn data_coding(self) -> u8 {
        match self {
            Coding::Gsm7 => 0x00,
            Coding::Ucs2 => 0x08,
        }
    }

    fn single_max(self) -> usize {
        match self {
            Coding::Gsm7 => GSM7_SINGLE_MAX_SEPTETS,
            Coding::Ucs2 => UCS2_SINGLE_MAX_OCTETS,
        }
    }

    fn segment_max(self, mode: LongMessageMode) -> usize {
        match (self, mode) {
            (Coding::Gsm7, LongMessageMode::Udh16) => GSM7_UDH16_MAX_SEPTETS,
            (Coding::Gsm7, _) => GSM7_UDH8_MAX_SEPTETS,
            (Coding::Ucs2, LongMessageMode::Udh16) => UCS2_UDH16_MAX_OCTETS,
            (Coding::Ucs2, _) => UCS2_UDH8_MAX_OCTETS,
        }
    }
}

/// Builds the `submit_sm` PDUs for one message.
///
/// `template` supplies addresses, `registered_delivery` and the other fields;
/// its `short_message`, `data_coding` and `message_payload` are replaced. A
/// single segment always goes as a plain `short_message` whatever `mode` says:
/// nothing needs joining, and every SMSC accepts that. `reference` identifies
/// the message among recent ones to the same recipient (only its low 8 bits
/// are used with [`LongMessageMode::Udh8`]).
///
/// Each returned part gets its own `message_id` from the SMSC and, if receipts
/// are requested, its own receipt.
pub fn build_submits(
    template: &SubmitSm,
    segments: &[Vec<u8>],
    coding: Coding,
    mode: LongMessageMode,
    reference: u16,
) -> Result<Vec<SubmitSm>, EncodeError> {
    check_segments(segments, coding)?;
    let mut base = template.clone();
    base.data_coding = coding.data_coding();
    base.tlvs.0.retain(|t| t.tag != tag::MESSAGE_PAYLOAD);
    if let [single] = segments {
        check_len(single, coding.single_max(), 0)?;
        base.short_message = single.clone();
        return Ok(vec![base]);
    }
    if mode == LongMessageMode::MessagePayload {
        let body = segments.concat();
        check_len(&body, MAX_MESSAGE_PAYLOAD_LEN, 0)?;
        base.short_message.clear();
        base.tlvs.push(Tlv::new(tag::MESSAGE_PAYLOAD, body));
        return Ok(vec![base]);
    }
    let total = segments.len() as u8;
    let mut parts = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        check_len(segment, coding.segment_max(mode), i + 1)?;
        let mut part = base.clone();
        part.esm_class |= ESM_CLASS_UDHI;
        part.short_message = udh(mode, reference, total, (i + 1) as u8);
        part.short_message.extend_from_slice(segment);
        parts.push(part);
    }
    Ok(parts)
}

/// The concatenation UDH, including its length octet.
fn udh(mode: LongMessageMode, reference: u16, total: u8, seq: u8) -> Vec<u8> {
    let [hi, lo] = reference.to_be_bytes();
    match mode {
        LongMessageMode::Udh16 => vec![0x06, 0x08, 0x04, hi, lo, total, seq],
        _ => vec![0x05, 0x00, 0x03, lo, total, seq],
    }
}

fn check_segments(segments: &[Vec<u8>], coding: Coding) -> Result<(), EncodeError> {
    if segments.is_empty() || segments.len() > MAX_SEGMENTS {
        return Err(EncodeError::Segments(format!(
            "{} segments, 1..={MAX_SEGMENTS} allowed",
            segments.len()
        )));
    }
    for (i, segment) in segments.iter().enumerate() {
        let n = i + 1;
        match coding {
            Coding::Gsm7 if segment.iter().any(|b| *b > 0x7F) => {
                return Err(EncodeError::Segments(format!("segment {n}: GSM-7 septets must be below 0x80")));
            }
            Coding::Gsm7 if ends_inside_escape(segment) => {
                return Err(EncodeError::Segments(format!("segment {n} splits a GSM-7 escape sequence")));
            }
            Coding::Ucs2 if segment.len() % 2 != 0 => {
                return Err(EncodeError::Segments(format!("segment {n}: odd UCS-2 length")));
            }
            Coding::Ucs2 if ends_in_high_surrogate(segment) => {
                return Err(EncodeError::Segments(format!("segment {n} splits a UTF-16 surrogate pair")));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_len(segment: &[u8], max: usize, n: usize) -> Result<(), EncodeError> {
    if segment.len() > max {
        return Err(EncodeError::Segments(format!("segment {n} is {} units, at most {max}", segment.len())));
    }
    Ok(())
}

/// `true` when the last septet is an escape with no character after it.
fn ends_inside_escape(septets: &[u8]) -> bool {
    let mut i = 0;
    while i < septets.len() {
        i += if septets[i] == GSM7_ESCAPE { 2 } else { 1 };
    }
    i > septets.len()
}

fn ends_in_high_surrogate(ucs2: &[u8]) -> bool {
    match ucs2 {
        [.., hi, _] => (0xD8..=0xDB).contains(hi),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> SubmitSm {
        SubmitSm { destination_addr: "4790000001".into(), registered_delivery: 1, ..SubmitSm::default() }
    }

    /// Goal: UDH parts carry the exact header bytes and flags. Method: three GSM-7
    /// segments in both UDH modes; check every octet of the headers.
    #[test]
    fn udh_parts() {
        let segs = vec![vec![0x41; 153], vec![0x42; 153], vec![0x43; 10]];
        let parts = build_submits(&template(), &segs, Coding::Gsm7, LongMessageMode::Udh8, 0x1234)
            .expect("valid segments");
        assert_eq!(parts.len(), 3);
        assert_eq!(&parts[0].short_message[..6], &[0x05, 0x00, 0x03, 0x34, 3, 1]);
        assert_eq!(&parts[2].short_message[..6], &[0x05, 0x00, 0x03, 0x34, 3, 3]);
        assert_eq!(parts[0].short_message.len(), 159);
        assert!(
            parts.iter().all(|p| p.esm_class & 0x40 != 0 && p.data_coding == 0 && p.registered_delivery == 1)
        );
        let segs16 = vec![vec![0x41; 152], vec![0x42; 1]];
        let parts = build_submits(&template(), &segs16, Coding::Gsm7, LongMessageMode::Udh16, 0x1234)
            .expect("valid segments");
        assert_eq!(&parts[1].short_message[..8], &[0x06, 0x08, 0x04, 0x12, 0x34, 2, 2, 0x42]);
    }

    /// Goal: segments too long for their mode are refused, never truncated.
    /// Method: 153 septets with a 16-bit UDH, 135 UCS-2 octets, a 161-septet single.
    #[test]
    fn limits_enforced() {
        let two = |len: usize| vec![vec![0x41; len], vec![0x41; 1]];
        let t = template();
        assert!(build_submits(&t, &two(153), Coding::Gsm7, LongMessageMode::Udh16, 1).is_err());
        assert!(build_submits(&t, &two(154), Coding::Gsm7, LongMessageMode::Udh8, 1).is_err());
        let ucs = |len: usize| vec![vec![0x00; len], vec![0x00, 0x41]];
        assert!(build_submits(&t, &ucs(134), Coding::Ucs2, LongMessageMode::Udh8, 1).is_ok());
        assert!(build_submits(&t, &ucs(136), Coding::Ucs2, LongMessageMode::Udh8, 1).is_err());
        assert!(build_submits(&t, &ucs(134), Coding::Ucs2, LongMessageMode::Udh16, 1).is_err());
        assert!(build_submits(&t, &[vec![0x41; 161]], Coding::Gsm7, LongMessageMode::Udh8, 1).is_err());
        assert!(build_submits(&t, &[], Coding::Gsm7, LongMessageMode::Udh8, 1).is_err());
        assert!(build_submits(&t, &vec![vec![0x41]; 256], Coding::Gsm7, LongMessageMode::Udh8, 1).is_err());
    }

    /// Goal: split characters are caught. Method: a segment ending in ESC, one
    /// ending in a high surrogate, an odd UCS-2 length, a byte above 0x7F.
    #[test]
    fn split_characters_refused() {
        let t = template();
        let esc = vec![vec![0x41, 0x1B], vec![0x65]];
        assert!(build_submits(&t, &esc, Coding::Gsm7, LongMessageMode::Udh8, 1).is_err());
        let escaped_esc = vec![vec![0x1B, 0x1B], vec![0x41]];
        assert!(build_submits(&t, &escaped_esc, Coding::Gsm7, LongMessageMode::Udh8, 1).is_ok());
        let surrogate = vec![vec![0xD8, 0x3D], vec![0xDE, 0x00]];
        assert!(build_submits(&t, &surrogate, Coding::Ucs2, LongMessageMode::Udh8, 1).is_err());
        assert!(build_submits(&t, &[vec![0, 0x41, 0]], Coding::Ucs2, LongMessageMode::Udh8, 1).is_err());
        assert!(build_submits(&t, &[vec![0x80]], Coding::Gsm7, LongMessageMode::Udh8, 1).is_err());
    }

    /// Goal: message_payload mode makes one PDU with sm_length 0; a single
    /// segment stays in short_message. Method: build both and encode.
    #[test]
    fn message_payload_mode() {
        let segs = vec![vec![0x00, 0x41], vec![0x00, 0x42]];
        let parts = build_submits(&template(), &segs, Coding::Ucs2, LongMessageMode::MessagePayload, 9)
            .expect("valid segments");
        assert_eq!(parts.len(), 1);
        assert!(parts[0].short_message.is_empty());
        assert_eq!(parts[0].tlvs.message_payload(), Some(&[0x00, 0x41, 0x00, 0x42][..]));
        assert_eq!(parts[0].data_coding, 8);
        let single = build_submits(&template(), &segs[..1], Coding::Ucs2, LongMessageMode::MessagePayload, 9)
            .expect("valid segment");
        assert_eq!(single[0].short_message, vec![0x00, 0x41]);
        assert!(single[0].tlvs.message_payload().is_none());
    }
}
