use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::TestCluster;

/// Scheduled backup files in `dir`, sorted by name (log index, then time).
fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "backup")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Goal: with `[backup]` set, every node writes a backup of its own state into its backup
/// directory on schedule, each one a good backup (`varsel backup verify`) of this cluster at a
/// growing log index, and keeps only the newest `keep`.
/// Method: three nodes backing up every 10 s, keeping 2; 50 writes; wait until each node's
/// first backup has been removed (so at least three were written), then verify the two left.
#[tokio::test(flavor = "multi_thread")]
async fn nodes_back_up_on_schedule_and_keep_the_newest() {
    let c = TestCluster::start(3, |s| {
        s.backup_dir = Some(s.base_dir.join("backups"));
        s.backup = varsel_config::BackupConfig { dir: None, every_s: 10, keep: 2 };
    })
    .await;
    let leader = c.leader().await;
    let mut last = 0;
    for i in 0..50 {
        last = c.put(leader, &format!("k{i:02}"), "v").await.unwrap().log_index;
    }
    let dirs: Vec<PathBuf> =
        c.ids().iter().map(|id| c.dir.path().join("backups").join(format!("node-{id}"))).collect();
    let mut clusters = std::collections::BTreeSet::new();
    for (id, dir) in c.ids().into_iter().zip(&dirs) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let first = loop {
            if let Some(f) = backups(dir).first() {
                break f.clone();
            }
            assert!(Instant::now() < deadline, "node {id} wrote no backup into {}", dir.display());
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        while backups(dir).contains(&first) {
            assert!(Instant::now() < deadline, "node {id} kept {:?}", backups(dir));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let kept = backups(dir);
        assert_eq!(kept.len(), 2, "node {id} keeps 2: {kept:?}");
        let site = c.lc.node(id).unwrap().config.site.clone();
        let mut indexes = Vec::new();
        for f in &kept {
            let (ok, out, err) = c.run_cli(&["backup", "--json", "verify", f.to_str().unwrap()]).await;
            assert!(ok, "{} is not a good backup: {out} {err}", f.display());
            let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            assert_eq!((v["site"].as_str(), v["node_id"].as_u64()), (Some(site.as_str()), Some(id)), "{v}");
            clusters.insert(v["cluster_id"].as_str().unwrap().to_string());
            indexes.push(v["log_index"].as_u64().unwrap());
        }
        // The newest was taken at least 20 s after the writes were acknowledged.
        assert!(indexes[0] < indexes[1] && indexes[1] >= last, "node {id}: {indexes:?}, last write {last}");
        let leftovers: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "partial"))
            .collect();
        assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    }
    assert_eq!(clusters.len(), 1, "backups name one cluster: {clusters:?}");
}
