//! `varsel bench`: measures a three-node cluster on this machine and prints the figures.
//!
//! - **writes**: committed key-value writes per second and latency percentiles with 1, 64 and
//!   256 concurrent clients, first with clients spread over all nodes (two thirds of the writes
//!   are forwarded by a follower), then with every client on the leader (how etcd's benchmark
//!   is usually run, for comparison).
//! - **failover**: the leader is killed with SIGKILL, and the time until the first write
//!   committed through a survivor is measured; repeated, the killed node restarted and caught
//!   up between kills.
//!
//! This is a benchmark, not a test: it asserts nothing about speed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use tonic::transport::Channel;
use varsel_proto::kv::PutRequest;
use varsel_proto::kv::kv_client::KvClient;

use varsel_client::Cluster;
use varsel_client::local_cluster::{LocalCluster, Spec};

/// Options of `varsel bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Seconds each write-load step runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent client counts to measure, comma-separated.
    #[arg(long, default_value = "1,64,256", value_delimiter = ',')]
    pub clients: Vec<usize>,
    /// Leader kills in the failover measurement (0 skips it).
    #[arg(long, default_value_t = 10)]
    pub kills: usize,
    /// Directory for the nodes (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Contacts in the import measurement (0 skips the domain measurements).
    #[arg(long, default_value_t = 100_000)]
    pub contacts: usize,
    /// Recipients of the fan-out measurement (e.g. 1000000 or 5000000; 0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub fanout: usize,
    /// Run only these parts, comma-separated: writes, domain, fanout, failover (default: all).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

impl BenchArgs {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// Time allowed for a node to start or a leader to be elected.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new().prefix("varsel-bench-").tempdir()?;
    let dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let binary = std::env::current_exe().context("cannot locate the varsel binary")?;
    let mut spec = Spec::three(dir, binary);
    spec.log_filter = "warn".into();
    // Production timing, not the relaxed timing of tests: failover is one of the figures.
    spec.raft = varsel_config::RaftConfig::default();
    spec.delivery = varsel_config::DeliveryConfig::default();
    // A node's default sled cache, not the small one of the test clusters: at a million contacts
    // the small cache thrashes and commits slow down past the write timeout.
    spec.cache_capacity_bytes = varsel_config::StorageConfig::default().cache_capacity_bytes;
    // The provider simulator, in this process: the nodes send to it and it calls them back.
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_addr = sim_listener.local_addr()?;
    std::fs::create_dir_all(&spec.base_dir)?;
    let secret_file = spec.base_dir.join("simulator.secret");
    let secret = varsel_config::secret::new_secret();
    std::fs::write(&secret_file, &secret)?;
    spec.providers = varsel_config::providers::simulator::demo_provider_configs(
        &format!("http://{sim_addr}"),
        &secret_file,
    );
    let mut cluster = LocalCluster::create(&spec)?;
    let mut sim_cfg = varsel_sim::SimConfig::demo();
    sim_cfg.callback_secret = secret;
    sim_cfg.callback_urls =
        cluster.nodes.values().filter_map(|n| n.http()).map(|a| format!("http://{a}")).collect();
    for p in &mut sim_cfg.providers {
        // Providers fast and unlimited, no receipts: the figure is the cluster's own.
        (p.latency_ms, p.latency_jitter_ms, p.rate_per_second, p.error_rate, p.receipts, p.reply_rate) =
            (1, 1, 0, 0.0, false, 0.0);
    }
    let (stop_sim, sim_stopped) = tokio::sync::oneshot::channel::<()>();
    let sim = tokio::spawn(varsel_sim::serve(sim_cfg, sim_listener, async move {
        let _ = sim_stopped.await;
    }));
    cluster.start_all()?;
    let ids: Vec<u64> = cluster.nodes.keys().copied().collect();
    for id in &ids {
        cluster.wait_ready(*id, SETTLE_TIMEOUT).await?;
    }
    cluster.init().await?;
    let leader = cluster.wait_leader(&ids, SETTLE_TIMEOUT).await?;
    println!(
        "varsel bench: 3 nodes on loopback, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "raft: heartbeat {} ms, election timeout {}-{} ms; writes are fsynced before they are acknowledged\n",
        spec.raft.heartbeat_interval_ms, spec.raft.election_timeout_min_ms, spec.raft.election_timeout_max_ms
    );

    let plain_64 = if args.wants("writes") { writes(&cluster, &ids, &args).await? } else { None };
    if args.contacts > 0 && args.wants("domain") {
        println!();
        super::bench_domain::run(&cluster, args.contacts, args.seconds, plain_64).await?;
    }
    if args.fanout > 0 && args.wants("fanout") {
        super::bench_fanout::run(&cluster, args.fanout).await?;
    }
    if args.kills > 0 && args.wants("failover") {
        println!("\nleader failover: SIGKILL of the leader -> first write committed through a survivor");
        failover(&mut cluster, leader, args.kills).await?;
    }
    let _ = stop_sim.send(());
    let _ = sim.await;
    cluster.stop_all().await;
    Ok(())
}

/// The write measurements; returns writes/s with 64 clients through any node, if measured.
async fn writes(cluster: &LocalCluster, ids: &[u64], args: &BenchArgs) -> anyhow::Result<Option<f64>> {
    println!(
        "{:<22} {:>8} {:>12} {:>10} {:>10} {:>10} {:>8}",
        "writes", "clients", "writes/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    let mut plain_64 = None;
    for target in [Target::AnyNode, Target::Leader] {
        for &clients in &args.clients {
            let leader = cluster.wait_leader(ids, SETTLE_TIMEOUT).await?;
            let endpoints = match target {
                Target::AnyNode => cluster.endpoints(),
                Target::Leader => vec![cluster.node(leader)?.api()],
            };
            let r = write_load(&endpoints, clients, Duration::from_secs(args.seconds)).await?;
            r.print(target.label(), clients);
            if clients == 64 && matches!(target, Target::AnyNode) {
                plain_64 = Some(r.ops as f64 / r.elapsed.as_secs_f64());
            }
        }
    }
    let bytes: u64 =
        futures::future::join_all(ids.iter().map(|id| cluster.status(*id, Duration::from_secs(2))))
            .await
            .into_iter()
            .flatten()
            .map(|s| s.storage_bytes)
            .sum();
    println!(
        "\nstorage after the write runs: {:.1} MiB on disk over 3 nodes",
        bytes as f64 / (1 << 20) as f64
    );
    Ok(plain_64)
}

#[derive(Debug, Clone, Copy)]
enum Target {
    AnyNode,
    Leader,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::AnyNode => "via any node",
            Target::Leader => "via the leader",
        }
    }
}

struct LoadResult {
    ops: u64,
    errors: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
}

impl LoadResult {
    fn print(&self, label: &str, clients: usize) {
        let ms = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<22} {:>8} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>8}",
            label,
            clients,
            self.ops as f64 / self.elapsed.as_secs_f64(),
            ms(0.5),
            ms(0.99),
            self.hist.max() as f64 / 1000.0,
            self.errors
        );
    }
}

async fn write_load(endpoints: &[String], clients: usize, duration: Duration) -> anyhow::Result<LoadResult> {
    let cluster = Cluster::new(endpoints.to_vec())?;
    let channels: Vec<Channel> = (0..endpoints.len()).filter_map(|i| cluster.channel(i)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let mut client = KvClient::new(channels[c % channels.len()].clone());
        let (stop, errors) = (stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let req = PutRequest { key: format!("bench/{c}/{}", n % 1000), value: "x".repeat(100) };
                match client.put(req).await {
                    Ok(_) => {
                        hist.record(t.elapsed().as_micros() as u64).ok();
                        n += 1;
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok::<_, anyhow::Error>((n, hist))
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Histogram::<u64>::new(3).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut ops = 0;
    for t in tasks {
        let (n, h) = t.await??;
        ops += n;
        total.add(h).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(LoadResult { ops, errors: errors.load(Ordering::Relaxed), elapsed: started.elapsed(), hist: total })
}

/// Writes through `survivors` as fast as they answer until one write commits; returns when.
async fn first_commit(survivors: &[String], within: Duration) -> anyhow::Result<Instant> {
    let clients: Vec<KvClient<Channel>> = survivors
        .iter()
        .filter_map(|a| Cluster::new(vec![a.clone()]).ok()?.channel(0))
        .map(KvClient::new)
        .collect();
    let deadline = Instant::now() + within;
    let mut n = 0u64;
    while Instant::now() < deadline {
        let attempts = clients.iter().map(|c| {
            let mut c = c.clone();
            n += 1;
            let mut req = tonic::Request::new(PutRequest { key: format!("failover/{n}"), value: "x".into() });
            req.set_timeout(Duration::from_millis(2500));
            async move { c.put(req).await }
        });
        let results = futures::future::join_all(attempts).await;
        if results.iter().any(Result::is_ok) {
            return Ok(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("no write committed through the survivors within {within:?}")
}

async fn failover(cluster: &mut LocalCluster, mut leader: u64, kills: usize) -> anyhow::Result<()> {
    let ids: Vec<u64> = cluster.nodes.keys().copied().collect();
    let mut samples = Vec::with_capacity(kills);
    for k in 1..=kills {
        let survivors: Vec<String> = ids
            .iter()
            .filter(|i| **i != leader)
            .filter_map(|i| cluster.node(*i).ok().map(|n| n.api()))
            .collect();
        // Let the survivors hear from the leader right up to the kill, as in production.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed_at = Instant::now();
        cluster.kill(leader).await?;
        let committed_at = first_commit(&survivors, SETTLE_TIMEOUT).await?;
        let took = committed_at - killed_at;
        samples.push(took);
        let survivors_ids: Vec<u64> = ids.iter().copied().filter(|i| *i != leader).collect();
        let new_leader = cluster.wait_leader(&survivors_ids, SETTLE_TIMEOUT).await?;
        println!(
            "  kill {k:>2}: node {leader} killed, first write committed after {:>5} ms (new leader node {new_leader})",
            took.as_millis()
        );
        cluster.start(leader)?;
        cluster.wait_ready(leader, SETTLE_TIMEOUT).await?;
        let target = cluster.status(new_leader, Duration::from_secs(2)).await.map_or(0, |s| s.last_log_index);
        cluster.wait_applied(leader, target, SETTLE_TIMEOUT).await?;
        leader = cluster.wait_leader(&ids, SETTLE_TIMEOUT).await?;
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let max = samples[samples.len() - 1];
    println!("failover over {kills} kills: median {} ms, max {} ms", median.as_millis(), max.as_millis());
    Ok(())
}
