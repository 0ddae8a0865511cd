use std::time::Duration;

use crate::browser::Browser;
use crate::t01_console::Setup;

/// Goal: an alert's page keeps updating while the node that leads the cluster is killed, as
/// long as the page's own node survives: the live stream comes from the page's node, which
/// keeps applying the log under the new leader.
/// Method: three nodes and the provider simulator; an alert with SMS first and a voice call
/// 15 s later to whoever has not acknowledged (so it runs for tens of seconds) is sent through the REST API, its page opened on a follower; once the
/// page has shown an update (and the health page has shown the alert's lease holders), the
/// leader is killed (SIGKILL); the page must show further
/// updates and finally "completed", and its stream must never have been given up.
#[tokio::test(flavor = "multi_thread")]
async fn alert_page_updates_through_leader_loss() {
    let mut s = Setup::start(20, 0).await;
    let leader = s.c.leader().await;
    let page_node = s.c.ids().into_iter().find(|id| *id != leader).unwrap();
    let group =
        s.c.rest(
            1,
            "GET",
            "/api/v1/groups/by-name/beredskap?consistency=linearizable",
            Some(&s.operator),
            &[],
            "",
        )
        .await;
    let group_id = group.json()["group"]["id"].as_u64().unwrap();
    let body = serde_json::json!({
        "idempotency_key": "live-1", "title": "Lang runde",
        "content": {"default_language": "nb", "variants": {"nb": {"sms_text": "Test", "voice_script": "Dette er en test"}}},
        "targets": {"group_ids": [group_id]},
        "policy": [{"channels": ["sms"], "after_seconds": 0}, {"channels": ["voice"], "after_seconds": 15}]
    });
    let created =
        s.c.rest(page_node, "POST", "/api/v1/alerts", Some(&s.operator), &[], &body.to_string()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["alert"]["id"].as_u64().unwrap();

    let b = Browser::start(&s.tls_dir(), "en").await;
    let base = s.base(page_node);
    b.login(&base, &s.operator).await;
    b.goto(&format!("{base}/console/alerts/{id}")).await;
    b.wait_until(
        "a first live update",
        "return Number(document.getElementById('updated').dataset.updates) >= 1",
    )
    .await;
    assert!(
        !b.text("#status").await.contains("completed"),
        "the alert finished before the leader was killed"
    );
    // The health page shows who holds the sending leases of the running alert.
    b.goto(&format!("{base}/console/health")).await;
    let held = b
        .client
        .execute(
            "return [...document.querySelectorAll('[data-k=shards-held]')].reduce((n, e) => n + Number(e.textContent), 0)",
            vec![],
        )
        .await
        .unwrap();
    assert!(held.as_u64().unwrap() > 0, "no lease holders shown: {}", b.text("#members").await);
    b.goto(&format!("{base}/console/alerts/{id}")).await;
    b.wait_until(
        "a first live update on the page again",
        "return Number(document.getElementById('updated').dataset.updates) >= 1",
    )
    .await;
    let updates_before: u64 = b
        .client
        .execute("return Number(document.getElementById('updated').dataset.updates)", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap();

    s.c.lc.kill(leader).await.unwrap();
    let new_leader =
        s.c.leader_among(&s.c.ids().into_iter().filter(|i| *i != leader).collect::<Vec<_>>()).await;
    assert_ne!(new_leader, leader);

    b.wait_until(
        "updates after the leader was killed",
        &format!("return Number(document.getElementById('updated').dataset.updates) > {updates_before}"),
    )
    .await;
    b.wait_until(
        "the alert completes on the page",
        "return document.getElementById('status').classList.contains('completed')",
    )
    .await;
    assert_eq!(b.text("tr[data-ch=voice] [data-k=queued]").await, "0", "{}", b.text("#channels").await);
    b.screenshot("alert-after-leader-loss").await;
    drop(b);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
