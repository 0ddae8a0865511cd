//! What an SMSC sends us on our binds: delivery receipts, matched to our message keys, and
//! mobile-originated messages (replies), decoded and handed on as replies.
//!
//! Each `deliver_sm` is answered `ESME_ROK` only once what it carries is committed to the log
//! (or is nothing we record: an unparseable PDU, a receipt for a message this node did not
//! send, which is parked in memory for a `submit_sm_resp` that may still come); otherwise the
//! SMSC is asked to deliver it again (`ESME_RX_T_APPN`). Receipts and acknowledgements are
//! idempotent, so a redelivery changes nothing twice.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use varsel_domain::model::Channel;
use varsel_domain::sms::{decode_gsm7_unpacked, decode_ucs2};
use varsel_smpp::{Delivered, InboundEvent, MessageState, MobileOriginated, Receipt};

use super::receipt_map::{FinalReceipt, ReceiptMap};
use crate::providers::{InboundItem, InboundSink, ReplyIn};

/// `esm_class` bit: the payload starts with a user data header.
const ESM_CLASS_UDHI: u8 = 0x40;
/// Longest reply text handed on, in characters: an acknowledgement is a word; the rest is cut
/// so a long MO message cannot grow a log entry.
pub const REPLY_CHARS_MAX: usize = 160;

/// Shared by the provider (which fills the map) and the inbound task (which reads it).
#[derive(Debug)]
pub struct Inbound {
    /// The provider's name, for logs.
    pub name: String,
    /// Accepted message ids → keys.
    pub map: Mutex<ReceiptMap>,
    /// Where receipts and replies go.
    pub sink: Arc<dyn InboundSink>,
    /// The `data_coding` this provider uses for GSM-7, also accepted as GSM-7 in replies.
    pub gsm7_data_coding: u8,
}

impl Inbound {
    /// Remembers an accepted message for its receipt; settles it at once if its receipt
    /// overtook the submit response.
    pub fn remember(&self, response_id: &str, key: &str) {
        let early = self.map.lock().unwrap_or_else(|p| p.into_inner()).insert(response_id, key);
        match early {
            Ok(Some(r)) => self.sink.receipt(key, r.delivered, &r.provider_id, r.error),
            Ok(None) => {}
            Err(_) => tracing::warn!(
                provider = %self.name,
                "SMSC message id cannot be matched to receipts in the configured receipt_id_format"
            ),
        }
    }

    /// The item a receipt settles, if any: final, and for a message this node remembers.
    fn on_receipt(&self, r: &Receipt) -> Option<InboundItem> {
        let delivered = match &r.state {
            MessageState::Delivered => true,
            MessageState::Expired
            | MessageState::Deleted
            | MessageState::Undeliverable
            | MessageState::Unknown
            | MessageState::Rejected => false,
            // Not final: another receipt will follow.
            MessageState::Enroute | MessageState::Accepted | MessageState::Unrecognized(_) => return None,
        };
        let error = (!delivered).then(|| match &r.error {
            Some(err) => format!("{} (err {err})", r.state),
            None => r.state.to_string(),
        });
        let receipt = FinalReceipt { delivered, provider_id: r.message_id.clone(), error };
        let matched = self.map.lock().unwrap_or_else(|p| p.into_inner()).settle(receipt);
        match matched {
            Some((key, r)) => Some(InboundItem::Receipt {
                key: key.into(),
                delivered: r.delivered,
                provider_id: r.provider_id,
                error: r.error,
            }),
            None => {
                tracing::debug!(
                    provider = %self.name,
                    "receipt for a message id not remembered (not yet, another node's, or forgotten): parked"
                );
                None
            }
        }
    }

    /// The reply an MO message is, if it is one we can read.
    fn on_mobile_originated(&self, mo: &MobileOriginated) -> Option<InboundItem> {
        let Some(from) = e164(&mo.from) else {
            tracing::info!(provider = %self.name, "reply from an address that is not a phone number ignored");
            return None;
        };
        match decode_text(mo, self.gsm7_data_coding) {
            Some(text) => Some(InboundItem::Reply(ReplyIn {
                from,
                to: (!mo.to.is_empty()).then(|| mo.to.clone()),
                provider: self.name.clone(),
                text: text.chars().take(REPLY_CHARS_MAX).collect(),
                channel: Channel::Sms,
                sent_at_ms: None,
                // A deliver_sm names neither (its sequence number is per session).
                id: None,
                in_reply_to: None,
            })),
            None => {
                tracing::info!(
                    provider = %self.name, data_coding = mo.data_coding,
                    "reply in an encoding we do not read ignored"
                );
                None
            }
        }
    }

    /// Records what a `deliver_sm` carries; true when it is safe to accept it.
    async fn settle(&self, event: &InboundEvent) -> bool {
        let item = match event {
            InboundEvent::Receipt(r) => self.on_receipt(r),
            InboundEvent::MobileOriginated(mo) => self.on_mobile_originated(mo),
            InboundEvent::Unparsed { reason, .. } => {
                tracing::warn!(provider = %self.name, %reason, "deliver_sm not understood; acknowledged and dropped");
                None
            }
        };
        let Some(item) = item else { return true };
        match self.sink.record(vec![item]).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(provider = %self.name, error = %e, "deliver_sm not recorded; the SMSC will deliver it again");
                false
            }
        }
    }
}

/// Settles every `deliver_sm` of the client, each in its own task (the session bounds how many
/// wait for their answer), until the client stops (its channel closes).
pub async fn run(mut events: mpsc::Receiver<Delivered>, inbound: Arc<Inbound>) {
    while let Some(delivered) = events.recv().await {
        let inbound = inbound.clone();
        tokio::spawn(async move {
            let accepted = inbound.settle(&delivered.event).await;
            delivered.answer(accepted);
        });
    }
}

/// The sender of an MO message as E.164 (`+` and digits). SMSCs send international numbers
/// with or without `+` or a `00` prefix whatever the TON says, so any all-digit address of 8
/// to 15 digits is taken as international; short codes and alphanumeric senders are not phone
/// numbers a contact can have.
pub fn e164(addr: &str) -> Option<String> {
    let a = addr.trim();
    let digits = a.strip_prefix('+').or_else(|| a.strip_prefix("00")).unwrap_or(a);
    let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| format!("+{digits}"))
}

/// The text of an MO message: GSM-7 (unpacked), UCS-2 or Latin-1 by `data_coding`, after the
/// user data header if there is one. A segment of a concatenated reply is read on its own (an
/// acknowledgement fits one SMS; longer replies only need to be logged as not one).
pub fn decode_text(mo: &MobileOriginated, gsm7_data_coding: u8) -> Option<String> {
    let payload = if mo.esm_class & ESM_CLASS_UDHI != 0 {
        let udh_len = usize::from(*mo.payload.first()?);
        mo.payload.get(1 + udh_len..)?
    } else {
        &mo.payload[..]
    };
    match mo.data_coding {
        dc if dc == 0x00 || dc == gsm7_data_coding => decode_gsm7_unpacked(payload).ok(),
        0x08 => decode_ucs2(payload).ok(),
        0x01 | 0x03 => Some(payload.iter().map(|b| char::from(*b)).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mo(data_coding: u8, esm_class: u8, payload: Vec<u8>) -> MobileOriginated {
        MobileOriginated {
            from: "4741000001".into(),
            from_ton: 1,
            to: "VARSEL".into(),
            data_coding,
            esm_class,
            payload,
        }
    }

    /// Goal: replies decode in the encodings phones use, with or without a UDH.
    /// Method: "OK" in GSM-7, "Ja 👍" in UCS-2, "Ø" in Latin-1, and a UDH before "1".
    #[test]
    fn decodes_replies() {
        assert_eq!(decode_text(&mo(0, 0, b"OK".to_vec()), 0).as_deref(), Some("OK"));
        let ucs2 = "Ja 👍".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode_text(&mo(8, 0, ucs2), 0).as_deref(), Some("Ja 👍"));
        assert_eq!(decode_text(&mo(3, 0, vec![0xD8]), 0).as_deref(), Some("Ø"));
        let udh = vec![0x05, 0x00, 0x03, 0x01, 0x01, 0x01, b'1'];
        assert_eq!(decode_text(&mo(0, 0x40, udh), 0).as_deref(), Some("1"));
        assert_eq!(decode_text(&mo(0, 0x40, vec![0x09, 0x00]), 0), None);
        assert_eq!(decode_text(&mo(0xF5, 0, b"x".to_vec()), 0), None);
    }

    /// Goal: senders become E.164 or are refused. Method: the spellings SMSCs use.
    #[test]
    fn senders_as_e164() {
        assert_eq!(e164("4741000001").as_deref(), Some("+4741000001"));
        assert_eq!(e164("+4741000001").as_deref(), Some("+4741000001"));
        assert_eq!(e164("004741000001").as_deref(), Some("+4741000001"));
        assert_eq!(e164("2222"), None);
        assert_eq!(e164("Kommunen"), None);
    }
}
