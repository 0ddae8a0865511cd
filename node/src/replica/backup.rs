//! Backups of this node's state: the snapshot a backup is made of ([`Replica::backup_source`],
//! streamed by the `Backup` RPC), and backups the node writes by itself on a schedule
//! (`[backup]`, [`run_schedule`]).
//!
//! A scheduled backup is the same file `varsel backup create` writes, made from this node's
//! own snapshot, so every site keeps backups of its own: losing a site loses only its copies.
//! Files are named `varsel-<site>-<log index>-<created ms>.backup` and written beside their
//! final name first (`.partial`), synced, then renamed; only files of that name pattern are
//! ever removed, the oldest first, beyond `backup.keep`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use varsel_raft_store::backup::{BackupHeader, BackupWriter};

use super::Replica;
use crate::error::{ApiError, ApiResult};

/// How long to wait before trying again after a scheduled backup failed (no leader yet, disk
/// full), when the period is longer.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Name prefix and suffix of scheduled backup files.
const PREFIX: &str = "varsel-";
const SUFFIX: &str = ".backup";

impl Replica {
    /// A fresh snapshot of this node's state, opened, and the header a backup of it carries.
    /// The file stays readable while open, even when a newer snapshot replaces it.
    pub async fn backup_source(&self) -> ApiResult<(BackupHeader, File)> {
        let cluster_id = self.state.cluster_id()?.ok_or_else(|| {
            ApiError::Unavailable(
                "the cluster has no id yet (its leader names it within seconds of the first election); \
                 try again"
                    .into(),
            )
        })?;
        let index = self.snapshot_now().await?;
        let path =
            self.config.data_dir.join("snapshots").join(varsel_raft_store::state_machine::CURRENT_SNAPSHOT);
        // Opened before reading its header: a newer snapshot renamed over the path meanwhile
        // leaves this one readable until it is closed.
        let file = File::open(&path).map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
        let snapshot_bytes = file.metadata().map_err(|e| ApiError::Internal(e.to_string()))?.len();
        let reader = file.try_clone().map_err(|e| ApiError::Internal(e.to_string()))?;
        let meta = varsel_raft_store::snapshot::read_from(
            std::io::BufReader::new(reader),
            "the snapshot",
            |_, _| Ok(()),
        )?;
        let log_id =
            meta.last_log_id.ok_or_else(|| ApiError::Unavailable("the snapshot holds no state".into()))?;
        if log_id.index < index {
            return Err(ApiError::Unavailable(format!(
                "the snapshot at {} is older than the one just built at {index}; try again",
                log_id.index
            )));
        }
        let header = BackupHeader {
            cluster_id,
            log_index: log_id.index,
            log_term: log_id.leader_id.term,
            snapshot_id: meta.snapshot_id.clone(),
            created_at_ms: self.state.applied().clock_ms,
            node_id: self.id,
            site: self.config.site.clone(),
            varsel_version: env!("CARGO_PKG_VERSION").to_string(),
            snapshot_bytes,
        };
        Ok((header, file))
    }
}

/// Writes a backup into `backup.dir` every `backup.every_s` and keeps the newest
/// `backup.keep`, until `stop`. Returns at once when no directory is configured.
pub async fn run_schedule(replica: Arc<Replica>, mut stop: watch::Receiver<bool>) {
    let config = replica.config.backup.clone();
    let Some(dir) = config.dir.clone() else { return };
    let every = Duration::from_secs(config.every_s);
    let mut wait = every;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        wait = match write_one(&replica, &dir, config.keep as usize).await {
            Ok((path, removed)) => {
                tracing::info!(path = %path.display(), removed, "scheduled backup written");
                every
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "scheduled backup failed; trying again");
                every.min(RETRY_AFTER_FAILURE)
            }
        };
    }
}

/// Writes one backup into `dir` and removes the oldest beyond `keep`: its path, and how many
/// were removed.
pub async fn write_one(replica: &Replica, dir: &Path, keep: usize) -> Result<(PathBuf, usize), String> {
    let (header, file) = replica.backup_source().await.map_err(|e| e.to_string())?;
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let name =
            format!("{PREFIX}{}-{:020}-{}{SUFFIX}", header.site, header.log_index, header.created_at_ms);
        let path = copy_into(&dir.join(name), &header, file).map_err(|e| e.to_string())?;
        let removed = prune(&dir, keep).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok((path, removed))
    })
    .await
    .map_err(|e| e.to_string())?
}

fn copy_into(
    out: &Path,
    header: &BackupHeader,
    mut file: File,
) -> Result<PathBuf, varsel_raft_store::error::EngineError> {
    use std::io::{Read, Seek};
    let mut w = BackupWriter::create(out, header)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut left = header.snapshot_bytes;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break; // finish() names the shortfall.
        }
        w.write(&buf[..n])?;
        left -= n as u64;
    }
    w.finish()
}

/// Removes the oldest scheduled backups in `dir` beyond the newest `keep`; how many.
fn prune(dir: &Path, keep: usize) -> std::io::Result<usize> {
    let mut ours: Vec<(u64, u64, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (index, created) = parse_name(&name)?;
            Some((index, created, e.path()))
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep);
    for (_, _, path) in &ours[..excess] {
        std::fs::remove_file(path)?;
    }
    Ok(excess)
}

/// The log index and creation time in a scheduled backup's file name.
fn parse_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let mut parts = rest.rsplitn(3, '-');
    let created = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    parts.next().filter(|site| !site.is_empty())?;
    Some((index, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: only files this node names as scheduled backups are ever counted (and removed).
    #[test]
    fn only_our_names_are_read() {
        assert_eq!(
            parse_name("varsel-oslo-1-00000000000000000042-1700000000000.backup"),
            Some((42, 1_700_000_000_000))
        );
        assert_eq!(parse_name("varsel-oslo-00000000000000000042-7.backup"), Some((42, 7)));
        assert_eq!(parse_name("varsel-oslo-42-7.backup.partial"), None);
        assert_eq!(parse_name("manual.backup"), None);
        assert_eq!(parse_name("varsel--42-7.backup"), None);
        assert_eq!(parse_name("varsel-oslo-x-7.backup"), None);
    }

    /// Goal: pruning removes the oldest by log index beyond `keep`, and nothing an operator
    /// put beside them.
    #[test]
    fn prune_keeps_the_newest_and_leaves_other_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, c) in [(5u64, 1u64), (7, 2), (6, 3)] {
            std::fs::write(dir.path().join(format!("varsel-a-{i:020}-{c}.backup")), b"x").expect("write");
        }
        std::fs::write(dir.path().join("mine.backup"), b"x").expect("write");
        assert_eq!(prune(dir.path(), 2).expect("prune"), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "mine.backup",
                "varsel-a-00000000000000000006-3.backup",
                "varsel-a-00000000000000000007-2.backup"
            ]
        );
    }
}
