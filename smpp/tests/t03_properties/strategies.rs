//! Strategies: valid PDUs field by field, receipt text pieces, and long-message segments.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use varsel_smpp::pdu::{
    Bind, BindResp, HEADER_LEN, Header, MAX_SHORT_MESSAGE_LEN, MessageResp, ShortMessage, command_id,
    max_len, message_payload_tlv,
};
use varsel_smpp::tlv::tag;
use varsel_smpp::{Body, Coding, CommandStatus, LongMessageMode, Pdu, Tlv, Tlvs};

// ---------------------------------------------------------------------------------------------
// Strategies: valid PDUs, field by field, within every SMPP limit.
// ---------------------------------------------------------------------------------------------

/// A C-Octet string value for a field of `max` octets including its NUL: ASCII or any
/// Unicode, no NUL, cut on a character boundary to fit.
fn c_string(max: usize) -> impl Strategy<Value = String> {
    let chars = prop_oneof![any::<char>(), proptest::char::range(' ', '~')];
    vec(chars, 0..max).prop_map(move |chars| {
        let mut s = String::new();
        for c in chars.into_iter().map(|c| if c == '\0' { '0' } else { c }) {
            if s.len() + c.len_utf8() > max - 1 {
                break;
            }
            s.push(c);
        }
        s
    })
}

/// The tags this crate reads, so their typed accessors see both good and bad lengths.
const KNOWN_TAGS: [u16; 9] = [
    tag::RECEIPTED_MESSAGE_ID,
    tag::USER_MESSAGE_REFERENCE,
    tag::SAR_MSG_REF_NUM,
    tag::SAR_TOTAL_SEGMENTS,
    tag::SAR_SEGMENT_SEQNUM,
    tag::SC_INTERFACE_VERSION,
    tag::NETWORK_ERROR_CODE,
    tag::MESSAGE_PAYLOAD,
    tag::MESSAGE_STATE,
];

fn tlvs() -> impl Strategy<Value = Tlvs> {
    let tag = prop_oneof![any::<u16>(), proptest::sample::select(KNOWN_TAGS.to_vec())];
    vec((tag, vec(any::<u8>(), 0..40)), 0..4)
        .prop_map(|list| Tlvs(list.into_iter().map(|(tag, value)| Tlv::new(tag, value)).collect()))
}

fn bind() -> impl Strategy<Value = Bind> {
    let strings = (
        c_string(max_len::SYSTEM_ID),
        c_string(max_len::PASSWORD),
        c_string(max_len::SYSTEM_TYPE),
        c_string(max_len::ADDRESS_RANGE),
    );
    (strings, any::<[u8; 3]>()).prop_map(
        |((system_id, password, system_type, address_range), [v, ton, npi])| Bind {
            system_id,
            password,
            system_type,
            interface_version: v,
            addr_ton: ton,
            addr_npi: npi,
            address_range,
        },
    )
}

fn bind_resp() -> impl Strategy<Value = BindResp> {
    (c_string(max_len::SYSTEM_ID), tlvs()).prop_map(|(system_id, tlvs)| BindResp { system_id, tlvs })
}

fn message_resp() -> impl Strategy<Value = MessageResp> {
    c_string(max_len::MESSAGE_ID).prop_map(|message_id| MessageResp { message_id })
}

/// User data: a `short_message` of 0–254 octets with TLVs (never `message_payload` beside a
/// non-empty `short_message`, which the encoder refuses), or the body in `message_payload`.
fn user_data() -> impl Strategy<Value = (Vec<u8>, Tlvs)> {
    let short = (vec(any::<u8>(), 0..=MAX_SHORT_MESSAGE_LEN), tlvs()).prop_map(|(sm, mut tlvs)| {
        if !sm.is_empty() {
            tlvs.0.retain(|t| t.tag != tag::MESSAGE_PAYLOAD);
        }
        (sm, tlvs)
    });
    let payload = vec(any::<u8>(), 0..2_000).prop_map(|p| (Vec::new(), Tlvs(vec![message_payload_tlv(&p)])));
    prop_oneof![4 => short, 1 => payload]
}

pub(crate) fn short_message() -> impl Strategy<Value = ShortMessage> {
    let addresses = (c_string(max_len::SERVICE_TYPE), c_string(max_len::ADDRESS), c_string(max_len::ADDRESS));
    let times = (c_string(max_len::TIME), c_string(max_len::TIME));
    (addresses, times, any::<[u8; 11]>(), user_data()).prop_map(
        |((service_type, source_addr, destination_addr), (schedule, validity), b, (short_message, tlvs))| {
            ShortMessage {
                service_type,
                source_addr_ton: b[0],
                source_addr_npi: b[1],
                source_addr,
                dest_addr_ton: b[2],
                dest_addr_npi: b[3],
                destination_addr,
                esm_class: b[4],
                protocol_id: b[5],
                priority_flag: b[6],
                schedule_delivery_time: schedule,
                validity_period: validity,
                registered_delivery: b[7],
                replace_if_present_flag: b[8],
                data_coding: b[9],
                sm_default_msg_id: b[10],
                short_message,
                tlvs,
            }
        },
    )
}

/// The command ids this crate models.
pub(crate) const MODELLED: [u32; 15] = [
    command_id::GENERIC_NACK,
    command_id::BIND_RECEIVER,
    command_id::BIND_RECEIVER_RESP,
    command_id::BIND_TRANSMITTER,
    command_id::BIND_TRANSMITTER_RESP,
    command_id::SUBMIT_SM,
    command_id::SUBMIT_SM_RESP,
    command_id::DELIVER_SM,
    command_id::DELIVER_SM_RESP,
    command_id::UNBIND,
    command_id::UNBIND_RESP,
    command_id::BIND_TRANSCEIVER,
    command_id::BIND_TRANSCEIVER_RESP,
    command_id::ENQUIRE_LINK,
    command_id::ENQUIRE_LINK_RESP,
];

fn body() -> impl Strategy<Value = Body> {
    let binds = (0..3u8, bind()).prop_map(|(kind, b)| match kind {
        0 => Body::BindTransmitter(b),
        1 => Body::BindReceiver(b),
        _ => Body::BindTransceiver(b),
    });
    let bind_resps = (0..3u8, bind_resp()).prop_map(|(kind, r)| match kind {
        0 => Body::BindTransmitterResp(r),
        1 => Body::BindReceiverResp(r),
        _ => Body::BindTransceiverResp(r),
    });
    let messages = (any::<bool>(), short_message()).prop_map(|(submit, sm)| match submit {
        true => Body::SubmitSm(Box::new(sm)),
        false => Body::DeliverSm(Box::new(sm)),
    });
    let resps = (any::<bool>(), message_resp()).prop_map(|(submit, r)| match submit {
        true => Body::SubmitSmResp(r),
        false => Body::DeliverSmResp(r),
    });
    let bodyless = proptest::sample::select(vec![
        Body::Unbind,
        Body::UnbindResp,
        Body::EnquireLink,
        Body::EnquireLinkResp,
        Body::GenericNack,
    ]);
    prop_oneof![2 => binds, 2 => bind_resps, 4 => messages, 2 => resps, 1 => bodyless]
}

/// A PDU whose command id this crate does not model; its header is the one decoding will
/// report, so it round-trips.
fn unknown_pdu() -> impl Strategy<Value = Pdu> {
    let id = any::<u32>().prop_filter("not a modelled command", |id| !MODELLED.contains(id));
    (id, any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..200)).prop_map(|(command_id, status, seq, body)| {
        let status = CommandStatus(status);
        let header = Header {
            command_length: (HEADER_LEN + body.len()) as u32,
            command_id,
            command_status: status,
            sequence_number: seq,
        };
        Pdu::response(seq, status, Body::Unknown { header, body })
    })
}

pub(crate) fn pdu() -> impl Strategy<Value = Pdu> {
    let modelled = (any::<u32>(), any::<u32>(), body())
        .prop_map(|(status, seq, body)| Pdu::response(seq, CommandStatus(status), body));
    prop_oneof![9 => modelled, 1 => unknown_pdu()]
}

// ---------------------------------------------------------------------------------------------
// Receipts and mobile-originated messages
// ---------------------------------------------------------------------------------------------

/// A receipt field value that cannot be mistaken for a key: no whitespace, no colon.
pub(crate) fn token() -> impl Strategy<Value = String> {
    "[0-9A-Za-z_.+-]{1,20}"
}

/// A key in one of the spellings and cases SMSCs use.
pub(crate) fn key(spellings: &'static [&'static str]) -> impl Strategy<Value = String> {
    (proptest::sample::select(spellings), vec(any::<bool>(), 12)).prop_map(|(name, upper)| {
        name.chars()
            .zip(upper.into_iter().cycle())
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

/// Receipt text openings, so texts that start like a receipt reach the value parsing.
pub(crate) const PREFIXES: [&str; 6] = ["", "id:", "id: stat:", "text:", "submit date:", "ID:x STAT:"];

pub(crate) const STATS: [&str; 12] = [
    "DELIVRD",
    "delivered",
    "EXPIRED",
    "DELETED",
    "UNDELIV",
    "ACCEPTD",
    "UNKNOWN",
    "REJECTD",
    "ENROUTE",
    "Rejected",
    "BOGUS",
    "x",
];

// ---------------------------------------------------------------------------------------------
// Long messages and source addresses: what we build must decode back
// ---------------------------------------------------------------------------------------------

/// Segments around the limits: GSM-7 septets (with escapes, one in ten segments with a byte
/// above 0x7F) or UCS-2 octets (with surrogates, one in ten segments of odd length).
pub(crate) fn segments() -> impl Strategy<Value = (Coding, Vec<Vec<u8>>)> {
    let septet = prop_oneof![30 => 0u8..0x80, 1 => Just(0x1Bu8)];
    let not_septet = proptest::option::weighted(0.1, (any::<Index>(), 0x80u8..));
    let gsm7 = vec((vec(septet, 0..=162), not_septet), 1..=4).prop_map(|segs| {
        let segs = segs.into_iter().map(|(mut septets, bad)| {
            if let (Some((at, byte)), false) = (bad, septets.is_empty()) {
                let at = at.index(septets.len());
                septets[at] = byte;
            }
            septets
        });
        (Coding::Gsm7, segs.collect())
    });
    let unit = prop_oneof![10 => any::<u16>(), 1 => 0xD800u16..0xDC00];
    let ucs2 = vec((vec(unit, 0..=71), proptest::bool::weighted(0.1)), 1..=4).prop_map(|segs| {
        let bytes = segs.into_iter().map(|(units, odd)| {
            let mut b: Vec<u8> = units.into_iter().flat_map(u16::to_be_bytes).collect();
            if odd {
                b.push(0x41);
            }
            b
        });
        (Coding::Ucs2, bytes.collect())
    });
    prop_oneof![gsm7, ucs2]
}

pub(crate) fn mode() -> impl Strategy<Value = LongMessageMode> {
    proptest::sample::select(vec![
        LongMessageMode::Udh8,
        LongMessageMode::Udh16,
        LongMessageMode::MessagePayload,
    ])
}
