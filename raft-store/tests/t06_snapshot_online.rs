//! Snapshots taken while applying goes on, and installed where readers can see them only whole.
//!
//! Goal: a snapshot built while entries keep being applied holds exactly the state at the index
//! it names (a point-in-time cut over a live sled tree); installing a snapshot never shows a
//! reader an empty or half-installed state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId, RaftSnapshotBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use varsel_raft_store::{Command, Entry, KvCommand, Request, SledEngine, StateMachine};

/// Entry `index`: a put of `key-<index % 30,000>` (so later entries overwrite earlier keys), and
/// every seventh a delete of an older key.
fn entry(index: u64) -> Entry {
    let request = if index.is_multiple_of(7) {
        Request::Kv(KvCommand::Delete { key: format!("key-{:06}", (index / 2) % 30_000) })
    } else {
        Request::Kv(KvCommand::Put { key: format!("key-{:06}", index % 30_000), value: format!("v{index}") })
    };
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Command { issued_at_ms: index, lease_at_ms: index, request }),
    }
}

async fn apply(sm: &mut StateMachine<SledEngine>, from: u64, to: u64) -> anyhow::Result<()> {
    let all: Vec<u64> = (from..=to).collect();
    for chunk in all.chunks(200) {
        sm.apply(chunk.iter().map(|i| entry(*i))).await?;
    }
    Ok(())
}

/// Copies a built snapshot into `sm` through its receiving file and installs it.
async fn install(
    sm: &mut StateMachine<SledEngine>,
    snap: openraft::storage::Snapshot<varsel_raft_store::TypeConfig>,
) -> anyhow::Result<()> {
    let mut receiving = sm.begin_receiving_snapshot().await?;
    let mut source = snap.snapshot;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = source.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        receiving.write_all(&buf[..n]).await?;
    }
    receiving.shutdown().await?;
    sm.install_snapshot(&snap.meta, receiving).await?;
    Ok(())
}

/// Method: 40,000 entries applied on one store; a build started while 30,000 more (overwrites
/// and deletes of the same keys) are applied concurrently; the snapshot installed into a fresh
/// store, whose digest must equal that of a third store that applied exactly the entries up
/// to the snapshot's index. Repeated three times, so at least one build overlaps applying
/// (the figure printed says how many entries were applied while each build ran).
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_built_while_applying_is_the_state_at_its_index() -> anyhow::Result<()> {
    let mut overlapped = 0;
    for round in 0..3u64 {
        let dirs = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
        let source = varsel_raft_store::open_sled(dirs.0.path(), &Default::default()).await?;
        let mut sm = source.state.clone();
        apply(&mut sm, 1, 40_000).await?;

        let building = AtomicBool::new(true);
        let applied_during = AtomicU64::new(0);
        let mut writer = sm.clone();
        let (built, written) = tokio::join!(
            async {
                let mut builder = sm.get_snapshot_builder().await;
                let snap = builder.build_snapshot().await;
                building.store(false, Ordering::Release);
                snap
            },
            async {
                for from in (40_001..=70_000u64).step_by(200) {
                    writer.apply((from..from + 200).map(entry)).await?;
                    if building.load(Ordering::Acquire) {
                        applied_during.fetch_add(200, Ordering::Relaxed);
                    }
                    if round > 0 {
                        // Give the build room to start between groups in later rounds.
                        tokio::task::yield_now().await;
                    }
                }
                anyhow::Ok(())
            }
        );
        written?;
        let snap = built?;
        let index = snap.meta.last_log_id.map_or(0, |l| l.index);
        let during = applied_during.load(Ordering::Relaxed);
        eprintln!("round {round}: snapshot at index {index}, {during} entries applied while it was built");
        if index < 70_000 && during > 0 {
            overlapped += 1;
        }

        let target = varsel_raft_store::open_sled(dirs.1.path(), &Default::default()).await?;
        let mut tsm = target.state.clone();
        install(&mut tsm, snap).await?;
        let reference = varsel_raft_store::open_sled(dirs.2.path(), &Default::default()).await?;
        let mut rsm = reference.state.clone();
        apply(&mut rsm, 1, index).await?;
        assert_eq!(
            target.state.reader().digest()?,
            reference.state.reader().digest()?,
            "round {round}: the snapshot at index {index} is not the state at that index"
        );
        assert_eq!(target.state.reader().applied().last_applied.map(|l| l.index), Some(index));
    }
    assert!(overlapped > 0, "no build overlapped applying: the test proved nothing");
    Ok(())
}

/// Applies 20,000 puts of `<prefix>-<i>` = `value` (entries 1..=20,000) in groups of 500.
async fn put_20_000(sm: &mut StateMachine<SledEngine>, prefix: &str, value: &str) -> anyhow::Result<()> {
    for from in (1..=20_000u64).step_by(500) {
        let entries = (from..from + 500).map(|i| Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), i),
            payload: EntryPayload::Normal(Command {
                issued_at_ms: i,
                lease_at_ms: i,
                request: Request::Kv(KvCommand::Put { key: format!("{prefix}-{i:06}"), value: value.into() }),
            }),
        });
        sm.apply(entries).await?;
    }
    Ok(())
}

/// Method: a store whose state has `old-*` keys receives a snapshot whose state has `key-*`
/// keys; while it installs, readers take a read transaction over and over and each must see
/// one whole state: the old sentinel and none of the new, or the reverse, with all 20,000
/// keys of that state.
#[tokio::test(flavor = "multi_thread")]
async fn readers_never_see_a_half_installed_snapshot() -> anyhow::Result<()> {
    let (sdir, tdir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let source = varsel_raft_store::open_sled(sdir.path(), &Default::default()).await?;
    let mut ssm = source.state.clone();
    put_20_000(&mut ssm, "key", "new").await?;
    let snap = ssm.get_snapshot_builder().await.build_snapshot().await?;

    let target = varsel_raft_store::open_sled(tdir.path(), &Default::default()).await?;
    let mut tsm = target.state.clone();
    put_20_000(&mut tsm, "old", "old").await?;
    let reader = target.state.reader();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (reader, done, reads) = (reader.clone(), Arc::clone(&done), Arc::clone(&reads));
        std::thread::spawn(move || -> anyhow::Result<(u64, u64)> {
            let (mut old_seen, mut new_seen) = (0u64, 0u64);
            let has = |txn: &varsel_raft_store::state_machine::Txn<'_, _>, k: &str| -> anyhow::Result<bool> {
                Ok(txn.get(&[&[0x01][..], k.as_bytes()].concat())?.is_some())
            };
            while !done.load(Ordering::Acquire) {
                let txn = reader.read_txn();
                // An installation writes in key order: a half-written state has the first keys
                // and not the last.
                let seen = [
                    has(&txn, "old-000001")?,
                    has(&txn, "old-020000")?,
                    has(&txn, "key-000001")?,
                    has(&txn, "key-020000")?,
                ];
                let old = seen == [true, true, false, false];
                anyhow::ensure!(old || seen == [false, false, true, true], "a reader saw {seen:?}");
                if (old_seen + new_seen).is_multiple_of(4096) {
                    let prefix: &[u8] = if old { b"\x01old-" } else { b"\x01key-" };
                    let count = txn.scan_prefix(prefix, None, usize::MAX)?.len();
                    anyhow::ensure!(count == 20_000, "a reader saw {count} keys of one state");
                }
                if old {
                    old_seen += 1
                } else {
                    new_seen += 1
                }
                reads.fetch_add(1, Ordering::Release);
            }
            Ok((old_seen, new_seen))
        })
    };
    while reads.load(Ordering::Acquire) < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (before, started) = (reads.load(Ordering::Acquire), std::time::Instant::now());
    install(&mut tsm, snap).await?;
    let during = reads.load(Ordering::Acquire) - before;
    eprintln!("{during} reads while the snapshot was installed ({} ms)", started.elapsed().as_millis());
    assert!(during > 0, "no read overlapped the installation: the test proved nothing");
    // Let the watcher read the installed state a few times (bounded).
    let after = reads.load(Ordering::Acquire);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while reads.load(Ordering::Acquire) < after + 100 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::Release);
    let (old_seen, new_seen) = watcher.join().map_err(|_| anyhow::anyhow!("watcher panicked"))??;
    eprintln!("reads during the installation: {old_seen} of the old state, {new_seen} of the new");
    assert!(new_seen > 0, "the watcher never saw the installed state");
    assert_eq!(reader.kv_get("key-000001")?, Some("new".into()));
    assert_eq!(reader.kv_get("old-000001")?, None);
    Ok(())
}
