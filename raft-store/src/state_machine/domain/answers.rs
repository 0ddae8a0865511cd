//! Answer options ("are you safe?") in the replicated state: an alert's options, each
//! recipient's answer, and the count per option.
//!
//! - [`Op::WithAnswers`] accepts an alert together with its options and the key of its
//!   response links, in one entry ([`create_with`]).
//! - A recipient answers through [`DeliveryCommand::Answers`](crate::delivery::DeliveryCommand::Answers)
//!   (a keypad press, the response page) or an SMS reply ([`from_reply`], called while the reply
//!   is kept). Applying decides, identically on every node: which option a text chooses, whether
//!   a response link's tag is right (under the alert's key), whether the contact is a
//!   recipient.
//! - One answer per recipient and alert. A second answer that differs replaces the first, moves
//!   the count from one option to the other, and is written in the tenant's audit trail; the
//!   same answer again changes nothing, so a provider's redelivery or a double click counts
//!   once.
//! - An option that acknowledges also acknowledges the alert for the recipient (escalation
//!   stops for them). On an alert with options, only such an option acknowledges: "1" is an
//!   answer, not the generic "OK".
//! - Per-recipient answers are detail records: retention removes them with the alert's other
//!   details; the options and counts go with the alert.

use serde::{Deserialize, Serialize};
use varsel_domain::answers::{self, AlertAnswers};
use varsel_domain::model::{Alert, AlertId, AuditRecord, Channel, ContactId, TenantId};

use super::{Applied, Ctx, alerts, write_audit};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{Caller, DomainReply, Op, RefusalCode};
use crate::state_machine::Txn;
use crate::state_machine::keys::{ALERT_ANSWERS, ANSWER, ANSWER_COUNT, Key};

/// Most answers in one log entry.
pub const ANSWERS_PER_ENTRY_MAX: usize = 1_000;

/// How an answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerVia {
    /// An SMS reply.
    Sms,
    /// A voice call's keypad.
    Keypad,
    /// The response page (reached by the link in an SMS, an e-mail or a push message).
    Page,
}

impl AnswerVia {
    /// Its name in the audit trail and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerVia::Sms => "sms",
            AnswerVia::Keypad => "keypad",
            AnswerVia::Page => "page",
        }
    }
}

/// A recipient's answer as kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    /// The option chosen, from 1.
    pub option: u8,
    /// When (log clock).
    pub at_ms: u64,
    /// How.
    pub via: AnswerVia,
    /// How many times the recipient changed it.
    pub changes: u32,
}

/// One answer to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerItem {
    /// The alert.
    pub alert: AlertId,
    /// The recipient.
    pub contact: ContactId,
    /// The option chosen, from 1 (a keypad digit).
    pub option: u8,
    /// How it came.
    pub via: AnswerVia,
    /// The response link's tag, for an answer from the page: checked under the alert's key.
    pub link_tag: Option<Vec<u8>>,
    /// On an alert without options: acknowledge instead (a keypad digit configured to
    /// acknowledge).
    pub acknowledges_without_options: bool,
}

/// What became of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerOutcome {
    /// Recorded; `changed` when it replaced a different earlier answer.
    Recorded {
        /// It replaced another option.
        changed: bool,
    },
    /// The recipient had given this answer already.
    Same,
    /// The alert asks nothing (acknowledged instead when the item said so).
    NoOptions,
    /// No such option.
    NoSuchOption,
    /// The response link's tag is wrong.
    BadLink,
    /// No such alert, or the contact is not its recipient.
    NotFound,
}

fn answers_key(alert: AlertId) -> Vec<u8> {
    Key::new(ALERT_ANSWERS).u64(alert).done()
}

fn answer_key(alert: AlertId, contact: ContactId) -> Vec<u8> {
    Key::new(ANSWER).u64(alert).u64(contact).done()
}

fn count_key(alert: AlertId) -> Vec<u8> {
    Key::new(ANSWER_COUNT).u64(alert).done()
}

/// The options of `alert` and the key of its links; `None` when it asks nothing.
pub fn of<T: KvTree>(txn: &Txn<'_, T>, alert: AlertId) -> Result<Option<AlertAnswers>, EngineError> {
    txn.get_as("alert answers", &answers_key(alert))
}

/// Answers per option of `alert`, option 1 first; empty when it asks nothing.
pub fn counts<T: KvTree>(txn: &Txn<'_, T>, alert: AlertId) -> Result<Vec<u64>, EngineError> {
    Ok(txn.get_as("answer counts", &count_key(alert))?.unwrap_or_default())
}

/// The answer of `contact` to `alert`, if any.
pub fn answer_of<T: KvTree>(
    txn: &Txn<'_, T>,
    alert: AlertId,
    contact: ContactId,
) -> Result<Option<StoredAnswer>, EngineError> {
    txn.get_as("answer", &answer_key(alert, contact))
}

/// Accepts the alert of `op` with `given` options. A retry (same idempotency key) answers the
/// first alert only when it was accepted with the same options.
pub(super) fn create_with<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    op: &Op,
    given: &AlertAnswers,
) -> Result<Applied, EngineError> {
    if !matches!(op, Op::CreateAlert { .. } | Op::CreateAreaAlert { .. }) {
        let m = format!("answer options go with an alert's creation, not with {}", op.name());
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let applied = super::run_op(txn, ctx, actor, op)?;
    let DomainReply::Alert { alert, existing } = &applied.reply else { return Ok(applied) };
    if *existing {
        return Ok(match of(txn, alert.id)? {
            Some(kept) if kept.options == given.options => applied,
            _ => Applied::refused(
                RefusalCode::FailedPrecondition,
                format!("idempotency_key: already used for alert {} with other answer_options", alert.id),
            ),
        });
    }
    if given.options.is_empty() {
        return Ok(Applied::refused(RefusalCode::InvalidArgument, "answer_options: none given"));
    }
    if let Err(errors) = answers::validate(&given.options, &alert.spec.content) {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Ok(Applied::refused(RefusalCode::InvalidArgument, all.join("; ")));
    }
    txn.put_as("alert answers", answers_key(alert.id), given)?;
    txn.put_as("answer counts", count_key(alert.id), &vec![0u64; given.options.len()])?;
    Ok(applied)
}

/// Records the answers of a [`DeliveryCommand::Answers`](crate::delivery::DeliveryCommand::Answers)
/// entry; one outcome per item. Changed answers are written in their tenants' audit trails.
pub(crate) fn apply<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    items: &[AnswerItem],
) -> Result<Vec<AnswerOutcome>, EngineError> {
    let mut changes = Changes::default();
    let mut out = Vec::with_capacity(items.len().min(ANSWERS_PER_ENTRY_MAX));
    for item in items.iter().take(ANSWERS_PER_ENTRY_MAX) {
        out.push(apply_one(txn, ctx, item, &mut changes)?);
    }
    changes.write(txn, ctx)?;
    Ok(out)
}

fn apply_one<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    item: &AnswerItem,
    changes: &mut Changes,
) -> Result<AnswerOutcome, EngineError> {
    let Some(tenant) = alerts::tenant_of(txn, item.alert)? else { return Ok(AnswerOutcome::NotFound) };
    let Some(alert) = alerts::get(txn, tenant, item.alert)? else { return Ok(AnswerOutcome::NotFound) };
    let Some(asked) = of(txn, alert.id)? else {
        if item.acknowledges_without_options && item.link_tag.is_none() {
            alerts::acknowledge(txn, ctx, tenant, alert.id, item.contact, Some(Channel::Voice))?;
        }
        return Ok(AnswerOutcome::NoOptions);
    };
    if let Some(tag) = &item.link_tag
        && !answers::link_valid(&asked.link_key, tenant, alert.id, item.contact, tag)
    {
        return Ok(AnswerOutcome::BadLink);
    }
    record(txn, ctx, &alert, &asked, item.contact, item.option, item.via, changes)
}

/// Reads an SMS reply attributed to `alert` and `contact` as an answer. `None` when the alert
/// asks nothing (the reply acknowledges by the generic rule then); otherwise the outcome, and
/// the reply must not acknowledge by itself.
pub(crate) fn from_reply<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    (tenant, alert, contact): (TenantId, AlertId, ContactId),
    text: &str,
    changes: &mut Changes,
) -> Result<Option<AnswerOutcome>, EngineError> {
    let Some(asked) = of(txn, alert)? else { return Ok(None) };
    let Some(a) = alerts::get(txn, tenant, alert)? else { return Ok(Some(AnswerOutcome::NotFound)) };
    let Some(option) = answers::match_reply(&asked.options, text) else {
        return Ok(Some(AnswerOutcome::NoSuchOption));
    };
    Ok(Some(record(txn, ctx, &a, &asked, contact, option, AnswerVia::Sms, changes)?))
}

#[allow(clippy::too_many_arguments)]
fn record<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    alert: &Alert,
    asked: &AlertAnswers,
    contact: ContactId,
    option: u8,
    via: AnswerVia,
    changes: &mut Changes,
) -> Result<AnswerOutcome, EngineError> {
    let Some(chosen) = asked.options.get(usize::from(option).wrapping_sub(1)) else {
        return Ok(AnswerOutcome::NoSuchOption);
    };
    if !alerts::is_recipient(txn, alert, contact)? {
        return Ok(AnswerOutcome::NotFound);
    }
    let before = answer_of(txn, alert.id, contact)?;
    if before.is_some_and(|b| b.option == option) {
        return Ok(AnswerOutcome::Same);
    }
    let mut counts = counts(txn, alert.id)?;
    counts.resize(asked.options.len(), 0);
    if let Some(b) = before
        && let Some(c) = counts.get_mut(usize::from(b.option).wrapping_sub(1))
    {
        *c = c.saturating_sub(1);
    }
    if let Some(c) = counts.get_mut(usize::from(option) - 1) {
        *c += 1;
    }
    txn.put_as("answer counts", count_key(alert.id), &counts)?;
    let changed = before.map_or(0, |b| b.changes + 1);
    let stored = StoredAnswer { option, at_ms: ctx.now_ms, via, changes: changed };
    txn.put_as("answer", answer_key(alert.id, contact), &stored)?;
    if chosen.acknowledges {
        let channel = match via {
            AnswerVia::Sms => Some(Channel::Sms),
            AnswerVia::Keypad => Some(Channel::Voice),
            AnswerVia::Page => None,
        };
        alerts::acknowledge(txn, ctx, alert.tenant, alert.id, contact, channel)?;
    }
    if let Some(b) = before {
        changes.push(
            alert.tenant,
            format!(
                "alert {}: contact {contact} changed its answer from {} to {} via {}",
                alert.id,
                b.option,
                option,
                via.as_str()
            ),
        );
    }
    Ok(AnswerOutcome::Recorded { changed: before.is_some() })
}

/// Removes the options and counts of `alert` (its per-recipient answers are details, removed
/// before); how many records.
pub(crate) fn forget<T: KvTree>(txn: &mut Txn<'_, T>, alert: AlertId) -> Result<u64, EngineError> {
    let mut n = 0;
    for key in [answers_key(alert), count_key(alert)] {
        if txn.get(&key)?.is_some() {
            txn.remove(key);
            n += 1;
        }
    }
    Ok(n)
}

/// Answers changed in one entry, per tenant: one audit record per tenant and entry.
#[derive(Default)]
pub(crate) struct Changes(std::collections::BTreeMap<TenantId, Vec<String>>);

impl Changes {
    fn push(&mut self, tenant: TenantId, detail: String) {
        self.0.entry(tenant).or_default().push(detail);
    }

    pub(crate) fn write<T: KvTree>(self, txn: &mut Txn<'_, T>, ctx: Ctx) -> Result<(), EngineError> {
        for (tenant, details) in self.0 {
            let record = AuditRecord {
                at_ms: ctx.now_ms,
                credential: 0,
                action: "alert.answer_changed".into(),
                target: "answers".into(),
                detail: details.join("; "),
            };
            write_audit(txn, tenant, ctx.index, &record)?;
        }
        Ok(())
    }
}
