use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex digit"))
        .collect()
}

fn decode_all(bytes: &[u8]) -> Result<Pdu, DecodeError> {
    let (pdu, used) = Pdu::decode(bytes)?;
    assert_eq!(used, bytes.len(), "one PDU uses the whole capture");
    Ok(pdu)
}

fn sample_bind() -> Bind {
    Bind {
        system_id: "varsel".into(),
        password: "secret".into(),
        system_type: "VMA".into(),
        interface_version: INTERFACE_VERSION,
        addr_ton: 1,
        addr_npi: 1,
        address_range: "^47".into(),
    }
}

fn sample_sm() -> ShortMessage {
    ShortMessage {
        service_type: "CMT".into(),
        source_addr_ton: 5,
        source_addr_npi: 0,
        source_addr: "VARSEL".into(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: "4790000001".into(),
        esm_class: 0x40,
        protocol_id: 0,
        priority_flag: 1,
        schedule_delivery_time: String::new(),
        validity_period: "000001000000000R".into(),
        registered_delivery: 1,
        replace_if_present_flag: 0,
        data_coding: 8,
        sm_default_msg_id: 0,
        short_message: vec![0x05, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00, 0xE6],
        tlvs: Tlvs(vec![Tlv::u16(tag::USER_MESSAGE_REFERENCE, 42), Tlv::new(0x1400, *b"vendor")]),
    }
}

/// Every PDU type this crate models, with non-default fields.
fn every_pdu() -> Vec<Pdu> {
    let resp = |system_id: &str| BindResp {
        system_id: system_id.into(),
        tlvs: Tlvs(vec![Tlv::u8(tag::SC_INTERFACE_VERSION, 0x34)]),
    };
    let bodies = vec![
        Body::BindTransmitter(sample_bind()),
        Body::BindReceiver(sample_bind()),
        Body::BindTransceiver(sample_bind()),
        Body::BindTransmitterResp(resp("SMSC")),
        Body::BindReceiverResp(resp("SMSC")),
        Body::BindTransceiverResp(resp("SMSC")),
        Body::Unbind,
        Body::UnbindResp,
        Body::SubmitSm(Box::new(sample_sm())),
        Body::SubmitSmResp(MessageResp { message_id: "x".repeat(64) }),
        Body::DeliverSm(Box::new(sample_sm())),
        Body::DeliverSmResp(MessageResp::default()),
        Body::EnquireLink,
        Body::EnquireLinkResp,
        Body::GenericNack,
    ];
    bodies.into_iter().enumerate().map(|(i, body)| Pdu::new(i as u32 + 1, body)).collect()
}

/// Goal: encode then decode is the identity for every PDU type. Method: encode
/// each sample, decode it, compare; and check the length field.
#[test]
fn round_trip_every_pdu() {
    for pdu in every_pdu() {
        let bytes = pdu.encode().expect("encodes");
        assert_eq!(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize, bytes.len());
        assert_eq!(decode_all(&bytes), Ok(pdu));
    }
    let status = Pdu::response(9, CommandStatus::ESME_RTHROTTLED, Body::GenericNack);
    assert_eq!(decode_all(&status.encode().expect("encodes")), Ok(status));
}

/// Goal: decoding matches the spec's byte layout, not just our own encoder.
/// Method: PDUs written out by hand from SMPP 3.4 §4, decoded and re-encoded.
#[test]
fn hand_written_captures() {
    let enquire = hex("00000010 00000015 00000000 00000001");
    assert_eq!(decode_all(&enquire), Ok(Pdu::new(1, Body::EnquireLink)));

    // bind_transceiver: "smppclient1", "password", "", 0x34, 0, 0, "".
    let bind = hex("0000002A 00000009 00000000 00000002
         736D7070636C69656E743100 70617373776F726400 00 34 00 00 00");
    let expected = Body::BindTransceiver(Bind {
        system_id: "smppclient1".into(),
        password: "password".into(),
        interface_version: 0x34,
        ..Bind::default()
    });
    assert_eq!(decode_all(&bind), Ok(Pdu::new(2, expected.clone())));
    assert_eq!(Pdu::new(2, expected).encode().as_deref(), Ok(&bind[..]));

    // submit_sm: 1/1 "12345" -> 1/1 "4790000001", registered_delivery 1, "Hello".
    let submit = hex("00000035 00000004 00000000 00000003
         00 01 01 313233343500 01 01 3437393030303030303100
         00 00 00 00 00 01 00 00 00 05 48656C6C6F");
    let Ok(Pdu { body: Body::SubmitSm(sm), .. }) = decode_all(&submit) else { panic!("submit_sm") };
    assert_eq!((sm.source_addr.as_str(), sm.destination_addr.as_str()), ("12345", "4790000001"));
    assert_eq!((sm.registered_delivery, sm.short_message.as_slice()), (1, &b"Hello"[..]));
    assert_eq!(Pdu::new(3, Body::SubmitSm(sm)).encode().as_deref(), Ok(&submit[..]));

    // submit_sm_resp "abc"; and a throttled one without body (§4.4.2).
    let resp = hex("00000014 80000004 00000000 00000002 61626300");
    assert_eq!(
        decode_all(&resp),
        Ok(Pdu::new(2, Body::SubmitSmResp(MessageResp { message_id: "abc".into() })))
    );
    let throttled = decode_all(&hex("00000010 80000004 00000058 00000003")).expect("empty error body");
    assert_eq!(throttled.command_status, CommandStatus::ESME_RTHROTTLED);

    // deliver_sm receipt with receipted_message_id "abc" and message_state 2.
    let receipt = hex("0000003F 00000005 00000000 00000007
         00 01 01 343739303030303030303100 00 00 5641525345 4C00
         04 00 00 00 00 00 00 00 00 00
         001E 0004 61626300 0427 0001 02");
    let Ok(Pdu { body: Body::DeliverSm(dlr), .. }) = decode_all(&receipt) else { panic!("deliver_sm") };
    assert_eq!((dlr.esm_class, dlr.destination_addr.as_str()), (4, "VARSEL"));
    assert_eq!(
        (dlr.tlvs.receipted_message_id().as_deref(), dlr.tlvs.message_state()),
        (Some("abc"), Some(2))
    );

    // An unknown command id keeps its header for the generic_nack.
    let data_sm = hex("00000014 00000103 00000000 00000009 DEADBEEF");
    let Ok(Pdu { body: Body::Unknown { header, body }, .. }) = decode_all(&data_sm) else {
        panic!("unknown")
    };
    assert_eq!((header.command_id, header.sequence_number, body), (0x103, 9, vec![0xDE, 0xAD, 0xBE, 0xEF]));
}

/// Goal: every malformed input is a precise error. Method: one hand-made case
/// per failure mode.
#[test]
fn malformed_inputs_are_errors() {
    type Case = (&'static str, Vec<u8>, fn(&DecodeError) -> bool);
    let cases: Vec<Case> = vec![
        ("short header", hex("00000010 000000"), |e| matches!(e, DecodeError::Truncated { .. })),
        ("length < 16", hex("0000000F 00000015 00000000 00000001"), |e| *e == DecodeError::InvalidLength(15)),
        ("length > max", hex("00010001 00000015 00000000 00000001"), |e| {
            *e == DecodeError::InvalidLength(65537)
        }),
        ("body missing", hex("00000020 00000015 00000000 00000001"), |e| {
            matches!(e, DecodeError::Truncated { .. })
        }),
        ("message_id without NUL", hex("00000013 80000004 00000000 00000002 616263"), |e| {
            matches!(e, DecodeError::MissingNul { field: "message_id" })
        }),
        (
            "system_id over 15 octets",
            hex("00000026 00000009 00000000 00000001 3132333435363738393031323334353600 00 00 34 00 00"),
            |e| matches!(e, DecodeError::CStringTooLong { field: "system_id", max: 16 }),
        ),
        (
            "sm_length beyond body",
            hex(
                "00000025 00000004 00000000 00000003 00 00 00 3100 00 00 3200 00 00 00 00 00 00 00 00 00 0A 4142",
            ),
            |e| *e == DecodeError::InvalidSmLength(10),
        ),
        (
            "TLV beyond body",
            hex(
                "00000028 00000004 00000000 00000003 00 00 00 3100 00 00 3200 00 00 00 00 00 00 00 00 00 00 0424 0010 41",
            ),
            |e| matches!(e, DecodeError::FieldTruncated { field: "tlv value" }),
        ),
        (
            "bind cut after interface_version",
            hex("00000016 00000002 00000000 00000001 4100 4200 00 34"),
            |e| matches!(e, DecodeError::FieldTruncated { field: "addr_ton" }),
        ),
    ];
    for (name, bytes, expected) in cases {
        match Pdu::decode(&bytes) {
            Err(e) => assert!(expected(&e), "{name}: unexpected error {e:?}"),
            Ok(pdu) => panic!("{name}: decoded {pdu:?}"),
        }
    }
}

/// Goal: the encoder refuses what an SMSC would refuse. Method: one field over
/// each limit.
#[test]
fn encode_limits() {
    let mut sm = sample_sm();
    sm.short_message = vec![0; 255];
    assert_eq!(
        Pdu::new(1, Body::SubmitSm(Box::new(sm))).encode(),
        Err(EncodeError::ShortMessageTooLong(255))
    );
    let mut sm = sample_sm();
    sm.destination_addr = "1".repeat(21);
    assert!(matches!(
        Pdu::new(1, Body::SubmitSm(Box::new(sm))).encode(),
        Err(EncodeError::FieldTooLong { field: "destination_addr", max: 20, .. })
    ));
    let mut bind = sample_bind();
    bind.password = "a\0b".into();
    assert_eq!(
        Pdu::new(1, Body::BindTransceiver(bind)).encode(),
        Err(EncodeError::InteriorNul { field: "password" })
    );
    let mut sm = sample_sm();
    sm.tlvs.push(message_payload_tlv(b"both"));
    assert_eq!(Pdu::new(1, Body::SubmitSm(Box::new(sm))).encode(), Err(EncodeError::PayloadConflict));
    let mut sm = sample_sm();
    sm.short_message.clear();
    sm.tlvs.push(message_payload_tlv(&vec![0; 65_500]));
    assert!(matches!(Pdu::new(1, Body::SubmitSm(Box::new(sm))).encode(), Err(EncodeError::PduTooLong(_))));
}

/// Goal: a `submit_sm` encoded for the session equals the normal encoding once
/// its sequence number is patched in. Method: compare the two.
#[test]
fn session_encoding_matches() {
    let sm = sample_sm();
    let mut frame = encode_submit_sm(&sm).expect("encodes");
    set_sequence_number(&mut frame, 77);
    assert_eq!(Ok(frame), Pdu::new(77, Body::SubmitSm(Box::new(sm))).encode());
}

/// Goal: no input from the network can panic the decoder, and whatever decodes
/// re-encodes to the same PDU. Method: a few thousand random byte strings, half
/// pure noise and half mutations of valid PDUs with a consistent length field
/// (to reach the body parsers). Seed from `SMPP_FUZZ_SEED`, else random; printed.
#[test]
fn random_bytes_never_panic() {
    let seed = std::env::var("SMPP_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("random_bytes_never_panic seed={seed} (rerun with SMPP_FUZZ_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let valid: Vec<Vec<u8>> = every_pdu().iter().map(|p| p.encode().expect("encodes")).collect();
    let mut decoded = 0;
    for i in 0..5_000 {
        let bytes = if i % 2 == 0 { noise(&mut rng) } else { mutate(&mut rng, &valid) };
        if let Ok((pdu, _)) = Pdu::decode(&bytes) {
            decoded += 1;
            if let Ok(again) = pdu.encode() {
                assert_eq!(Pdu::decode(&again).map(|(p, _)| p), Ok(pdu), "seed={seed} input={bytes:02X?}");
            }
        }
    }
    println!("{decoded} of 5000 random inputs decoded");
}

fn noise(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.random_range(0..300);
    let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
    if len >= 16 && rng.random_bool(0.5) {
        bytes[..4].copy_from_slice(&(len as u32).to_be_bytes());
    }
    bytes
}

fn mutate(rng: &mut StdRng, valid: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = valid[rng.random_range(0..valid.len())].clone();
    for _ in 0..rng.random_range(1..6) {
        match rng.random_range(0..3) {
            0 if !bytes.is_empty() => {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            1 if bytes.len() > 16 => bytes.truncate(rng.random_range(16..bytes.len())),
            _ => bytes.push(rng.random()),
        }
    }
    if bytes.len() >= 4 && rng.random_bool(0.8) {
        let len = bytes.len() as u32;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
    }
    bytes
}
