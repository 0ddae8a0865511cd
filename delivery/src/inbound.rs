//! Receipts, replies, acknowledgements and gone push subscriptions, handed from providers and
//! webhooks to the engine's receipts actor.

use std::sync::{OnceLock, Weak};

use varsel_domain::model::Channel;
use varsel_raft_store::delivery::{PushGoneItem, parse_message_key};

use crate::actors::receipts::{ReceiptsMsg, receipt_from_key};
use crate::engine::Shared;
use crate::providers::InboundSink;

/// The engine's [`InboundSink`]: hands receipts and replies to the receipts actor. Bound to
/// the engine after it starts (providers are built first).
#[derive(Debug, Default)]
pub struct EngineInbound {
    shared: OnceLock<Weak<Shared>>,
}

impl EngineInbound {
    /// Binds it to the engine once the engine exists.
    pub(crate) fn bind(&self, shared: &std::sync::Arc<Shared>) {
        let _ = self.shared.set(std::sync::Arc::downgrade(shared));
    }

    fn send(&self, msg: ReceiptsMsg) {
        let actor = self.shared.get().and_then(Weak::upgrade).and_then(|s| s.receipts());
        match actor {
            Some(a) => {
                if a.cast(msg).is_err() {
                    tracing::warn!("receipts actor not running; a receipt or reply was dropped");
                }
            }
            None => tracing::warn!("engine not started; a receipt or reply was dropped"),
        }
    }
}

impl InboundSink for EngineInbound {
    fn receipt(&self, key: &str, delivered: bool, provider_id: &str, error: Option<String>) {
        if let Some(s) = self.shared.get().and_then(Weak::upgrade) {
            s.metrics.inbound.with(&[if delivered { "receipt_delivered" } else { "receipt_failed" }]).inc();
        }
        match receipt_from_key(key, delivered, provider_id.to_string(), error) {
            Some(r) => self.send(ReceiptsMsg::Receipt(r)),
            None => tracing::debug!("receipt for a key that is not ours ignored"),
        }
    }

    fn reply(&self, from: &str, text: &str, channel: Channel, sent_at_ms: Option<u64>) {
        if let Some(s) = self.shared.get().and_then(Weak::upgrade) {
            s.metrics.inbound.with(&["reply"]).inc();
        }
        self.send(ReceiptsMsg::Reply { from: from.to_string(), text: text.to_string(), channel, sent_at_ms });
    }

    fn ack(&self, key: &str, channel: Channel) {
        match parse_message_key(key) {
            Some((alert, contact, _, _)) => self.send(ReceiptsMsg::Ack(alert, contact, channel)),
            None => tracing::debug!("acknowledgement for a key that is not ours ignored"),
        }
    }

    fn push_gone(&self, key: &str, subscription: &str) {
        match parse_message_key(key) {
            Some((alert, contact, _, _)) => {
                let item = PushGoneItem { alert, contact, subscription: subscription.to_string() };
                self.send(ReceiptsMsg::PushGone(item))
            }
            None => tracing::debug!("gone push subscription for a key that is not ours ignored"),
        }
    }
}
