//! `Receipts`: delivery receipts and recipients' replies, from any provider, into the log.
//!
//! Inbound endpoints (HTTP webhooks, SMPP deliver_sm) hand receipts and replies here. Receipts
//! name their message by its key; replies come from a phone number and are attributed to an
//! alert by [`attribute`] (or to none) and kept, whatever they say, for operators to read
//! (`varsel alert replies`); those that say "OK" (see [`ACK_WORDS`]) acknowledge. Replies are
//! placed when their batch is written, after a read barrier, so a node that lags never places
//! one from an old state. Push
//! subscriptions reported gone are written the same way, so later alerts skip them. All are
//! written in batches ([`BATCH_MAX`] items or [`FLUSH_AFTER`]).
//!
//! Durable before answered: a submission may carry a reply port, answered only once every
//! write of the batch it joined has committed (or with why not), so a webhook or `deliver_sm`
//! is acknowledged to the provider only when its effect is in the log, and otherwise sent
//! again by the provider. Every item is idempotent when sent again (a receipt is stored once
//! per message, a reply once per provider id, an acknowledgement once per alert and
//! recipient). At most [`PENDING_MAX`] items wait: beyond that a submission is refused as busy
//! (back-pressure: the provider is answered 503 or a temporary SMPP error), never silently
//! dropped; only items with nobody to answer (a receipt settled late on an SMPP bind) are
//! dropped and counted then.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use varsel_domain::model::{AlertId, Channel, ContactId, TenantId};
use varsel_raft_store::Request;
use varsel_raft_store::delivery::{DeliveryCommand, PushGoneItem, ReceiptItem, parse_message_key};
use varsel_raft_store::engine::SledTree;
use varsel_raft_store::replies::{AttributedBy, REPLIES_PER_ENTRY_MAX, ReplyAttribution, ReplyItem};
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::domain::answers::{ANSWERS_PER_ENTRY_MAX, AnswerItem};
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
    /// A choice among an alert's answer options (a keypad press).
    Answer(AnswerItem),
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
    /// Replies, placed only when written (after a read barrier).
    replies: Vec<ReplyIn>,
    acks: Vec<(AlertId, ContactId, Option<Channel>)>,
    answers: Vec<AnswerItem>,
    push_gone: Vec<PushGoneItem>,
    waiting: Vec<Done>,
    placing: Arc<Placing>,
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
    /// `delivery.reply_window_s`, in ms.
    pub reply_window_ms: u64,
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
    /// This alert, for this recipient, placed this way.
    Alert(AlertId, ContactId, AttributedBy),
    /// None without doubt.
    None {
        /// Why, as the `reason` label of `varsel_delivery_replies_unattributed_total`.
        reason: &'static str,
        /// The tenants it may be for (shown to each), none when no tenant's alert reached
        /// the number within the reply window.
        tenants: Vec<TenantId>,
    },
}

impl Attribution {
    fn none(reason: &'static str, tenants: impl IntoIterator<Item = TenantId>) -> Self {
        Attribution::None { reason, tenants: tenants.into_iter().collect() }
    }
}

/// An alert that reached a number, for one of its contacts.
struct Candidate {
    alert: AlertId,
    contact: ContactId,
    tenant: TenantId,
}

/// Most of one tenant's alerts looked at for one reply; a tenant that sent more alerts within
/// the reply window before reaching the number makes the reply unmatched.
pub const ALERTS_SEARCHED_MAX: usize = 1_000;

/// The alert a reply belongs to, or none:
///
/// 1. When the number the reply was sent to is routed to a tenant (`delivery.reply_routes`),
///    only that tenant's alerts are candidates.
/// 2. When the provider names the message replied to (`in_reply_to`: our message key, or its
///    id for our message as its delivery receipt gave it), that message's alert, if the
///    number is its recipient's (and the alert is the routed tenant's).
/// 3. Otherwise the candidates are, per tenant with a contact at the number, its newest alert
///    that reached the number by SMS or voice within the reply window (`reply_window_ms`
///    before the reply was written, or before the latest log time applied here), finished or
///    not, and not created after the reply was written (a late or repeated webhook must not
///    acknowledge a newer alert the person never answered). If they belong to more than one tenant the reply is placed
///    nowhere: a parent answering the municipality's finished alert must not acknowledge the
///    school's open one, and one answering the school must not silence the municipality's
///    evacuation call, so escalation goes on (the safe side). One tenant's newest alert is the
///    one answered: that tenant's latest message to the person.
pub fn attribute(
    replica: &dyn Replica,
    routes: &[ReplyRoute],
    reply_window_ms: u64,
    reply: &ReplyIn,
) -> Result<Attribution, String> {
    let txn = replica.state().read_txn();
    let e = |e: varsel_raft_store::error::EngineError| e.to_string();
    let routed = match &reply.to {
        Some(to) => match routes.iter().find(|r| r.provider == reply.provider && r.to == *to) {
            Some(route) => {
                let tenants = query::tenants(&txn).map_err(e)?;
                match tenants.into_iter().find(|t| t.name == route.tenant) {
                    Some(t) => Some(t.id),
                    None => return Ok(Attribution::none("route names an unknown tenant", [])),
                }
            }
            None => None,
        },
        None => None,
    };
    let contacts = query::contacts_by_phone(&txn, &reply.from).map_err(e)?;
    if let Some((alert, contact, _, _)) = reply.in_reply_to.as_deref().and_then(parse_message_key)
        && let Some(a) = dq::alert(&txn, alert).map_err(e)?
        && routed.is_none_or(|r| r == a.tenant)
        && contacts.contains(&(a.tenant, contact))
    {
        return Ok(Attribution::Alert(alert, contact, AttributedBy::Reference));
    }
    // The window is measured in log time, as alerts are stamped (never this node's wall clock).
    let written = reply.sent_at_ms.unwrap_or_else(|| replica.state().applied().clock_ms);
    let since = written.saturating_sub(reply_window_ms);
    let mut candidates = Vec::new();
    for (tenant, contact) in &contacts {
        if routed.is_some_and(|r| r != *tenant) {
            continue;
        }
        match newest_reaching(&txn, *tenant, *contact, since, reply.sent_at_ms).map_err(e)? {
            Search::Found(alert) => candidates.push(Candidate { alert, contact: *contact, tenant: *tenant }),
            Search::None => {}
            Search::TooMany => {
                return Ok(Attribution::none("too many recent alerts to search", [*tenant]));
            }
        }
    }
    if let Some(id) = reply.in_reply_to.as_deref() {
        for c in &candidates {
            let receipt = dq::receipt(&txn, c.alert, c.contact, Channel::Sms).map_err(e)?;
            if receipt.is_some_and(|r| r.provider_id == id) {
                return Ok(Attribution::Alert(c.alert, c.contact, AttributedBy::Reference));
            }
        }
    }
    let tenants: std::collections::BTreeSet<TenantId> = candidates.iter().map(|c| c.tenant).collect();
    Ok(match (candidates.first(), tenants.len()) {
        (None, _) => Attribution::none("no alert reached the number within the reply window", routed),
        (Some(c), 1) => {
            // One tenant: its newest alert over the person's contacts there (usually one).
            let c = candidates.iter().max_by_key(|c| c.alert).unwrap_or(c);
            let by = if routed.is_some() { AttributedBy::Route } else { AttributedBy::Latest };
            Attribution::Alert(c.alert, c.contact, by)
        }
        (Some(_), _) => Attribution::none("alerts of several tenants reached the number", tenants),
    })
}

/// What a search of one tenant's recent alerts found.
enum Search {
    Found(AlertId),
    None,
    TooMany,
}

/// The tenant's newest alert created at or after `since` (and not after `written`, when the
/// provider says when the reply was written) that went to `contact` by SMS or voice. Alerts
/// are walked newest first (ids grow with creation).
fn newest_reaching(
    txn: &varsel_raft_store::state_machine::Txn<'_, SledTree>,
    tenant: TenantId,
    contact: ContactId,
    since: u64,
    written: Option<u64>,
) -> Result<Search, varsel_raft_store::error::EngineError> {
    const PAGE: usize = 32;
    let mut before = None;
    let mut searched = 0;
    loop {
        let page = query::alerts(txn, tenant, before, PAGE)?;
        for alert in &page {
            if alert.created_at_ms < since {
                return Ok(Search::None);
            }
            searched += 1;
            if searched > ALERTS_SEARCHED_MAX {
                return Ok(Search::TooMany);
            }
            if written.is_some_and(|w| alert.created_at_ms > w) {
                continue;
            }
            let uses_phone = alert.spec.channels().iter().any(|c| matches!(c, Channel::Sms | Channel::Voice));
            if uses_phone && query::is_recipient(txn, alert, contact)? {
                return Ok(Search::Found(alert.id));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => before = Some(last.id),
            _ => return Ok(Search::None),
        }
    }
}

/// The reply as recorded: attributed, and marked as acknowledging when its text says so.
fn reply_item(reply: ReplyIn, attribution: Attribution) -> ReplyItem {
    let acknowledges = is_ack(&reply.text);
    let attribution = match attribution {
        Attribution::Alert(alert, contact, by) => {
            ReplyAttribution::Alert { alert, contact, acknowledges, by }
        }
        Attribution::None { reason, tenants } => {
            ReplyAttribution::Unmatched { reason: reason.into(), tenants }
        }
    };
    ReplyItem {
        provider: reply.provider,
        id: reply.id,
        from: reply.from,
        to: reply.to,
        text: reply.text,
        channel: reply.channel,
        sent_at_ms: reply.sent_at_ms,
        attribution,
    }
    .bounded()
}

impl ReceiptsState {
    fn pending(&self) -> usize {
        self.receipts.len() + self.replies.len() + self.acks.len() + self.answers.len() + self.push_gone.len()
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
            replies: Vec::new(),
            acks: Vec::new(),
            answers: Vec::new(),
            push_gone: Vec::new(),
            waiting: Vec::new(),
            placing: Arc::new(Placing {
                routes: args.routes,
                reply_window_ms: args.reply_window_ms,
                unattributed: args.unattributed,
                failpoints: args.failpoints.clone(),
            }),
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
                InboundWork::Reply(reply) => state.replies.push(reply),
                InboundWork::Ack(alert, contact, channel) => state.acks.push((alert, contact, Some(channel))),
                InboundWork::PushGone(item) => state.push_gone.push(item),
                InboundWork::Answer(item) => state.answers.push(item),
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

/// How replies are placed: the routes, the reply window, and the count of unplaced ones.
#[derive(Debug)]
struct Placing {
    routes: Vec<ReplyRoute>,
    reply_window_ms: u64,
    unattributed: CounterVec,
    failpoints: Arc<crate::engine::Failpoints>,
}

impl Placing {
    /// The replies as recorded, each placed from a state at least as new as every write
    /// committed before the call: a node that lags (catching up after a restart, say) must not
    /// miss the other tenant's newest alert and place a reply with the only one it knows.
    async fn place(&self, replica: &dyn Replica, replies: Vec<ReplyIn>) -> Result<Vec<ReplyItem>, String> {
        if replies.is_empty() {
            return Ok(Vec::new());
        }
        if self.failpoints.fail_read("barrier") {
            return Err(
                "failpoint: the read barrier before placing replies fails once (testing.fail_reads)".into()
            );
        }
        replica.read_barrier().await.map_err(|e| format!("this node cannot tell it is current: {e}"))?;
        let mut placed = Vec::with_capacity(replies.len());
        for reply in replies {
            let attribution = attribute(replica, &self.routes, self.reply_window_ms, &reply)
                .map_err(|e| format!("the applied state is unreadable: {e}"))?;
            if let Attribution::None { reason, .. } = &attribution {
                tracing::info!(provider = %reply.provider, reason, "reply attributed to no alert");
                self.unattributed.with(&[reason]).inc();
            }
            placed.push(reply_item(reply, attribution));
        }
        Ok(placed)
    }
}

fn flush(state: &mut ReceiptsState) {
    let receipts = std::mem::take(&mut state.receipts);
    let replies = std::mem::take(&mut state.replies);
    let acks = std::mem::take(&mut state.acks);
    let answers = std::mem::take(&mut state.answers);
    let gone = std::mem::take(&mut state.push_gone);
    let waiting = std::mem::take(&mut state.waiting);
    let replica = state.replica.clone();
    let placing = state.placing.clone();
    tokio::spawn(async move {
        let mut failed = None;
        // Replies and acknowledgements first: they stop escalation.
        let placed = match placing.place(replica.as_ref(), replies).await {
            Ok(placed) => placed,
            Err(e) => {
                tracing::warn!(error = %e, "replies not placed; their senders are told to send them again");
                failed = Some(e);
                Vec::new()
            }
        };
        let reply_cmds = placed
            .chunks(REPLIES_PER_ENTRY_MAX)
            .map(|c| DeliveryCommand::Replies { items: c.to_vec() })
            .collect::<Vec<_>>();
        let ack_cmd = (!acks.is_empty()).then_some(DeliveryCommand::Acks { items: acks });
        let answer_cmds = answers
            .chunks(ANSWERS_PER_ENTRY_MAX)
            .map(|c| DeliveryCommand::Answers { items: c.to_vec() })
            .collect::<Vec<_>>();
        let receipt_cmd = (!receipts.is_empty()).then_some(DeliveryCommand::Receipts { items: receipts });
        let gone_cmd = (!gone.is_empty()).then_some(DeliveryCommand::PushGone { items: gone });
        let cmds = reply_cmds
            .into_iter()
            .chain(answer_cmds)
            .chain([ack_cmd, receipt_cmd, gone_cmd].into_iter().flatten());
        for cmd in cmds {
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
