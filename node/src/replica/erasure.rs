//! After an erasure: purge the Raft log that still carries the erased data.
//!
//! Erasing a contact ([`varsel_raft_store::ops::Op::EraseContact`]) scrubs the state, but the
//! log entries that brought the data in (an import, replies, outcomes) stay in the Raft log
//! until it is purged behind a snapshot, and the last snapshot still holds the old state.
//! Every node watches the replicated count of erasures; when it grows, the node builds a
//! snapshot of its state (which no longer holds the data) and purges its log up to it. A node
//! that was down catches up through the log or a snapshot and does the same when it sees the
//! count.
//!
//! What this cannot reach is sled's own files: sled rewrites a segment that held old values
//! only when it reclaims it, so old bytes may sit in `db/` until then (see
//! `docs/operations/personal-data.md`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Replica;

/// How long after an erasure is seen the snapshot starts: erasures of many contacts in a row
/// are covered by one snapshot.
pub const ERASURE_SNAPSHOT_DELAY: Duration = Duration::from_secs(2);

/// How long to wait before trying again after a snapshot failed (no leader, disk full).
pub const ERASURE_SNAPSHOT_RETRY: Duration = Duration::from_secs(30);

/// Follows the count of erasures and snapshots and purges the log after each rise, until
/// `stop`. Starts from the count at start-up.
pub async fn purge_after_erasures(replica: Arc<Replica>, mut stop: watch::Receiver<bool>) {
    let mut applied = replica.state.subscribe();
    let mut done = replica.state.erasures().unwrap_or(0);
    loop {
        let seen = replica.state.erasures().unwrap_or(done);
        if seen > done {
            tokio::select! {
                () = tokio::time::sleep(ERASURE_SNAPSHOT_DELAY) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            // The count as of the snapshot: erasures applied during the delay are covered.
            let covered = replica.state.erasures().unwrap_or(seen);
            match replica.snapshot_now().await {
                Ok(index) => {
                    tracing::info!(erasures = covered, snapshot_index = index, "log purged after an erasure");
                    done = covered;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "snapshot after an erasure failed; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(ERASURE_SNAPSHOT_RETRY) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    continue;
                }
            }
        }
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
