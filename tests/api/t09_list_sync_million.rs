use std::time::{Duration, Instant};

use futures::stream;
use varsel_proto::api::{
    Consistency, GetGroupRequest, ImportChunk, ImportReport, Limits, Role, SetLimitsRequest, WhoAmIRequest,
    get_group_request,
};

use crate::common::{TestCluster, authed};

/// Members of the group.
const MEMBERS: u32 = 1_000_000;
/// Every `LEAVE_EVERY`-th member is missing from the second file: 10 % leave.
const LEAVE_EVERY: u32 = 10;

fn file(keep: impl Fn(u32) -> bool) -> Vec<u8> {
    let mut out = String::from("external_id,phone\n");
    for i in (0..MEMBERS).filter(|i| keep(*i)) {
        out.push_str(&format!("m{i},+4790{i:07}\n"));
    }
    out.into_bytes()
}

async fn sync(c: &TestCluster, token: &str, data: &[u8], dry_run: bool) -> (ImportReport, Duration) {
    let chunks: Vec<ImportChunk> = data
        .chunks(256 * 1024)
        .enumerate()
        .map(|(i, d)| ImportChunk {
            data: d.to_vec(),
            sync_group: if i == 0 { "national".into() } else { String::new() },
            dry_run: i == 0 && dry_run,
            ..Default::default()
        })
        .collect();
    let started = Instant::now();
    let r =
        c.api(1).contacts.import_contacts(authed(token, stream::iter(chunks))).await.unwrap().into_inner();
    (r, started.elapsed())
}

/// Goal: the figure "time to sync a 1,000,000-member group where 10 % leave", and that it
/// works: every node ends with 900,000 members.
/// Method: three nodes with TLS; sync a group to a file of 1,000,000 rows (all created), dry-run
/// and then sync a file without every tenth row. Prints the times, and the removal step's own
/// plan and commit times from node 1's log. Slow (minutes): run with
/// `cargo test -p varsel-cli --test api t09 -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a figure: minutes of work; run with --ignored --nocapture"]
async fn sync_a_million_member_group_where_a_tenth_leave() {
    let c = TestCluster::start(3, |_| {}).await;
    let (_, token) = c.tenant_with(1, "national", Role::Operator).await;
    let mut api = c.api(1);
    let who = api.tenants.who_am_i(authed(&token, WhoAmIRequest {})).await.unwrap().into_inner();
    let limits = Limits { max_contacts: u64::from(MEMBERS), ..Default::default() };
    let req = SetLimitsRequest { tenant_id: who.tenant_id, limits: Some(limits) };
    api.tenants.set_limits(authed(&c.superadmin(), req)).await.unwrap();

    let all = file(|_| true);
    let (first, first_time) = sync(&c, &token, &all, false).await;
    assert_eq!(
        (first.created, first.member_count),
        (u64::from(MEMBERS), u64::from(MEMBERS)),
        "{:?}",
        first.rejected.first()
    );
    let fewer = file(|i| i % LEAVE_EVERY != 0);
    let (dry, dry_time) = sync(&c, &token, &fewer, true).await;
    assert_eq!((dry.left, dry.dry_run), (u64::from(MEMBERS / LEAVE_EVERY), true));
    let (second, second_time) = sync(&c, &token, &fewer, false).await;
    let remaining = u64::from(MEMBERS - MEMBERS / LEAVE_EVERY);
    assert_eq!((second.left, second.member_count), (u64::from(MEMBERS / LEAVE_EVERY), remaining));
    for node in 1..=3 {
        let key = Some(get_group_request::Key::Name("national".into()));
        let req = GetGroupRequest { key, consistency: Consistency::Linearizable as i32 };
        let g =
            c.api(node).contacts.get_group(authed(&token, req)).await.unwrap().into_inner().group.unwrap();
        assert_eq!(g.member_count, remaining, "node {node}");
    }
    let removal =
        c.lc.log_tail(1, 400)
            .lines()
            .filter(|l| l.contains("members left in one entry"))
            .last()
            .map(str::to_string);
    println!(
        "list sync, 3 nodes with TLS, debug build:\n  \
         first sync, {MEMBERS} rows all created: {:.1} s ({} raft entries)\n  \
         dry run of the second file ({} rows, {} would leave): {:.1} s\n  \
         second sync ({} updated, {} left in one entry): {:.1} s\n  \
         removal step on node 1: {}",
        first_time.as_secs_f64(),
        first.raft_entries,
        fewer.iter().filter(|b| **b == b'\n').count() - 1,
        dry.left,
        dry_time.as_secs_f64(),
        second.updated,
        second.left,
        second_time.as_secs_f64(),
        removal.as_deref().unwrap_or("(log line not found)")
    );
}
