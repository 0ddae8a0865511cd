//! All nodes converge to the same state: digests of their state machines, taken when they
//! have applied the same log index, are equal.
//!
//! A node's digest is good only if nothing was applied while it was taken (its `Digest`
//! answers the applied index before and after). The nodes write lease heartbeats into the log
//! every `delivery.heartbeat_interval_ms` even when idle, about four entries a second for three
//! nodes, so a state large enough that its digest takes longer than that (300,000 records take
//! about a second in a debug build: a 50,000-recipient alert) never yields one. Then, where the
//! nodes accept the fault-injection layer (process mode), the check freezes replication for a
//! moment: once every node shows the same applied index, every node drops its Raft traffic
//! (`SetFaults.cut`, all at once), nothing more commits, and the digests are taken once every
//! node's applied index has stood still; then the links are restored. A follower that had not
//! yet heard the last commit when the links were cut shows a lower index: the round is
//! repeated.

use std::time::{Duration, Instant};

use varsel_proto::admin::{DigestReply, DigestRequest, SetFaultsRequest, StatusRequest};

use super::{Evidence, Verdict};
use crate::backend::NodeInfo;

/// Name in reports.
pub const NAME: &str = "nodes converge to the same state";

/// How long the nodes get to reach a common applied index.
const WITHIN: Duration = Duration::from_secs(90);

/// How long to try digests of the live cluster before freezing replication.
const LIVE_FOR: Duration = Duration::from_secs(10);

/// How long one digest may take: about 3 µs a record in a debug build, three nodes at once on
/// two cores (1,200,000 records: a 200,000-recipient alert).
const DIGEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a frozen node's applied index must stand still before it is digested (longer than
/// a Raft heartbeat, which carries the last commit index to followers).
const STILL_FOR: Duration = Duration::from_millis(500);

/// How long to wait for the applied indexes to stand still in a frozen round.
const STILL_WITHIN: Duration = Duration::from_secs(5);

/// How long to wait, before cutting, for every node to show the same applied index (most of
/// the time they do: a follower learns of a commit within a Raft heartbeat; right after the
/// links come back, replication may back off for a while first).
const EQUAL_WITHIN: Duration = Duration::from_secs(5);

async fn digest(node: &NodeInfo) -> Result<DigestReply, String> {
    let fut = async {
        let mut c = node.admin().map_err(|e| e.to_string())?;
        c.digest(DigestRequest {}).await.map(|r| r.into_inner()).map_err(|e| e.message().to_string())
    };
    tokio::time::timeout(DIGEST_TIMEOUT, fut)
        .await
        .map_err(|_| format!("no answer within {DIGEST_TIMEOUT:?}"))?
}

/// Checks it.
pub async fn check(e: &Evidence) -> Verdict {
    let started = Instant::now();
    let mut last = String::from("no round completed");
    let mut frozen_rounds = 0;
    let mut can_freeze = true;
    while started.elapsed() < WITHIN {
        let frozen = can_freeze && started.elapsed() >= LIVE_FOR;
        let replies = if frozen {
            match frozen_digests(&e.nodes).await {
                Ok(r) => {
                    frozen_rounds += 1;
                    r
                }
                Err(why) => {
                    tracing::info!(reason = %why, "converged: replication cannot be frozen; digesting live");
                    can_freeze = false;
                    continue;
                }
            }
        } else {
            futures::future::join_all(e.nodes.iter().map(digest)).await
        };
        match judge_round(&e.nodes, replies) {
            Ok((same, detail)) => {
                let how = if frozen {
                    format!(" (replication frozen, round {frozen_rounds})")
                } else {
                    String::new()
                };
                return Verdict::new(NAME, same, format!("{detail}{how}"));
            }
            Err(why) => last = why,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tried = if frozen_rounds > 0 {
        format!(" ({frozen_rounds} rounds with replication frozen)")
    } else {
        String::new()
    };
    Verdict::new(NAME, false, format!("no common applied index within {WITHIN:?}{tried}: {last}"))
}

/// The verdict of one round of digests, or why the round tells nothing (a node applied an
/// entry while digesting, did not answer, or the nodes are at different indexes).
fn judge_round(
    nodes: &[NodeInfo],
    replies: Vec<Result<DigestReply, String>>,
) -> Result<(bool, String), String> {
    let mut round = Vec::new();
    for (n, r) in nodes.iter().zip(replies) {
        match r {
            Ok(d) if d.applied_before == d.applied_after => round.push((n.id, d)),
            Ok(_) => return Err(format!("node {} applied an entry while digesting", n.id)),
            Err(err) => return Err(format!("node {}: {err}", n.id)),
        }
    }
    if !round.windows(2).all(|w| w[0].1.applied_after == w[1].1.applied_after) {
        let shown: Vec<String> = round.iter().map(|(id, d)| format!("{id}@{}", d.applied_after)).collect();
        return Err(format!("applied indexes differ: {}", shown.join(" ")));
    }
    let index = round.first().map_or(0, |r| r.1.applied_after);
    let same = round.windows(2).all(|w| (w[0].1.records, w[0].1.crc32) == (w[1].1.records, w[1].1.crc32));
    let shown: Vec<String> =
        round.iter().map(|(id, d)| format!("node {id}: {} records crc {:08x}", d.records, d.crc32)).collect();
    Ok((same, format!("at applied index {index}: {}", shown.join(", "))))
}

/// Waits until every node shows the same applied index, then cuts every node off the others,
/// waits until their applied indexes stand still, digests them, and restores the links. `Err`
/// when the nodes refuse the fault-injection layer (or the links could not be restored:
/// nothing more should be asked of the cluster then).
async fn frozen_digests(nodes: &[NodeInfo]) -> Result<Vec<Result<DigestReply, String>>, String> {
    wait_equal(nodes).await;
    if let Err(why) = set_links(nodes, false).await {
        // Some node may have taken the cut before another refused it.
        let _ = set_links(nodes, true).await;
        return Err(why);
    }
    wait_still(nodes).await;
    let replies = futures::future::join_all(nodes.iter().map(digest)).await;
    set_links(nodes, true).await?;
    Ok(replies)
}

/// Restores (`up`) or cuts every node's Raft links to the others. After the run every fault is
/// undone, so the faults sent are the cut alone, or none.
async fn set_links(nodes: &[NodeInfo], up: bool) -> Result<(), String> {
    // All at once, so that no entry commits between the first cut and the last.
    let set = futures::future::join_all(nodes.iter().map(|n| set_node_links(nodes, n, up))).await;
    set.into_iter().collect()
}

/// [`set_links`] on node `n`.
async fn set_node_links(nodes: &[NodeInfo], n: &NodeInfo, up: bool) -> Result<(), String> {
    let cut = if up { Vec::new() } else { nodes.iter().map(|o| o.id).filter(|id| *id != n.id).collect() };
    let fut = async {
        let mut a = n.admin().map_err(|e| e.to_string())?;
        a.set_faults(SetFaultsRequest { cut, ..Default::default() })
            .await
            .map_err(|s| format!("node {}: SetFaults: {}", n.id, s.message()))
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| format!("node {}: SetFaults gave no answer within 10 s", n.id))??;
    Ok(())
}

/// Waits (at most [`EQUAL_WITHIN`]) until every node answers the same applied index.
async fn wait_equal(nodes: &[NodeInfo]) {
    let started = Instant::now();
    while started.elapsed() < EQUAL_WITHIN {
        let now = futures::future::join_all(nodes.iter().map(applied_index)).await;
        if now.iter().all(Option::is_some) && now.windows(2).all(|w| w[0] == w[1]) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most [`STILL_WITHIN`]) until no node's applied index has moved for [`STILL_FOR`].
async fn wait_still(nodes: &[NodeInfo]) {
    let started = Instant::now();
    let mut last: Vec<Option<u64>> = Vec::new();
    let mut still_since = Instant::now();
    while started.elapsed() < STILL_WITHIN {
        let now = futures::future::join_all(nodes.iter().map(applied_index)).await;
        if now != last || now.iter().any(Option::is_none) {
            (last, still_since) = (now, Instant::now());
        } else if still_since.elapsed() >= STILL_FOR {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn applied_index(node: &NodeInfo) -> Option<u64> {
    let mut a = node.admin().ok()?;
    let s = tokio::time::timeout(Duration::from_secs(2), a.status(StatusRequest {})).await.ok()?.ok()?;
    Some(s.into_inner().applied_index)
}
