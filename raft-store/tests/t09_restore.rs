//! Goal: a backup restores into a new cluster of one node with everything it held, and bad
//! input is refused before anything is written: a corrupted or truncated backup, a data dir
//! that is not empty.
//!
//! Method: a sled store with key-value entries applied at term 3; a snapshot of it wrapped in a
//! backup as the CLI writes one; restores into fresh and into used directories.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use varsel_raft_store::backup::{BackupHeader, BackupWriter};
use varsel_raft_store::restore::{self, NewCluster};
use varsel_raft_store::{Command, Entry, KvCommand, Request, SledOptions, VarselNode};

/// A store under `dir` with 50 keys applied (log indexes 1..=50, term 3), and a backup of it
/// at `out`.
async fn backed_up(dir: &Path, out: &Path) {
    let store = varsel_raft_store::open_sled(dir, &SledOptions::default()).await.unwrap();
    let mut sm = store.state.clone();
    let entries: Vec<Entry> = (1..=50u64)
        .map(|i| Entry {
            log_id: LogId::new(CommittedLeaderId::new(3, 1), i),
            payload: EntryPayload::Normal(Command {
                issued_at_ms: 1_000 + i,
                lease_at_ms: 1_000 + i,
                request: Request::Kv(KvCommand::Put { key: format!("k{i}"), value: format!("v{i}") }),
            }),
        })
        .collect();
    sm.apply(entries).await.unwrap();
    let snap = sm.get_snapshot_builder().await.build_snapshot().await.unwrap();
    let path = dir.join("snapshots").join(varsel_raft_store::state_machine::CURRENT_SNAPSHOT);
    let bytes = std::fs::read(&path).unwrap();
    let header = BackupHeader {
        cluster_id: "old-cluster".into(),
        log_index: 50,
        log_term: 3,
        snapshot_id: snap.meta.snapshot_id.clone(),
        created_at_ms: 1_050,
        node_id: 1,
        site: "oslo".into(),
        varsel_version: "test".into(),
        snapshot_bytes: bytes.len() as u64,
    };
    let mut w = BackupWriter::create(out, &header).unwrap();
    w.write(&bytes).unwrap();
    w.finish().unwrap();
}

fn new_cluster() -> NewCluster {
    NewCluster {
        node: 7,
        me: VarselNode {
            site: "bergen".into(),
            api_addr: "10.0.0.7:7001".into(),
            raft_addr: "10.0.0.7:7101".into(),
        },
        cluster_id: "new-cluster".into(),
    }
}

#[tokio::test]
async fn a_backup_restores_into_a_new_one_node_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let backup = tmp.path().join("b.varselbk");
    backed_up(&tmp.path().join("old"), &backup).await;

    let data = tmp.path().join("restored");
    let (info, restored) =
        restore::from_backup(&backup, &data, &SledOptions::default(), &new_cluster()).await.unwrap();
    assert_eq!(info.header.cluster_id, "old-cluster");
    assert_eq!((restored.log_id.index, restored.log_id.leader_id.term), (50, 3));
    assert!(restored.held.is_empty());

    let mut store = varsel_raft_store::open_sled(&data, &SledOptions::default()).await.unwrap();
    let reader = store.state.reader();
    assert_eq!(reader.kv_get("k1").unwrap().as_deref(), Some("v1"));
    assert_eq!(reader.kv_get("k50").unwrap().as_deref(), Some("v50"));
    assert_eq!(reader.cluster_id().unwrap().as_deref(), Some("new-cluster"));
    let (applied, membership) = store.state.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(50));
    let voters: Vec<u64> = membership.membership().voter_ids().collect();
    assert_eq!(voters, vec![7], "the restored node is the only member");
    let log = store.log.get_log_state().await.unwrap();
    assert_eq!(log.last_purged_log_id.map(|l| l.index), Some(50));
    assert_eq!(log.last_log_id.map(|l| l.index), Some(50));
    let vote = store.log.read_vote().await.unwrap().unwrap();
    assert_eq!(vote.leader_id().term, 3, "the first election is in a later term than any entry");
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let backup = tmp.path().join("b.varselbk");
    backed_up(&tmp.path().join("old"), &backup).await;
    let opts = SledOptions::default();

    // A data dir that holds anything is refused, and left as it was.
    let used = tmp.path().join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("keep-me"), b"x").unwrap();
    let e = restore::from_backup(&backup, &used, &opts, &new_cluster()).await.unwrap_err().to_string();
    assert!(e.contains("not empty"), "{e}");
    assert_eq!(std::fs::read_dir(&used).unwrap().count(), 1);

    // A corrupted or truncated backup is refused with the reason; the data dir is not made.
    let bytes = std::fs::read(&backup).unwrap();
    for (name, bad, reason) in [
        (
            "flipped",
            {
                let mut b = bytes.clone();
                let i = b.len() / 2;
                b[i] ^= 0x10;
                b
            },
            "damaged",
        ),
        ("truncated", bytes[..bytes.len() - 100].to_vec(), "truncated"),
    ] {
        let file = tmp.path().join(format!("{name}.varselbk"));
        std::fs::write(&file, bad).unwrap();
        let data = tmp.path().join(format!("data-{name}"));
        let e = restore::from_backup(&file, &data, &opts, &new_cluster()).await.unwrap_err().to_string();
        assert!(e.contains(reason), "{name}: {e}");
        assert!(!data.exists(), "{name}: the data dir was written before the backup was checked");
    }
}
