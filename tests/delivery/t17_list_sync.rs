use std::collections::BTreeSet;
use std::path::Path;

use futures::stream;
use varsel_proto::api::{
    AlertStatus, Channel, Consistency, GetGroupRequest, ImportChunk, ImportReport, ListMembersRequest,
    Priority, get_group_request,
};
use varsel_sim::Channel as SimChannel;

use crate::common::authed;
use crate::fixture::{Fixture, at_once, sim_config};

const GROUP: &str = "crew";

/// A contacts file: `rows` are (external id, phone) pairs.
fn csv(rows: &[(String, String)]) -> String {
    let mut out = String::from("external_id,name,phone\n");
    for (id, phone) in rows {
        out.push_str(&format!("{id},Person {id},{phone}\n"));
    }
    out
}

fn people(prefix: &str, area: u32, range: std::ops::Range<u32>) -> Vec<(String, String)> {
    range.map(|i| (format!("{prefix}{i}"), format!("+47{area}{i:06}"))).collect()
}

/// Syncs `GROUP` to `file` through node `via` over gRPC with the given remove limit.
async fn sync(
    f: &Fixture,
    via: u64,
    file: &str,
    max_remove_percent: u32,
) -> Result<ImportReport, tonic::Status> {
    let first = ImportChunk {
        data: file.as_bytes().to_vec(),
        filename: "crew.csv".into(),
        sync_group: GROUP.into(),
        max_remove_percent,
        ..Default::default()
    };
    let r = f.c.api(via).contacts.import_contacts(authed(&f.token, stream::iter(vec![first]))).await;
    r.map(tonic::Response::into_inner)
}

/// The group's members' external ids as node `node` has them (linearizable).
async fn members(f: &Fixture, node: u64) -> BTreeSet<String> {
    let mut api = f.c.api(node);
    let key = Some(get_group_request::Key::Name(GROUP.into()));
    let req = GetGroupRequest { key, consistency: Consistency::Linearizable as i32 };
    let group = api.contacts.get_group(authed(&f.token, req)).await.unwrap().into_inner().group.unwrap();
    let (mut out, mut page) = (BTreeSet::new(), String::new());
    loop {
        let req = ListMembersRequest {
            group_id: group.id,
            page_size: 1000,
            page_token: page,
            consistency: Consistency::Linearizable as i32,
        };
        let reply = api.contacts.list_members(authed(&f.token, req)).await.unwrap().into_inner();
        out.extend(reply.contacts.into_iter().map(|c| c.external_id));
        if reply.next_page_token.is_empty() {
            break;
        }
        page = reply.next_page_token;
    }
    assert_eq!(out.len() as u64, group.member_count, "node {node}: member_count matches the listing");
    out
}

async fn assert_members_everywhere(f: &Fixture, expected: &BTreeSet<String>, when: &str) {
    for node in 1..=3 {
        assert_eq!(&members(f, node).await, expected, "{when}: members on node {node}");
    }
}

/// Runs `varsel contact import --sync GROUP <extra> FILE` against every node.
async fn cli_sync(f: &Fixture, path: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["contact", "import", "--sync", GROUP];
    args.extend_from_slice(extra);
    let path = path.to_str().unwrap();
    args.push(path);
    f.c.varsel(&f.token, &args).await
}

fn ids(rows: &[(String, String)]) -> BTreeSet<String> {
    rows.iter().map(|(id, _)| id.clone()).collect()
}

/// Goal: `contact import --sync` makes a group exactly the file's rows on every node, a bad
/// row is not a removal, a dry run writes nothing, a file that would remove too much is refused
/// with nothing written, and a later alert reaches exactly the file's contacts.
/// Method: three nodes and the provider simulator. Sync file A (a0..a39) through node 1. File
/// B drops a0..a9 (25 %), adds b0..b4 and has a bad phone on a10's row: refused at the default
/// 10 % limit; a dry run of B through the CLI prints the counts and changes nothing; then B is
/// synced through the CLI with --max-remove-percent 30 (via every node's endpoint list).
/// Membership is read linearizably on every node after each step; finally an SMS alert to the
/// group, whose simulator inbox must hold exactly the expected phones.
#[tokio::test(flavor = "multi_thread")]
async fn sync_twice_refuse_dry_run_and_alert_reaches_exactly_the_file() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    let file_a = people("a", 42, 0..40);
    let r = sync(&f, 1, &csv(&file_a), 0).await.unwrap();
    assert_eq!((r.created, r.joined, r.left, r.member_count), (40, 40, 0, 40), "{r:?}");
    assert_members_everywhere(&f, &ids(&file_a), "after file A").await;

    let mut file_b = people("a", 42, 10..40);
    file_b.extend(people("b", 43, 0..5));
    file_b[0].1 = "12345".into(); // a10: a bad phone number
    let text_b = csv(&file_b);

    let refused = sync(&f, 2, &text_b, 0).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("max_remove_percent") && refused.message().contains("10 of the 40"),
        "{refused:?}"
    );
    assert_members_everywhere(&f, &ids(&file_a), "after the refused sync").await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crew-b.csv");
    std::fs::write(&path, &text_b).unwrap();
    let (ok, out, err) = cli_sync(&f, &path, &["--dry-run", "--max-remove-percent", "30"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("5 would be created") && out.contains("10 would leave"), "{out}");
    assert!(out.contains("a0, a1"), "the first leavers are named: {out}");
    assert!(err.contains("a bad row is not a removal"), "{err}");
    assert_members_everywhere(&f, &ids(&file_a), "after the dry run").await;

    let (ok, out, err) = cli_sync(&f, &path, &["--max-remove-percent", "30", "--json"]).await;
    assert!(ok, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["left"], 10, "{report}");
    assert_eq!(report["joined"], 5, "{report}");
    assert_eq!(report["kept_rejected"], 1, "{report}");
    assert_eq!(report["member_count"], 35, "{report}");
    let mut expected: BTreeSet<String> = ids(&file_b);
    assert!(expected.contains("a10"), "a10's row was rejected, so a10 stays");
    assert_members_everywhere(&f, &expected, "after file B").await;

    let alert = f.alert("after-sync", GROUP, Priority::Crisis, at_once(&[Channel::Sms])).await;
    assert_eq!(alert.recipients_planned, 35);
    let done = f.wait_final(alert.id, 3).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    let inbox = f.wait_inbox(alert.id, crate::fixture::COMPLETE_WITHIN, |i| i.messages.len() >= 35).await;
    let reached: BTreeSet<String> =
        inbox.messages.iter().filter(|m| m.channel == SimChannel::Sms).map(|m| m.to.clone()).collect();
    // a10 keeps the phone stored by file A; everyone else has the phone of file B.
    expected.clear();
    let mut phones: BTreeSet<String> = file_b.iter().skip(1).map(|(_, p)| p.clone()).collect();
    phones.insert(file_a[10].1.clone());
    assert_eq!(reached, phones, "the alert reached exactly the file's contacts");
    assert_eq!(inbox.messages.len(), 35, "one SMS each");
}
