//! A cluster of real `varsel` processes on loopback, one per simulated site.
//!
//! Used by `varsel dev`, `varsel bench`, the integration tests and the chaos harness's process
//! mode. Each node gets its own configuration file, data directory and log file under one base
//! directory; processes are started from the given `varsel` binary, killed with SIGKILL,
//! stopped with SIGTERM, paused with SIGSTOP. Every child is killed when the [`LocalCluster`]
//! is dropped, and on Linux also when the process that started it dies.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, RandomState};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use varsel_proto::admin::{InitRequest, NodeStatus, StatusRequest};

use crate::access::{AdminClient, Trust, admin};
use crate::failover::{ClientError, Cluster};
use crate::pki::{self, Ca};

use varsel_config::{
    AuthConfig, DeliveryConfig, LogConfig, NodeConfig, PeerConfig, ProviderConfig, RaftConfig, StorageConfig,
    TelemetryConfig, TestingConfig, TlsConfig,
};

/// Site names given to the nodes of a local cluster, in order.
pub const SITES: [&str; 5] = ["oslo", "bergen", "trondheim", "stavanger", "tromso"];

/// How ports are chosen.
#[derive(Debug, Clone, Copy)]
pub enum Ports {
    /// Node `i` (from 1) gets API port `base + i - 1`, Raft port `base + 100 + i - 1` and HTTP
    /// (metrics, health) port `base + 200 + i - 1`.
    Fixed(u16),
    /// Free ports, chosen below the OS's ephemeral range where it has room (see
    /// [`auto_port`]), never one this process already handed to a cluster.
    Auto,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Number of nodes.
    pub nodes: usize,
    /// Directory holding every node's configuration, data and log.
    pub base_dir: PathBuf,
    /// The `varsel` binary to run.
    pub binary: PathBuf,
    /// Raft settings for every node.
    pub raft: RaftConfig,
    /// Port plan.
    pub ports: Ports,
    /// Enable the fault-injection hook (chaos tests).
    pub fault_injection: bool,
    /// Log filter for the nodes.
    pub log_filter: String,
    /// sled cache per node.
    pub cache_capacity_bytes: u64,
    /// `storage.min_free_bytes` of every node.
    pub min_free_bytes: u64,
    /// The superadmin token every node accepts (written to `superadmin.token` in the base
    /// directory).
    pub superadmin_token: String,
    /// Delivery engine settings of every node.
    pub delivery: DeliveryConfig,
    /// Providers of every node.
    pub providers: Vec<ProviderConfig>,
    /// Delivery actors that panic once after they start (supervision tests).
    pub panic_actors: Vec<String>,
    /// Delivery reads that fail once on every node (`testing.fail_reads`).
    pub fail_reads: Vec<String>,
    /// Webhook test switches of every node (`testing.webhooks_allow_http_loopback`,
    /// `testing.webhook_retry_ms`).
    pub webhooks_http_loopback: bool,
    /// See `webhooks_http_loopback`.
    pub webhook_retry_ms: u64,
    /// Trace export settings for every node.
    pub telemetry: TelemetryConfig,
    /// Scheduled backups: when set, node `N` writes its backups to `<backup_dir>/node-N`, with
    /// the period and count of `backup` (whose own `dir` is ignored).
    pub backup_dir: Option<PathBuf>,
    /// See `backup_dir`.
    pub backup: varsel_config::BackupConfig,
    /// Extra environment variables for every node process (e.g. `OTEL_*`).
    pub env: Vec<(String, String)>,
    /// Serve TLS (a CA and node certificates are made in `<base_dir>/tls/`); `false` runs the
    /// nodes with `tls.insecure_plaintext`, for tests about plaintext.
    pub tls: bool,
}

impl Spec {
    /// Three nodes with defaults suited to a shared, busy machine: Raft timeouts with slack so
    /// a loaded CPU does not cause elections.
    pub fn three(base_dir: PathBuf, binary: PathBuf) -> Self {
        Self {
            nodes: 3,
            base_dir,
            binary,
            raft: RaftConfig {
                heartbeat_interval_ms: 100,
                election_timeout_min_ms: 1000,
                election_timeout_max_ms: 2000,
                // A commit waits for fsyncs on two nodes; on a machine running several debug
                // clusters at once that can take seconds.
                write_timeout_ms: 15_000,
                ..RaftConfig::default()
            },
            ports: Ports::Auto,
            fault_injection: false,
            log_filter: "info,openraft=warn".into(),
            // A node's default, so tests and `varsel bench` measure the store as shipped.
            cache_capacity_bytes: varsel_config::StorageConfig::default().cache_capacity_bytes,
            // Test machines share their disk with much else: a small reserve.
            min_free_bytes: 16 * 1024 * 1024,
            superadmin_token: varsel_config::secret::new_secret(),
            // Leases must outlast an election; with these relaxed timeouts one can take four
            // seconds on a loaded machine.
            delivery: DeliveryConfig { lease_ms: 6_000, ..DeliveryConfig::default() },
            providers: Vec::new(),
            panic_actors: Vec::new(),
            fail_reads: Vec::new(),
            webhooks_http_loopback: false,
            webhook_retry_ms: 0,
            telemetry: TelemetryConfig::default(),
            backup_dir: None,
            backup: varsel_config::BackupConfig::default(),
            env: Vec::new(),
            tls: true,
        }
    }
}

/// One node of a local cluster.
#[derive(Debug)]
pub struct LocalNode {
    /// Its configuration as written to disk.
    pub config: NodeConfig,
    /// Path of the configuration file.
    pub config_path: PathBuf,
    /// Path of its log file (stdout and stderr).
    pub log_path: PathBuf,
    child: Option<Child>,
}

impl LocalNode {
    /// Its API address.
    pub fn api(&self) -> String {
        self.config.api_addr.to_string()
    }

    /// Its HTTP (metrics, health) address.
    pub fn http(&self) -> Option<SocketAddr> {
        self.config.http_addr
    }

    /// Whether its process is running (as far as we started it and did not kill it).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The OS process id, when running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Whether the process we started has exited (it is a zombie, or gone) and we have not yet
    /// reaped it; false when we hold no process. Reads `/proc`, so is false where there is none.
    fn has_exited(&self) -> bool {
        let Some(pid) = self.pid() else { return false };
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name, which is in parentheses and may hold spaces.
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => std::path::Path::new("/proc/self").exists(),
        }
    }
}

/// A set of node processes on loopback.
#[derive(Debug)]
pub struct LocalCluster {
    /// The nodes by id.
    pub nodes: BTreeMap<u64, LocalNode>,
    /// The superadmin token the nodes accept.
    pub superadmin_token: String,
    /// The file holding it.
    pub superadmin_token_file: PathBuf,
    /// The cluster CA clients trust (none for a plaintext cluster).
    pub trust: Trust,
    /// The file holding the CA certificate, with TLS.
    pub ca_file: Option<PathBuf>,
    /// The CA itself (certificate and key), with TLS: to make more certificates.
    pub ca: Option<Ca>,
    binary: PathBuf,
    env: Vec<(String, String)>,
}

/// Finds a free TCP port on 127.0.0.1 (the OS picks it; there is a short window in which
/// another process could take it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Ports this process has handed to a local cluster. A node keeps its ports for life, also
/// while it is stopped, so none is handed out twice.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The lowest port [`auto_port`] picks.
const AUTO_PORT_LOW: u16 = 10_000;

/// The first port of the OS's ephemeral range, where Linux tells it.
fn ephemeral_low() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

/// A free port for a node, kept bound in `held` until the caller has chosen every port it needs
/// (so the OS cannot hand one out twice meanwhile).
///
/// A node is restarted on the port it was given. A port in the OS's ephemeral range can, while
/// the node is stopped, become the local end of any outgoing connection on the machine, and
/// the node then cannot bind it again. So the port is picked below that range, from a random
/// start, skipping ports this process has handed out already; where there is no room below the
/// range (or the range is unknown) the OS picks one.
fn auto_port(held: &mut Vec<TcpListener>) -> std::io::Result<u16> {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let low = ephemeral_low().filter(|l| *l > AUTO_PORT_LOW + 1_000);
    let listener = match low {
        Some(high) => {
            let span = u64::from(high - AUTO_PORT_LOW);
            let start = RandomState::new().hash_one((std::process::id(), Instant::now())) % span;
            (0..span)
                .map(|i| AUTO_PORT_LOW + ((start + i) % span) as u16)
                .filter(|p| !handed.contains(p))
                .find_map(|p| TcpListener::bind(addr(p)).ok())
        }
        None => None,
    };
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind("127.0.0.1:0")?,
    };
    let port = listener.local_addr()?.port();
    handed.insert(port);
    held.push(listener);
    Ok(port)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl LocalCluster {
    /// Writes the configuration of every node; starts nothing.
    pub fn create(spec: &Spec) -> std::io::Result<Self> {
        std::fs::create_dir_all(&spec.base_dir)?;
        let token_file = spec.base_dir.join("superadmin.token");
        pki::write(&token_file, &spec.superadmin_token, true).map_err(io)?;
        let mut ports = Vec::new();
        // Chosen ports stay bound until all are chosen, so the OS cannot hand one out twice
        // (a released port can come back from the next bind, and two nodes then collide).
        let mut held = Vec::new();
        let mut auto = || auto_port(&mut held);
        for i in 0..spec.nodes {
            ports.push(match spec.ports {
                Ports::Fixed(base) => (base + i as u16, base + 100 + i as u16, base + 200 + i as u16),
                Ports::Auto => (auto()?, auto()?, auto()?),
            });
        }
        drop(held);
        let site = |i: usize| SITES.get(i).map_or_else(|| format!("site{}", i + 1), |s| s.to_string());
        let tls_dir = spec.base_dir.join("tls");
        let ca =
            if spec.tls { Some(Ca::new("varsel local cluster CA", pki::CA_DAYS).map_err(io)?) } else { None };
        if let Some(ca) = &ca {
            pki::write(&tls_dir.join("ca.pem"), &ca.pem().cert, false).map_err(io)?;
            pki::write(&tls_dir.join("ca.key"), &ca.pem().key, true).map_err(io)?;
        }
        let scheme = if spec.tls { "https" } else { "http" };
        let mut nodes = BTreeMap::new();
        for i in 0..spec.nodes {
            let id = i as u64 + 1;
            let peers = (0..spec.nodes)
                .filter(|j| *j != i)
                .map(|j| PeerConfig {
                    id: j as u64 + 1,
                    site: site(j),
                    api_addr: addr(ports[j].0).to_string(),
                    raft_addr: addr(ports[j].1).to_string(),
                })
                .collect();
            let config = NodeConfig {
                node_id: id,
                site: site(i),
                api_addr: addr(ports[i].0),
                raft_addr: addr(ports[i].1),
                http_addr: Some(addr(ports[i].2)),
                advertise_api_addr: None,
                advertise_raft_addr: None,
                data_dir: spec.base_dir.join(format!("node-{id}")),
                peers,
                raft: spec.raft.clone(),
                storage: StorageConfig {
                    cache_capacity_bytes: spec.cache_capacity_bytes,
                    min_free_bytes: spec.min_free_bytes,
                },
                log: LogConfig { format: "text".into(), filter: spec.log_filter.clone() },
                auth: AuthConfig { superadmin_token_file: Some(token_file.clone()) },
                delivery: DeliveryConfig {
                    // Providers call this node back here with receipts and replies.
                    callback_url: Some(format!("{scheme}://{}", addr(ports[i].2))),
                    ..spec.delivery.clone()
                },
                providers: spec.providers.clone(),
                testing: TestingConfig {
                    fault_injection: spec.fault_injection,
                    panic_actors: spec.panic_actors.clone(),
                    fail_reads: spec.fail_reads.clone(),
                    webhooks_allow_http_loopback: spec.webhooks_http_loopback,
                    webhook_retry_ms: spec.webhook_retry_ms,
                },
                backup: varsel_config::BackupConfig {
                    dir: spec.backup_dir.as_ref().map(|d| d.join(format!("node-{id}"))),
                    ..spec.backup.clone()
                },
                telemetry: spec.telemetry.clone(),
                tls: match &ca {
                    Some(ca) => node_tls(ca, &tls_dir, id, &site(i))?,
                    None => TlsConfig { insecure_plaintext: true, ..TlsConfig::default() },
                },
            };
            let config_path = spec.base_dir.join(format!("node-{id}.toml"));
            let text = toml::to_string(&config).map_err(std::io::Error::other)?;
            std::fs::write(&config_path, text)?;
            let log_path = spec.base_dir.join(format!("node-{id}.log"));
            nodes.insert(id, LocalNode { config, config_path, log_path, child: None });
        }
        let ca_file = ca.as_ref().map(|_| tls_dir.join("ca.pem"));
        let trust = ca.as_ref().map_or_else(Trust::none, |ca| Trust::ca_pem(ca.pem().cert.clone()));
        Ok(Self {
            nodes,
            superadmin_token: spec.superadmin_token.clone(),
            superadmin_token_file: token_file,
            trust,
            ca_file,
            ca,
            binary: spec.binary.clone(),
            env: spec.env.clone(),
        })
    }

    /// Every node's API endpoint, by id order, as a client writes it: `host:port` with TLS,
    /// `http://host:port` without.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.keys().filter_map(|id| self.endpoint(*id).ok()).collect()
    }

    /// Node `id`'s API endpoint, as in [`LocalCluster::endpoints`].
    pub fn endpoint(&self, id: u64) -> std::io::Result<String> {
        let api = self.node(id)?.api();
        Ok(if self.ca.is_some() { api } else { format!("http://{api}") })
    }

    /// A failover client of every node, trusting the cluster's CA.
    pub fn cluster(&self) -> Result<Cluster, ClientError> {
        Cluster::new(self.endpoints(), &self.trust)
    }

    /// A cluster-administration client of node `id`, with the superadmin token.
    pub fn admin(&self, id: u64) -> std::io::Result<AdminClient> {
        admin(&self.endpoint(id)?, &self.trust, &self.superadmin_token).map_err(io)
    }

    /// The node with this id.
    pub fn node(&self, id: u64) -> std::io::Result<&LocalNode> {
        self.nodes.get(&id).ok_or_else(|| std::io::Error::other(format!("no node {id}")))
    }

    fn node_mut(&mut self, id: u64) -> std::io::Result<&mut LocalNode> {
        self.nodes.get_mut(&id).ok_or_else(|| std::io::Error::other(format!("no node {id}")))
    }

    /// Starts (or restarts) the process of node `id`.
    pub fn start(&mut self, id: u64) -> std::io::Result<()> {
        let binary = self.binary.clone();
        let env = self.env.clone();
        let node = self.node_mut(id)?;
        if node.is_running() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&node.log_path)?;
        let mut cmd = Command::new(&binary);
        cmd.arg("start")
            .arg("--config")
            .arg(&node.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .envs(env)
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        node.child = Some(cmd.spawn()?);
        Ok(())
    }

    /// Starts every node.
    pub fn start_all(&mut self) -> std::io::Result<()> {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        ids.into_iter().try_for_each(|id| self.start(id))
    }

    /// Kills node `id` with SIGKILL (no shutdown, no flush) and reaps it.
    pub async fn kill(&mut self, id: u64) -> std::io::Result<()> {
        let node = self.node_mut(id)?;
        if let Some(mut child) = node.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Stops node `id` with SIGTERM and waits (bounded) for it to exit; SIGKILL after that.
    pub async fn stop(&mut self, id: u64, grace: Duration) -> std::io::Result<()> {
        let node = self.node_mut(id)?;
        let Some(mut child) = node.child.take() else { return Ok(()) };
        if let Some(pid) = child.id() {
            signal(pid, libc::SIGTERM);
        }
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) node `id`.
    pub fn pause(&self, id: u64, paused: bool) -> std::io::Result<()> {
        let pid =
            self.node(id)?.pid().ok_or_else(|| std::io::Error::other(format!("node {id} not running")))?;
        signal(pid, if paused { libc::SIGSTOP } else { libc::SIGCONT });
        Ok(())
    }

    /// Stops every node (SIGTERM, bounded wait, then SIGKILL).
    pub async fn stop_all(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            let _ = self.pause(id, false);
            if let Err(e) = self.stop(id, Duration::from_secs(10)).await {
                tracing::warn!(node = id, error = %e, "stopping node failed");
            }
        }
    }

    /// The status node `id` reports, if it answers within `timeout`.
    pub async fn status(&self, id: u64, timeout: Duration) -> Option<NodeStatus> {
        self.nodes.get(&id)?;
        let fut = async {
            let mut c = self.admin(id).ok()?;
            c.status(StatusRequest {}).await.ok().map(|r| r.into_inner())
        };
        tokio::time::timeout(timeout, fut).await.ok().flatten()
    }

    /// Waits until node `id` answers on its API.
    pub async fn wait_ready(&self, id: u64, within: Duration) -> std::io::Result<NodeStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.status(id, Duration::from_millis(500)).await {
                return Ok(s);
            }
            let exited = self.node(id)?.has_exited();
            if exited || Instant::now() >= deadline {
                let log = self.node(id)?.log_path.display().to_string();
                let what = if exited {
                    "exited while starting".to_string()
                } else {
                    format!("not ready within {within:?}")
                };
                return Err(std::io::Error::other(format!(
                    "node {id} {what}; its log {log} ends:\n{}",
                    self.log_tail(id, 15)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Bootstraps the cluster through node 1 (its configured peers become the members).
    pub async fn init(&self) -> std::io::Result<()> {
        let mut c = self.admin(1)?;
        c.init(InitRequest { members: vec![] }).await.map_err(|s| std::io::Error::other(s.to_string()))?;
        Ok(())
    }

    /// Waits until every running node in `among` agrees on one leader, and returns it.
    pub async fn wait_leader(&self, among: &[u64], within: Duration) -> std::io::Result<u64> {
        let deadline = Instant::now() + within;
        loop {
            let mut leaders = Vec::new();
            for id in among {
                leaders.push(
                    self.status(*id, Duration::from_millis(500))
                        .await
                        .filter(|s| s.has_leader)
                        .map(|s| s.leader_id),
                );
            }
            if let Some(Some(l)) = leaders.first()
                && leaders.iter().all(|x| *x == Some(*l))
                && among.contains(l)
            {
                return Ok(*l);
            }
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!(
                    "no agreed leader among {among:?} within {within:?}: {leaders:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until node `id` has applied at least `index`.
    pub async fn wait_applied(&self, id: u64, index: u64, within: Duration) -> std::io::Result<NodeStatus> {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status(id, Duration::from_millis(500)).await;
            if let Some(s) = s.filter(|s| s.applied_index >= index) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!(
                    "node {id} did not apply index {index} within {within:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The tail of node `id`'s log file, for error reports.
    pub fn log_tail(&self, id: u64, lines: usize) -> String {
        let Ok(node) = self.node(id) else { return String::new() };
        let text = std::fs::read_to_string(&node.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.start_kill();
            }
        }
    }
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Makes node `id`'s certificate (for 127.0.0.1 and `localhost`) and its `[tls]` section.
fn node_tls(ca: &Ca, dir: &std::path::Path, id: u64, site: &str) -> std::io::Result<TlsConfig> {
    let names = pki::NodeNames {
        node_id: id,
        site: site.to_string(),
        dns: vec!["localhost".into()],
        ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
    };
    let pem = ca.node(&names, pki::LEAF_DAYS).map_err(io)?;
    let (cert, key) = (dir.join(format!("node-{id}.pem")), dir.join(format!("node-{id}.key")));
    pki::write(&cert, &pem.cert, false).map_err(io)?;
    pki::write(&key, &pem.key, true).map_err(io)?;
    Ok(TlsConfig {
        ca_file: Some(dir.join("ca.pem")),
        cert_file: Some(cert),
        key_file: Some(key),
        insecure_plaintext: false,
        ..TlsConfig::default()
    })
}

fn signal(pid: u32, sig: i32) {
    #[allow(unsafe_code)]
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is one of our children.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Makes the child receive SIGKILL when the process that started it dies, so a killed
/// `varsel dev` or test run leaves no node behind.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// The `varsel` binary next to the running executable (`target/<profile>/varsel` when the
/// running executable is a test or a benchmark in `target/<profile>/deps`).
pub fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let candidates = [dir.join(name), dir.parent().map(|p| p.join(name)).unwrap_or_default()];
    candidates.into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports for nodes are distinct, bindable when chosen, never handed out twice by one
    /// process, and below the ephemeral range where the OS has room there.
    #[test]
    fn auto_ports_are_distinct_and_outside_the_ephemeral_range() {
        let mut held = Vec::new();
        let ports: Vec<u16> = (0..30).map(|_| auto_port(&mut held).expect("a free port")).collect();
        drop(held);
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice: {ports:?}");
        // Released and chosen again: still none of the earlier ones.
        let mut held = Vec::new();
        let again: Vec<u16> = (0..30).map(|_| auto_port(&mut held).expect("a free port")).collect();
        assert!(again.iter().all(|p| !distinct.contains(p)), "{again:?} reuses one of {ports:?}");
        if let Some(low) = ephemeral_low().filter(|l| *l > AUTO_PORT_LOW + 1_000) {
            for p in ports.iter().chain(&again) {
                assert!((AUTO_PORT_LOW..low).contains(p), "port {p} is not below the ephemeral range {low}");
            }
        }
    }
}
