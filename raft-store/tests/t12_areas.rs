//! Goal: area targets in the state machine: the spatial index finds exactly the contacts with
//! a place inside (checked against a scan of every place), recipients are frozen when the alert
//! is accepted whatever places change later, every node decides alike, `within_groups`
//! intersects, an empty area is refused unless allowed, bad areas name the target, and a
//! deleted contact leaves the index.
//!
//! Method: apply log entries directly to stores (no cluster), as `t04_domain_rules` does.
#![allow(clippy::unwrap_used)]

mod support;

use support::Pair;

use std::collections::{BTreeMap, BTreeSet};

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use varsel_domain::location::{AreaTarget, Location};
use varsel_domain::model::{
    AlertSpec, Channel, ChannelContent, ContactInput, Content, GroupRef, Limits, Priority, Role,
};
use varsel_geo::{Area, Circle, Point, Polygon};
use varsel_raft_store::ops::{Caller, DomainReply, DomainRequest, Op, RefusalCode};
use varsel_raft_store::state_machine::domain::{locations, query};
use varsel_raft_store::{Command, Entry, Request, Response};

impl Pair {
    /// Two stores holding a tenant, its operator and the [`people`] grid with their places.
    async fn with_people() -> (Self, Caller, Vec<(ContactInput, Vec<Location>)>) {
        let mut pair = Pair::new().await;
        let ops = pair.tenant().await;
        let people = people();
        pair.place(ops, people.clone()).await;
        (pair, ops, people)
    }

    /// Upserts contacts with their places in one entry.
    async fn place(&mut self, actor: Caller, people: Vec<(ContactInput, Vec<Location>)>) {
        let locations = people.iter().map(|(c, l)| (c.external_id.clone(), l.clone())).collect();
        let contacts = people.into_iter().map(|(c, _)| c).collect();
        let op = Op::WithLocations { op: Box::new(Op::UpsertContacts { contacts }), locations };
        let r = self.apply(actor, op).await;
        assert!(matches!(r, DomainReply::Upserted(ref u) if u.refused.is_empty()), "{r:?}");
    }
}

fn spec(key: &str, groups: &[&str]) -> AlertSpec {
    let variant =
        ChannelContent { sms_text: Some("Gasslekkasje: hold dere inne".into()), ..Default::default() };
    AlertSpec {
        idempotency_key: key.into(),
        title: "Gass".into(),
        priority: Priority::Crisis,
        content: Content {
            default_language: "nb".into(),
            variants: BTreeMap::from([("nb".into(), variant)]),
        },
        variables: BTreeMap::new(),
        groups: groups.iter().map(|g| GroupRef::Name((*g).into())).collect(),
        contacts: vec![],
        policy: vec![],
        send_at_ms: None,
        expires_at_ms: None,
    }
}

fn place(name: &str, lat_e7: i32, lon_e7: i32) -> Location {
    Location::new(name, lat_e7, lon_e7, None).unwrap()
}

/// 900 people on a 30 x 30 grid around Oslo, 0.005° apart (so several share a grid cell
/// and rows of them sit exactly on the test polygon's edges); every third also has a place
/// `work` 0.1° east. Those with even numbers are in the group `staff`; every fifth has only
/// an e-mail address.
fn people() -> Vec<(ContactInput, Vec<Location>)> {
    let mut out = Vec::new();
    for i in 0..30 {
        for j in 0..30 {
            let n = i * 30 + j;
            let (lat, lon) = (598_500_000 + i * 50_000, 106_000_000 + j * 50_000);
            let mut places = vec![place("home", lat, lon)];
            if n % 3 == 0 {
                places.push(place("work", lat, lon + 1_000_000));
            }
            let mut c = ContactInput { external_id: format!("p{n}"), ..Default::default() };
            if n % 5 == 0 {
                c.email = Some(format!("p{n}@example.org"));
            } else {
                c.phone = Some(format!("+4791{n:06}"));
            }
            if n % 2 == 0 {
                c.groups = vec!["staff".into()];
            }
            out.push((c, places));
        }
    }
    out
}

/// Who has a place inside, by testing every place (no index).
fn expected(people: &[(ContactInput, Vec<Location>)], areas: &[Area]) -> BTreeSet<String> {
    people
        .iter()
        .filter(|(_, places)| {
            places.iter().any(|l| {
                let p = Point::new(l.lat_e7, l.lon_e7).unwrap();
                areas.iter().any(|a| a.contains(p))
            })
        })
        .map(|(c, _)| c.external_id.clone())
        .collect()
}

/// A concave (L-shaped) polygon whose edges run through rows and columns of the grid.
const L_SHAPE: &str = "59.86,10.61 59.92,10.61 59.92,10.65 59.89,10.65 59.89,10.70 59.86,10.70 59.86,10.61";

fn recipients(
    pair: &Pair,
    tenant: u64,
    alert: u64,
    people: &[(ContactInput, Vec<Location>)],
) -> BTreeSet<String> {
    let txn = pair.txn();
    let a = query::alert(&txn, tenant, alert).unwrap().unwrap();
    people
        .iter()
        .filter(|(c, _)| {
            let id = query::contact_id(&txn, tenant, &c.external_id).unwrap().unwrap();
            query::is_recipient(&txn, &a, id).unwrap()
        })
        .map(|(c, _)| c.external_id.clone())
        .collect()
}

#[tokio::test]
async fn an_area_reaches_exactly_those_inside_and_stays_frozen() {
    let (mut pair, ops, people) = Pair::with_people().await;

    let area = AreaTarget { polygons: vec![L_SHAPE.into()], ..Default::default() };
    let want = expected(&people, &[Area::Polygon(Polygon::parse(L_SHAPE).unwrap())]);
    assert!(want.len() > 100 && want.len() < 600, "the polygon should split the grid: {}", want.len());
    let reach = locations::reach(&pair.txn(), ops.tenant, &[], &[], &area).unwrap().unwrap();
    assert_eq!(reach.in_areas, want.len() as u64);

    let op = Op::CreateAreaAlert { spec: spec("a1", &[]), trace: None, area: area.clone() };
    let DomainReply::Alert { alert, .. } = pair.apply(ops, op).await else { panic!("not accepted") };
    assert_eq!(alert.recipients_planned, want.len() as u64);
    assert_eq!(recipients(&pair, ops.tenant, alert.id, &people), want);
    let record = locations::area_of(&pair.txn(), alert.id).unwrap().unwrap();
    assert_eq!((record.matched, &record.target), (want.len() as u64, &area));
    // The alert's own group is no group of the tenant's.
    assert!(query::groups(&pair.txn(), ops.tenant).unwrap().iter().all(|g| g.id != record.group));

    // Someone inside moves away, someone outside moves in: the accepted alert keeps its
    // recipients; a new one sees the move.
    let inside = want.iter().next().unwrap().clone();
    let outside = people.iter().map(|(c, _)| &c.external_id).find(|e| !want.contains(*e)).unwrap().clone();
    let moved = |ext: &str, l: Location| {
        let mut c = people.iter().find(|(c, _)| c.external_id == ext).unwrap().0.clone();
        c.groups.clear();
        (c, vec![l])
    };
    pair.place(
        ops,
        vec![moved(&inside, place("home", 0, 0)), moved(&outside, place("home", 598_800_000, 106_200_000))],
    )
    .await;
    assert_eq!(recipients(&pair, ops.tenant, alert.id, &people), want);
    let op = Op::CreateAreaAlert { spec: spec("a2", &[]), trace: None, area };
    let DomainReply::Alert { alert: second, .. } = pair.apply(ops, op).await else { panic!() };
    let now = recipients(&pair, ops.tenant, second.id, &people);
    assert!(!now.contains(&inside) && now.contains(&outside));
    assert_eq!(now.len(), want.len());

    // Both stores hold the same state, byte for byte.
    let digests: Vec<_> = pair.nodes.iter().map(|n| n.reader.digest().unwrap()).collect();
    assert_eq!(digests[0], digests[1]);
}

#[tokio::test]
async fn circles_groups_and_channels() {
    let (mut pair, ops, people) = Pair::with_people().await;
    let circle = "59.90,10.68 3";
    let areas = [Area::Circle(Circle::parse(circle).unwrap())];
    let inside = expected(&people, &areas);
    let staff: BTreeSet<String> =
        people.iter().filter(|(c, _)| !c.groups.is_empty()).map(|(c, _)| c.external_id.clone()).collect();
    let both: BTreeSet<String> = inside.intersection(&staff).cloned().collect();
    assert!(!both.is_empty() && both.len() < inside.len());

    // Only staff inside the circle.
    let area = AreaTarget {
        circles: vec![circle.into()],
        within_groups: vec![GroupRef::Name("staff".into())],
        ..Default::default()
    };
    let reach = locations::reach(&pair.txn(), ops.tenant, &[], &[], &area).unwrap().unwrap();
    assert_eq!((reach.contacts, reach.in_areas), (both.len() as u64, both.len() as u64));
    let by_email = people.iter().filter(|(c, _)| both.contains(&c.external_id) && c.email.is_some()).count();
    assert_eq!(reach.per_channel[2], by_email as u64, "e-mail");
    assert_eq!(reach.per_channel[0], (both.len() - by_email) as u64, "sms");
    assert_eq!(Channel::ALL[0], Channel::Sms);
    let op = Op::CreateAreaAlert { spec: spec("c1", &[]), trace: None, area };
    let DomainReply::Alert { alert, .. } = pair.apply(ops, op).await else { panic!() };
    assert_eq!(recipients(&pair, ops.tenant, alert.id, &people), both);

    // A group and an area together: the union, each person once in the preview.
    let area = AreaTarget { circles: vec![circle.into()], ..Default::default() };
    let reach = locations::reach(&pair.txn(), ops.tenant, &[GroupRef::Name("staff".into())], &[], &area)
        .unwrap()
        .unwrap();
    assert_eq!(reach.contacts, inside.union(&staff).count() as u64);
}

#[tokio::test]
async fn empty_and_bad_areas_are_refused_with_the_target_named() {
    let (mut pair, ops, _) = Pair::with_people().await;
    let sea = AreaTarget { circles: vec!["70.0,-10.0 5".into()], ..Default::default() };

    let op = Op::CreateAreaAlert { spec: spec("e1", &[]), trace: None, area: sea.clone() };
    let DomainReply::Refused(r) = pair.apply(ops, op).await else { panic!("an empty area was accepted") };
    assert_eq!(r.code, RefusalCode::InvalidArgument);
    assert!(r.message.contains("targets.areas") && r.message.contains("allow_empty"), "{}", r.message);

    // Allowed empty, with a group besides: sent to the group.
    let area = AreaTarget { allow_empty: true, ..sea };
    let op = Op::CreateAreaAlert { spec: spec("e2", &["staff"]), trace: None, area };
    let DomainReply::Alert { alert, .. } = pair.apply(ops, op).await else { panic!() };
    assert_eq!(alert.recipients_planned, 450);

    let cases = [
        (
            AreaTarget { polygons: vec!["10,170 10,-170 20,-170 10,170".into()], ..Default::default() },
            "targets.area_polygons[0]",
            "antimeridian",
        ),
        (
            AreaTarget { circles: vec!["59.9,10.7".into()], ..Default::default() },
            "targets.area_circles[0]",
            "",
        ),
        (
            AreaTarget {
                circles: vec!["59.9,10.7 2".into()],
                within_groups: vec![GroupRef::Name("nobody".into())],
                ..Default::default()
            },
            "targets.within_groups[0]",
            "does not exist",
        ),
    ];
    for (i, (area, field, words)) in cases.into_iter().enumerate() {
        let op = Op::CreateAreaAlert { spec: spec(&format!("bad{i}"), &[]), trace: None, area };
        let DomainReply::Refused(r) = pair.apply(ops, op).await else { panic!("case {i} was accepted") };
        assert!(r.message.contains(field) && r.message.contains(words), "case {i}: {}", r.message);
    }
}

#[tokio::test]
async fn a_deleted_contact_leaves_the_index() {
    let (mut pair, ops, people) = Pair::with_people().await;
    let area = AreaTarget { polygons: vec![L_SHAPE.into()], ..Default::default() };
    let before = locations::reach(&pair.txn(), ops.tenant, &[], &[], &area).unwrap().unwrap().in_areas;
    let want = expected(&people, &[Area::Polygon(Polygon::parse(L_SHAPE).unwrap())]);
    let gone = want.iter().next().unwrap();
    let id = query::contact_id(&pair.txn(), ops.tenant, gone).unwrap().unwrap();
    let r = pair.apply(ops, Op::DeleteContact { id, idempotency_key: String::new() }).await;
    assert!(!matches!(r, DomainReply::Refused(_)), "{r:?}");
    let after = locations::reach(&pair.txn(), ops.tenant, &[], &[], &area).unwrap().unwrap().in_areas;
    assert_eq!(after, before - 1);
    assert!(query::locations(&pair.txn(), ops.tenant, id).unwrap().is_empty());
    // Erasure too: no place of the erased person is left.
    let other = want.iter().nth(1).unwrap();
    let id = query::contact_id(&pair.txn(), ops.tenant, other).unwrap().unwrap();
    let r = pair.apply(ops, Op::EraseContact { id }).await;
    assert!(!matches!(r, DomainReply::Refused(_)), "{r:?}");
    assert_eq!(
        locations::reach(&pair.txn(), ops.tenant, &[], &[], &area).unwrap().unwrap().in_areas,
        before - 2
    );
}

/// Goal: retention removes an area alert's frozen recipients with the alert, and nothing of it
/// is left. Method: an area alert, cancelled, a short retention, the log's clock moved past it,
/// purge entries; then the area record, the group marker and the chunks are gone.
#[tokio::test]
async fn retention_removes_an_area_alerts_recipients() {
    use varsel_domain::model::Retention;
    use varsel_raft_store::delivery::{DeliveryCommand, DeliveryReply};
    use varsel_raft_store::state_machine::keys::{AREA_CHUNK, AREA_GROUP};
    let (mut pair, ops, _) = Pair::with_people().await;
    let area = AreaTarget { polygons: vec![L_SHAPE.into()], ..Default::default() };
    let op = Op::CreateAreaAlert { spec: spec("r1", &[]), trace: None, area };
    let DomainReply::Alert { alert, .. } = pair.apply(ops, op).await else { panic!() };
    let record = locations::area_of(&pair.txn(), alert.id).unwrap().unwrap();
    let area_keys = |pair: &Pair| {
        let txn = pair.txn();
        let chunks = txn.scan_prefix(&[AREA_CHUNK], None, usize::MAX).unwrap().len();
        (chunks, txn.scan_prefix(&[AREA_GROUP], None, usize::MAX).unwrap().len())
    };
    assert_eq!(area_keys(&pair), (1, 1), "fewer than 1,024 people: one chunk");
    let r = pair.apply(ops, Op::CancelAlert { id: alert.id, idempotency_key: String::new() }).await;
    assert!(!matches!(r, DomainReply::Refused(_)), "{r:?}");
    let retention = Retention { details_ms: 60_000, alerts_ms: 120_000 };
    let r = pair.apply(Caller::SUPERADMIN, Op::SetRetention { tenant: ops.tenant, retention }).await;
    assert!(!matches!(r, DomainReply::Refused(_)), "{r:?}");
    pair.now_ms += 600_000;
    for _ in 0..3 {
        match pair.command(Request::Delivery(Box::new(DeliveryCommand::Purge { budget: 10_000 }))).await {
            Response::Delivery(DeliveryReply::Purged { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(query::alert(&pair.txn(), ops.tenant, alert.id).unwrap().is_none(), "the alert was purged");
    assert_eq!(locations::area_of(&pair.txn(), alert.id).unwrap(), None);
    assert_eq!(area_keys(&pair), (0, 0), "the area group {} left records behind", record.group);
}

/// Goal: the figures of issue 17 for the state machine: the time to accept an alert whose
/// polygon holds 1,000,000 of 5,000,000 contacts, against an alert to the same 1,000,000 as a
/// group, and the index's bytes per contact.
/// Method: a sled store; contacts on a 2,000-column grid over southern Norway (one place
/// each), imported in entries of 5,000 with their places; those in the first fifth of the
/// rows are also in the group `inne`; the polygon is a rectangle round exactly those rows. Each
/// alert is one entry, timed as it is applied (acceptance is this apply plus one Raft round).
/// Prints the times (never asserted). `VARSEL_AREA_CONTACTS` sets the total (default
/// 5,000,000). Slow: `cargo test --release -p varsel-raft-store --test t12_areas -- --ignored
/// --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a figure: minutes of work; run with --release --ignored --nocapture"]
async fn area_resolution_figures() {
    use varsel_raft_store::StorageEngine as _;
    const COLS: i32 = 2_000;
    const BATCH: i32 = 5_000;
    let total: i32 =
        std::env::var("VARSEL_AREA_CONTACTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000_000);
    let rows = total / COLS;
    let inside_rows = rows / 5;
    let (lat0, lat_step, lon0, lon_step) = (580_000_000, 52_000, 50_000_000, 130_000);
    let dir = tempfile::tempdir().unwrap();
    let store = varsel_raft_store::open_sled(dir.path(), &Default::default()).await.unwrap();
    let sm = store.state.clone();
    let reader = store.state.reader();
    let mut index = 0u64;
    let mut apply = |op: Op, actor: Caller| {
        index += 1;
        let now_ms = 1_800_000_000_000 + index * 10;
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Command {
                issued_at_ms: now_ms,
                lease_at_ms: now_ms,
                request: Request::Domain(Box::new(DomainRequest { actor, op })),
            }),
        };
        let mut sm = sm.clone();
        async move {
            let started = std::time::Instant::now();
            let r = match sm.apply([entry]).await.unwrap().pop() {
                Some(Response::Domain(r)) => r,
                other => panic!("unexpected {other:?}"),
            };
            (r, started.elapsed())
        }
    };
    let limits = Limits {
        max_contacts: total as u64,
        max_recipients_per_alert: total as u64,
        max_messages_per_alert: total as u64,
        ..Limits::default()
    };
    let op = Op::CreateTenant { name: "t".into(), limits, idempotency_key: String::new() };
    let (DomainReply::Tenant(t), _) = apply(op, Caller::SUPERADMIN).await else { panic!() };
    let op = Op::CreateCredential {
        tenant: t.id,
        name: "ops".into(),
        role: Role::Operator,
        secret_hash: [1; 32],
        idempotency_key: String::new(),
    };
    let (DomainReply::Credential(c), _) = apply(op, Caller::SUPERADMIN).await else { panic!() };
    let ops = Caller { tenant: t.id, credential: c.id, role: Role::Operator };
    let disk_before = store.engine.size_on_disk().unwrap_or(0);
    let started = std::time::Instant::now();
    for from in (0..rows * COLS).step_by(BATCH as usize) {
        let mut contacts = Vec::new();
        let mut locations = Vec::new();
        for n in from..from + BATCH {
            let (r, col) = (n / COLS, n % COLS);
            let ext = format!("p{n}");
            let groups =
                if r < inside_rows { vec!["alle".into(), "inne".into()] } else { vec!["alle".into()] };
            contacts.push(ContactInput {
                external_id: ext.clone(),
                phone: Some(format!("+479{n:07}")),
                groups,
                ..Default::default()
            });
            locations.push((ext, vec![place("home", lat0 + r * lat_step, lon0 + col * lon_step)]));
        }
        let op = Op::WithLocations { op: Box::new(Op::UpsertContacts { contacts }), locations };
        let (r, _) = apply(op, ops).await;
        assert!(matches!(r, DomainReply::Upserted(ref u) if u.refused.is_empty()), "{r:?}");
    }
    let build = started.elapsed();
    let _ = store.engine.flush().await;
    let disk_after = store.engine.size_on_disk().unwrap_or(0);
    // The index's records: places and cells (keys and values as stored).
    let txn = reader.read_txn();
    let mut index_bytes = 0u64;
    for table in [0x2Du8, 0x2E] {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = txn.scan_prefix(&[table], after.as_deref(), 100_000).unwrap();
            let Some(last) = page.last().map(|(k, _)| k.clone()) else { break };
            index_bytes += page.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum::<u64>();
            after = Some(last);
        }
    }
    drop(txn);
    let deg = |e7: i32| varsel_domain::location::DegreesE7(e7).to_string();
    let (lat_lo, lat_hi) =
        (deg(lat0 - lat_step / 2), deg(lat0 + (inside_rows - 1) * lat_step + lat_step / 2));
    let (lon_lo, lon_hi) = (deg(lon0 - lon_step / 2), deg(lon0 + (COLS - 1) * lon_step + lon_step / 2));
    let polygon =
        format!("{lat_lo},{lon_lo} {lat_hi},{lon_lo} {lat_hi},{lon_hi} {lat_lo},{lon_hi} {lat_lo},{lon_lo}");
    let want = u64::from((inside_rows * COLS) as u32);

    let started = std::time::Instant::now();
    let area = AreaTarget { polygons: vec![polygon], ..Default::default() };
    let reach = locations::reach(&reader.read_txn(), ops.tenant, &[], &[], &area).unwrap().unwrap();
    let preview = started.elapsed();
    assert_eq!(reach.in_areas, want);
    let (r, group_apply) = apply(Op::CreateAlert { spec: spec("group", &["inne"]), trace: None }, ops).await;
    let DomainReply::Alert { alert, .. } = r else { panic!("{r:?}") };
    assert_eq!(alert.recipients_planned, want);
    let op = Op::CreateAreaAlert { spec: spec("area", &[]), trace: None, area };
    let (r, area_apply) = apply(op, ops).await;
    let DomainReply::Alert { alert, .. } = r else { panic!("{r:?}") };
    assert_eq!(alert.recipients_planned, want);
    eprintln!(
        "areas: {} contacts with one place each imported in {build:.1?} (entries of {BATCH}); sled grew by {} B \
         ({} B per contact, all tables)",
        rows * COLS,
        disk_after.saturating_sub(disk_before),
        disk_after.saturating_sub(disk_before) / (rows * COLS) as u64
    );
    eprintln!(
        "areas: index records (places + cells, keys and values) {} B per contact",
        index_bytes / (rows * COLS) as u64
    );
    eprintln!(
        "areas: {want} inside; preview {preview:.2?}; alert to them as a group applied in {group_apply:.2?}, \
         as a polygon in {area_apply:.2?}"
    );
}
