//! Receipts, replies, acknowledgements and gone push subscriptions, handed from providers and
//! webhooks to the engine's receipts actor.

use std::sync::{OnceLock, Weak};
use std::time::Duration;

use varsel_domain::model::Channel;
use varsel_raft_store::delivery::{PushGoneItem, parse_message_key};
use varsel_raft_store::state_machine::domain::answers::{AnswerItem, AnswerVia};

use crate::actors::receipts::{InboundWork, ReceiptsMsg, receipt_from_key};
use crate::engine::Shared;
use crate::providers::{BoxFuture, InboundItem, InboundRefused, InboundSink, ReplyIn};

/// Longest a provider's request waits for its items to be committed before it is told to send
/// them again.
pub const RECORD_WITHIN: Duration = Duration::from_secs(10);

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

    fn shared(&self) -> Option<std::sync::Arc<Shared>> {
        self.shared.get().and_then(Weak::upgrade)
    }

    fn count(&self, kind: &str) {
        if let Some(s) = self.shared() {
            s.metrics.inbound.with(&[kind]).inc();
        }
    }

    /// The work an item is, counted; None for a key that is not ours.
    fn work(&self, item: InboundItem) -> Option<InboundWork> {
        match item {
            InboundItem::Receipt { key, delivered, provider_id, error } => {
                self.count(if delivered { "receipt_delivered" } else { "receipt_failed" });
                let r = receipt_from_key(&key, delivered, provider_id, error);
                if r.is_none() {
                    tracing::debug!("receipt for a key that is not ours ignored");
                }
                r.map(InboundWork::Receipt)
            }
            InboundItem::Reply(reply) => {
                self.count("reply");
                Some(InboundWork::Reply(reply))
            }
            InboundItem::Ack { key, channel } => match parse_message_key(&key) {
                Some((alert, contact, _, _)) => Some(InboundWork::Ack(alert, contact, channel)),
                None => {
                    tracing::debug!("acknowledgement for a key that is not ours ignored");
                    None
                }
            },
            InboundItem::Keypad { key, digit, ack } => match parse_message_key(&key) {
                Some((alert, contact, _, _)) => {
                    self.count("keypad");
                    Some(InboundWork::Answer(AnswerItem {
                        alert,
                        contact,
                        option: digit,
                        via: AnswerVia::Keypad,
                        link_tag: None,
                        acknowledges_without_options: ack,
                    }))
                }
                None => {
                    tracing::debug!("keypad press for a key that is not ours ignored");
                    None
                }
            },
        }
    }

    /// Hands work to the receipts actor with nobody waiting for the outcome.
    fn send(&self, work: Vec<InboundWork>) {
        if work.is_empty() {
            return;
        }
        match self.shared().and_then(|s| s.receipts()) {
            Some(a) => {
                if a.cast(ReceiptsMsg::Submit(work, None)).is_err() {
                    tracing::warn!("receipts actor not running; a receipt or reply was dropped");
                }
            }
            None => tracing::warn!("engine not started; a receipt or reply was dropped"),
        }
    }
}

impl InboundSink for EngineInbound {
    fn receipt(&self, key: &str, delivered: bool, provider_id: &str, error: Option<String>) {
        let item =
            InboundItem::Receipt { key: key.into(), delivered, provider_id: provider_id.into(), error };
        self.send(self.work(item).into_iter().collect());
    }

    fn reply(&self, reply: ReplyIn) {
        self.send(self.work(InboundItem::Reply(reply)).into_iter().collect());
    }

    fn ack(&self, key: &str, channel: Channel) {
        self.send(self.work(InboundItem::Ack { key: key.into(), channel }).into_iter().collect());
    }

    fn push_gone(&self, key: &str, subscription: &str) {
        match parse_message_key(key) {
            Some((alert, contact, _, _)) => {
                let item = PushGoneItem { alert, contact, subscription: subscription.to_string() };
                self.send(vec![InboundWork::PushGone(item)])
            }
            None => tracing::debug!("gone push subscription for a key that is not ours ignored"),
        }
    }

    fn record(&self, items: Vec<InboundItem>) -> BoxFuture<'_, Result<(), InboundRefused>> {
        let work: Vec<InboundWork> = items.into_iter().filter_map(|i| self.work(i)).collect();
        Box::pin(async move {
            if work.is_empty() {
                return Ok(());
            }
            let actor = self.shared().and_then(|s| s.receipts());
            let Some(actor) = actor else {
                return Err(InboundRefused::NotRecorded("the delivery engine is not running".into()));
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            if actor.cast(ReceiptsMsg::Submit(work, Some(tx))).is_err() {
                return Err(InboundRefused::NotRecorded("the receipts actor is restarting".into()));
            }
            match tokio::time::timeout(RECORD_WITHIN, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(InboundRefused::NotRecorded("the receipts actor restarted".into())),
                Err(_) => Err(InboundRefused::NotRecorded(format!("not committed within {RECORD_WITHIN:?}"))),
            }
        })
    }
}
