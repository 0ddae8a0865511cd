//! A full data disk: the node stops what it cannot persist before the store meets the wall.
//!
//! Every [`CHECK_INTERVAL`] the node reads how much space the data directory's filesystem has
//! left for it (`statvfs`, blocks available to unprivileged users). Below
//! `storage.min_free_bytes` the disk counts as **full**, and the node:
//!
//! - refuses its clients' writes with UNAVAILABLE naming the disk and the setting (nothing was
//!   appended; the client writes through another node);
//! - marks itself unready (`/readyz`, `varsel_disk_full`, `varsel cluster status`);
//! - stops taking sending work and hands its shard leases back (the delivery engine's drain),
//!   and hands leadership to another voter; it stands for no election while full;
//! - takes no new log entries and no snapshots from the leader (the Raft port answers them
//!   UNAVAILABLE, as a cut link would), so its log stops growing; the other sites go on.
//!
//! Once [`RESUME_FACTOR`] times the reserve is free again (a margin, so it does not flap) it
//! takes entries again and catches up from the leader's log (or a snapshot), resumes sending
//! and becomes ready: nobody has to restart it.
//!
//! The reserve is what keeps the store itself from ever meeting a full disk: sled fails hard
//! on one (openraft then stops Raft on that node, which shows as "raft has stopped" on
//! `/readyz`; the store stays consistent, and a restart once space is freed recovers it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::replica::Replica;

/// How often the free space is read.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// A full disk counts as having room again once this many times the reserve is free.
pub const RESUME_FACTOR: f64 = 1.5;

/// The state of this node's data disk.
#[derive(Debug)]
pub struct DiskGuard {
    dir: PathBuf,
    min_free: u64,
    full: AtomicBool,
    free: AtomicU64,
}

impl DiskGuard {
    /// A guard of the filesystem holding `dir`, keeping `min_free` bytes in reserve.
    pub fn new(dir: &Path, min_free: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            min_free,
            full: AtomicBool::new(false),
            free: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether the disk counts as full now.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// Bytes free at the last check.
    pub fn free_bytes(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }

    /// The reserve, bytes.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free
    }

    /// Reads the free space and updates the state; returns `Some(full)` when it changed.
    pub fn check(&self) -> Option<bool> {
        let free = match available_bytes(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read the data disk's free space");
                return None;
            }
        };
        self.free.store(free, Ordering::Relaxed);
        let was = self.is_full();
        let now = decide(was, free, self.min_free);
        if now != was {
            self.full.store(now, Ordering::Release);
            return Some(now);
        }
        None
    }

    /// Why this node refuses a write or is unready, when the disk is full.
    pub fn refusal(&self, node: u64) -> Option<String> {
        self.is_full().then(|| {
            format!(
                "node {node}'s data disk is full: {} bytes free, below storage.min_free_bytes ({}); it takes no \
                 writes until space is freed (write through another node)",
                self.free_bytes(),
                self.min_free
            )
        })
    }
}

/// Full below the reserve; once full, room again only at [`RESUME_FACTOR`] times it.
fn decide(was_full: bool, free: u64, min_free: u64) -> bool {
    if was_full { (free as f64) < min_free as f64 * RESUME_FACTOR } else { free < min_free }
}

/// Bytes available to this process on the filesystem holding `dir`.
fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    fs2::available_space(dir)
}

/// Watches the disk for as long as the node runs and acts on every change (see the module
/// doc). `engine` is the delivery engine, when enabled.
pub fn spawn_watch(
    replica: Arc<Replica>,
    engine: Option<Arc<varsel_delivery::Shared>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(CHECK_INTERVAL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let changed = replica.disk.check();
            if replica.disk.is_full() {
                // Renewed every check while full; ends by itself once there is room.
                replica.suppress_elections(CHECK_INTERVAL * 4);
            }
            match changed {
                Some(true) => became_full(&replica, engine.as_deref()).await,
                Some(false) => {
                    tracing::warn!(
                        free_bytes = replica.disk.free_bytes(),
                        "the data disk has room again: taking work"
                    );
                    if let Some(e) = &engine
                        && let Err(err) = e.drain(false).await
                    {
                        tracing::warn!(error = %err, "resuming delivery failed");
                    }
                }
                None => {}
            }
            if replica.disk.is_full() && replica.is_leader() {
                hand_over(&replica).await;
            }
        }
    })
}

async fn became_full(replica: &Arc<Replica>, engine: Option<&varsel_delivery::Shared>) {
    tracing::error!(
        free_bytes = replica.disk.free_bytes(),
        min_free_bytes = replica.disk.min_free_bytes(),
        "the data disk is full: refusing writes, handing work and leadership over"
    );
    if let Some(e) = engine {
        match e.drain(true).await {
            Ok(n) => tracing::warn!(leases_released = n, "delivery drained for a full disk"),
            Err(err) => tracing::warn!(error = %err, "draining delivery for a full disk failed"),
        }
    }
}

/// Hands leadership to another voter (tried again at every check while this node leads).
async fn hand_over(replica: &Arc<Replica>) {
    let Some(to) = replica.voter_ids().into_iter().find(|v| *v != replica.id) else { return };
    match replica.transfer_leader(to).await {
        Ok((leader, _)) => tracing::warn!(to = leader, "leadership handed over: the data disk is full"),
        Err(e) => {
            tracing::warn!(to, error = %e, "handing leadership over for a full disk failed; trying again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: full below the reserve, and room again only with a margin (no flapping at the
    /// boundary).
    #[test]
    fn full_below_the_reserve_with_a_margin_back() {
        let min = 100;
        assert!(!decide(false, 100, min));
        assert!(decide(false, 99, min));
        assert!(decide(true, 120, min), "still full until 150 are free");
        assert!(!decide(true, 150, min));
    }

    /// Goal: the free space of a real filesystem can be read, and a missing directory is an
    /// error, not "0 bytes free".
    #[test]
    fn reads_free_space() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(available_bytes(dir.path()).expect("statvfs") > 0);
        assert!(available_bytes(&dir.path().join("missing")).is_err());
        let g = DiskGuard::new(dir.path(), 1);
        assert_eq!(g.check(), None, "not full, as it started");
        assert!(g.refusal(3).is_none());
    }
}
