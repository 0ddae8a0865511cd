//! `Receipts`: delivery receipts and recipients' replies, from any provider, into the log.
//!
//! Inbound endpoints (HTTP webhooks, SMPP deliver_sm) hand receipts and replies here. Receipts
//! name their message by its key; replies come from a phone number and are attributed to an
//! alert by [`attribute`] (or to none). Push subscriptions reported gone are written the same
//! way, so later alerts skip them. All are written in batches ([`BATCH_MAX`] items or
//! [`FLUSH_AFTER`]).
//!
//! Durable before answered: a submission may carry a reply port, answered only once every
//! write of the batch it joined has committed (or with why not), so a webhook or `deliver_sm`
//! is acknowledged to the provider only when its effect is in the log, and otherwise sent
//! again by the provider. Every item is idempotent when sent again (a receipt is stored once
//! per message, an acknowledgement once per alert and recipient). At most [`PENDING_MAX`]
//! items wait: beyond that a submission is refused as busy (back-pressure: the provider is
//! answered 503 or a temporary SMPP error), never silently dropped; only items with nobody to
//! answer (a receipt settled late on an SMPP bind) are dropped and counted then.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use varsel_domain::model::{AlertId, Channel, ContactId};
use varsel_raft_store::Request;
use varsel_raft_store::delivery::{DeliveryCommand, PushGoneItem, ReceiptItem};
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::domain::query;

use crate::providers::{InboundRefused, ReplyIn};
use crate::replica::Replica;
use varsel_config::ReplyRoute;
use varsel_observe::metrics::CounterVec;

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

/// Who hears that a submission was recorded.
pub type Done = oneshot::Sender<Result<(), InboundRefused>>;

/// An item to record.
#[derive(Debug)]
pub enum InboundWork {
    /// A delivery receipt.
    Receipt(ReceiptItem),
    /// A reply from a recipient.
    Reply(ReplyIn),
    /// An acknowledgement already matched to its alert and contact (a voice callback).
    Ack(AlertId, ContactId, Channel),
    /// A push subscription a push service reported gone.
    PushGone(PushGoneItem),
}

/// Its messages.
#[derive(Debug)]
pub enum ReceiptsMsg {
    /// Items to record; `done`, if given, hears when they are committed or why not.
    Submit(Vec<InboundWork>, Option<Done>),
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
    waiting: Vec<Done>,
    routes: Vec<ReplyRoute>,
    unattributed: CounterVec,
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
    /// `delivery.reply_routes`.
    pub routes: Vec<ReplyRoute>,
    /// Replies that acknowledged nothing, by reason.
    pub unattributed: CounterVec,
}

/// Whether a reply's text acknowledges.
pub fn is_ack(text: &str) -> bool {
    let t = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    ACK_WORDS.contains(&t.as_str())
}

/// To which alert a reply belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// This alert, for this recipient.
    Alert(AlertId, ContactId),
    /// None without doubt: the reason, as the `reason` label of
    /// `varsel_delivery_replies_unattributed_total`.
    None(&'static str),
}

/// The alert a reply acknowledges, or none. Candidates are the unfinished alerts that reached
/// the number the reply came from by SMS or voice (and, when the provider says when the reply
/// was written, were created before it: a late or repeated webhook must not acknowledge a newer
/// alert the person never answered). When the number the reply was sent to is routed to a
/// tenant (`delivery.reply_routes`), only that tenant's alerts are candidates. If the
/// candidates belong to more than one tenant, nothing is acknowledged: a parent answering the
/// school must not silence the municipality's evacuation call, so escalation goes on for both
/// (the safe side). Among one tenant's candidates the newest is acknowledged: that tenant's
/// latest message to the person is what they answer.
pub fn attribute(
    replica: &dyn Replica,
    routes: &[ReplyRoute],
    reply: &ReplyIn,
) -> Result<Attribution, String> {
    let txn = replica.state().read_txn();
    let routed = match &reply.to {
        Some(to) => match routes.iter().find(|r| r.provider == reply.provider && r.to == *to) {
            Some(route) => {
                let tenants = query::tenants(&txn).map_err(|e| e.to_string())?;
                match tenants.into_iter().find(|t| t.name == route.tenant) {
                    Some(t) => Some(t.id),
                    None => return Ok(Attribution::None("route names an unknown tenant")),
                }
            }
            None => None,
        },
        None => None,
    };
    let contacts = query::contacts_by_phone(&txn, &reply.from).map_err(|e| e.to_string())?;
    let open = query::open_alerts(&txn).map_err(|e| e.to_string())?;
    let mut found: Option<(AlertId, ContactId, u64)> = None;
    let mut tenants = std::collections::BTreeSet::new();
    for (alert_id, tenant) in open.iter().rev() {
        if routed.is_some_and(|r| r != *tenant) {
            continue;
        }
        for (t, contact) in contacts.iter().filter(|(t, _)| t == tenant) {
            let Some(alert) = query::alert(&txn, *t, *alert_id).map_err(|e| e.to_string())? else { continue };
            if alert.status.is_final() || reply.sent_at_ms.is_some_and(|sent| alert.created_at_ms > sent) {
                continue;
            }
            let uses_phone = alert.spec.channels().iter().any(|c| matches!(c, Channel::Sms | Channel::Voice));
            if uses_phone && query::is_recipient(&txn, &alert, *contact).map_err(|e| e.to_string())? {
                tenants.insert(*t);
                if found.is_none_or(|(_, _, at)| alert.created_at_ms > at) {
                    found = Some((*alert_id, *contact, alert.created_at_ms));
                }
            }
        }
    }
    Ok(match (found, tenants.len()) {
        (None, _) => Attribution::None("no open alert reached the number"),
        (Some((alert, contact, _)), 1) => Attribution::Alert(alert, contact),
        (Some(_), _) => Attribution::None("open alerts of several tenants reached the number"),
    })
}

impl ReceiptsState {
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
            waiting: Vec::new(),
            routes: args.routes,
            unattributed: args.unattributed,
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
        let (items, done) = match msg {
            ReceiptsMsg::Flush => {
                state.flush_scheduled = false;
                flush(state);
                return Ok(());
            }
            ReceiptsMsg::Submit(items, done) => (items, done),
        };
        if state.pending() + items.len() > PENDING_MAX {
            match done {
                Some(done) => {
                    let _ = done.send(Err(InboundRefused::Busy));
                }
                None => {
                    state.dropped.fetch_add(items.len() as u64, Ordering::Relaxed);
                }
            }
            return Ok(());
        }
        for item in items {
            match item {
                InboundWork::Receipt(r) => state.receipts.push(r),
                InboundWork::Reply(reply) => {
                    if !is_ack(&reply.text) {
                        tracing::info!(channel = %reply.channel, "reply that is not an acknowledgement ignored");
                        continue;
                    }
                    match attribute(state.replica.as_ref(), &state.routes, &reply) {
                        Ok(Attribution::Alert(alert, contact)) => {
                            state.acks.push((alert, contact, Some(reply.channel)))
                        }
                        Ok(Attribution::None(why)) => {
                            tracing::info!(provider = %reply.provider, reason = why, "acknowledgement attributed to no alert");
                            state.unattributed.with(&[why]).inc();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "reply not attributed: the applied state is unreadable");
                            if let Some(done) = done {
                                let _ = done.send(Err(InboundRefused::NotRecorded(e)));
                            }
                            return Ok(());
                        }
                    }
                }
                InboundWork::Ack(alert, contact, channel) => state.acks.push((alert, contact, Some(channel))),
                InboundWork::PushGone(item) => state.push_gone.push(item),
            }
        }
        state.waiting.extend(done);
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
    let waiting = std::mem::take(&mut state.waiting);
    let replica = state.replica.clone();
    tokio::spawn(async move {
        // Acknowledgements first: they stop escalation.
        let ack_cmd = (!acks.is_empty()).then_some(DeliveryCommand::Acks { items: acks });
        let receipt_cmd = (!receipts.is_empty()).then_some(DeliveryCommand::Receipts { items: receipts });
        let gone_cmd = (!gone.is_empty()).then_some(DeliveryCommand::PushGone { items: gone });
        let mut failed = None;
        for cmd in [ack_cmd, receipt_cmd, gone_cmd].into_iter().flatten() {
            if let Err(e) = replica.write(Request::Delivery(Box::new(cmd))).await {
                tracing::warn!(error = %e, "receipts or acknowledgements not recorded; their senders are told so");
                failed.get_or_insert(e.to_string());
            }
        }
        for done in waiting {
            let answer = match &failed {
                None => Ok(()),
                Some(e) => Err(InboundRefused::NotRecorded(e.clone())),
            };
            let _ = done.send(answer);
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
