use std::collections::HashMap;

use varsel_proto::kv::{GetRequest, PutRequest, ReadConsistency};

use crate::common::TestCluster;
use crate::common::metrics::{Scrape, parser_python, scrape};

/// Goal: writes that reach the leader together share log entries (group commit), writes that a
/// follower forwards together share calls to the leader, and each is still answered with its own
/// outcome: the value its own key held before, not a neighbour's.
/// Method: 96 clients spread over all three nodes each write 12 rounds to a key of their own,
/// every round's value naming the round, all at once; each answer's `previous` must be that
/// client's value from the round before. Then the log indexes of the answers must show writes
/// sharing an entry (far fewer indexes than writes); the leader's metrics must show forwarded
/// calls carrying several writes (fewer calls than forwarded writes, some of them batches); and
/// every node must read every key's last value. Without the delivery engine, whose own writes
/// would be forwarded too.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_share_entries_and_keep_their_own_answers() {
    const CLIENTS: u64 = 96;
    const ROUNDS: u64 = 12;
    let c = TestCluster::start(3, |s| s.delivery.enabled = false).await;
    let leader = c.leader().await;
    let python = parser_python();
    let forwarded_calls = |s: &Scrape, method: &str| {
        s.sum("varsel_grpc_requests_total", &[("port", "raft"), ("method", method)])
    };
    let before = scrape(&c, &python, leader).await;
    let mut tasks = Vec::new();
    for w in 0..CLIENTS {
        let mut kv = c.kv(1 + w % 3).await;
        tasks.push(tokio::spawn(async move {
            let key = format!("batch/{w}");
            let mut indexes = Vec::new();
            for round in 0..ROUNDS {
                let value = format!("{w}:{round}");
                let reply = kv.put(PutRequest { key: key.clone(), value }).await.expect("put").into_inner();
                let expected = round.checked_sub(1).map(|r| format!("{w}:{r}"));
                assert_eq!(reply.previous, expected, "client {w}, round {round}: another write's answer");
                indexes.push(reply.log_index);
            }
            indexes
        }));
    }
    let mut per_index: HashMap<u64, u64> = HashMap::new();
    for t in tasks {
        for index in t.await.expect("client task") {
            *per_index.entry(index).or_default() += 1;
        }
    }
    let writes = CLIENTS * ROUNDS;
    let entries = per_index.len() as u64;
    let largest = per_index.values().max().copied().unwrap_or(0);
    eprintln!("{writes} writes in {entries} log entries, at most {largest} in one");
    assert!(largest > 1, "no two writes shared a log entry");
    assert!(entries < writes / 2, "{writes} writes took {entries} entries");
    let after = scrape(&c, &python, leader).await;
    let singles = forwarded_calls(&after, "ForwardWrite") - forwarded_calls(&before, "ForwardWrite");
    let batches = forwarded_calls(&after, "ForwardWrites") - forwarded_calls(&before, "ForwardWrites");
    let forwarded = (CLIENTS - CLIENTS.div_ceil(3)) * ROUNDS;
    eprintln!("{forwarded} forwarded writes in {singles} single calls and {batches} batches");
    assert!(batches > 0.0, "no forwarded writes went to the leader together");
    assert!(
        singles + batches < forwarded as f64 / 2.0,
        "{forwarded} forwarded writes took {} calls",
        singles + batches
    );
    for id in c.ids() {
        let mut kv = c.kv(id).await;
        for w in 0..CLIENTS {
            let mut req = GetRequest { key: format!("batch/{w}"), ..Default::default() };
            req.set_consistency(ReadConsistency::Linearizable);
            let value = kv.get(req).await.expect("get").into_inner().value;
            assert_eq!(value.as_deref(), Some(format!("{w}:{}", ROUNDS - 1).as_str()), "node {id}, key {w}");
        }
    }
}
