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
//! - **snapshot** (after the fan-out): a snapshot forced on each node in turn while 16 clients
//!   write through any node: how long each build took, the longest time applying waited for
//!   the apply gate on that node (since it started: the fan-out's own snapshots count), and the
//!   writes' latency meanwhile.
//!
//! - **backup** (after the fan-out): a backup of the whole state streamed to a file and
//!   checked (time, size), restored into a new data dir (time), and one taken while another
//!   alert to the fan-out's recipients is sent (that alert's rate against the first one's).
//!
//! - **retention** (only when named in `--only`): the retention soak of `bench_retention`.
//!
//! - **console** (only when named in `--only`): the console's alert page and event stream while
//!   a `--fanout` alert is sent, in `bench_console`.
//!
//! - **area** (only when named in `--only`): an alert to everyone inside a polygon against the
//!   same recipients as a group, in `bench_area`.
//!
//! - **etcd side by side** (`--compare-etcd`): after the writes, the same load against a
//!   three-member etcd on this machine, and the ratio (`bench_etcd`).
//!
//! - **TLS vs plaintext** (`--tls-vs-plaintext`): the writes through any node and the fan-out
//!   on a TLS cluster, then on a plaintext one, and the ratio.
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

use varsel_client::local_cluster::{LocalCluster, Spec};
use varsel_client::{Authed, Bearer, Cluster};

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
    /// Run only these parts, comma-separated: writes, domain, fanout, snapshot and backup
    /// (after the fan-out), failover (default: all of these), and retention (the soak) and rest
    /// (REST against gRPC), area (polygon against group) and console (the alert page during a
    /// fan-out): only when named.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// The nodes' `raft.snapshot_every_entries` (default: a node's, 20,000). The retention
    /// soak writes a few hundred entries a minute, so with the default its Raft log is first
    /// compacted after about an hour: give e.g. 2000 to see the steady state in 20 minutes.
    #[arg(long)]
    pub snapshot_every_entries: Option<u64>,
    /// Contacts of the area measurement (`--only area`); a fifth of them are inside its polygon.
    #[arg(long, default_value_t = 5_000_000)]
    pub area_contacts: usize,
    /// Minutes the retention soak runs.
    #[arg(long, default_value_t = 20)]
    pub soak_minutes: u64,
    /// Recipients of each alert of the retention soak.
    #[arg(long, default_value_t = 2_000)]
    pub soak_recipients: usize,
    /// Seconds between the retention soak's alerts.
    #[arg(long, default_value_t = 3)]
    pub soak_every_s: u64,
    /// Run the nodes without TLS (`tls.insecure_plaintext`), to measure what TLS costs.
    #[arg(long)]
    pub plaintext: bool,
    /// Measure the writes through any node and the fan-out twice, on a TLS cluster and then on
    /// a plaintext one, and print what TLS costs as a ratio (other parts are skipped).
    #[arg(long, conflicts_with = "plaintext")]
    pub tls_vs_plaintext: bool,
    /// After the writes, run the same load against a three-member etcd on this machine (Debian
    /// `etcd-server`, installed if missing; TLS unless `--plaintext`) and print both rows and
    /// the ratio.
    #[arg(long, conflicts_with = "tls_vs_plaintext")]
    pub compare_etcd: bool,
}

impl BenchArgs {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// Time allowed for a node to start or a leader to be elected.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A three-node cluster and the provider simulator, started for a measurement.
struct Bench {
    cluster: LocalCluster,
    ids: Vec<u64>,
    leader: u64,
    stop_sim: tokio::sync::oneshot::Sender<()>,
    sim: tokio::task::JoinHandle<varsel_sim::Result<()>>,
}

impl Bench {
    /// Starts the nodes in `dir`, speaking TLS unless `plaintext` (`tls.insecure_plaintext`).
    async fn start(
        dir: PathBuf,
        plaintext: bool,
        snapshot_every: Option<u64>,
    ) -> anyhow::Result<(Bench, Spec)> {
        let binary = std::env::current_exe().context("cannot locate the varsel binary")?;
        let mut spec = Spec::three(dir, binary);
        spec.tls = !plaintext;
        // Snapshot builds are logged (with their timing) at info.
        spec.log_filter = "warn,varsel_raft_store=info".into();
        // Production timing, not the relaxed timing of tests: failover is one of the figures.
        spec.raft = varsel_config::RaftConfig::default();
        if let Some(n) = snapshot_every {
            spec.raft.snapshot_every_entries = n;
        }
        spec.delivery = varsel_config::DeliveryConfig::default();
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
        sim_cfg.callback_urls = crate::dev::callback_urls(&cluster);
        sim_cfg.callback_ca_file = cluster.ca_file.clone();
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
        Ok((Bench { cluster, ids, leader, stop_sim, sim }, spec))
    }

    async fn stop(mut self) {
        let _ = self.stop_sim.send(());
        let _ = self.sim.await;
        self.cluster.stop_all().await;
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new().prefix("varsel-bench-").tempdir()?;
    let dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    if args.tls_vs_plaintext {
        return tls_vs_plaintext(&dir, &args).await;
    }
    let (mut b, spec) = Bench::start(dir.clone(), args.plaintext, args.snapshot_every_entries).await?;
    println!(
        "varsel bench: 3 nodes on loopback, {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.plaintext { "PLAINTEXT (tls.insecure_plaintext)" } else { "TLS on every connection" }
    );
    println!(
        "raft: heartbeat {} ms, election timeout {}-{} ms, a snapshot every {} entries; writes are fsynced before they are acknowledged\n",
        spec.raft.heartbeat_interval_ms,
        spec.raft.election_timeout_min_ms,
        spec.raft.election_timeout_max_ms,
        spec.raft.snapshot_every_entries
    );

    let writes_any = if args.wants("writes") { writes(&b.cluster, &b.ids, &args).await? } else { Vec::new() };
    if args.compare_etcd {
        if writes_any.is_empty() {
            anyhow::bail!(
                "--compare-etcd compares the writes part: run it with writes (the default, or --only writes)"
            );
        }
        compare_etcd(&b.cluster, &dir, &writes_any, &args).await?;
    }
    let plain_64 = writes_any.iter().find(|(clients, _)| *clients == 64).map(|(_, rate)| *rate);
    if args.only.iter().any(|p| p == "rest") {
        super::bench_rest::run(&b.cluster, args.seconds).await?;
    }
    if args.only.iter().any(|p| p == "console") && args.fanout > 0 {
        super::bench_console::run(&b.cluster, args.fanout).await?;
    }
    if args.only.iter().any(|p| p == "area") {
        super::bench_area::run(&b.cluster, args.area_contacts).await?;
    }
    if args.contacts > 0 && args.wants("domain") {
        println!();
        super::bench_domain::run(&b.cluster, args.contacts, args.seconds, plain_64).await?;
    }
    let fanout = if args.fanout > 0 && args.wants("fanout") {
        Some(super::bench_fanout::run(&b.cluster, args.fanout).await?)
    } else {
        None
    };
    if args.wants("snapshot") {
        snapshots(&b.cluster, &b.ids).await?;
    }
    if args.wants("backup") {
        backup(&b.cluster, fanout.as_ref(), &dir).await?;
    }
    if args.only.iter().any(|p| p == "retention") {
        super::bench_retention::run(&b.cluster, args.soak_minutes, args.soak_recipients, args.soak_every_s)
            .await?;
    }
    if args.kills > 0 && args.wants("failover") {
        println!("\nleader failover: SIGKILL of the leader -> first write committed through a survivor");
        failover(&mut b.cluster, b.leader, args.kills).await?;
    }
    b.stop().await;
    Ok(())
}

/// `--tls-vs-plaintext`: the writes (through any node) and the fan-out, on a TLS cluster and
/// then on a plaintext one in the same run, and what TLS costs as a ratio.
async fn tls_vs_plaintext(dir: &std::path::Path, args: &BenchArgs) -> anyhow::Result<()> {
    let mut figures = Vec::new();
    for (name, plaintext) in [("tls", false), ("plaintext", true)] {
        let (b, _) = Bench::start(dir.join(name), plaintext, args.snapshot_every_entries).await?;
        println!("\n=== {name}: 3 nodes on loopback ===");
        let rates = writes_any_node(&b.cluster, &args.clients, Duration::from_secs(args.seconds)).await?;
        let fanout = if args.fanout > 0 {
            Some(super::bench_fanout::run(&b.cluster, args.fanout).await?.rate)
        } else {
            None
        };
        b.stop().await;
        figures.push((rates, fanout));
    }
    let [(tls_w, tls_f), (plain_w, plain_f)] =
        <[_; 2]>::try_from(figures).map_err(|_| anyhow::anyhow!("two runs"))?;
    println!("\nTLS vs plaintext (TLS figure / plaintext figure; 1.00 = no cost)");
    println!("{:<34} {:>12} {:>12} {:>7}", "measurement", "tls", "plaintext", "ratio");
    for ((clients, t), (_, p)) in tls_w.iter().zip(&plain_w) {
        println!(
            "{:<34} {t:>12.0} {p:>12.0} {:>7.2}",
            format!("writes/s, {clients} clients, any node"),
            t / p
        );
    }
    if let (Some(t), Some(p)) = (tls_f, plain_f) {
        println!("{:<34} {t:>12.0} {p:>12.0} {:>7.2}", format!("fan-out {} messages/s", args.fanout), t / p);
    }
    Ok(())
}

/// The write measurements; returns writes/s through any node per client count.
async fn writes(cluster: &LocalCluster, ids: &[u64], args: &BenchArgs) -> anyhow::Result<Vec<(usize, f64)>> {
    print_header();
    let mut any_node = Vec::new();
    for target in [Target::AnyNode, Target::Leader] {
        for &clients in &args.clients {
            let leader = cluster.wait_leader(ids, SETTLE_TIMEOUT).await?;
            let endpoints = match target {
                Target::AnyNode => cluster.endpoints(),
                Target::Leader => vec![cluster.endpoint(leader)?],
            };
            let r = write_load(cluster, &endpoints, clients, Duration::from_secs(args.seconds)).await?;
            r.print(target.label(), clients);
            if matches!(target, Target::AnyNode) {
                any_node.push((clients, r.rate()));
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
    Ok(any_node)
}

/// A snapshot forced on each node in turn, 2 s into 20 s of writes by 16 clients through any
/// node; prints per node the build's duration, the node's longest apply wait, and the writes.
async fn snapshots(cluster: &LocalCluster, ids: &[u64]) -> anyhow::Result<()> {
    println!(
        "
snapshot forced on each node in turn, during writes by 16 clients through any node (20 s each)"
    );
    println!(
        "{:<6} {:>12} {:>16} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "node", "build ms", "apply wait ms", "writes/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for id in ids {
        let mut admin = cluster.admin(*id)?;
        let build = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let started = Instant::now();
            let mut req = tonic::Request::new(varsel_proto::admin::SnapshotRequest {});
            req.set_timeout(Duration::from_secs(300));
            let result = admin.snapshot(req).await;
            (started.elapsed(), result)
        };
        let endpoints = cluster.endpoints();
        let (load, (took, built)) =
            tokio::join!(write_load(cluster, &endpoints, 16, Duration::from_secs(20)), build);
        let load = load?;
        built.with_context(|| format!("snapshot on node {id}"))?;
        let wait = cluster.status(*id, Duration::from_secs(5)).await.map_or(0, |s| s.apply_wait_max_ms);
        let ms = |q: f64| load.hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<6} {:>12} {:>16} {:>10.0} {:>10.2} {:>10.2} {:>10.2} {:>8}",
            id,
            took.as_millis(),
            wait,
            load.rate(),
            ms(0.5),
            ms(0.99),
            load.hist.max() as f64 / 1000.0,
            load.errors
        );
    }
    Ok(())
}

/// Backups of the whole state (after the fan-out, if it ran): one taken alone (time, size,
/// records), restored into a new data dir (time), and one taken while another alert to the
/// fan-out's recipients is sent (that alert's rate against the first one's).
async fn backup(
    cluster: &LocalCluster,
    fanout: Option<&super::bench_fanout::Fanout>,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    println!("\nbackup of the whole state, streamed by node 1 to a file (and checked)");
    let take = |name: &str| {
        let out = dir.join(name);
        async move {
            let started = Instant::now();
            let info = super::backup::stream_from(cluster.admin(1)?, &out).await?;
            anyhow::Ok((started.elapsed(), info, out))
        }
    };
    let (took, info, file) = take("bench-alone.varselbk").await?;
    println!(
        "  alone: {:.1} s for {} records, {:.1} MiB, at log index {}",
        took.as_secs_f64(),
        info.records,
        info.bytes as f64 / (1 << 20) as f64,
        info.header.log_index
    );
    let started = Instant::now();
    let new = varsel_raft_store::restore::NewCluster {
        node: 1,
        me: varsel_raft_store::VarselNode::default(),
        cluster_id: "bench-restore".into(),
    };
    let (_, restored) = varsel_raft_store::restore::from_backup(
        &file,
        &dir.join("bench-restored"),
        &varsel_raft_store::SledOptions::default(),
        &new,
    )
    .await?;
    println!(
        "  restored into a new data dir: {:.1} s ({} records, {} alerts held)",
        started.elapsed().as_secs_f64(),
        restored.records,
        restored.held.len()
    );
    std::fs::remove_dir_all(dir.join("bench-restored"))?;
    std::fs::remove_file(&file)?;
    if let Some(f) = fanout {
        println!("  during a fan-out to the same {} recipients:", f.n);
        let (rate, backed) = tokio::join!(f.again(cluster, "fanout-during-backup"), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            take("bench-during.varselbk").await
        });
        let (rate, (took, info, file)) = (rate?, backed?);
        println!(
            "  backup during it: {:.1} s for {} records, {:.1} MiB; the alert's rate {:.0} messages/s \
             against {:.0} without a backup ({:.2}x)",
            took.as_secs_f64(),
            info.records,
            info.bytes as f64 / (1 << 20) as f64,
            rate,
            f.rate,
            rate / f.rate
        );
        std::fs::remove_file(&file)?;
    }
    Ok(())
}

/// Writes through any node only, per client count; returns writes/s.
async fn writes_any_node(
    cluster: &LocalCluster,
    clients: &[usize],
    each: Duration,
) -> anyhow::Result<Vec<(usize, f64)>> {
    print_header();
    let mut rates = Vec::new();
    for &n in clients {
        let r = write_load(cluster, &cluster.endpoints(), n, each).await?;
        r.print(Target::AnyNode.label(), n);
        rates.push((n, r.rate()));
    }
    Ok(rates)
}

fn print_header() {
    println!(
        "{:<22} {:>8} {:>12} {:>10} {:>10} {:>10} {:>8}",
        "writes", "clients", "writes/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
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
    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, label: &str, clients: usize) {
        let ms = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<22} {:>8} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>8}",
            label,
            clients,
            self.rate(),
            ms(0.5),
            ms(0.99),
            self.hist.max() as f64 / 1000.0,
            self.errors
        );
    }
}

async fn write_load(
    lc: &LocalCluster,
    endpoints: &[String],
    clients: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let cluster = Cluster::new(endpoints.to_vec(), &lc.trust)?;
    let channels: Vec<Channel> = (0..endpoints.len()).filter_map(|i| cluster.channel(i)).collect();
    let bearer = Bearer::new(&lc.superadmin_token)?;
    put_load(clients, duration, |c| {
        let client = KvClient::with_interceptor(channels[c % channels.len()].clone(), bearer.clone());
        Box::new(move |key, value| {
            let mut client = client.clone();
            Box::pin(async move { client.put(PutRequest { key, value }).await.is_ok() })
        })
    })
    .await
}

/// One client's write: `(key, value)` to whether it was acknowledged.
type PutFn = Box<dyn FnMut(String, String) -> futures::future::BoxFuture<'static, bool> + Send>;

/// `clients` concurrent clients (client `c` writing with `make(c)`) writing 100-byte values
/// under keys cycling over 1,000 per client, for `duration`.
async fn put_load(
    clients: usize,
    duration: Duration,
    mut make: impl FnMut(usize) -> PutFn,
) -> anyhow::Result<LoadResult> {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let mut put = make(c);
        let (stop, errors) = (stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if put(format!("bench/{c}/{}", n % 1000), "x".repeat(100)).await {
                    hist.record(t.elapsed().as_micros() as u64).ok();
                    n += 1;
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
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

/// `--compare-etcd`: the load of the writes part against a three-member etcd on this machine,
/// then both rows and their ratio per client count (`varsel` writes through any node).
async fn compare_etcd(
    lc: &LocalCluster,
    dir: &std::path::Path,
    varsel: &[(usize, f64)],
    args: &BenchArgs,
) -> anyhow::Result<()> {
    let etcd = super::bench_etcd::Etcd::start(lc, &dir.join("etcd")).await?;
    println!(
        "\netcd 3-member cluster on loopback (same machine, same load{}):",
        if lc.ca.is_some() { ", TLS" } else { ", plaintext" }
    );
    print_header();
    let channels = etcd.channels()?;
    let mut rows = Vec::new();
    for &clients in &args.clients {
        let r = put_load(clients, Duration::from_secs(args.seconds), |c| {
            let ch = channels[c % channels.len()].clone();
            Box::new(move |key, value| {
                let ch = ch.clone();
                Box::pin(async move { super::bench_etcd::put(ch, key, value).await.is_ok() })
            })
        })
        .await?;
        r.print("etcd, any member", clients);
        rows.push((clients, r.rate()));
    }
    drop(etcd);
    println!("\nwrites/s through any node: varsel / etcd (same run)");
    println!("{:>8} {:>12} {:>12} {:>7}", "clients", "varsel", "etcd", "ratio");
    for ((clients, e), (_, v)) in rows.iter().zip(varsel) {
        println!("{clients:>8} {v:>12.0} {e:>12.0} {:>7.2}", v / e);
    }
    Ok(())
}

/// Writes through `survivors` as fast as they answer until one write commits; returns when.
async fn first_commit(lc: &LocalCluster, survivors: &[String], within: Duration) -> anyhow::Result<Instant> {
    let bearer = Bearer::new(&lc.superadmin_token)?;
    let clients: Vec<KvClient<Authed>> = survivors
        .iter()
        .filter_map(|a| Cluster::new(vec![a.clone()], &lc.trust).ok()?.channel(0))
        .map(|ch| KvClient::with_interceptor(ch, bearer.clone()))
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
        let survivors: Vec<String> =
            ids.iter().filter(|i| **i != leader).filter_map(|i| cluster.endpoint(*i).ok()).collect();
        // Let the survivors hear from the leader right up to the kill, as in production.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed_at = Instant::now();
        cluster.kill(leader).await?;
        let committed_at = first_commit(cluster, &survivors, SETTLE_TIMEOUT).await?;
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
