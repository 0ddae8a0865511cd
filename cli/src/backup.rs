//! `varsel backup …`, `varsel restore` and `varsel unsafe-force-new-cluster`: backups of the
//! replicated state, and new clusters made from one or from the last node standing.
//!
//! A backup is streamed by any node from a snapshot it builds for it (applying, and so sending,
//! goes on meanwhile), written to `FILE.partial` and renamed when complete. Restores and forced
//! starts work on a stopped node's data dir, offline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use varsel_config::NodeConfig;
use varsel_proto::admin::BackupRequest;
use varsel_proto::admin::backup_chunk::Part;
use varsel_raft_store::backup::{self, BackupHeader, BackupInfo, BackupWriter};
use varsel_raft_store::restore::{self, NewCluster};
use varsel_raft_store::{SledOptions, VarselNode};

use crate::cluster::Admin;
use crate::error::CliError;

/// A backup operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BackupCommand {
    /// Take a consistent backup of the whole replicated state at one log index, from any node,
    /// without pausing sending. Needs the superadmin token.
    Create {
        /// The file to write (refused if it exists). Written as FILE.partial and renamed once
        /// complete and checked.
        #[arg(long)]
        out: PathBuf,
    },
    /// Read a backup whole and check it: format version, header, every record, checksums.
    Verify {
        /// The backup file.
        file: PathBuf,
    },
}

/// Takes a backup through `a` into `out`, then reads it back to check it.
pub async fn create(a: &Admin, out: &Path, json_out: bool) -> Result<(), CliError> {
    let started = Instant::now();
    let answered = a.cluster.call(|c| async move { a.client_of(c).backup(BackupRequest {}).await }).await?;
    let (streamed_s, info) = write_stream(answered.value.into_inner(), out, started).await?;
    print_info(out, &info, json_out, Some((streamed_s, started.elapsed().as_secs_f64())));
    Ok(())
}

/// Takes a backup from the node behind `admin` into `out` and checks it (for `varsel bench`).
pub async fn stream_from(mut admin: varsel_client::AdminClient, out: &Path) -> Result<BackupInfo, CliError> {
    let stream = admin.backup(BackupRequest {}).await.map_err(CliError::Rejected)?.into_inner();
    Ok(write_stream(stream, out, Instant::now()).await?.1)
}

/// Writes the backup `stream` into `out`, then reads it back to check it; returns the seconds
/// from `started` until the stream ended, and what the file holds.
async fn write_stream(
    mut stream: tonic::Streaming<varsel_proto::admin::BackupChunk>,
    out: &Path,
    started: Instant,
) -> Result<(f64, BackupInfo), CliError> {
    let first = stream.message().await.map_err(CliError::Rejected)?.and_then(|c| c.part);
    let Some(Part::Header(h)) = first else {
        return Err(CliError::Reply("the node's backup stream did not start with a header".into()));
    };
    let header = BackupHeader {
        cluster_id: h.cluster_id,
        log_index: h.log_index,
        log_term: h.log_term,
        snapshot_id: h.snapshot_id,
        created_at_ms: h.created_at_ms,
        node_id: h.node_id,
        site: h.site,
        varsel_version: h.varsel_version,
        snapshot_bytes: h.snapshot_bytes,
    };
    let mut w = BackupWriter::create(out, &header).map_err(store_error)?;
    while let Some(chunk) = stream.message().await.map_err(CliError::Rejected)? {
        match chunk.part {
            Some(Part::Data(bytes)) => w.write(&bytes).map_err(store_error)?,
            _ => return Err(CliError::Reply("the node sent a second header mid-stream".into())),
        }
    }
    let streamed_s = started.elapsed().as_secs_f64();
    let path = w.finish().map_err(store_error)?;
    let info = tokio::task::spawn_blocking(move || backup::verify(&path))
        .await
        .map_err(|e| CliError::Input(e.to_string()))?
        .map_err(store_error)?;
    Ok((streamed_s, info))
}

/// Checks the backup at `file` and prints what it holds.
pub async fn verify(file: &Path, json_out: bool) -> Result<(), CliError> {
    let path = file.to_path_buf();
    let info = tokio::task::spawn_blocking(move || backup::verify(&path))
        .await
        .map_err(|e| CliError::Input(e.to_string()))?
        .map_err(store_error)?;
    print_info(file, &info, json_out, None);
    Ok(())
}

fn print_info(file: &Path, info: &BackupInfo, json_out: bool, took: Option<(f64, f64)>) {
    let h = &info.header;
    if json_out {
        println!(
            "{}",
            json!({
                "file": file.display().to_string(),
                "cluster_id": h.cluster_id,
                "log_index": h.log_index,
                "log_term": h.log_term,
                "created_at_ms": h.created_at_ms,
                "node_id": h.node_id,
                "site": h.site,
                "varsel_version": h.varsel_version,
                "format": backup::BACKUP_FORMAT,
                "records": info.records,
                "bytes": info.bytes,
                "sha256": info.sha256,
                "streamed_s": took.map(|t| t.0),
                "total_s": took.map(|t| t.1),
            })
        );
        return;
    }
    println!("backup {}: good", file.display());
    println!("  cluster {}  at log index {} (term {})", h.cluster_id, h.log_index, h.log_term);
    println!(
        "  taken {} by node {} ({}), varsel {}",
        crate::output::time(h.created_at_ms),
        h.node_id,
        h.site,
        h.varsel_version
    );
    println!("  {} records, {} bytes, sha256 {}", info.records, info.bytes, info.sha256);
    if let Some((streamed, total)) = took {
        println!("  streamed in {streamed:.1} s, written and checked in {total:.1} s");
    }
}

fn store_error(e: varsel_raft_store::error::EngineError) -> CliError {
    CliError::Input(e.to_string())
}

/// The node a restore or forced start makes the only member of a new cluster: its id, site
/// and advertised addresses from its configuration, and a new random cluster id.
fn new_cluster(config: &NodeConfig) -> NewCluster {
    NewCluster {
        node: config.node_id,
        me: VarselNode {
            site: config.site.clone(),
            api_addr: config.advertised_api(),
            raft_addr: config.advertised_raft(),
        },
        cluster_id: format!("{:032x}", rand::random::<u128>()),
    }
}

fn sled_options(config: &NodeConfig) -> SledOptions {
    SledOptions { cache_capacity_bytes: config.storage.cache_capacity_bytes, ..Default::default() }
}

/// `varsel restore --from FILE --config NODE.toml`: fills the node's new, empty data dir from
/// the backup as the only member of a new cluster.
pub async fn restore(from: &Path, config_path: &Path, json_out: bool) -> Result<(), CliError> {
    let config =
        NodeConfig::load(config_path, std::env::vars()).map_err(|e| CliError::Input(e.to_string()))?;
    let new = new_cluster(&config);
    let started = Instant::now();
    let (info, restored) = restore::from_backup(from, &config.data_dir, &sled_options(&config), &new)
        .await
        .map_err(store_error)?;
    let took = started.elapsed().as_secs_f64();
    if json_out {
        println!(
            "{}",
            json!({
                "data_dir": config.data_dir.display().to_string(),
                "old_cluster_id": info.header.cluster_id,
                "cluster_id": new.cluster_id,
                "node_id": new.node,
                "log_index": restored.log_id.index,
                "records": restored.records,
                "held_alerts": restored.held,
                "seconds": took,
            })
        );
        return Ok(());
    }
    println!(
        "restored {} records at log index {} into {} in {took:.1} s",
        restored.records,
        restored.log_id.index,
        config.data_dir.display()
    );
    println!(
        "new cluster {} (the backup's was {}); its only member is node {} ({})",
        new.cluster_id, info.header.cluster_id, new.node, new.me
    );
    print_held(&restored.held);
    println!(
        "next: start this node, then add the other sites with `varsel cluster add-learner` and `promote`"
    );
    Ok(())
}

fn print_held(held: &[u64]) {
    if held.is_empty() {
        println!("no alert was being sent at that index");
    } else {
        let ids: Vec<String> = held.iter().map(u64::to_string).collect();
        println!(
            "{} alerts were being sent and are HELD: nothing of them is sent until you resume \
             (`varsel alert resume ID`) or cancel (`varsel alert cancel ID`) each: {}",
            held.len(),
            ids.join(", ")
        );
    }
}

/// `varsel unsafe-force-new-cluster --config NODE.toml --accept-data-loss`: makes the stopped
/// node the only member of a new cluster from what it has applied, when a majority of sites
/// is lost for good. Prints what may be lost.
pub async fn force_new_cluster(config_path: &Path, accept: bool, json_out: bool) -> Result<(), CliError> {
    if !accept {
        return Err(CliError::Input(
            "--accept-data-loss: this makes a new one-node cluster from what this node has applied; \
             writes the lost sites committed after that are gone for good, and if any old site \
             comes back it must be wiped. Run it only when a majority of the sites is lost for good \
             and the node is stopped, then give --accept-data-loss"
                .into(),
        ));
    }
    let config =
        NodeConfig::load(config_path, std::env::vars()).map_err(|e| CliError::Input(e.to_string()))?;
    let new = new_cluster(&config);
    let forced = restore::force_new_cluster(&config.data_dir, &sled_options(&config), &new)
        .await
        .map_err(store_error)?;
    let dropped = forced.last_log_index.saturating_sub(forced.applied.index);
    if json_out {
        println!(
            "{}",
            json!({
                "cluster_id": new.cluster_id,
                "node_id": new.node,
                "applied_index": forced.applied.index,
                "last_log_index": forced.last_log_index,
                "dropped_entries": dropped,
                "old_data_dir": forced.old_data_dir.display().to_string(),
                "records": forced.restored.records,
                "held_alerts": forced.restored.held,
            })
        );
        return Ok(());
    }
    println!("UNSAFE: node {} now starts a new cluster {} alone.", new.node, new.cluster_id);
    println!(
        "  kept: everything up to log index {} (term {}), {} records",
        forced.applied.index, forced.applied.leader_id.term, forced.restored.records
    );
    println!(
        "  MAY BE LOST: {dropped} entries in this node's log after that (indexes {}..={}) that it had \
         not applied, and anything the lost sites committed that never reached this node",
        forced.applied.index + 1,
        forced.last_log_index
    );
    println!("  the old data is kept in {}", forced.old_data_dir.display());
    print_held(&forced.restored.held);
    println!("next: start this node, then add new sites with `varsel cluster add-learner` and `promote`;");
    println!("      wipe the data of any old site before it runs again");
    Ok(())
}
