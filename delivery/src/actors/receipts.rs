//! `Receipts`: delivery receipts and recipients' replies, from any provider, into the log.
//!
//! Inbound endpoints (HTTP webhooks, SMPP deliver_sm) hand receipts and replies here. Receipts
//! name their message by its key; replies come from a phone number and acknowledge the most
//! recent unfinished alert that reached that number. Push subscriptions reported gone are
//! written the same way, so later alerts skip them. Both are written in batches
//! ([`BATCH_MAX`] items or [`FLUSH_AFTER`]). At most [`PENDING_MAX`] wait: beyond that, new
//! ones are dropped and counted (a provider resends receipts it could not deliver).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use varsel_domain::model::{AlertId, Channel, ContactId};
use varsel_raft_store::Request;
use varsel_raft_store::delivery::{DeliveryCommand, PushGoneItem, ReceiptItem};
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::domain::query;

use crate::replica::Replica;

/// Items per write.
pub const BATCH_MAX: usize = 2_000;
/// Longest wait before a write.
pub const FLUSH_AFTER: Duration = Duration::from_millis(200);
/// Most items waiting.
pub const PENDING_MAX: usize = 50_000;

/// Words that acknowledge an alert when a recipient replies with them (case-insensitive).
pub const ACK_WORDS: [&str; 6] = ["ok", "1", "ja", "yes", "safe", "trygg"];

/// The receipts actor.
#[derive(Debug)]
pub struct Receipts;

/// Its messages.
#[derive(Debug)]
pub enum ReceiptsMsg {
    /// A delivery receipt.
    Receipt(ReceiptItem),
    /// A reply from a phone number.
    Reply {
        /// E.164 number it came from.
        from: String,
        /// Its text.
        text: String,
        /// The channel (SMS, or voice for a keypad press).
        channel: Channel,
        /// When the recipient sent it, if known.
        sent_at_ms: Option<u64>,
    },
    /// An acknowledgement already matched to its alert and contact (a voice callback).
    Ack(AlertId, ContactId, Channel),
    /// A push subscription a push service reported gone.
    PushGone(PushGoneItem),
    /// Time to write.
    Flush,
}

/// Its state.
#[derive(Debug)]
pub struct ReceiptsState {
    replica: Arc<dyn Replica>,
    receipts: Vec<ReceiptItem>,
    acks: Vec<(AlertId, ContactId, Option<Channel>)>,
    push_gone: Vec<PushGoneItem>,
    flush_scheduled: bool,
    dropped: Arc<AtomicU64>,
    failpoints: Arc<crate::engine::Failpoints>,
}

/// What the receipts actor starts with.
#[derive(Debug)]
pub struct ReceiptsArgs {
    /// The replica.
    pub replica: Arc<dyn Replica>,
    /// Counter of dropped items.
    pub dropped: Arc<AtomicU64>,
    /// Test-only failpoints.
    pub failpoints: Arc<crate::engine::Failpoints>,
}

/// Whether a reply's text acknowledges.
pub fn is_ack(text: &str) -> bool {
    let t = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    ACK_WORDS.contains(&t.as_str())
}

/// The most recent unfinished alert that reached this phone number, and the contact. When the
/// provider says when the reply was sent, alerts created after that are passed over: a late or
/// repeated webhook must not acknowledge a newer alert the person never answered (which would
/// stop its escalation).
fn match_reply(replica: &dyn Replica, from: &str, sent_at_ms: Option<u64>) -> Option<(AlertId, ContactId)> {
    let txn = replica.state().read_txn();
    let contacts = query::contacts_by_phone(&txn, from).ok()?;
    let open = query::open_alerts(&txn).ok()?;
    for (alert_id, tenant) in open.iter().rev() {
        for (t, contact) in contacts.iter().filter(|(t, _)| t == tenant) {
            let Some(alert) = query::alert(&txn, *t, *alert_id).ok().flatten() else { continue };
            if sent_at_ms.is_some_and(|sent| alert.created_at_ms > sent) {
                continue;
            }
            let uses_phone = alert.spec.channels().iter().any(|c| matches!(c, Channel::Sms | Channel::Voice));
            if uses_phone && query::is_recipient(&txn, &alert, *contact).unwrap_or(false) {
                return Some((*alert_id, *contact));
            }
        }
    }
    None
}

impl ReceiptsState {
    fn full(&self) -> bool {
        self.pending() >= PENDING_MAX
    }

    fn pending(&self) -> usize {
        self.receipts.len() + self.acks.len() + self.push_gone.len()
    }
}

impl Actor for Receipts {
    type Msg = ReceiptsMsg;
    type State = ReceiptsState;
    type Arguments = ReceiptsArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ReceiptsState {
            replica: args.replica,
            receipts: Vec::new(),
            acks: Vec::new(),
            push_gone: Vec::new(),
            flush_scheduled: false,
            dropped: args.dropped,
            failpoints: args.failpoints,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.failpoints.check("receipts");
        match msg {
            ReceiptsMsg::Flush => {
                state.flush_scheduled = false;
                flush(state);
                return Ok(());
            }
            _ if state.full() => {
                state.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            ReceiptsMsg::Receipt(r) => state.receipts.push(r),
            ReceiptsMsg::Reply { from, text, channel, sent_at_ms } => {
                if !is_ack(&text) {
                    tracing::info!(channel = %channel, "reply that is not an acknowledgement ignored");
                    return Ok(());
                }
                match match_reply(state.replica.as_ref(), &from, sent_at_ms) {
                    Some((alert, contact)) => state.acks.push((alert, contact, Some(channel))),
                    None => tracing::info!("acknowledgement from a number with no open alert ignored"),
                }
            }
            ReceiptsMsg::Ack(alert, contact, channel) => state.acks.push((alert, contact, Some(channel))),
            ReceiptsMsg::PushGone(item) => state.push_gone.push(item),
        }
        if state.pending() >= BATCH_MAX {
            flush(state);
        } else if !state.flush_scheduled {
            state.flush_scheduled = true;
            myself.send_after(FLUSH_AFTER, || ReceiptsMsg::Flush);
        }
        Ok(())
    }
}

fn flush(state: &mut ReceiptsState) {
    let receipts = std::mem::take(&mut state.receipts);
    let acks = std::mem::take(&mut state.acks);
    let gone = std::mem::take(&mut state.push_gone);
    let replica = state.replica.clone();
    tokio::spawn(async move {
        // Acknowledgements first: they stop escalation.
        let ack_cmd = (!acks.is_empty()).then_some(DeliveryCommand::Acks { items: acks });
        let receipt_cmd = (!receipts.is_empty()).then_some(DeliveryCommand::Receipts { items: receipts });
        let gone_cmd = (!gone.is_empty()).then_some(DeliveryCommand::PushGone { items: gone });
        for cmd in [ack_cmd, receipt_cmd, gone_cmd].into_iter().flatten() {
            if let Err(e) = replica.write(Request::Delivery(Box::new(cmd))).await {
                tracing::warn!(error = %e, "receipts or acknowledgements not recorded; the provider will resend");
            }
        }
    });
}

/// Matches a receipt's message key to a receipt item (None for keys that are not ours).
pub fn receipt_from_key(
    key: &str,
    delivered: bool,
    provider_id: String,
    error: Option<String>,
) -> Option<ReceiptItem> {
    let (alert, contact, channel, _step) = varsel_raft_store::delivery::parse_message_key(key)?;
    Some(ReceiptItem { alert, contact, channel, delivered, provider_id, error })
}

/// Whether the alert of a key exists here (to refuse receipts for unknown alerts early).
pub fn alert_known(replica: &dyn Replica, alert: AlertId) -> bool {
    dq::alert(&replica.state().read_txn(), alert).ok().flatten().is_some()
}
