//! Property tests of everything this crate reads from an SMSC: PDU headers and bodies, TLVs,
//! the stream framer and delivery receipt text; plus the encoders' round trips and the
//! long-message builder, whose output goes back through the decoder.
//!
//! The promise under test is the crate's: nothing decoded from the network panics, every
//! decode is a `Result`, and what decodes re-encodes to the same PDU. Inputs are both
//! arbitrary bytes and valid PDUs with one field broken (a length field, `sm_length`, a TLV
//! length, a cut), so the body parsers are reached, not only the header check.
//!
//! Each test states its number of cases (proptest's `cases`), chosen so this binary runs in a
//! few seconds in a debug build on two cores. A failure prints the minimal failing input;
//! `PROPTEST_RNG_SEED=<n>` fixes the generator to replay a run. No regression files are
//! written: an input that found a bug is kept as a unit test next to the parser instead.

mod framer;
mod helpers;
mod strategies;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use varsel_smpp::address::source_address;
use varsel_smpp::pdu::{HEADER_LEN, MAX_SHORT_MESSAGE_LEN};
use varsel_smpp::receipt::{ESM_CLASS_TYPE_MASK, ReceiptText};
use varsel_smpp::tlv::tag;
use varsel_smpp::{
    Body, DecodeError, IdFormat, Inbound, MessageState, Pdu, SubmitSm, Tlv, Tlvs, build_submits,
    classify_deliver_sm, ids_match,
};

use framer::{expected_frames, framed};
use helpers::{Mutation, apply, check_decoded, encode, length_fields, mutation, set_u32};
use strategies::{MODELLED, PREFIXES, STATS, key, mode, pdu, segments, short_message, token};

/// Runner settings: `cases` per test, no regression files (see the module documentation).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// PDUs
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    /// Goal: every valid PDU survives encode → decode → encode unchanged, both as a value and
    /// as bytes. Method: 1,024 generated PDUs of every modelled type (plus unknown command
    /// ids) with arbitrary field values up to each field's limit, Unicode strings, TLVs with
    /// any tag, and bodies in `message_payload`.
    #[test]
    fn valid_pdus_round_trip(pdu in pdu()) {
        let bytes = encode(&pdu)?;
        prop_assert_eq!(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize, bytes.len());
        let (decoded, used) = Pdu::decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        check_decoded(&bytes)?;
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(&decoded, &pdu);
        prop_assert_eq!(decoded.encode(), Ok(bytes));
    }
}

proptest! {
    #![proptest_config(config(4096))]

    /// Goal: arbitrary bytes never panic the decoder, and whatever decodes re-encodes to the
    /// same PDU. Method: 4,096 byte strings of up to 300 octets; in half of them the length
    /// field is made consistent and the command id is a modelled one, so bodies are parsed.
    #[test]
    fn arbitrary_bytes_never_panic(
        mut bytes in vec(any::<u8>(), 0..300),
        fix_length in any::<bool>(),
        id in proptest::sample::select(MODELLED.to_vec()),
    ) {
        if fix_length && bytes.len() >= HEADER_LEN {
            let len = bytes.len() as u32;
            set_u32(&mut bytes, 0, len);
            set_u32(&mut bytes, 4, id);
        }
        check_decoded(&bytes)?;
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: a valid PDU with its length fields or bytes broken is an error or a PDU that
    /// round-trips, never a panic. Method: 2,048 valid PDUs, each with 1–4 mutations (wrong
    /// `command_length`, `sm_length` or TLV length, a cut, a changed or inserted byte), then in
    /// most cases `command_length` set to the new size so the body parsers are reached.
    #[test]
    fn mutated_pdus_never_panic(
        pdu in pdu(),
        mutations in vec(mutation(), 1..=4),
        fix_length in proptest::bool::weighted(0.8),
    ) {
        let mut bytes = encode(&pdu)?;
        let (sm_length, tlv_lengths) = length_fields(&pdu, bytes.len());
        for m in &mutations {
            apply(m, &mut bytes, sm_length, &tlv_lengths);
        }
        if fix_length {
            let len = bytes.len() as u32;
            set_u32(&mut bytes, 0, len);
        }
        check_decoded(&bytes)?;
    }

    /// Goal: the precise errors for the two inner length fields. Method: 2,048 valid
    /// `submit_sm`/`deliver_sm` PDUs with `sm_length` set past the end of the body (or above
    /// 254), and with their last TLV's length set past the end of the body.
    #[test]
    fn inner_lengths_are_precise_errors(
        sm in short_message(),
        submit in any::<bool>(),
        sm_length in any::<Index>(),
        overrun in 1u16..1_000,
    ) {
        let body =
            if submit { Body::SubmitSm(Box::new(sm.clone())) } else { Body::DeliverSm(Box::new(sm.clone())) };
        let pdu = Pdu::new(1, body);
        let bytes = encode(&pdu)?;
        let (sm_at, tlv_lengths) = length_fields(&pdu, bytes.len());
        // Any value from one past the end of the body up to 255 (always above 254).
        let remaining = sm_at.map_or(0, |at| bytes.len() - at - 1).min(254);
        let sm_length = (remaining + 1 + sm_length.index(255 - remaining)) as u8;
        let mut broken = bytes.clone();
        apply(&Mutation::SmLength(sm_length), &mut broken, sm_at, &tlv_lengths);
        prop_assert_eq!(Pdu::decode(&broken), Err(DecodeError::InvalidSmLength(sm_length)));
        if let (Some(&at), Some(last)) = (tlv_lengths.last(), sm.tlvs.0.last()) {
            let mut broken = bytes.clone();
            let len = u16::try_from(last.value.len()).unwrap_or(u16::MAX).saturating_add(overrun);
            broken[at..at + 2].copy_from_slice(&len.to_be_bytes());
            prop_assert_eq!(Pdu::decode(&broken), Err(DecodeError::FieldTruncated { field: "tlv value" }));
        }
    }

    /// Goal: decoding never reads past `command_length`. Method: 2,048 valid or mutated PDUs
    /// (length made consistent) followed by up to 64 arbitrary bytes: the result, error or
    /// PDU, is the same with and without them.
    #[test]
    fn trailing_bytes_are_never_read(
        pdu in pdu(),
        mutation in mutation(),
        tail in vec(any::<u8>(), 1..64),
    ) {
        let mut bytes = encode(&pdu)?;
        let (sm_length, tlv_lengths) = length_fields(&pdu, bytes.len());
        apply(&mutation, &mut bytes, sm_length, &tlv_lengths);
        if bytes.len() < HEADER_LEN {
            return Ok(()); // not a complete frame, so there is no end to read past
        }
        let len = bytes.len() as u32;
        set_u32(&mut bytes, 0, len);
        let alone = Pdu::decode(&bytes);
        bytes.extend_from_slice(&tail);
        prop_assert_eq!(Pdu::decode(&bytes), alone);
    }
}

// ---------------------------------------------------------------------------------------------
// The stream framer
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    /// Goal: the framer finds the same frames whatever sizes the reads come in, and ends the
    /// stream the way the decoder says (clean, corrupt header, or cut mid-PDU). Method: 512
    /// streams of 0–4 valid PDUs followed by 0–40 arbitrary bytes, read in chunks of 1–64
    /// octets, compared with the decoder applied to the whole stream.
    #[test]
    fn framer_agrees_with_decoder_for_any_chunking(
        pdus in vec(pdu(), 0..=4),
        tail in vec(any::<u8>(), 0..40),
        sizes in vec(1usize..=64, 1..8),
    ) {
        let mut stream = Vec::new();
        for pdu in &pdus {
            stream.extend(encode(pdu)?);
        }
        stream.extend_from_slice(&tail);
        let expected = expected_frames(&stream);
        prop_assert!(expected.0.len() >= pdus.len());
        prop_assert_eq!(framed(stream, sizes)?, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Receipts and mobile-originated messages
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: receipt text and `deliver_sm` classification never panic on any bytes, and a
    /// receipt always has a non-empty id. Method: 2,048 `deliver_sm` bodies with arbitrary
    /// `esm_class`, TLVs and `short_message`, half of them prefixed with receipt keys.
    #[test]
    fn any_deliver_sm_classifies_without_panic(
        mut sm in short_message(),
        prefix in proptest::sample::select(PREFIXES.to_vec()),
    ) {
        let mut text = prefix.as_bytes().to_vec();
        text.extend_from_slice(&sm.short_message);
        text.truncate(MAX_SHORT_MESSAGE_LEN);
        let _ = ReceiptText::parse(&text);
        if sm.tlvs.message_payload().is_none() {
            sm.short_message = text;
        }
        match classify_deliver_sm(&sm) {
            Ok(Inbound::Receipt(r)) => {
                prop_assert!(sm.esm_class & ESM_CLASS_TYPE_MASK != 0);
                prop_assert!(!r.message_id.is_empty());
                prop_assert_eq!(&r.recipient, &sm.source_addr);
            }
            Ok(Inbound::MobileOriginated(mo)) => {
                prop_assert_eq!(sm.esm_class & ESM_CLASS_TYPE_MASK, 0);
                prop_assert_eq!(mo.payload.as_slice(), sm.payload());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Goal: every field of an Appendix B receipt text is read back exactly, whatever the key
    /// case, spelling (`submit date` / `submit_date`), order, spacing, and whatever the free
    /// `text:` holds (spaces, colons, other keys, Unicode). Method: 2,048 texts built from
    /// generated values, parsed directly and through `classify_deliver_sm`.
    #[test]
    fn receipt_text_fields_are_read_back(
        id in token(), sub in "[0-9]{1,3}", dlvrd in "[0-9]{1,3}", submit in "[0-9]{10,12}",
        done in "[0-9]{10,12}", stat in proptest::sample::select(STATS.to_vec()), err in token(),
        free_text in ".{0,40}", order in Just((0..7).collect::<Vec<usize>>()).prop_shuffle(),
        keys in (key(&["id"]), key(&["sub"]), key(&["dlvrd"]), key(&["submit date", "submit_date"]),
                 key(&["done date", "done_date"]), key(&["stat"]), key(&["err"]), key(&["text"])),
        gaps in vec(proptest::sample::select(vec![" ", "  ", "\t", " \r\n "]), 8),
    ) {
        let values = [&id, &sub, &dlvrd, &submit, &done, &stat.to_owned(), &err];
        let names = [&keys.0, &keys.1, &keys.2, &keys.3, &keys.4, &keys.5, &keys.6];
        let mut text = String::new();
        for (n, &i) in order.iter().enumerate() {
            text.push_str(&format!("{}:{}{}", names[i], values[i], gaps[n]));
        }
        text.push_str(&format!("{}:{free_text}", keys.7));
        let parsed = ReceiptText::parse(text.as_bytes());
        prop_assert_eq!(parsed.id.as_deref(), Some(id.as_str()));
        prop_assert_eq!(parsed.sub.as_deref(), Some(sub.as_str()));
        prop_assert_eq!(parsed.dlvrd.as_deref(), Some(dlvrd.as_str()));
        prop_assert_eq!(parsed.submit_date.as_deref(), Some(submit.as_str()));
        prop_assert_eq!(parsed.done_date.as_deref(), Some(done.as_str()));
        prop_assert_eq!(parsed.stat.as_deref(), Some(stat));
        prop_assert_eq!(parsed.err.as_deref(), Some(err.as_str()));
        prop_assert_eq!(parsed.text.as_deref(), Some(free_text.trim()));

        let sm = SubmitSm { esm_class: 0x04, short_message: text.into_bytes(), ..SubmitSm::default() };
        if sm.short_message.len() <= MAX_SHORT_MESSAGE_LEN {
            let Ok(Inbound::Receipt(r)) = classify_deliver_sm(&sm) else {
                return Err(TestCaseError::fail("a receipt with an id must classify as a receipt"));
            };
            prop_assert_eq!(&r.message_id, &id);
            prop_assert_eq!(r.state, MessageState::from_stat(stat));
            prop_assert_eq!(r.submitted, sub.parse().ok());
        }
    }

    /// Goal: the TLVs win over the text, and an id TLV is read up to its NUL whatever its
    /// bytes. Method: 2,048 receipts with an arbitrary `receipted_message_id` value and
    /// `message_state`, over a text with another id.
    #[test]
    fn receipt_tlvs_win(raw_id in vec(any::<u8>(), 0..70), state in any::<u8>()) {
        let id_tlv = Tlv::new(tag::RECEIPTED_MESSAGE_ID, raw_id.clone());
        let tlvs = Tlvs(vec![id_tlv, Tlv::u8(tag::MESSAGE_STATE, state)]);
        let short_message = b"id:text-id stat:DELIVRD".to_vec();
        let sm = SubmitSm { esm_class: 0x04, short_message, tlvs, ..SubmitSm::default() };
        let Ok(Inbound::Receipt(r)) = classify_deliver_sm(&sm) else {
            return Err(TestCaseError::fail("the text has an id, so this is a receipt"));
        };
        let end = raw_id.iter().position(|b| *b == 0).unwrap_or(raw_id.len());
        let tlv_id = String::from_utf8_lossy(&raw_id[..end]).into_owned();
        if tlv_id.is_empty() {
            prop_assert_eq!(r.message_id.as_str(), "text-id");
        } else {
            prop_assert_eq!(&r.message_id, &tlv_id);
            prop_assert!(r.from_tlvs);
        }
        prop_assert_eq!(r.state, MessageState::from_tlv(state));
    }

    /// Goal: id matching never panics, `Same` is symmetric, and the hex/decimal formats match
    /// a number's two renderings. Method: 2,048 pairs of arbitrary strings and numbers.
    #[test]
    fn ids_match_properties(a in ".{0,30}", b in ".{0,30}", n in any::<u128>(), zeros in 0usize..4) {
        let formats =
            [IdFormat::Same, IdFormat::HexResponseDecimalReceipt, IdFormat::DecimalResponseHexReceipt];
        for format in formats {
            let _ = ids_match(&a, &b, format);
        }
        prop_assert_eq!(ids_match(&a, &b, IdFormat::Same), ids_match(&b, &a, IdFormat::Same));
        let (hex, upper_hex, decimal) = (format!("{n:x}"), format!("{n:X}"), n.to_string());
        let padded = format!("{}{hex}", "0".repeat(zeros));
        prop_assert!(ids_match(&padded, &upper_hex, IdFormat::Same));
        prop_assert!(ids_match(&hex, &decimal, IdFormat::HexResponseDecimalReceipt));
        prop_assert!(ids_match(&decimal, &upper_hex, IdFormat::DecimalResponseHexReceipt));
    }
}

// ---------------------------------------------------------------------------------------------
// Long messages and source addresses: what we build must decode back
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    /// Goal: the long-message builder refuses bad segments with an error and never truncates:
    /// every part it builds encodes, decodes, and the parts' user data without their headers
    /// is exactly the segments joined. Method: 1,024 sets of 1–4 segments around each
    /// coding's limits, in every mode.
    #[test]
    fn long_messages_rejoin_exactly(
        (coding, segments) in segments(),
        mode in mode(),
        reference in any::<u16>(),
    ) {
        let (source_addr, destination_addr) = ("VARSEL".to_owned(), "4790000001".to_owned());
        let template = SubmitSm { source_addr, destination_addr, ..SubmitSm::default() };
        let Ok(parts) = build_submits(&template, &segments, coding, mode, reference) else { return Ok(()) };
        let mut joined = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let pdu = Pdu::new(i as u32 + 1, Body::SubmitSm(Box::new(part.clone())));
            let bytes = encode(&pdu)?;
            prop_assert_eq!(Pdu::decode(&bytes).map(|(p, _)| p), Ok(pdu));
            prop_assert_eq!(part.data_coding, coding.data_coding());
            let data = part.payload();
            let udh = if parts.len() > 1 { usize::from(data[0]) + 1 } else { 0 };
            if udh > 0 {
                prop_assert_eq!(data[udh - 2..udh].to_vec(), vec![parts.len() as u8, i as u8 + 1]);
            }
            joined.extend_from_slice(&data[udh..]);
        }
        prop_assert_eq!(joined, segments.concat());
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// Goal: a source address the configuration accepts can always be sent: it is printable
    /// ASCII, fits `source_addr` and encodes in a `submit_sm`. Method: 2,048 arbitrary strings, numbers
    /// with and without `+`, and short ASCII ids, with and without a TON/NPI override.
    #[test]
    fn accepted_source_addresses_encode(
        addr in prop_oneof![".{0,20}", "\\+?[0-9]{1,17}", "[ -~]{0,12}", "[\\x00-\\x7F]{0,12}"],
        ton in proptest::option::of(any::<u8>()),
        npi in proptest::option::of(any::<u8>()),
    ) {
        let Ok((source_addr, source_addr_ton, source_addr_npi)) = source_address(&addr, ton, npi) else {
            return Ok(());
        };
        prop_assert!(source_addr.bytes().all(|b| b == b' ' || b.is_ascii_graphic()), "{:?}", source_addr);
        let destination_addr = "4790000001".to_owned();
        let sm = SubmitSm { source_addr, source_addr_ton, source_addr_npi, ..SubmitSm::default() };
        let sm = SubmitSm { destination_addr, ..sm };
        let encoded = Pdu::new(1, Body::SubmitSm(Box::new(sm))).encode();
        prop_assert!(encoded.is_ok(), "{:?} was accepted but does not encode: {:?}", addr, encoded);
    }
}
