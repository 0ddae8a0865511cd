//! The retention soak of `varsel bench` (`--only retention`, never by default: it runs for
//! `--soak-minutes`): one tenant with a retention of 2 minutes for delivery details and 4 for
//! alerts, an alert to `--soak-recipients` contacts every `--soak-every-s` seconds, and once a
//! minute, per node: sled's size on disk, the Raft log's segment files, the whole data directory
//! (snapshots included) and resident memory. With retention the
//! sizes should level off once the first alerts pass their retention; without it they grow
//! with every alert. Nothing is asserted.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use varsel_client::local_cluster::LocalCluster;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::tenant_service_client::TenantServiceClient;
use varsel_proto::api::{Retention, SetRetentionRequest, WhoAmIRequest};

use super::bench_domain::with_token;

/// Details kept, seconds.
const DETAILS_S: u64 = 120;
/// Alerts kept, seconds.
const ALERTS_S: u64 = 240;

/// Bytes under `dir`, recursively.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Runs the soak; see the module doc.
pub async fn run(
    cluster: &LocalCluster,
    minutes: u64,
    recipients: usize,
    every_s: u64,
) -> anyhow::Result<()> {
    let all = cluster.cluster()?.with_deadline(Duration::from_secs(60));
    let token = super::bench_domain::bench_tenant(&all, &cluster.superadmin_token).await?;
    let me = all
        .call(|c| {
            let t = token.clone();
            async move { TenantServiceClient::new(c).who_am_i(with_token(&t, WhoAmIRequest {})?).await }
        })
        .await?
        .value
        .into_inner();
    let superadmin = cluster.superadmin_token.clone();
    let retention = Retention { details_seconds: DETAILS_S, alerts_seconds: ALERTS_S };
    all.call(|c| {
        let (t, req) =
            (superadmin.clone(), SetRetentionRequest { tenant_id: me.tenant_id, retention: Some(retention) });
        async move { TenantServiceClient::new(c).set_retention(with_token(&t, req)?).await }
    })
    .await?;
    println!(
        "\nretention soak: an alert to {recipients} recipients every {every_s} s for {minutes} min; \
         details kept {DETAILS_S} s, alerts {ALERTS_S} s"
    );
    super::bench_fanout::import(all.channel(0).context("no node")?, &token, recipients).await?;
    let ids: Vec<u64> = cluster.nodes.keys().copied().collect();
    let mut header = format!("{:>6} {:>7}", "minute", "alerts");
    for id in &ids {
        header.push_str(&format!(
            " {:>12} {:>11} {:>11} {:>9}",
            format!("n{id} sled MiB"),
            format!("n{id} log MiB"),
            format!("n{id} dir MiB"),
            format!("n{id} RSS")
        ));
    }
    println!("{header}");
    let started = Instant::now();
    let (mut sent, mut failed, mut minute) = (0u64, 0u64, 0u64);
    let mut next_alert = Instant::now();
    while minute <= minutes {
        if started.elapsed() >= Duration::from_secs(minute * 60) {
            let mut row = format!("{minute:>6} {sent:>7}");
            for id in &ids {
                let node = &cluster.nodes[id];
                let rss = node.pid().map_or(0.0, |p| super::bench_fanout::rss_mib(p).0);
                let dir = &node.config.data_dir;
                let mib = |p: &Path| dir_bytes(p) as f64 / (1 << 20) as f64;
                row.push_str(&format!(
                    " {:>12.1} {:>11.1} {:>11.1} {:>9.0}",
                    mib(&dir.join(varsel_raft_store::SLED_DIR)),
                    mib(&dir.join(varsel_raft_store::log_store::SEGMENT_DIR)),
                    mib(dir),
                    rss
                ));
            }
            println!("{row}");
            minute += 1;
            continue;
        }
        if Instant::now() >= next_alert {
            next_alert += Duration::from_secs(every_s);
            let key = format!("soak-{sent}-{failed}");
            let created = all
                .call(|c| {
                    let (t, req) = (token.clone(), super::bench_fanout::alert(&key));
                    async move { AlertServiceClient::new(c).create_alert(with_token(&t, req)?).await }
                })
                .await;
            match created {
                Ok(_) => sent += 1,
                Err(e) => {
                    failed += 1;
                    println!("  alert {key} not accepted: {e}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("  {sent} alerts accepted, {failed} refused");
    Ok(())
}
