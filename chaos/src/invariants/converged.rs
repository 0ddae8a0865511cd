//! All nodes converge to the same state: digests of their state machines, taken when they
//! have applied the same log index, are equal.

use std::time::{Duration, Instant};

use varsel_proto::admin::DigestRequest;

use super::{Evidence, Verdict};
use crate::backend::NodeInfo;

/// Name in reports.
pub const NAME: &str = "nodes converge to the same state";

/// How long the nodes get to reach a common applied index.
const WITHIN: Duration = Duration::from_secs(90);

async fn digest(node: &NodeInfo) -> Result<varsel_proto::admin::DigestReply, String> {
    let fut = async {
        let mut c = node.admin().map_err(|e| e.to_string())?;
        c.digest(DigestRequest {}).await.map(|r| r.into_inner()).map_err(|e| e.message().to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}

/// Checks it.
pub async fn check(e: &Evidence) -> Verdict {
    let started = Instant::now();
    let mut last = String::from("no round completed");
    while started.elapsed() < WITHIN {
        let replies = futures::future::join_all(e.nodes.iter().map(digest)).await;
        let mut round = Vec::new();
        for (n, r) in e.nodes.iter().zip(replies) {
            match r {
                Ok(d) if d.applied_before == d.applied_after => round.push((n.id, d)),
                Ok(_) => last = format!("node {} applied an entry while digesting", n.id),
                Err(err) => last = format!("node {}: {err}", n.id),
            }
        }
        if round.len() == e.nodes.len()
            && round.windows(2).all(|w| w[0].1.applied_after == w[1].1.applied_after)
        {
            let index = round[0].1.applied_after;
            let same =
                round.windows(2).all(|w| (w[0].1.records, w[0].1.crc32) == (w[1].1.records, w[1].1.crc32));
            let shown: Vec<String> = round
                .iter()
                .map(|(id, d)| format!("node {id}: {} records crc {:08x}", d.records, d.crc32))
                .collect();
            return Verdict::new(NAME, same, format!("at applied index {index}: {}", shown.join(", ")));
        }
        if round.len() == e.nodes.len() {
            let shown: Vec<String> =
                round.iter().map(|(id, d)| format!("{id}@{}", d.applied_after)).collect();
            last = format!("applied indexes differ: {}", shown.join(" "));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Verdict::new(NAME, false, format!("no common applied index within {WITHIN:?}: {last}"))
}
