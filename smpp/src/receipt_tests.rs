use super::*;
use crate::tlv::{Tlv, Tlvs, tag};

fn deliver(esm_class: u8, text: &str, tlvs: Vec<Tlv>) -> DeliverSm {
    DeliverSm {
        source_addr: "4790000001".into(),
        destination_addr: "VARSEL".into(),
        esm_class,
        short_message: text.as_bytes().to_vec(),
        tlvs: Tlvs(tlvs),
        ..DeliverSm::default()
    }
}

fn receipt(sm: &DeliverSm) -> Receipt {
    match classify_deliver_sm(sm) {
        Ok(Inbound::Receipt(r)) => r,
        other => panic!("expected a receipt, got {other:?}"),
    }
}

/// Goal: the Appendix B example parses field by field. Method: the spec's layout
/// with realistic values.
#[test]
fn appendix_b_text() {
    let text = "id:0123456789 sub:001 dlvrd:001 submit date:2511281305 done date:2511281306 \
                stat:DELIVRD err:000 text:Hello world: it works";
    let r = receipt(&deliver(0x04, text, vec![]));
    assert_eq!(r.kind, ReceiptKind::SmscDeliveryReceipt);
    assert_eq!(r.message_id, "0123456789");
    assert_eq!(r.state, MessageState::Delivered);
    assert_eq!((r.submitted, r.delivered), (Some(1), Some(1)));
    assert_eq!(r.submit_date.as_deref(), Some("2511281305"));
    assert_eq!(r.done_date.as_deref(), Some("2511281306"));
    assert_eq!(r.error.as_deref(), Some("000"));
    assert_eq!(r.text.as_deref(), Some("Hello world: it works"));
    assert_eq!(r.recipient, "4790000001");
    assert!(!r.from_tlvs);
    assert!(r.state.is_final());
}

/// Goal: the variations real SMSCs send are accepted. Method: upper-case keys,
/// `Text:`, underscores in date keys, missing fields, extra spaces, 65-char hex id.
#[test]
fn text_variations() {
    let id = "a".repeat(65);
    let text = format!(
        "ID:{id}  SUB:1 DLVRD:0 SUBMIT_DATE:2511281305 Done Date:2511281306 Stat:undeliv Err:034 Text:x"
    );
    let r = receipt(&deliver(0x04, &text, vec![]));
    assert_eq!(r.message_id, id);
    assert_eq!(r.state, MessageState::Undeliverable);
    assert_eq!(r.submit_date.as_deref(), Some("2511281305"));
    assert_eq!(r.done_date.as_deref(), Some("2511281306"));
    assert_eq!(r.error.as_deref(), Some("034"));
    assert_eq!(r.text.as_deref(), Some("x"));

    let minimal = receipt(&deliver(0x04, "id:77 stat:EXPIRED", vec![]));
    assert_eq!((minimal.message_id.as_str(), minimal.state), ("77", MessageState::Expired));
    assert_eq!((minimal.submitted, minimal.text), (None, None));

    for (stat, state) in [
        ("ENROUTE", MessageState::Enroute),
        ("DELETED", MessageState::Deleted),
        ("ACCEPTD", MessageState::Accepted),
        ("UNKNOWN", MessageState::Unknown),
        ("REJECTD", MessageState::Rejected),
        ("weird", MessageState::Unrecognized("weird".into())),
    ] {
        assert_eq!(receipt(&deliver(0x04, &format!("id:1 stat:{stat}"), vec![])).state, state);
    }
}

/// Goal: TLVs win over text and fill a receipt with no text at all. Method: text
/// and TLVs that disagree; then TLVs only.
#[test]
fn tlvs_preferred() {
    let tlvs = vec![Tlv::c_string(tag::RECEIPTED_MESSAGE_ID, "ABC"), Tlv::u8(tag::MESSAGE_STATE, 5)];
    let r = receipt(&deliver(0x04, "id:999 sub:001 dlvrd:000 stat:DELIVRD err:001", tlvs.clone()));
    assert_eq!((r.message_id.as_str(), &r.state), ("ABC", &MessageState::Undeliverable));
    assert_eq!(r.error.as_deref(), Some("001"));
    assert!(r.from_tlvs);
    let only = receipt(&deliver(0x04, "", tlvs));
    assert_eq!(only.message_id, "ABC");
}

/// Goal: esm_class decides receipt versus MO. Method: each receipt type bit, an
/// MO with UDHI set, an unsupported type, and a receipt without any id.
#[test]
fn esm_class_classification() {
    for (esm, kind) in [
        (0x04, ReceiptKind::SmscDeliveryReceipt),
        (0x08, ReceiptKind::SmeDeliveryAck),
        (0x10, ReceiptKind::SmeUserAck),
        (0x20, ReceiptKind::IntermediateNotification),
    ] {
        assert_eq!(receipt(&deliver(esm, "id:1 stat:ENROUTE", vec![])).kind, kind);
    }
    match classify_deliver_sm(&deliver(0x40, "OK", vec![])) {
        Ok(Inbound::MobileOriginated(mo)) => {
            assert_eq!(
                (mo.from.as_str(), mo.to.as_str(), mo.payload.as_slice()),
                ("4790000001", "VARSEL", &b"OK"[..])
            );
            assert_eq!(mo.esm_class, 0x40);
        }
        other => panic!("expected MO, got {other:?}"),
    }
    assert_eq!(classify_deliver_sm(&deliver(0x18, "", vec![])), Err(ReceiptError::UnsupportedType(0x18)));
    assert_eq!(classify_deliver_sm(&deliver(0x04, "stat:DELIVRD", vec![])), Err(ReceiptError::MissingId));
}

/// Goal: an MO in message_payload is read from there. Method: empty short_message.
#[test]
fn mo_from_message_payload() {
    let sm = deliver(0, "", vec![Tlv::new(tag::MESSAGE_PAYLOAD, *b"long reply")]);
    match classify_deliver_sm(&sm) {
        Ok(Inbound::MobileOriginated(mo)) => assert_eq!(mo.payload, b"long reply"),
        other => panic!("expected MO, got {other:?}"),
    }
}

/// Goal: ids match per the SMSC's convention and nothing else. Method: pairs,
/// including the `10` versus `16` trap that guessing the radix would fall into.
#[test]
fn id_matching() {
    use IdFormat::*;
    assert!(ids_match("1A2B", "1a2b", Same));
    assert!(ids_match("0000000255", "255", Same));
    assert!(!ids_match("10", "16", Same));
    assert!(ids_match("FF", "255", HexResponseDecimalReceipt));
    assert!(!ids_match("255", "FF", HexResponseDecimalReceipt));
    assert!(ids_match("255", "ff", DecimalResponseHexReceipt));
    assert!(!ids_match("", "0", Same));
    assert!(!ids_match("xyz", "123", HexResponseDecimalReceipt));
    let r = receipt(&deliver(0x04, "id:00AB stat:DELIVRD", vec![]));
    assert!(r.matches_message_id("ab"));
}

/// Goal: text parsing cannot panic on odd bytes. Method: non-UTF-8, keys with no
/// values, multi-byte characters next to keys.
#[test]
fn odd_text_never_panics() {
    for raw in [&b"\xff\xfeid:\xc3"[..], b"id:", b"id:stat:", b"text:", b"\xc3\xa6id:1 stat:x", b":::: id"] {
        let _ = ReceiptText::parse(raw);
    }
    let t = ReceiptText::parse("æ id:å stat:DELIVRD".as_bytes());
    assert_eq!(t.id.as_deref(), Some("å"));
}
