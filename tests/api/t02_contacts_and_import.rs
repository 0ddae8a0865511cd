use futures::stream;
use varsel_proto::api::{
    ChangeMembersRequest, GetGroupRequest, ImportChunk, ListContactsRequest, ListMembersRequest, Role,
    get_group_request,
};

use crate::common::{TestCluster, authed};

fn csv_with_bad_rows(good: usize) -> (String, Vec<u64>) {
    let mut csv = String::from("external_id,name,phone,email,language,groups\r\n");
    let mut bad_lines = Vec::new();
    for i in 0..good {
        csv.push_str(&format!("p{i},Person {i},+47900{i:05},p{i}@example.no,nb,alle;team-{}\r\n", i % 3));
        if i % 250 == 7 {
            // A bad phone number and a bad e-mail on one row, and a row with no way to reach.
            bad_lines.push(csv.lines().count() as u64 + 1);
            csv.push_str(&format!("bad{i},Bad,12345,not-an-email,nb,alle\r\n"));
            bad_lines.push(csv.lines().count() as u64 + 1);
            csv.push_str(&format!("empty{i},,,,,\r\n"));
        }
    }
    (csv, bad_lines)
}

/// Goal: a CSV import with bad rows keeps every good row, reports each bad one with its line
/// number, and what one node imported is readable through another.
/// Method: import 1,000 good rows with bad rows mixed in, through node 1, in 4 KiB chunks;
/// check the report; read through nodes 2 and 3 (linearizable): contact count, group sizes,
/// one contact's fields; then remove a member and re-import the same file (all updates).
#[tokio::test(flavor = "multi_thread")]
async fn csv_import_keeps_good_rows_and_reports_bad_ones() {
    let c = TestCluster::start(3, |_| {}).await;
    let (_, token) = c.tenant_with(1, "t", Role::Operator).await;
    let (csv, bad_lines) = csv_with_bad_rows(1000);
    let chunks: Vec<ImportChunk> = csv
        .as_bytes()
        .chunks(4096)
        .map(|d| ImportChunk { data: d.to_vec(), filename: "contacts.csv".into(), ..Default::default() })
        .collect();
    let mut n1 = c.api(1);
    let report =
        n1.contacts.import_contacts(authed(&token, stream::iter(chunks.clone()))).await.unwrap().into_inner();
    assert_eq!(report.created, 1000, "{report:?}");
    assert_eq!(report.groups_created, 4);
    let mut lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    lines.sort();
    assert_eq!(lines, bad_lines);
    let first_bad = report.rejected.iter().find(|r| r.external_id.starts_with("bad")).unwrap();
    assert!(first_bad.errors.iter().any(|e| e.contains("phone")), "{first_bad:?}");
    assert!(first_bad.errors.iter().any(|e| e.contains("email")), "{first_bad:?}");
    assert!(report.raft_entries >= 1);

    for node in [2, 3] {
        let mut api = c.api(node);
        let mut n = 0;
        let mut token_page = String::new();
        loop {
            let req = ListContactsRequest { page_size: 300, page_token: token_page.clone(), consistency: 1 };
            let page = api.contacts.list_contacts(authed(&token, req)).await.unwrap().into_inner();
            n += page.contacts.len();
            if page.next_page_token.is_empty() {
                break;
            }
            token_page = page.next_page_token;
        }
        assert_eq!(n, 1000, "node {node}");
        let req = GetGroupRequest { key: Some(get_group_request::Key::Name("alle".into())), consistency: 1 };
        assert_eq!(
            api.contacts
                .get_group(authed(&token, req))
                .await
                .unwrap()
                .into_inner()
                .group
                .unwrap()
                .member_count,
            1000
        );
    }

    let mut n3 = c.api(3);
    let req = GetGroupRequest { key: Some(get_group_request::Key::Name("team-0".into())), consistency: 0 };
    let team = n3.contacts.get_group(authed(&token, req)).await.unwrap().into_inner().group.unwrap();
    assert_eq!(team.member_count, 334);
    let req = ChangeMembersRequest {
        group_id: team.id,
        remove_external_ids: vec!["p0".into()],
        ..Default::default()
    };
    let changed = n3.contacts.change_members(authed(&token, req)).await.unwrap().into_inner();
    assert_eq!((changed.removed, changed.member_count), (1, 333));
    let req =
        ListMembersRequest { group_id: team.id, page_size: 1000, page_token: String::new(), consistency: 1 };
    let members = n3.contacts.list_members(authed(&token, req)).await.unwrap().into_inner();
    assert_eq!(members.contacts.len(), 333);
    assert!(members.contacts.iter().all(|m| m.external_id != "p0"));

    let again = n1.contacts.import_contacts(authed(&token, stream::iter(chunks))).await.unwrap().into_inner();
    assert_eq!((again.created, again.updated), (0, 1000));
}
