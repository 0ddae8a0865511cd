//! `varsel dev`: a local three-site cluster on this machine, for trying Varsel out.
//!
//! Starts three real `varsel start` processes on loopback (sites oslo, bergen and trondheim),
//! bootstraps them as one cluster, writes through a follower and reads back linearizably
//! through another node, and shows the cluster's status. With the provider simulator it then
//! sends a crisis alert to 10,000 simulated inhabitants and shows its progress until it
//! completes ([`crate::demo`]). Then it keeps running until Ctrl-C (or exits at once with
//! `--exit`), stopping the nodes on the way out.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::cluster::{Admin, ClusterCommand, run as cluster_cmd};
use crate::kv::{KvCommand, run as kv_cmd};
use varsel_client::Cluster;
use varsel_client::local_cluster::{LocalCluster, Ports, Spec};
use varsel_config::providers::simulator::demo_provider_configs;

/// Options of `varsel dev`.
#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Directory for the nodes' configuration, data, logs and tokens. Kept between runs, so a
    /// second `varsel dev` finds the same cluster.
    #[arg(long, default_value = ".varsel-dev")]
    pub data_dir: PathBuf,
    /// Remove the data directory first and start from an empty cluster.
    #[arg(long)]
    pub fresh: bool,
    /// First API port: node N listens on BASE+N-1 (API), BASE+100+N-1 (Raft) and BASE+200+N-1
    /// (HTTP: /metrics, /healthz, /readyz).
    /// 0 lets the OS choose free ports.
    #[arg(long, default_value_t = 7001)]
    pub base_port: u16,
    /// Stop the cluster and exit once it is up and the demo ran, instead of running until
    /// Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

/// Time allowed for each node to start answering.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `varsel dev`.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.clone();
    if args.fresh && dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let binary = std::env::current_exe().context("cannot locate the varsel binary")?;
    let mut spec = Spec::three(dir.clone(), binary);
    spec.ports = if args.base_port == 0 { Ports::Auto } else { Ports::Fixed(args.base_port) };
    // The demo tenant's webhooks go to a receiver on loopback (see `dev_webhooks`).
    spec.webhooks_http_loopback = true;
    // The provider simulator listens first: the nodes send to it and it calls them back.
    let sim_port = if args.base_port == 0 { 0 } else { args.base_port + 300 };
    let sim_listener = tokio::net::TcpListener::bind(("127.0.0.1", sim_port)).await.with_context(|| {
        format!("cannot listen on 127.0.0.1:{sim_port} for the provider simulator (try --base-port 0)")
    })?;
    let sim_addr = sim_listener.local_addr()?;
    std::fs::create_dir_all(&dir)?;
    let secret = varsel_config::secret::new_secret();
    let secret_file = dir.join("simulator.secret");
    std::fs::write(&secret_file, &secret)?;
    spec.providers = demo_provider_configs(&format!("http://{sim_addr}"), &secret_file);
    let mut cluster = LocalCluster::create(&spec)?;
    let (stop_sim, sim_stopped) = tokio::sync::oneshot::channel::<()>();
    let sim = tokio::spawn(varsel_sim::serve(sim_config(&cluster, secret), sim_listener, async move {
        let _ = sim_stopped.await;
    }));
    println!("Starting a three-site Varsel cluster in {} (provider simulator on {sim_addr})", dir.display());
    cluster.start_all()?;
    let outcome = match demo(&cluster).await {
        Ok(()) => crate::demo::run(&cluster, &dir).await,
        Err(e) => Err(e),
    };
    if outcome.is_ok() && !args.exit {
        println!("\nThe cluster keeps running; press Ctrl-C to stop it.");
        tokio::signal::ctrl_c().await?;
    }
    println!("Stopping the nodes…");
    cluster.stop_all().await;
    let _ = stop_sim.send(());
    let _ = sim.await;
    outcome
}

/// The simulator's demo providers, calling the nodes back, with quicker voice calls and more
/// replies than its defaults so the demo finishes in about half a minute.
fn sim_config(cluster: &LocalCluster, secret: String) -> varsel_sim::SimConfig {
    let mut cfg = varsel_sim::SimConfig::demo();
    cfg.callback_secret = secret;
    cfg.callback_urls = callback_urls(cluster);
    cfg.callback_ca_file = cluster.ca_file.clone();
    for p in &mut cfg.providers {
        p.rate_per_second = 0;
        p.receipt_delay_ms = p.receipt_delay_ms.min(2_000);
        if p.name == "sms-primary" {
            p.reply_rate = 0.3;
            p.reply_delay_ms = 3_000;
        }
    }
    cfg
}

/// The `export VARSEL_…=` lines an operator needs to reach this cluster.
pub fn exports(cluster: &LocalCluster) -> Vec<String> {
    let mut lines = vec![format!("export VARSEL_ENDPOINTS={}", cluster.endpoints().join(","))];
    if let Some(ca) = &cluster.ca_file {
        lines.push(format!("export VARSEL_CA_FILE={}", absolute(ca).display()));
    }
    lines.push(format!("export VARSEL_TOKEN_FILE={}", absolute(&cluster.superadmin_token_file).display()));
    lines
}

fn absolute(p: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn dir_of(cluster: &LocalCluster) -> String {
    cluster.superadmin_token_file.parent().map_or_else(String::new, |d| d.display().to_string())
}

/// Every node's HTTP listener, where the simulator delivers receipts and replies.
pub fn callback_urls(cluster: &LocalCluster) -> Vec<String> {
    let scheme = if cluster.ca.is_some() { "https" } else { "http" };
    cluster.nodes.values().filter_map(|n| n.http()).map(|a| format!("{scheme}://{a}")).collect()
}

async fn demo(cluster: &LocalCluster) -> anyhow::Result<()> {
    let scheme = if cluster.ca.is_some() { "https" } else { "http" };
    for (id, node) in &cluster.nodes {
        cluster.wait_ready(*id, READY_TIMEOUT).await?;
        let http = node.http().map_or_else(|| "none".to_string(), |a| format!("{scheme}://{a}/metrics"));
        println!(
            "  node {id} ({}) is up: api {}, raft {}, metrics {http}",
            node.config.site,
            node.api(),
            node.config.raft_addr
        );
    }
    cluster.init().await?;
    let ids: Vec<u64> = cluster.nodes.keys().copied().collect();
    let leader = cluster.wait_leader(&ids, READY_TIMEOUT).await?;
    println!("Cluster initialised; node {leader} ({}) leads.", cluster.node(leader)?.config.site);

    let follower = ids.iter().copied().find(|i| *i != leader).context("no follower")?;
    let reader = ids.iter().copied().rev().find(|i| *i != follower).context("no second node")?;
    let via = |id: u64| -> anyhow::Result<Cluster> {
        Ok(Cluster::new(vec![cluster.endpoint(id)?], &cluster.trust)?)
    };
    let bearer = varsel_client::Bearer::new(&cluster.superadmin_token)?;
    println!("\nWriting through follower node {follower} (forwarded to the leader):");
    let put = KvCommand::Put { key: "demo".into(), value: "hello from every site".into() };
    kv_cmd(&via(follower)?, &bearer, put, false).await?;
    println!("Reading it back linearizably through node {reader}:");
    kv_cmd(&via(reader)?, &bearer, KvCommand::Get { key: "demo".into(), linearizable: true }, false).await?;

    let admin = Admin::new(cluster.cluster()?, cluster.trust.clone(), bearer, cluster.ca.is_none());
    println!("\nCluster status (`varsel cluster status`):");
    cluster_cmd(&admin, ClusterCommand::Status, false).await?;
    println!(
        "\nEvery listener speaks TLS; the cluster's CA and the superadmin token are in {}.",
        dir_of(cluster)
    );
    println!("To work with this cluster from another terminal:");
    for line in exports(cluster) {
        println!("  {line}");
    }
    println!("  varsel cluster status && varsel tenant create kommune");
    Ok(())
}
