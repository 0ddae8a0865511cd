//! Making a new one-node cluster from a replicated state: from a backup (`varsel restore`), or
//! from the last node standing when a majority of sites is gone for good (`varsel cluster
//! force-new-cluster`).
//!
//! Either way the new cluster has a new id (so it can never be taken for the old one by a
//! member of it), its only voter is this node, and the alerts that were being sent are held
//! until an operator resumes or cancels each. The other sites then join it as learners and are
//! promoted, and receive the state by snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use openraft::Membership;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use varsel_domain::model::AlertId;

use crate::backup::{self, BackupInfo};
use crate::engine::SledOptions;
use crate::error::EngineError;
use crate::snapshot;
use crate::types::{LogId, NodeId, SnapshotMeta, StoredMembership, VarselNode};

/// Who the node of the new cluster is.
#[derive(Debug, Clone)]
pub struct NewCluster {
    /// Its node id.
    pub node: NodeId,
    /// Its site and addresses, as the others will reach it.
    pub me: VarselNode,
    /// The new cluster's id.
    pub cluster_id: String,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The log index (and term) the state is at.
    pub log_id: LogId,
    /// State records written.
    pub records: u64,
    /// Alerts that were being sent, now held.
    pub held: Vec<AlertId>,
}

/// Refuses a data dir that holds anything: a restore never writes over a node's data.
fn check_empty(data_dir: &Path) -> Result<(), EngineError> {
    match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(EngineError::Backup(format!(
                    "data dir {} is not empty: a restore only writes into a new, empty data dir \
                     (move the old one aside first; nothing was written)",
                    data_dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::Backup(format!("data dir {}: {e}", data_dir.display()))),
    }
}

/// The metadata of the new cluster's state: the old state's log id, and a membership of this
/// node alone.
fn new_meta(log_id: LogId, new: &NewCluster) -> SnapshotMeta {
    let voters = BTreeSet::from([new.node]);
    let nodes = BTreeMap::from([(new.node, new.me.clone())]);
    SnapshotMeta {
        last_log_id: Some(log_id),
        last_membership: StoredMembership::new(Some(log_id), Membership::new(vec![voters], nodes)),
        snapshot_id: format!("restored-{}-{}", log_id.index, new.cluster_id),
    }
}

/// Fills the empty `data_dir` from `feed` (records of a state at `log_id`) as the only node of
/// the cluster `new` describes.
async fn fill<F>(
    data_dir: &Path,
    options: &SledOptions,
    log_id: LogId,
    new: &NewCluster,
    feed: F,
) -> Result<Restored, EngineError>
where
    F: FnOnce(&mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<(), EngineError>) -> Result<(), EngineError>,
{
    let store = crate::open_sled(data_dir, options).await?;
    let meta = new_meta(log_id, new);
    let mut records = 0u64;
    let held = store
        .state
        .restore(&meta, &new.cluster_id, |put| {
            feed(&mut |k, v| {
                records += 1;
                put(k, v)
            })
        })
        .await?;
    store.log.restore_at(log_id, new.node).await?;
    Ok(Restored { log_id, records, held })
}

/// Restores the backup at `backup_path` into the new, empty `data_dir`. The whole backup is
/// read and checked before anything is written.
pub async fn from_backup(
    backup_path: &Path,
    data_dir: &Path,
    options: &SledOptions,
    new: &NewCluster,
) -> Result<(BackupInfo, Restored), EngineError> {
    let info = backup::verify(backup_path)?;
    check_empty(data_dir)?;
    let log_id = info
        .meta
        .last_log_id
        .ok_or_else(|| EngineError::Backup(format!("backup {} holds no state", backup_path.display())))?;
    let restored =
        fill(data_dir, options, log_id, new, |put| backup::read(backup_path, put).map(|_| ())).await?;
    Ok((info, restored))
}

/// What the last node standing held when it was forced into a new cluster.
#[derive(Debug, Clone)]
pub struct Forced {
    /// Where its old data now is (kept for analysis).
    pub old_data_dir: PathBuf,
    /// The last entry it had applied: the new cluster starts from there.
    pub applied: LogId,
    /// The last entry in its log; entries after `applied` are dropped (they may or may not
    /// have been committed by the lost majority).
    pub last_log_index: u64,
    /// The new cluster.
    pub restored: Restored,
}

/// Forces the node whose data is in `data_dir` (stopped) into a new one-node cluster: builds a
/// snapshot of what it has applied, moves `data_dir` aside to `data_dir` + `.before-new-cluster`
/// (refused if that exists), and fills a new `data_dir` from the snapshot. Whatever the lost
/// sites committed that this node had not applied is lost; the caller prints it.
pub async fn force_new_cluster(
    data_dir: &Path,
    options: &SledOptions,
    new: &NewCluster,
) -> Result<Forced, EngineError> {
    let aside = {
        let mut name = data_dir.as_os_str().to_os_string();
        name.push(".before-new-cluster");
        PathBuf::from(name)
    };
    if aside.exists() {
        return Err(EngineError::Backup(format!(
            "{} exists: an earlier forced start left it; move it away first (nothing was changed)",
            aside.display()
        )));
    }
    let (applied, last_log_index) = {
        let mut store = crate::open_sled(data_dir, options).await?;
        let applied = store.state.reader().applied().last_applied.ok_or_else(|| {
            EngineError::Backup(format!(
                "{} has applied nothing: there is no state to start from",
                data_dir.display()
            ))
        })?;
        let last = openraft::storage::RaftLogStorage::get_log_state(&mut store.log)
            .await
            .map_err(|e| EngineError::Backup(format!("reading the log of {}: {e}", data_dir.display())))?
            .last_log_id
            .map_or(applied.index, |l| l.index);
        let mut builder = store.state.get_snapshot_builder().await;
        builder
            .build_snapshot()
            .await
            .map_err(|e| EngineError::Backup(format!("a snapshot of {}: {e}", data_dir.display())))?;
        (applied, last)
    };
    std::fs::rename(data_dir, &aside)?;
    let snap = aside.join("snapshots").join(crate::state_machine::CURRENT_SNAPSHOT);
    let restored =
        fill(data_dir, options, applied, new, |put| snapshot::read_file(&snap, put).map(|_| ())).await?;
    Ok(Forced { old_data_dir: aside, applied, last_log_index, restored })
}
