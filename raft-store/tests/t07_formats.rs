//! Versioned formats: golden files of today's encodings, and refusals of newer ones.
//!
//! Goal: a change to the shape of anything persisted or replicated (log entries, the vote,
//! state records, answers, snapshot files) fails here, loudly, instead of breaking a rolling
//! upgrade silently; and a node that meets a format version newer than it knows refuses with an
//! error naming both versions, never misreads.
//!
//! Method: for each record kind a representative, fully populated value is built from fixed ids
//! and times. Its golden file under `tests/fixtures/formats/` must decode to that value, and the
//! value must encode to exactly the golden bytes. A missing golden file is a failure, never a
//! skip, and so is a golden file no test checks. Then values, stores and snapshot files are
//! altered to carry a newer version and must be refused.
//!
//! The golden files are written, not checked, when `VARSEL_WRITE_FIXTURES=1` is set:
//!
//! ```sh
//! VARSEL_WRITE_FIXTURES=1 cargo test -p varsel-raft-store --test t07_formats
//! ```
//!
//! Do that only for a new record kind, or together with a new format version and a decoder for
//! the old one (see `docs/architecture.md`, "Format versions"): rewriting the files to make a
//! failure go away hides exactly the break they are there to catch.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId, Membership, RaftSnapshotBuilder, Vote};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use varsel_domain::location::{AreaTarget, Location};
use varsel_domain::model::{
    Alert, AlertSpec, AlertStatus, AuditRecord, Channel, ChannelContent, Contact, ContactInput, ContactRef,
    Content, Credential, EscalationStep, Group, GroupRef, GroupSnapshot, Limits, Membership as GroupMember,
    Priority, Role, StoredTemplate, Tenant,
};
use varsel_raft_store::delivery::{
    DeliveryCommand, DeliveryReply, Granted, LeaseRef, Outcome, OutcomeResult, ReceiptItem, ShardProgress,
    ShardRef, ShardState, StoredReceipt,
};
use varsel_raft_store::error::EngineError;
use varsel_raft_store::ops::{Caller, DirectoryAttributes, DomainReply, DomainRequest, Op};
use varsel_raft_store::replies::{AttributedBy, ReplyAttribution, ReplyItem, StoredReply};
use varsel_raft_store::state_machine::delivery::packed;
use varsel_raft_store::state_machine::domain::directory::DirectoryRecord;
use varsel_raft_store::state_machine::domain::locations::{AreaGroup, AreaRecord};
use varsel_raft_store::state_machine::domain::{Ack, ChannelProgress, Progress};
use varsel_raft_store::state_machine::keys::{self, Key};
use varsel_raft_store::state_machine::webhooks::NewWebhook;
use varsel_raft_store::webhooks::{
    Attempt, Disabled, EventKind, EventRef, OutboxEntry, Webhook, WebhookEvent, WebhookResult,
};
use varsel_raft_store::{
    Command, Entry, FORMAT_VERSION, KvCommand, KvTree as _, MemEngine, Request, Response, STORE_VERSION,
    SnapshotMeta, StorageEngine as _, StoredMembership, VarselNode, decode, encode, snapshot,
};

/// What a failure says about the way out.
const FORMAT_CHANGE: &str = "a change of an encoded shape needs a new format version and a decoder for the old \
    one (see docs/architecture.md, \"Format versions\"); rewrite the golden files only together with that";

/// 2026-01-01T00:00:00Z, the fixtures' log time.
const AT_MS: u64 = 1_767_225_600_000;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/formats")
}

/// True when the golden files are to be written rather than checked.
fn writing() -> bool {
    std::env::var("VARSEL_WRITE_FIXTURES").is_ok_and(|v| v == "1")
}

/// Reads golden file `name`; its absence is a failure with the way to write it.
fn read_golden(name: &str) -> Result<Vec<u8>, String> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).map_err(|e| {
        format!(
            "{name}: golden file {} cannot be read ({e}); a new record kind's file is written with \
             VARSEL_WRITE_FIXTURES=1 (tests/fixtures/formats/README.md)",
            path.display()
        )
    })
}

fn write_golden(name: &str, bytes: &[u8]) -> Result<(), String> {
    let dir = fixtures_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))
}

/// Checks `value` against golden file `name`: the file decodes to the value, and the value
/// encodes to the file's bytes. Writes the file instead when [`writing`].
fn golden<T>(name: &str, what: &'static str, value: &T) -> Result<(), String>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let encoded = encode(what, value).map_err(|e| format!("{name}: {e}"))?;
    if writing() {
        return write_golden(name, &encoded);
    }
    let golden = read_golden(name)?;
    let decoded: T = decode(what, &golden).map_err(|e| {
        format!("{name}: this build no longer decodes today's {what}: {e}.\n  {FORMAT_CHANGE}")
    })?;
    if decoded != *value {
        return Err(format!(
            "{name}: today's {what} decodes to another value.\n  golden: {decoded:?}\n  built:  {value:?}\n  \
             {FORMAT_CHANGE}"
        ));
    }
    if encoded != golden {
        return Err(format!(
            "{name}: the same {what} now encodes to other bytes ({} bytes, golden {}).\n  {FORMAT_CHANGE}",
            encoded.len(),
            golden.len()
        ));
    }
    Ok(())
}

/// [`golden`] for a run of memberships (`format::append_to_run`: one version byte, then the
/// memberships back to back).
fn golden_run(name: &str, members: &[GroupMember]) -> Result<(), String> {
    let mut encoded = Vec::new();
    for m in members {
        encoded = varsel_raft_store::format::append_to_run("memberships", m, encoded)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    if writing() {
        return write_golden(name, &encoded);
    }
    let golden = read_golden(name)?;
    let decoded: Vec<GroupMember> =
        varsel_raft_store::format::decode_run("memberships", &golden).map_err(|e| {
            format!(
                "{name}: this build no longer decodes today's run of memberships: {e}.\n  {FORMAT_CHANGE}"
            )
        })?;
    if decoded != members || encoded != golden {
        return Err(format!(
            "{name}: the run of memberships now decodes to {decoded:?} or encodes to other bytes.\n  {FORMAT_CHANGE}"
        ));
    }
    Ok(())
}

/// [`golden`] for a packed outcome batch (`delivery::packed`, table `OUTCOME_PACKED`).
fn golden_packed(name: &str, batch: &[Outcome]) -> Result<(), String> {
    let encoded = packed::encode(batch).map_err(|e| format!("{name}: encoding failed: {e}"))?;
    if writing() {
        return write_golden(name, &encoded);
    }
    let golden = read_golden(name)?;
    let decoded = packed::decode(&[keys::OUTCOME_PACKED], &golden)
        .map_err(|e| format!("{name}: the golden file no longer decodes: {e}\n  {FORMAT_CHANGE}"))?;
    if decoded != batch || encoded != golden {
        return Err(format!(
            "{name}: a packed outcome batch now reads or encodes differently.\n  {FORMAT_CHANGE}"
        ));
    }
    Ok(())
}

fn log_id(index: u64) -> openraft::LogId<u64> {
    LogId::new(CommittedLeaderId::new(3, 2), index)
}

fn node(site: &str, n: u16) -> VarselNode {
    VarselNode {
        site: site.into(),
        api_addr: format!("10.0.0.{n}:7400"),
        raft_addr: format!("10.0.0.{n}:7401"),
    }
}

fn membership() -> Membership<u64, VarselNode> {
    Membership::new(
        vec![BTreeSet::from([1, 2, 3])],
        BTreeMap::from([(1, node("oslo", 1)), (2, node("bergen", 2)), (3, node("trondheim", 3))]),
    )
}

fn stored_membership() -> StoredMembership {
    StoredMembership::new(Some(log_id(2)), membership())
}

fn entry(index: u64, request: Request) -> Entry {
    Entry {
        log_id: log_id(index),
        payload: EntryPayload::Normal(Command {
            issued_at_ms: AT_MS + index,
            lease_at_ms: 900_000 + index,
            request,
        }),
    }
}

fn domain(op: Op) -> Request {
    Request::Domain(Box::new(DomainRequest {
        actor: Caller { tenant: 7, credential: 11, role: Role::Admin },
        op,
    }))
}

fn limits() -> Limits {
    Limits {
        max_recipients_per_alert: 50_000,
        max_sms_segments: 4,
        max_alerts_per_minute: 12,
        max_messages_per_alert: 200_000,
        max_send_rate_per_second: 1_500,
        max_contacts: 750_000,
    }
}

fn content() -> Content {
    let nb = ChannelContent {
        sms_text: Some("Evakuer {{omrade}} nå".into()),
        email_subject: Some("Evakuering".into()),
        email_text: Some("Forlat {{omrade}} straks.".into()),
        email_html: Some("<p>Forlat {{omrade}} straks.</p>".into()),
        voice_script: Some("Forlat området straks.".into()),
        push_title: Some("Evakuering".into()),
        push_body: Some("Forlat {{omrade}}".into()),
    };
    let en = ChannelContent { sms_text: Some("Evacuate {{omrade}} now".into()), ..Default::default() };
    Content {
        default_language: "nb".into(),
        variants: BTreeMap::from([("nb".into(), nb), ("en".into(), en)]),
    }
}

fn spec() -> AlertSpec {
    AlertSpec {
        idempotency_key: "flood-2026-01".into(),
        title: "Flood warning".into(),
        priority: Priority::Crisis,
        content: content(),
        variables: BTreeMap::from([("omrade".into(), "Sentrum".into())]),
        groups: vec![GroupRef::Id(5), GroupRef::Name("on-call".into())],
        contacts: vec![ContactRef::Id(21), ContactRef::External("emp-0042".into())],
        policy: vec![
            EscalationStep { channels: vec![Channel::Sms, Channel::Push], after_seconds: 0 },
            EscalationStep { channels: vec![Channel::Voice, Channel::Email], after_seconds: 300 },
        ],
        send_at_ms: Some(AT_MS + 1_000),
        expires_at_ms: Some(AT_MS + 3_600_000),
    }
}

fn alert() -> Alert {
    Alert {
        id: 31,
        tenant: 7,
        spec: spec(),
        groups: vec![GroupSnapshot { group: 5, seq_end: 120, member_count: 118 }],
        contacts: vec![21, 22],
        accepted_index: 40,
        created_at_ms: AT_MS + 40,
        created_by: 11,
        start_ms: AT_MS + 1_000,
        expires_ms: AT_MS + 3_600_000,
        status: AlertStatus::Active,
        recipients_planned: 120,
        shards: 2,
        cancelled: Some((AT_MS + 9_000, 12)),
        finished_at_ms: Some(AT_MS + 9_500),
        request_hash: 0x1234_5678_9abc_def0,
        trace: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    }
}

fn tenant() -> Tenant {
    Tenant { id: 7, name: "kommune".into(), limits: limits(), created_at_ms: AT_MS }
}

fn credential() -> Credential {
    Credential {
        id: 11,
        tenant: 7,
        name: "ops-console".into(),
        role: Role::Operator,
        secret_hash: std::array::from_fn(|i| i as u8),
        created_at_ms: AT_MS + 5,
        created_by: 0,
        revoked: true,
    }
}

fn contact() -> Contact {
    Contact {
        id: 21,
        external_id: "emp-0042".into(),
        name: Some("Kari Nordmann".into()),
        phone: Some("+4790000042".into()),
        email: Some("kari@example.no".into()),
        push: Some("{\"endpoint\":\"https://push.example/abc\"}".into()),
        language: Some("nb".into()),
        opt_out: BTreeSet::from([Channel::Voice, Channel::Email]),
        push_invalid: true,
        updated_at_ms: AT_MS + 7,
    }
}

fn contact_input() -> ContactInput {
    ContactInput {
        external_id: "emp-0042".into(),
        name: Some("Kari Nordmann".into()),
        phone: Some("+4790000042".into()),
        email: Some("kari@example.no".into()),
        push: Some("{\"endpoint\":\"https://push.example/abc\"}".into()),
        language: Some("nb".into()),
        opt_out: BTreeSet::from([Channel::Voice]),
        groups: vec!["on-call".into(), "sentrum".into()],
    }
}

fn outcomes() -> Vec<Outcome> {
    vec![
        Outcome {
            pos: 3,
            contact: 21,
            channel: Channel::Sms,
            result: OutcomeResult::Sent { provider_id: "smsc-778".into() },
            provider: "smpp-primary".into(),
            at_ms: AT_MS + 2_000,
        },
        Outcome {
            pos: 4,
            contact: 22,
            channel: Channel::Sms,
            result: OutcomeResult::Failed { reason: "ESME_RINVDSTADR".into() },
            provider: "smpp-backup".into(),
            at_ms: AT_MS + 2_001,
        },
    ]
}

fn lease() -> LeaseRef {
    LeaseRef { shard: ShardRef { alert: 31, shard: 1 }, epoch: 4 }
}

fn reply_item() -> ReplyItem {
    ReplyItem {
        provider: "smpp-primary".into(),
        id: Some("mo-991".into()),
        from: "+4790000042".into(),
        to: Some("2222".into()),
        text: "OK, på vei".into(),
        channel: Channel::Sms,
        sent_at_ms: Some(AT_MS + 4_000),
        attribution: ReplyAttribution::Alert {
            alert: 31,
            contact: 21,
            acknowledges: true,
            by: AttributedBy::Route,
        },
    }
}

/// The log entries: the key-value map, a membership change, domain operations and delivery
/// commands.
fn log_entries() -> Vec<(&'static str, Entry)> {
    let create_tenant =
        Op::CreateTenant { name: "kommune".into(), limits: limits(), idempotency_key: "t-1".into() };
    let create_credential = Op::CreateCredential {
        tenant: 7,
        name: "ops-console".into(),
        role: Role::Operator,
        secret_hash: [0xab; 32],
        idempotency_key: "c-1".into(),
    };
    let import = Op::UpsertContacts {
        contacts: vec![contact_input(), ContactInput { external_id: "emp-7".into(), ..Default::default() }],
    };
    let create_alert = Op::CreateAlert {
        spec: spec(),
        trace: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    };
    let upsert_directory = Op::UpsertContactDirectory {
        contact: contact_input(),
        directory: Some(DirectoryAttributes {
            directory_id: Some("5f2a9c1e-8d4b-4f0a-9e1c-2b7d3a6f8e10".into()),
            inactive: true,
        }),
        replace: Some(21),
        create_only: false,
    };
    let update_group =
        Op::UpdateGroup { id: 4, name: "Brannvakt nord".into(), directory_id: Some("grp-0193".into()) };
    let with_locations = Op::WithLocations {
        op: Box::new(Op::UpsertContacts { contacts: vec![contact_input()] }),
        locations: vec![(contact_input().external_id, places())],
    };
    let create_area_alert = Op::CreateAreaAlert { spec: spec(), trace: None, area: area_target() };
    let with_answers = Op::WithAnswers {
        op: Box::new(Op::CreateAlert { spec: spec(), trace: None }),
        answers: alert_answers(),
    };
    let answers = DeliveryCommand::Answers {
        items: vec![varsel_raft_store::state_machine::domain::answers::AnswerItem {
            alert: 31,
            contact: 21,
            option: 2,
            via: varsel_raft_store::state_machine::domain::answers::AnswerVia::Page,
            link_tag: Some(vec![7; 12]),
            acknowledges_without_options: false,
        }],
    };
    let heartbeat = DeliveryCommand::Heartbeat {
        node: 2,
        renew: vec![lease()],
        acquire: vec![ShardRef { alert: 31, shard: 0 }],
        lease_ms: 2_500,
    };
    let record = DeliveryCommand::Record {
        node: 2,
        items: vec![ShardProgress {
            lease: lease(),
            step: 0,
            channel: Channel::Sms,
            from: 3,
            to: 5,
            recipients: 2,
            outcomes: outcomes(),
            skipped: vec![(Channel::Sms, 1), (Channel::Push, 2)],
        }],
    };
    let record_packed = record.packed_record().expect("a record").expect("packs");
    let receipts = DeliveryCommand::Receipts {
        items: vec![ReceiptItem {
            alert: 31,
            contact: 21,
            channel: Channel::Sms,
            delivered: false,
            provider_id: "smsc-778".into(),
            error: Some("expired".into()),
        }],
    };
    let cap_config = Op::SetCapConfig { tenant: 7, config: cap_config() };
    let record_cap = Op::RecordCap { record: cap_record() };
    let sync_members = Op::SyncMembers {
        group: 4,
        expect_next_seq: 300,
        expect_member_count: 250,
        leave: varsel_raft_store::seq_set::SeqSet::from_sorted(&[0, 5, 129, 299]).unwrap_or_default(),
        rows: 248,
        rejected: 2,
    };
    vec![
        ("log-entry-set-cap-config.bin", entry(19, domain(cap_config))),
        ("log-entry-record-cap.bin", entry(20, domain(record_cap))),
        ("log-entry-sync-members.bin", entry(21, domain(sync_members))),
        (
            "log-entry-kv-put.bin",
            entry(10, Request::Kv(KvCommand::Put { key: "k".into(), value: "v".into() })),
        ),
        (
            "log-entry-membership.bin",
            Entry { log_id: log_id(2), payload: EntryPayload::Membership(membership()) },
        ),
        ("log-entry-create-tenant.bin", entry(11, domain(create_tenant))),
        ("log-entry-create-credential.bin", entry(12, domain(create_credential))),
        ("log-entry-import-contacts.bin", entry(13, domain(import))),
        ("log-entry-create-alert.bin", entry(14, domain(create_alert))),
        ("log-entry-delivery-heartbeat.bin", entry(15, Request::Delivery(Box::new(heartbeat)))),
        ("log-entry-delivery-record-packed.bin", entry(16, Request::Delivery(Box::new(record_packed)))),
        ("log-entry-delivery-record.bin", entry(16, Request::Delivery(Box::new(record)))),
        ("log-entry-delivery-receipts.bin", entry(17, Request::Delivery(Box::new(receipts)))),
        (
            "log-entry-delivery-replies.bin",
            entry(18, Request::Delivery(Box::new(DeliveryCommand::Replies { items: vec![reply_item()] }))),
        ),
        ("log-entry-create-webhook.bin", entry(19, domain(Op::CreateWebhook(new_webhook())))),
        (
            "log-entry-delivery-webhook-results.bin",
            entry(
                20,
                Request::Delivery(Box::new(DeliveryCommand::WebhookResults {
                    node: 2,
                    items: vec![webhook_result()],
                })),
            ),
        ),
        (
            "log-entry-delivery-circuit.bin",
            entry(
                21,
                Request::Delivery(Box::new(DeliveryCommand::Circuit {
                    node: 3,
                    channel: "sms".into(),
                    provider: "smsc-a".into(),
                    open: true,
                })),
            ),
        ),
        ("log-entry-upsert-contact-directory.bin", entry(22, domain(upsert_directory))),
        ("log-entry-update-group.bin", entry(23, domain(update_group))),
        ("log-entry-with-locations.bin", entry(24, domain(with_locations))),
        ("log-entry-create-area-alert.bin", entry(25, domain(create_area_alert))),
        ("log-entry-with-answers.bin", entry(26, domain(with_answers))),
        ("log-entry-delivery-answers.bin", entry(27, Request::Delivery(Box::new(answers)))),
        (
            "log-entry-batch.bin",
            entry(
                28,
                Request::Batch(vec![
                    Request::Kv(KvCommand::Put { key: "a".into(), value: "1".into() }),
                    Request::Kv(KvCommand::Delete { key: "b".into() }),
                ]),
            ),
        ),
    ]
}

fn alert_answers() -> varsel_domain::answers::AlertAnswers {
    let option = |nb: &str, en: &str, acknowledges| varsel_domain::answers::AnswerOption {
        labels: BTreeMap::from([("nb".to_string(), nb.to_string()), ("en".to_string(), en.to_string())]),
        acknowledges,
    };
    varsel_domain::answers::AlertAnswers {
        options: vec![option("Trygg", "Safe", true), option("Trenger hjelp", "Need help", false)],
        link_key: [0x5a; 32],
    }
}

fn places() -> Vec<Location> {
    vec![
        Location {
            name: "home".into(),
            lat_e7: 599_139_000,
            lon_e7: 107_522_000,
            address: Some("Storgata 1, 0155 Oslo".into()),
        },
        Location { name: "work".into(), lat_e7: 603_913_000, lon_e7: 53_220_000, address: None },
    ]
}

fn area_target() -> AreaTarget {
    AreaTarget {
        polygons: vec!["59.90,10.70 59.95,10.70 59.95,10.80 59.90,10.80 59.90,10.70".into()],
        circles: vec!["60.39,5.32 2.5".into()],
        within_groups: vec![GroupRef::Name("on-call".into()), GroupRef::Id(5)],
        allow_empty: true,
    }
}

fn cap_config() -> varsel_domain::cap_route::CapConfig {
    varsel_domain::cap_route::CapConfig {
        routes: vec![varsel_domain::cap_route::CapRoute {
            sender: "met@met.no".into(),
            event: "Flom".into(),
            code: "profile:NO-1".into(),
            groups: vec!["elvebredden".into(), "stab".into()],
        }],
        exercise_group: "ovelse".into(),
    }
}

fn cap_record() -> varsel_domain::cap_route::CapRecord {
    varsel_domain::cap_route::CapRecord {
        key: "cap-sha256:00ff".into(),
        sent_ms: AT_MS + 50,
        status: "Actual".into(),
        msg_type: "Alert".into(),
        scope: "Public".into(),
        alert: Some(31),
        xml: "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"/>".into(),
    }
}

fn new_webhook() -> NewWebhook {
    NewWebhook {
        url: "https://hooks.example.org/varsel".into(),
        events: vec![EventKind::AlertCreated, EventKind::AlertCompleted, EventKind::CircuitOpen],
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        allow_insecure: false,
        description: "crisis room".into(),
        idempotency_key: "hook-1".into(),
    }
}

fn webhook_result() -> WebhookResult {
    WebhookResult {
        tenant: 7,
        webhook: 3,
        event: EventRef { index: 14, n: 1 },
        status: 503,
        ok: false,
        error: "status 503".into(),
        duration_ms: 41,
        retry_in_ms: 30_000,
    }
}

fn webhook() -> Webhook {
    Webhook {
        id: 3,
        tenant: 7,
        url: "https://hooks.example.org/varsel".into(),
        events: vec![EventKind::AlertCreated, EventKind::Acknowledged],
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        allow_insecure: false,
        description: "crisis room".into(),
        created_at_ms: AT_MS + 50,
        disabled: Some(Disabled { at_ms: AT_MS + 3_600_000, reason: "8 consecutive failed attempts".into() }),
        consecutive_failures: 8,
        attempts: 12,
        delivered: 4,
        dropped: 1,
    }
}

/// The webhook records (see `varsel_raft_store::webhooks`).
fn check_webhook_values(run: &mut dyn FnMut(&str, Result<(), String>)) {
    run("state-webhook.bin", golden("state-webhook.bin", "webhook", &webhook()));
    let event = WebhookEvent {
        kind: EventKind::AlertCompleted,
        alert: Some(31),
        at_ms: AT_MS + 60,
        body: r#"{"data":{"alert_id":31},"timestamp":"2026-01-01T00:00:00.060Z","type":"alert.completed"}"#
            .into(),
        pending: 2,
    };
    run("state-webhook-event.bin", golden("state-webhook-event.bin", "webhook event", &event));
    let entry = OutboxEntry { alert: Some(31), attempts: 2, next_at_ms: AT_MS + 35_000 };
    run("state-webhook-outbox.bin", golden("state-webhook-outbox.bin", "outbox entry", &entry));
    let attempt = Attempt {
        event: EventRef { index: 14, n: 1 },
        kind: EventKind::AlertCompleted,
        event_at_ms: AT_MS + 60,
        at_ms: AT_MS + 5_000,
        node: 2,
        status: 503,
        ok: false,
        error: "status 503".into(),
        duration_ms: 41,
        attempt: 2,
    };
    run("state-webhook-attempt.bin", golden("state-webhook-attempt.bin", "webhook attempt", &attempt));
    let answer = Response::Domain(DomainReply::Webhook(Box::new(webhook())));
    run("response-domain-webhook.bin", golden("response-domain-webhook.bin", "response", &answer));
}

/// Checks every golden file of values, collecting the failures.
fn check_values(failures: &mut Vec<String>, checked: &mut BTreeSet<String>) {
    let mut run = |name: &str, r: Result<(), String>| {
        checked.insert(name.to_string());
        if let Err(e) = r {
            failures.push(e);
        }
    };
    for (name, e) in log_entries() {
        run(name, golden(name, "log entry", &e));
    }
    run("vote.bin", golden("vote.bin", "vote", &Vote::new_committed(3u64, 2u64)));
    run("meta-applied.bin", golden("meta-applied.bin", "applied", &Some(log_id(42))));
    run("meta-membership.bin", golden("meta-membership.bin", "membership", &stored_membership()));
    run("state-kv-value.bin", golden("state-kv-value.bin", "kv value", &"v".to_string()));
    run("state-tenant.bin", golden("state-tenant.bin", "tenant", &tenant()));
    run("state-credential.bin", golden("state-credential.bin", "credential", &credential()));
    run("state-contact.bin", golden("state-contact.bin", "contact", &contact()));
    let directory = DirectoryRecord {
        directory_id: Some("5f2a9c1e-8d4b-4f0a-9e1c-2b7d3a6f8e10".into()),
        inactive: true,
        created_at_ms: AT_MS - 86_400_000,
    };
    run("state-contact-directory.bin", golden("state-contact-directory.bin", "directory record", &directory));
    let group_directory_id = "grp-0193".to_string();
    run(
        "state-group-directory-id.bin",
        golden("state-group-directory-id.bin", "group directory id", &group_directory_id),
    );
    let excluded: Vec<u64> = vec![21, 300, 70_000];
    run("state-alert-excluded.bin", golden("state-alert-excluded.bin", "excluded contacts", &excluded));
    run("state-locations.bin", golden("state-locations.bin", "locations", &places()));
    run("state-geo-point.bin", golden("state-geo-point.bin", "point", &(599_139_000i32, 107_522_000i32)));
    let area = AreaRecord { target: area_target(), group: 88, matched: 1_204 };
    run("state-alert-area.bin", golden("state-alert-area.bin", "area record", &area));
    let area_group = AreaGroup { added_at: 4_711, len: 1_025, heads: vec![21, 90_000] };
    run("state-area-group.bin", golden("state-area-group.bin", "area group", &area_group));
    let chunk: Vec<u64> = vec![21, 22, 300, 4_999_999];
    run("state-area-chunk.bin", golden("state-area-chunk.bin", "area chunk", &chunk));
    run("state-alert-answers.bin", golden("state-alert-answers.bin", "alert answers", &alert_answers()));
    let answer = varsel_raft_store::state_machine::domain::answers::StoredAnswer {
        option: 2,
        at_ms: AT_MS + 9_000,
        via: varsel_raft_store::state_machine::domain::answers::AnswerVia::Sms,
        changes: 1,
    };
    run("state-answer.bin", golden("state-answer.bin", "answer", &answer));
    run("state-answer-counts.bin", golden("state-answer-counts.bin", "answer counts", &vec![1_204u64, 17]));
    let group =
        Group { id: 5, name: "on-call".into(), member_count: 118, next_seq: 121, created_at_ms: AT_MS + 3 };
    run("state-group.bin", golden("state-group.bin", "group", &group));
    let member = GroupMember { contact: 21, added_at: 13, removed_at: Some(19) };
    run("state-membership.bin", golden("state-membership.bin", "membership", &member));
    let members = vec![member, GroupMember { contact: 22, added_at: 14, removed_at: None }];
    run("state-membership-run.bin", golden_run("state-membership-run.bin", &members));
    run("state-alert.bin", golden("state-alert.bin", "alert", &alert()));
    let progress = Progress {
        recipients: 120,
        acknowledged: 9,
        channels: BTreeMap::from([
            (
                Channel::Sms,
                ChannelProgress { queued: 1, sent: 100, delivered: 90, failed: 3, expired: 2, skipped: 14 },
            ),
            (
                Channel::Push,
                ChannelProgress { queued: 0, sent: 40, delivered: 0, failed: 1, expired: 0, skipped: 79 },
            ),
        ]),
        first_sent_at_ms: Some(AT_MS + 2_000),
        last_sent_at_ms: Some(AT_MS + 8_000),
        shards_done: 1,
    };
    run("state-progress.bin", golden("state-progress.bin", "progress", &progress));
    run(
        "state-ack.bin",
        golden("state-ack.bin", "ack", &Ack { at_ms: AT_MS + 4_000, channel: Some(Channel::Sms) }),
    );
    let template = StoredTemplate { name: "flood".into(), content: content(), updated_at_ms: AT_MS + 9 };
    run("state-template.bin", golden("state-template.bin", "template", &template));
    run("state-cap-config.bin", golden("state-cap-config.bin", "cap config", &cap_config()));
    run("state-cap-record.bin", golden("state-cap-record.bin", "cap record", &cap_record()));
    let audit = AuditRecord {
        at_ms: AT_MS + 40,
        credential: 11,
        action: "alert.create".into(),
        target: "alert 31".into(),
        detail: "Flood warning, 120 recipients".into(),
    };
    run("state-audit-record.bin", golden("state-audit-record.bin", "audit record", &audit));
    let shard = ShardState {
        owner: Some(2),
        epoch: 4,
        expires_ms: 902_500,
        step: 1,
        cursors: vec![120, 57],
        done: false,
    };
    run("state-shard.bin", golden("state-shard.bin", "shard", &shard));
    run("state-outcomes.bin", golden("state-outcomes.bin", "outcomes", &outcomes()));
    run("state-outcomes-packed.bin", golden_packed("state-outcomes-packed.bin", &outcomes()));
    let receipt = StoredReceipt {
        delivered: true,
        at_ms: AT_MS + 3_000,
        provider_id: "smsc-778".into(),
        error: Some("late".into()),
    };
    run("state-receipt.bin", golden("state-receipt.bin", "receipt", &receipt));
    let reply = StoredReply { at_ms: AT_MS + 4_001, item: reply_item() };
    run("state-reply.bin", golden("state-reply.bin", "reply", &reply));
    let answer = Response::Domain(DomainReply::Replayed(Box::new(DomainReply::Alert {
        alert: Box::new(alert()),
        existing: true,
    })));
    run("response-domain-alert.bin", golden("response-domain-alert.bin", "response", &answer));
    let granted = Granted { lease: lease(), expires_ms: 902_500 };
    let leases = Response::Delivery(DeliveryReply::Leases {
        granted: vec![granted],
        renewed: vec![Granted { lease: LeaseRef { epoch: 3, ..lease() }, expires_ms: 902_400 }],
        lost: vec![LeaseRef { shard: ShardRef { alert: 30, shard: 0 }, epoch: 9 }],
        now_ms: 900_000,
    });
    run("response-delivery-leases.bin", golden("response-delivery-leases.bin", "response", &leases));
    let batch = Response::Batch(vec![Response::KvPrevious(Some("0".into())), Response::KvPrevious(None)]);
    run("response-batch.bin", golden("response-batch.bin", "response", &batch));
    check_webhook_values(&mut run);
}

/// Key-value records, as a snapshot file holds them.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// The small snapshot of the golden files: its metadata and records.
fn snapshot_content() -> Result<(SnapshotMeta, Records), EngineError> {
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(42)),
        last_membership: stored_membership(),
        snapshot_id: "3-2-42-7".into(),
    };
    let records = vec![
        (keys::CLOCK.to_vec(), encode("clock", &(AT_MS + 42))?),
        (keys::kv("k"), encode("kv value", &"v".to_string())?),
        (Key::new(keys::TENANT).u64(7).done(), encode("tenant", &tenant())?),
        (Key::new(keys::CONTACT).u64(7).u64(21).done(), encode("contact", &contact())?),
        (Key::new(keys::ALERT).u64(7).u64(31).done(), encode("alert", &alert())?),
    ];
    Ok((meta, records))
}

/// Checks (or writes) `snapshot.snap`: it reads back as the metadata and records it was made
/// of, and writing those again gives the same bytes. `snapshot-v1.snap` and `snapshot-v2.snap`
/// (the same records, written by builds before memberships were kept in runs, file version 1,
/// and before outcome batches were packed, version 2) must still read back the same; they are
/// never written again.
fn check_snapshot(failures: &mut Vec<String>, checked: &mut BTreeSet<String>) -> Result<(), EngineError> {
    const NAME: &str = "snapshot.snap";
    const OLDER: [(&str, u32); 2] = [("snapshot-v1.snap", 1), ("snapshot-v2.snap", 2)];
    checked.insert(NAME.to_string());
    let (meta, records) = snapshot_content()?;
    for (old, version) in OLDER {
        checked.insert(old.to_string());
        if writing() {
            continue;
        }
        let mut read = Vec::new();
        let got = snapshot::read_file(&fixtures_dir().join(old), |k, v| {
            read.push((k, v));
            Ok(())
        });
        match got {
            Err(e) => failures
                .push(format!("{old}: this build no longer reads version {version} snapshot files: {e}")),
            Ok(m) if m != meta || read != records => {
                failures.push(format!("{old}: a version {version} snapshot file reads as another snapshot"))
            }
            Ok(_) => {}
        }
    }
    if writing() {
        std::fs::create_dir_all(fixtures_dir())?;
        snapshot::write_file(&fixtures_dir().join(NAME), &meta, records.into_iter().map(Ok))?;
        return Ok(());
    }
    let golden = match read_golden(NAME) {
        Ok(g) => g,
        Err(e) => {
            failures.push(e);
            return Ok(());
        }
    };
    let mut read = Vec::new();
    match snapshot::read_file(&fixtures_dir().join(NAME), |k, v| {
        read.push((k, v));
        Ok(())
    }) {
        Err(e) => failures.push(format!("{NAME}: this build no longer reads today's snapshot file: {e}.\n  {FORMAT_CHANGE}")),
        Ok(m) if m != meta || read != records => failures.push(format!(
            "{NAME}: today's snapshot file reads as another snapshot.\n  golden: {m:?}, {} records\n  built:  {meta:?}, {} records\n  {FORMAT_CHANGE}",
            read.len(),
            records.len()
        )),
        Ok(_) => {}
    }
    let dir = tempfile::tempdir()?;
    let again = dir.path().join(NAME);
    snapshot::write_file(&again, &meta, records.into_iter().map(Ok))?;
    if std::fs::read(&again)? != golden {
        failures.push(format!("{NAME}: the same snapshot is now written as other bytes.\n  {FORMAT_CHANGE}"));
    }
    Ok(())
}

/// Goal: today's encodings of every record kind still decode to the same values and are still
/// produced byte for byte; every golden file is checked by this test.
///
/// Method: see the module doc. All failures are collected and reported together.
#[test]
fn golden_files_decode_and_encode_unchanged() -> Result<(), EngineError> {
    let mut failures = Vec::new();
    let mut checked = BTreeSet::new();
    check_values(&mut failures, &mut checked);
    check_snapshot(&mut failures, &mut checked)?;
    if !writing() {
        match std::fs::read_dir(fixtures_dir()) {
            Ok(files) => {
                for file in files {
                    let name = file?.file_name().to_string_lossy().into_owned();
                    if name != "README.md" && !checked.contains(&name) {
                        failures.push(format!(
                            "{name}: a golden file no test checks (a record kind removed? remove it too)"
                        ));
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", fixtures_dir().display())),
        }
    }
    assert!(failures.is_empty(), "{} golden file failures:\n{}", failures.len(), failures.join("\n"));
    Ok(())
}

/// Goal: a value carrying a newer format version is refused with an error naming the record
/// kind and both versions, not decoded as if it were today's.
///
/// Method: today's log entry with its version byte raised by one.
#[test]
fn a_newer_value_is_refused_naming_the_versions() -> Result<(), EngineError> {
    let (_, e) = log_entries().swap_remove(0);
    let mut bytes = encode("log entry", &e)?;
    assert_eq!(bytes[0], FORMAT_VERSION, "every encoded value starts with its format version");
    bytes[0] = FORMAT_VERSION + 1;
    let err = decode::<Entry>("log entry", &bytes).err();
    let newer = u32::from(FORMAT_VERSION) + 1;
    match &err {
        Some(EngineError::FormatTooNew { what: "log entry", found, newest }) => {
            assert_eq!((*found, *newest), (newer, u32::from(FORMAT_VERSION)));
        }
        other => panic!("expected FormatTooNew, got {other:?}"),
    }
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        format!(
            "log entry has format version {newer}; this build reads up to {FORMAT_VERSION}: upgrade this node before the others"
        )
    );
    Ok(())
}

/// Goal: the store's format marker is written when a store is opened empty, and a store marked
/// by a newer build, or holding data without a marker, is refused at open naming its directory.
///
/// Method: open a memory store and read its marker; raise it and open again; open a store whose
/// log holds an entry but which has no marker.
#[tokio::test]
async fn stores_of_other_formats_are_refused_at_open() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = MemEngine::new();
    drop(varsel_raft_store::open(engine.clone(), dir.path()).await?);
    let sm = engine.open_tree("sm")?;
    assert_eq!(sm.get(keys::FORMAT)?, Some(vec![STORE_VERSION]), "a new store is marked");
    // Opening again leaves it be.
    drop(varsel_raft_store::open(engine.clone(), dir.path()).await?);

    let mut newer = varsel_raft_store::engine::WriteBatch::new();
    newer.insert(keys::FORMAT, vec![STORE_VERSION + 1]);
    sm.write(newer)?;
    let refused = varsel_raft_store::open(engine.clone(), dir.path()).await.err();
    match &refused {
        Some(EngineError::StoreTooNew { dir: d, found, newest }) => {
            assert_eq!(d, dir.path());
            assert_eq!((*found, *newest), (u32::from(STORE_VERSION) + 1, u32::from(STORE_VERSION)));
        }
        other => panic!("expected StoreTooNew, got {other:?}"),
    }
    let message = refused.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains(&dir.path().display().to_string()), "{message}");
    assert!(
        message.contains(&format!(
            "format version {}; this build reads up to {STORE_VERSION}",
            STORE_VERSION + 1
        )),
        "{message}"
    );

    let old = MemEngine::new();
    let mut entry = varsel_raft_store::engine::WriteBatch::new();
    entry.insert(1u64.to_be_bytes().to_vec(), b"an entry written before format versions".to_vec());
    old.open_tree("log")?.write(entry)?;
    match varsel_raft_store::open(old, dir.path()).await.err() {
        Some(EngineError::StoreUnversioned { dir: d }) => assert_eq!(d, dir.path()),
        other => panic!("expected StoreUnversioned, got {other:?}"),
    }
    Ok(())
}

/// Entries that give a state something to install.
fn puts(from: u64, to: u64) -> Vec<Entry> {
    (from..=to)
        .map(|i| entry(i, Request::Kv(KvCommand::Put { key: format!("k{i}"), value: format!("v{i}") })))
        .collect()
}

/// Copies snapshot file bytes into `sm`'s receiving file and installs them under `meta`: the
/// installation's own result, inside the result of getting that far.
async fn install_bytes(
    sm: &mut varsel_raft_store::StateMachine<MemEngine>,
    meta: &SnapshotMeta,
    bytes: &[u8],
) -> anyhow::Result<Result<(), openraft::StorageError<u64>>> {
    let mut receiving = sm.begin_receiving_snapshot().await?;
    receiving.write_all(bytes).await?;
    receiving.shutdown().await?;
    Ok(sm.install_snapshot(meta, receiving).await)
}

/// Goal: a snapshot file of a newer format version is refused with the clear error before
/// anything is installed, whether the file layout or the values are newer; an accepted snapshot
/// leaves the receiving store marked with the receiver's format version, and it opens again.
///
/// Method: build a snapshot on one memory store, install it on another, reopen that one; then
/// install the same file with its header version raised, and with its metadata's value version
/// raised, and check the receiver's state did not change.
#[tokio::test]
async fn a_newer_snapshot_is_refused_before_anything_is_installed() -> anyhow::Result<()> {
    let (sdir, tdir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut source = varsel_raft_store::open(MemEngine::new(), sdir.path()).await?;
    source.state.apply(puts(1, 20)).await?;
    let snap = source.state.get_snapshot_builder().await.build_snapshot().await?;
    let mut file = snap.snapshot;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;

    let target_engine = MemEngine::new();
    let mut target = varsel_raft_store::open(target_engine.clone(), tdir.path()).await?;
    install_bytes(&mut target.state, &snap.meta, &bytes).await??;
    assert_eq!(target.state.reader().kv_get("k20")?.as_deref(), Some("v20"));
    let active = target_engine.open_tree("sm_b")?;
    assert_eq!(active.get(keys::FORMAT)?, Some(vec![STORE_VERSION]), "the installed state is marked");
    drop(varsel_raft_store::open(target_engine.clone(), tdir.path()).await?);

    // The header's file version, right after the 8-byte magic.
    let newer = snapshot::VERSION + 1;
    let mut newer_file = bytes.clone();
    newer_file[8..12].copy_from_slice(&newer.to_be_bytes());
    let before = target.state.reader().digest()?;
    let refused =
        install_bytes(&mut target.state, &snap.meta, &newer_file).await?.err().map(|e| e.to_string());
    let expected = format!(
        "snapshot file has format version {newer}; this build reads up to {}: upgrade this node before the others",
        snapshot::VERSION
    );
    assert!(refused.as_deref().is_some_and(|m| m.contains(&expected)), "{refused:?}");
    assert_eq!(target.state.reader().digest()?, before, "nothing of a refused snapshot is installed");
    // The node's transport checks a transfer's first chunk the same way, before receiving it.
    assert!(snapshot::check_prefix(&bytes[..64]).is_ok() && snapshot::check_prefix(&bytes[..5]).is_ok());
    assert!(matches!(
        snapshot::check_prefix(&newer_file[..64]),
        Err(EngineError::FormatTooNew { what: "snapshot file", .. })
    ));

    // The metadata's value version, after the header's 4-byte length.
    let mut newer_values = bytes;
    newer_values[16] = FORMAT_VERSION + 1;
    let refused =
        install_bytes(&mut target.state, &snap.meta, &newer_values).await?.err().map(|e| e.to_string());
    let expected = format!(
        "snapshot meta has format version {}; this build reads up to {FORMAT_VERSION}",
        FORMAT_VERSION + 1
    );
    assert!(refused.as_deref().is_some_and(|m| m.contains(&expected)), "{refused:?}");
    assert_eq!(target.state.reader().digest()?, before, "nothing of a refused snapshot is installed");
    assert_eq!(target.state.reader().kv_get("k20")?.as_deref(), Some("v20"));
    assert!(matches!(
        snapshot::check_prefix(&newer_values[..17]),
        Err(EngineError::FormatTooNew { what: "snapshot meta", .. })
    ));

    Ok(())
}

/// Memberships as builds before runs stored them: one key each, table `0x25`.
fn memberships_one_key_each(tenant: u64, group: u64, n: u64) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for seq in 0..n {
        let m = GroupMember { contact: 500 + seq, added_at: 7, removed_at: (seq == 3).then_some(9) };
        out.push((Key::new(keys::MEMBER).u64(tenant).u64(group).u64(seq).done(), encode("membership", &m)?));
    }
    Ok(out)
}

/// Reads a group's memberships the way a send does.
fn members_of(
    tree: &impl varsel_raft_store::KvTree,
    tenant: u64,
    group: u64,
) -> anyhow::Result<Vec<(u64, GroupMember)>> {
    let txn = varsel_raft_store::state_machine::Txn::new(tree);
    Ok(varsel_raft_store::state_machine::domain::query::memberships(
        &txn,
        tenant,
        group,
        0,
        u64::MAX,
        usize::MAX,
    )?)
}

/// Checks a group written by [`memberships_one_key_each`] reads back whole, from runs only.
fn check_moved(tree: &impl varsel_raft_store::KvTree, n: u64) -> anyhow::Result<()> {
    let got = members_of(tree, 1, 2)?;
    assert_eq!(got.len() as u64, n, "every membership moved");
    for (seq, m) in &got {
        assert_eq!((m.contact, m.added_at), (500 + seq, 7));
        assert_eq!(m.removed_at, (*seq == 3).then_some(9), "an ended membership stays ended");
    }
    let (a, b) = varsel_raft_store::engine::prefix_range(&[keys::MEMBER]);
    assert_eq!(tree.range(a, b).count(), 0, "no membership is left one key each");
    Ok(())
}

/// Goal: a store of layout 1 (memberships one key each) opens, its memberships rewritten into
/// runs and the store marked with this build's layout, so that an older build would refuse it.
///
/// Method: open a memory store, put 300 memberships in the old layout and mark it 1, open it
/// again and read the group back.
#[tokio::test]
async fn a_store_of_layout_1_is_rewritten_into_runs_when_opened() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = MemEngine::new();
    drop(varsel_raft_store::open(engine.clone(), dir.path()).await?);
    let sm = engine.open_tree("sm")?;
    let mut old = varsel_raft_store::engine::WriteBatch::new();
    for (k, v) in memberships_one_key_each(1, 2, 300)? {
        old.insert(k, v);
    }
    old.insert(keys::FORMAT, vec![1]);
    sm.write(old)?;

    drop(varsel_raft_store::open(engine.clone(), dir.path()).await?);
    assert_eq!(sm.get(keys::FORMAT)?, Some(vec![STORE_VERSION]));
    check_moved(&sm, 300)
}

/// Goal: a snapshot file of version 1, as a build before runs sends it, installs, and the
/// memberships it holds one key each are rewritten into runs.
///
/// Method: write a snapshot file holding 200 memberships in the old layout, set its header to
/// version 1 (with a new checksum), install it on a memory store and read the group back.
#[tokio::test]
async fn a_snapshot_of_version_1_is_installed_with_memberships_in_runs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("old.snap");
    let meta =
        SnapshotMeta { last_log_id: None, last_membership: Default::default(), snapshot_id: "old".into() };
    let records = memberships_one_key_each(1, 2, 200)?;
    snapshot::write_file(&path, &meta, records.into_iter().map(Ok))?;
    let mut bytes = std::fs::read(&path)?;
    bytes[8..12].copy_from_slice(&1u32.to_be_bytes());
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_be_bytes());
    assert!(snapshot::check_prefix(&bytes[..64]).is_ok(), "version 1 is still read");

    let tdir = tempfile::tempdir()?;
    let engine = MemEngine::new();
    let mut target = varsel_raft_store::open(engine.clone(), tdir.path()).await?;
    install_bytes(&mut target.state, &meta, &bytes).await??;
    let active = engine.open_tree("sm_b")?;
    assert_eq!(active.get(keys::FORMAT)?, Some(vec![STORE_VERSION]));
    check_moved(&active, 200)
}

/// Goal: a store of layout 2 (outcome batches plain, table `OUTCOME`) opens and is marked with
/// this build's layout, and an alert whose outcomes were recorded partly under the older build
/// and partly under this one reads whole, in position order, from both tables.
///
/// Method: open a memory store, put a plain batch (positions 0-1) and mark the store 2, open it
/// again, put a packed batch (positions 2-3) as this build records it, and read the shard's
/// outcomes back.
#[tokio::test]
async fn a_store_of_layout_2_keeps_its_plain_outcomes_readable_beside_packed_ones() -> anyhow::Result<()> {
    use varsel_raft_store::state_machine::delivery::{outcome_key, query};
    let dir = tempfile::tempdir()?;
    let engine = MemEngine::new();
    drop(varsel_raft_store::open(engine.clone(), dir.path()).await?);
    let sm = engine.open_tree("sm")?;
    let all: Vec<Outcome> = (0..4u64)
        .map(|pos| Outcome { pos, contact: 40 + pos, at_ms: AT_MS + pos, ..outcomes()[0].clone() })
        .collect();
    let mut plain_key = outcome_key(31, 1, 0, 0);
    plain_key[0] = keys::OUTCOME;
    plain_key.push(0);
    let mut old = varsel_raft_store::engine::WriteBatch::new();
    old.insert(plain_key, encode("outcomes", &all[..2].to_vec())?);
    old.insert(keys::FORMAT, vec![2]);
    sm.write(old)?;

    drop(varsel_raft_store::open(engine.clone(), dir.path()).await?);
    assert_eq!(sm.get(keys::FORMAT)?, Some(vec![STORE_VERSION]), "marked with this build's layout");
    let mut packed_key = outcome_key(31, 1, 0, 2);
    assert_eq!(packed_key[0], keys::OUTCOME_PACKED, "this build records packed batches");
    packed_key.push(0);
    let mut new = varsel_raft_store::engine::WriteBatch::new();
    new.insert(packed_key, packed::encode(&all[2..])?);
    sm.write(new)?;

    let txn = varsel_raft_store::state_machine::Txn::new(&sm);
    assert_eq!(query::outcomes(&txn, 31, 1, 0)?, all, "both tables, in position order");
    Ok(())
}
