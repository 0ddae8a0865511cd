//! Goal: the Raft log's segment files on a disk too small for a preallocated segment still take
//! appends (the segment starts short), and when the disk is full an append fails with an error,
//! never a panic, leaving every acknowledged entry readable after a reopen.
//!
//! The log lives on a 2 MiB tmpfs the test mounts (root is needed; CI runs as root), so the
//! 8 MiB preallocation cannot fit.

use std::path::{Path, PathBuf};

use openraft::{CommittedLeaderId, EntryPayload};
use varsel_raft_store::segments::SegmentLog;
use varsel_raft_store::{Command, Entry, KvCommand, LogId, Request};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size_kib: u64) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount tmpfs at {} (this test needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

fn entry(index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Command {
            issued_at_ms: index,
            lease_at_ms: index,
            request: Request::Kv(KvCommand::Put { key: format!("k{index}"), value: "v".repeat(4000) }),
        }),
    }
}

#[tokio::test]
async fn a_log_on_a_full_disk_fails_appends_and_keeps_what_it_acknowledged() {
    let base = tempfile::tempdir().expect("temp dir");
    let mnt = base.path().join("mnt");
    let _fs = Tmpfs::mount(&mnt, 2048);
    let dir = mnt.join("raft-log");

    let log = SegmentLog::open(&dir, None).expect("open");
    log.append((1..=10).map(entry)).await.expect("appends go through without preallocation");
    assert!(log.size_on_disk().expect("size") < 1 << 20, "the segment started short");

    // Fill the disk with appends until one fails.
    let mut acked = 10;
    let failed = loop {
        match log.append([entry(acked + 1)]).await {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked < 10_000, "a 2 MiB disk never filled");
    };
    assert!(acked > 100, "only {acked} entries of 4 KB fitted on 2 MiB");
    eprintln!("full after {acked} entries: {failed}");
    // What the failed append added is not readable, and the log takes no more writes.
    assert_eq!(log.last_log_id().expect("last").map(|l| l.index), Some(acked));
    assert_eq!(log.read(.., None).expect("read").len() as u64, acked);
    assert!(log.append([entry(acked + 1)]).await.is_err(), "no write after a failed one");
    drop(log);

    let log = SegmentLog::open(&dir, None).expect("reopen a log whose disk is full");
    let got = log.read(.., None).expect("read back");
    assert!(got.len() as u64 >= acked, "{} entries read back, {acked} acknowledged", got.len());
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.log_id.index, i as u64 + 1);
    }
}
