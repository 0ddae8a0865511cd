//! Goal: answer options in the state machine: an alert accepted with its options, one answer
//! per recipient counted per option, a change moving the count and written in the audit trail,
//! the same answer again changing nothing, an acknowledging option acknowledging, response
//! links checked under the alert's key, SMS replies read as options (and no longer as the
//! generic "OK" on such an alert), keypad digits on alerts with and without options, retries
//! of the creation, and retention removing it all. Both stores decide alike throughout.
//!
//! Method: apply log entries directly to two stores (no cluster), as `t12_areas` does.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use support::Pair;
use varsel_domain::answers::{AlertAnswers, AnswerOption, link_ids, link_token};
use varsel_domain::model::{AlertSpec, Channel, ChannelContent, ContactInput, Content, GroupRef, Priority};
use varsel_raft_store::delivery::{DeliveryCommand, DeliveryReply};
use varsel_raft_store::ops::{Caller, DomainReply, Op, RefusalCode};
use varsel_raft_store::replies::{AttributedBy, ReplyAttribution, ReplyItem};
use varsel_raft_store::state_machine::domain::answers::{self, AnswerItem, AnswerOutcome, AnswerVia};
use varsel_raft_store::state_machine::domain::query;
use varsel_raft_store::{Request, Response};

const KEY: [u8; 32] = [9; 32];

fn spec(key: &str) -> AlertSpec {
    let variant = ChannelContent {
        sms_text: Some("Er du trygg? Svar 1 eller 2: {{answer_link}}".into()),
        ..Default::default()
    };
    AlertSpec {
        idempotency_key: key.into(),
        title: "Flom".into(),
        priority: Priority::Crisis,
        content: Content {
            default_language: "nb".into(),
            variants: BTreeMap::from([("nb".into(), variant)]),
        },
        variables: BTreeMap::new(),
        groups: vec![GroupRef::Name("alle".into())],
        contacts: vec![],
        policy: vec![],
        send_at_ms: None,
        expires_at_ms: None,
    }
}

fn safe_help() -> AlertAnswers {
    let o = |label: &str, acknowledges| AnswerOption {
        labels: BTreeMap::from([("nb".to_string(), label.to_string())]),
        acknowledges,
    };
    AlertAnswers { options: vec![o("Trygg", true), o("Trenger hjelp", false)], link_key: KEY }
}

/// A tenant with five contacts in `alle` and one outside it; their ids in that order.
async fn setup() -> (Pair, Caller, Vec<u64>) {
    let mut pair = Pair::new().await;
    let ops = pair.tenant().await;
    let mut contacts: Vec<ContactInput> = (0..5)
        .map(|i| ContactInput {
            external_id: format!("c{i}"),
            phone: Some(format!("+479100000{i}")),
            groups: vec!["alle".into()],
            ..Default::default()
        })
        .collect();
    contacts.push(ContactInput {
        external_id: "ute".into(),
        phone: Some("+4791000009".into()),
        ..Default::default()
    });
    let r = pair.apply(ops, Op::UpsertContacts { contacts }).await;
    assert!(matches!(r, DomainReply::Upserted(ref u) if u.refused.is_empty()), "{r:?}");
    let txn = pair.txn();
    let ids = (0..5)
        .map(|i| format!("c{i}"))
        .chain(["ute".to_string()])
        .map(|e| query::contact_id(&txn, ops.tenant, &e).unwrap().unwrap())
        .collect();
    drop(txn);
    (pair, ops, ids)
}

async fn create(pair: &mut Pair, ops: Caller, key: &str, answers: AlertAnswers) -> DomainReply {
    let op = Op::WithAnswers { op: Box::new(Op::CreateAlert { spec: spec(key), trace: None }), answers };
    pair.apply(ops, op).await
}

async fn answer(pair: &mut Pair, items: Vec<AnswerItem>) -> Vec<AnswerOutcome> {
    match pair.command(Request::Delivery(Box::new(DeliveryCommand::Answers { items }))).await {
        Response::Delivery(DeliveryReply::Answered { outcomes }) => outcomes,
        other => panic!("{other:?}"),
    }
}

fn page(alert: u64, tenant: u64, contact: u64, option: u8) -> AnswerItem {
    let (_, _, _, tag) = link_ids(&link_token(&KEY, tenant, alert, contact)).unwrap();
    AnswerItem {
        alert,
        contact,
        option,
        via: AnswerVia::Page,
        link_tag: Some(tag.to_vec()),
        acknowledges_without_options: false,
    }
}

fn keypad(alert: u64, contact: u64, digit: u8, ack: bool) -> AnswerItem {
    AnswerItem {
        alert,
        contact,
        option: digit,
        via: AnswerVia::Keypad,
        link_tag: None,
        acknowledges_without_options: ack,
    }
}

#[tokio::test]
async fn answers_are_counted_once_per_recipient_and_changes_are_audited() {
    let (mut pair, ops, ids) = setup().await;
    let DomainReply::Alert { alert, .. } = create(&mut pair, ops, "a1", safe_help()).await else { panic!() };
    assert_eq!(answers::of(&pair.txn(), alert.id).unwrap(), Some(safe_help()));
    assert_eq!(answers::counts(&pair.txn(), alert.id).unwrap(), vec![0, 0]);
    let t = ops.tenant;

    let first =
        vec![page(alert.id, t, ids[0], 1), page(alert.id, t, ids[1], 2), keypad(alert.id, ids[2], 2, true)];
    let recorded = AnswerOutcome::Recorded { changed: false };
    assert_eq!(answer(&mut pair, first).await, vec![recorded; 3]);
    assert_eq!(answers::counts(&pair.txn(), alert.id).unwrap(), vec![1, 2]);
    let progress = query::progress(&pair.txn(), alert.id).unwrap();
    assert_eq!(progress.acknowledged, 1, "only \"Trygg\" acknowledges; a keypad 2 does not");

    // Again the same: nothing changes. Another option: the count moves, and it is audited.
    let again = answer(&mut pair, vec![page(alert.id, t, ids[0], 1)]).await;
    assert_eq!(again, vec![AnswerOutcome::Same]);
    let audit_before = query::audit(&pair.txn(), t, None, 100).unwrap().len();
    let change = answer(&mut pair, vec![page(alert.id, t, ids[1], 1)]).await;
    assert_eq!(change, vec![AnswerOutcome::Recorded { changed: true }]);
    assert_eq!(answers::counts(&pair.txn(), alert.id).unwrap(), vec![2, 1]);
    let stored = answers::answer_of(&pair.txn(), alert.id, ids[1]).unwrap().unwrap();
    assert_eq!((stored.option, stored.via, stored.changes), (1, AnswerVia::Page, 1));
    let audit = query::audit(&pair.txn(), t, None, 100).unwrap();
    assert_eq!(audit.len(), audit_before + 1);
    let (_, record) = &audit[0];
    assert_eq!(record.action, "alert.answer_changed");
    assert!(
        record.detail.contains(&format!("contact {} changed its answer from 2 to 1 via page", ids[1])),
        "{record:?}"
    );
    assert_eq!(query::progress(&pair.txn(), alert.id).unwrap().acknowledged, 2);
    // The person's export (GDPR article 15) shows the answer.
    let export =
        varsel_raft_store::state_machine::domain::export::export(&pair.txn(), t, ids[1]).unwrap().unwrap();
    let given = export.alerts.iter().find(|a| a.alert_id == alert.id).and_then(|a| a.answer.clone()).unwrap();
    assert_eq!((given.option, given.via.as_str(), given.changes), (1, "page", 1));
    assert_eq!(given.labels.get("nb").map(String::as_str), Some("Trygg"));

    // Refused: a link tagged for another contact or under another key, no such option, not a
    // recipient, no such alert. Nothing is counted.
    let mut stolen = page(alert.id, t, ids[3], 1);
    stolen.contact = ids[4];
    let mut other_key = page(alert.id, t, ids[3], 1);
    let (_, _, _, tag) = link_ids(&link_token(&[1; 32], t, alert.id, ids[3])).unwrap();
    other_key.link_tag = Some(tag.to_vec());
    let refused = answer(
        &mut pair,
        vec![
            stolen,
            other_key,
            page(alert.id, t, ids[3], 0),
            page(alert.id, t, ids[3], 3),
            page(alert.id, t, ids[5], 1),
            page(alert.id + 99, t, ids[3], 1),
        ],
    )
    .await;
    use AnswerOutcome::*;
    assert_eq!(refused, vec![BadLink, BadLink, NoSuchOption, NoSuchOption, NotFound, NotFound]);
    assert_eq!(answers::counts(&pair.txn(), alert.id).unwrap(), vec![2, 1]);
}

#[tokio::test]
async fn sms_replies_choose_options_and_keypads_acknowledge_alerts_without_them() {
    let (mut pair, ops, ids) = setup().await;
    let DomainReply::Alert { alert, .. } = create(&mut pair, ops, "a1", safe_help()).await else { panic!() };
    let reply = |n: usize, text: &str, acknowledges: bool| ReplyItem {
        provider: "sms-primary".into(),
        id: Some(format!("mo-{n}")),
        from: format!("+479100000{n}"),
        to: None,
        text: text.into(),
        channel: Channel::Sms,
        sent_at_ms: None,
        attribution: ReplyAttribution::Alert {
            alert: alert.id,
            contact: ids[n],
            acknowledges,
            by: AttributedBy::Reference,
        },
    };
    // The receiving node marks "OK" and "1" as acknowledging by the generic rule; on an alert
    // with options only the option decides.
    let items = vec![
        reply(0, "1", true),
        reply(1, "2 trenger hjelp", false),
        reply(2, "OK", true),
        reply(3, "trygg!", false),
    ];
    let r = pair.command(Request::Delivery(Box::new(DeliveryCommand::Replies { items }))).await;
    assert!(matches!(r, Response::Delivery(DeliveryReply::Done)), "{r:?}");
    assert_eq!(answers::counts(&pair.txn(), alert.id).unwrap(), vec![2, 1]);
    assert_eq!(answers::answer_of(&pair.txn(), alert.id, ids[2]).unwrap(), None, "\"OK\" is no option");
    assert_eq!(query::progress(&pair.txn(), alert.id).unwrap().acknowledged, 2, "\"1\" and \"trygg!\" only");

    // An alert without options: an acknowledging keypad digit acknowledges, another does not.
    let op = Op::CreateAlert { spec: spec_without_link("plain"), trace: None };
    let DomainReply::Alert { alert: plain, .. } = pair.apply(ops, op).await else { panic!() };
    let out =
        answer(&mut pair, vec![keypad(plain.id, ids[0], 1, true), keypad(plain.id, ids[1], 2, false)]).await;
    assert_eq!(out, vec![AnswerOutcome::NoOptions, AnswerOutcome::NoOptions]);
    assert_eq!(query::progress(&pair.txn(), plain.id).unwrap().acknowledged, 1);
    assert_eq!(answers::of(&pair.txn(), plain.id).unwrap(), None);
}

fn spec_without_link(key: &str) -> AlertSpec {
    let mut s = spec(key);
    for v in s.content.variants.values_mut() {
        v.sms_text = Some("Flom. Svar OK.".into());
    }
    s
}

#[tokio::test]
async fn creation_retries_and_bad_options() {
    let (mut pair, ops, _) = setup().await;
    let DomainReply::Alert { alert, existing: false } = create(&mut pair, ops, "a1", safe_help()).await
    else {
        panic!()
    };
    // A retry with the same options answers the first alert, even with another link key
    // (each node draws its own); with other options it is refused.
    let mut retry = safe_help();
    retry.link_key = [3; 32];
    let DomainReply::Alert { alert: again, existing: true } = create(&mut pair, ops, "a1", retry).await
    else {
        panic!()
    };
    assert_eq!(again.id, alert.id);
    assert_eq!(answers::of(&pair.txn(), alert.id).unwrap().unwrap().link_key, KEY, "the first key stays");
    let mut other = safe_help();
    other.options.pop();
    other.options.push(AnswerOption {
        labels: BTreeMap::from([("nb".into(), "Vet ikke".into())]),
        acknowledges: false,
    });
    let DomainReply::Refused(r) = create(&mut pair, ops, "a1", other).await else { panic!() };
    assert_eq!(r.code, RefusalCode::FailedPrecondition);
    assert!(r.message.contains("other answer_options"), "{r:?}");
    // One option is refused, and nothing of the alert is left.
    let mut one = safe_help();
    one.options.truncate(1);
    let DomainReply::Refused(r) = create(&mut pair, ops, "a2", one).await else { panic!() };
    assert_eq!(r.code, RefusalCode::InvalidArgument);
    assert!(r.message.contains("answer_options"), "{r:?}");
    assert_eq!(query::alerts(&pair.txn(), ops.tenant, None, 10).unwrap().len(), 1, "only a1 exists");
}

/// Goal: retention removes the answers with the alert's details, and the options and counts
/// with the alert.
#[tokio::test]
async fn retention_removes_answers() {
    use varsel_domain::model::Retention;
    use varsel_raft_store::state_machine::keys::{ALERT_ANSWERS, ANSWER, ANSWER_COUNT};
    let (mut pair, ops, ids) = setup().await;
    let DomainReply::Alert { alert, .. } = create(&mut pair, ops, "a1", safe_help()).await else { panic!() };
    answer(&mut pair, vec![page(alert.id, ops.tenant, ids[0], 2)]).await;
    let left = |pair: &Pair| {
        let txn = pair.txn();
        [ALERT_ANSWERS, ANSWER, ANSWER_COUNT].map(|t| txn.scan_prefix(&[t], None, usize::MAX).unwrap().len())
    };
    assert_eq!(left(&pair), [1, 1, 1]);
    let r = pair.apply(ops, Op::CancelAlert { id: alert.id, idempotency_key: String::new() }).await;
    assert!(!matches!(r, DomainReply::Refused(_)), "{r:?}");
    let retention = Retention { details_ms: 60_000, alerts_ms: 120_000 };
    let r = pair.apply(Caller::SUPERADMIN, Op::SetRetention { tenant: ops.tenant, retention }).await;
    assert!(!matches!(r, DomainReply::Refused(_)), "{r:?}");
    pair.now_ms += 600_000;
    for _ in 0..3 {
        let r = pair.command(Request::Delivery(Box::new(DeliveryCommand::Purge { budget: 10_000 }))).await;
        assert!(matches!(r, Response::Delivery(DeliveryReply::Purged { .. })), "{r:?}");
    }
    assert!(query::alert(&pair.txn(), ops.tenant, alert.id).unwrap().is_none(), "the alert was purged");
    assert_eq!(left(&pair), [0, 0, 0]);
}
