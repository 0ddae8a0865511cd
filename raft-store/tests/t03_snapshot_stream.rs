//! Goal: a snapshot of a large state machine streams through a file into another node's state
//! machine and both end with the same state; an installation interrupted by a crash is finished
//! on the next open.
//!
//! Method: apply 20,000 key-value entries on a leader store, build a snapshot, copy it in
//! 64 KiB chunks into the follower's receiving file (as openraft's chunked transfer does),
//! install it and compare state digests. Then set the `installing` marker by hand and write junk
//! into the spare tree, as a crash half-way through an installation leaves them, reopen, and
//! check the state is whole again.

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId, RaftSnapshotBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use varsel_raft_store::engine::{KvTree, StorageEngine, WriteBatch};
use varsel_raft_store::{Command, Entry, KvCommand, Request};

fn put(index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(2, 1), index),
        payload: EntryPayload::Normal(Command {
            issued_at_ms: 1_000 + index,
            lease_at_ms: 1_000 + index,
            request: Request::Kv(KvCommand::Put {
                key: format!("key-{index:06}"),
                value: format!("v{index}"),
            }),
        }),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_streams_and_interrupted_install_recovers() -> anyhow::Result<()> {
    let (ldir, fdir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let leader = varsel_raft_store::open_sled(ldir.path(), &Default::default()).await?;
    let mut lsm = leader.state.clone();
    for chunk in (1..=20_000u64).collect::<Vec<_>>().chunks(1000) {
        lsm.apply(chunk.iter().map(|i| put(*i))).await?;
    }
    let snap = lsm.get_snapshot_builder().await.build_snapshot().await?;
    assert_eq!(snap.meta.last_log_id.map(|l| l.index), Some(20_000));

    let follower = varsel_raft_store::open_sled(fdir.path(), &Default::default()).await?;
    let mut fsm = follower.state.clone();
    let mut receiving = fsm.begin_receiving_snapshot().await?;
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
    fsm.install_snapshot(&snap.meta, receiving).await?;

    let (ln, ld) = leader.state.reader().digest()?;
    let (fnum, fd) = follower.state.reader().digest()?;
    assert_eq!(ln, 20_002, "20,000 keys and the two clocks");
    assert_eq!((ln, ld), (fnum, fd), "follower state differs from the leader's after install");
    assert_eq!(follower.state.reader().kv_get("key-012345")?, Some("v12345".into()));
    assert_eq!(follower.state.reader().applied().last_applied.map(|l| l.index), Some(20_000));
    drop(follower);
    drop(fsm);

    // Simulate a crash in the middle of an installation: marker set, the spare tree (the one an
    // installation fills) half written.
    {
        let engine = varsel_raft_store::SledEngine::open(&fdir.path().join("db"), &Default::default())?;
        let control = engine.open_tree("sm_control")?;
        let active = control.get(b"active")?.unwrap_or_else(|| b"sm".to_vec());
        assert_eq!(active, b"sm_b", "the installation switched to the other tree");
        let mut mark = WriteBatch::new();
        mark.insert(b"installing".to_vec(), b"1".to_vec());
        control.write(mark)?;
        let sm = engine.open_tree("sm")?;
        let mut wipe = WriteBatch::new();
        for i in 1..=10_000u64 {
            let mut k = vec![0x01];
            k.extend_from_slice(format!("key-{i:06}").as_bytes());
            wipe.insert(k, b"half-written".to_vec());
        }
        sm.write(wipe)?;
        engine.flush().await?;
    }
    // sled releases its file lock when the last handle of the engine above is gone, which a
    // background flush may still hold for a moment: wait (bounded) until the lock is free.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reopened = loop {
        match varsel_raft_store::open_sled(fdir.path(), &Default::default()).await {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => break other?,
        }
    };
    assert_eq!(reopened.state.reader().digest()?, (ln, ld), "interrupted install was not finished");
    Ok(())
}
