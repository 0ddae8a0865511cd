//! Process mode: three `varsel` processes on loopback and the provider simulator in this
//! process. Sites are killed with SIGKILL, stalled with SIGSTOP, and cut off by the nodes'
//! fault-injection layer (`testing.fault_injection`, enabled only here), which also adds
//! inter-site latency. For a scenario that fills disks, each node's data dir is a tmpfs of
//! [`ProcessOptions::disk_mib`] the backend mounts (root only) and fills with a file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use varsel_client::local_cluster::{LocalCluster, Spec};
use varsel_proto::admin::SetFaultsRequest;
use varsel_sim::{Channel, ProviderConfig, SimClient, SimConfig};

use crate::backend::{Access, Backend, BackendError, MetricsEndpoint, NodeInfo};

/// Delivery lease of process-mode nodes, ms: survivors take a lost node's shards this long
/// after its last renewal.
pub const LEASE_MS: u64 = 3_000;

/// The tmpfs per node's data dir of a scenario that fills disks, MiB: well above what the
/// process-mode scenarios store (a few hundred MiB), so only the fault fills it. tmpfs takes
/// memory only for what is written.
pub const DISK_MIB: u64 = 2_048;

/// Time nodes get to start and elect a leader on a busy machine.
const SETTLE: Duration = Duration::from_secs(60);

/// How the processes are set up.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The `varsel` binary.
    pub binary: PathBuf,
    /// Where node data and logs go; absent: a temporary directory removed afterwards.
    pub dir: Option<PathBuf>,
    /// The simulator's seed (replies are drawn from it).
    pub seed: u64,
    /// Delivery lease, ms: how long a dead node's shards wait before survivors take them.
    pub lease_ms: u64,
    /// A tmpfs of this many MiB mounted on each node's data dir (needs root), so a
    /// `disk_full` fault has a filesystem of its own to fill; `None`: the data dirs are plain
    /// directories.
    pub disk_mib: Option<u64>,
    /// Raft timing: the test clusters' (elections after 1-2 s, for busy shared machines) when
    /// false, a node's defaults (elections after 400-800 ms) when true.
    pub production_timing: bool,
}

/// Three node processes and an in-process simulator.
#[derive(Debug)]
pub struct ProcessBackend {
    lc: LocalCluster,
    sim: SimClient,
    stop_sim: Option<tokio::sync::oneshot::Sender<()>>,
    /// Per node, the links it drops now.
    cuts: BTreeMap<u64, BTreeSet<u64>>,
    delay_ms: u32,
    /// Per node, its wall clock's offset now, ms.
    clock_offsets: BTreeMap<u64, i64>,
    /// Nodes frozen now (SIGSTOP): they are told their faults when thawed.
    paused: BTreeSet<u64>,
    /// Nodes whose faults changed while they could not be told (killed or frozen).
    untold: BTreeSet<u64>,
    /// The tmpfs mounted on each node's data dir, if any (unmounted before the directory
    /// is removed: fields drop in order).
    disks: BTreeMap<u64, Tmpfs>,
    _tmp: Option<tempfile::TempDir>,
}

fn err(what: impl std::fmt::Display) -> BackendError {
    BackendError::new(what.to_string())
}

/// The simulator's providers: two SMS providers (primary, alternative), voice, e-mail and push,
/// fast, with idempotency honoured.
pub fn sim_providers() -> Vec<ProviderConfig> {
    let p = |name: &str, channel| ProviderConfig {
        latency_ms: 2,
        latency_jitter_ms: 3,
        ..ProviderConfig::new(name, channel)
    };
    vec![
        p("sms-primary", Channel::Sms),
        p("sms-alt", Channel::Sms),
        p("voice", Channel::Voice),
        p("email", Channel::Email),
        p("push", Channel::Push),
    ]
}

impl ProcessBackend {
    /// Starts the simulator and three nodes, bootstraps the cluster and waits for a leader.
    pub async fn start(opts: ProcessOptions) -> Result<Self, BackendError> {
        let (tmp, dir) = match &opts.dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new().prefix("varsel-chaos-").tempdir().map_err(err)?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let mut sim = SimConfig::with_providers(sim_providers());
        sim.seed = opts.seed;
        sim.keys_recorded_max = 2_000_000;
        let secret_file = dir.join("sim.secret");
        std::fs::write(&secret_file, &sim.callback_secret).map_err(err)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(err)?;
        let sim_addr = listener.local_addr().map_err(err)?;

        let mut spec = Spec::three(dir.clone(), opts.binary.clone());
        spec.fault_injection = true;
        spec.log_filter = "info,openraft=warn".into();
        spec.delivery.lease_ms = opts.lease_ms;
        if opts.production_timing {
            spec.raft = varsel_config::RaftConfig::default();
        }
        spec.providers = varsel_config::providers::simulator::demo_provider_configs(
            &format!("http://{sim_addr}"),
            &secret_file,
        );
        let mut lc = LocalCluster::create(&spec).map_err(err)?;
        let mut disks = BTreeMap::new();
        if let Some(mib) = opts.disk_mib {
            for (id, n) in &lc.nodes {
                disks.insert(*id, Tmpfs::mount(&n.config.data_dir, mib, spec.min_free_bytes)?);
            }
        }
        let scheme = if lc.ca.is_some() { "https" } else { "http" };
        sim.callback_urls =
            lc.nodes.values().filter_map(|n| n.http()).map(|a| format!("{scheme}://{a}")).collect();
        sim.callback_ca_file = lc.ca_file.clone();

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = varsel_sim::serve(sim, listener, shutdown).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });

        lc.start_all().map_err(err)?;
        let ids: Vec<u64> = lc.nodes.keys().copied().collect();
        for id in &ids {
            lc.wait_ready(*id, SETTLE)
                .await
                .map_err(|e| err(format!("node {id}: {e}\n{}", lc.log_tail(*id, 30))))?;
        }
        lc.init().await.map_err(err)?;
        lc.wait_leader(&ids, SETTLE).await.map_err(err)?;
        Ok(Self {
            lc,
            sim: SimClient::new(sim_addr),
            stop_sim: Some(stop),
            cuts: ids.iter().map(|id| (*id, BTreeSet::new())).collect(),
            delay_ms: 0,
            clock_offsets: BTreeMap::new(),
            paused: BTreeSet::new(),
            untold: BTreeSet::new(),
            disks,
            _tmp: tmp,
        })
    }

    /// The local cluster (for logs).
    pub fn cluster(&self) -> &LocalCluster {
        &self.lc
    }

    /// Whether node `id` has any fault of the fault-injection layer set (it must be told again
    /// after a restart, which starts it with none).
    fn has_faults(&self, id: u64) -> bool {
        self.delay_ms > 0
            || self.cuts.get(&id).is_some_and(|c| !c.is_empty())
            || self.clock_offsets.get(&id).is_some_and(|o| *o != 0)
    }

    /// Sends node `id` its current fault settings, if it can hear them: a killed node is told
    /// when it restarts, a frozen one when it is thawed.
    async fn push_faults(&mut self, id: u64) -> Result<(), BackendError> {
        let running = self.lc.nodes.get_mut(&id).is_some_and(|n| n.is_running());
        if !running || self.paused.contains(&id) {
            self.untold.insert(id);
            return Ok(());
        }
        self.untold.remove(&id);
        let cut = self.cuts.get(&id).cloned().unwrap_or_default().into_iter().collect();
        let clock_offset_ms = self.clock_offsets.get(&id).copied().unwrap_or(0);
        let fut = async {
            let mut admin = self.lc.admin(id)?;
            admin.set_faults(SetFaultsRequest { cut, delay_ms: self.delay_ms, clock_offset_ms }).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        };
        match tokio::time::timeout(Duration::from_secs(10), fut).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(err(format!("SetFaults on node {id}: {e}"))),
            Err(_) => Err(err(format!("SetFaults on node {id}: no answer within 10 s"))),
        }
    }
}

impl Backend for ProcessBackend {
    fn mode(&self) -> &'static str {
        "processes"
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.lc
            .nodes
            .iter()
            .filter_map(|(id, n)| {
                let api = self.lc.endpoint(*id).ok()?;
                let metrics = n.http().map(|addr| MetricsEndpoint {
                    addr,
                    tls_name: self.lc.ca.is_some().then(|| addr.ip().to_string()),
                });
                Some(NodeInfo { id: *id, site: n.config.site.clone(), api, access: self.access(), metrics })
            })
            .collect()
    }

    fn sim(&self) -> SimClient {
        self.sim.clone()
    }

    fn access(&self) -> Access {
        Access { trust: self.lc.trust.clone(), superadmin: self.lc.superadmin_token.clone() }
    }

    async fn kill(&mut self, node: u64) -> Result<(), BackendError> {
        self.lc.kill(node).await.map_err(err)
    }

    async fn restart(&mut self, node: u64) -> Result<(), BackendError> {
        self.lc.start(node).map_err(err)?;
        // A restarted node starts with no faults; give it the current ones once it answers.
        self.untold.remove(&node);
        if self.has_faults(node) {
            self.lc.wait_ready(node, SETTLE).await.map_err(err)?;
            self.push_faults(node).await?;
        }
        Ok(())
    }

    async fn pause(&mut self, node: u64, paused: bool) -> Result<(), BackendError> {
        self.lc.pause(node, paused).map_err(err)?;
        if paused {
            self.paused.insert(node);
        } else {
            self.paused.remove(&node);
            // What changed while it was frozen (a clock set right meanwhile) reaches it now.
            if self.untold.contains(&node) {
                self.push_faults(node).await?;
            }
        }
        Ok(())
    }

    async fn partition(&mut self, node: u64, cut: bool) -> Result<(), BackendError> {
        let ids: Vec<u64> = self.cuts.keys().copied().collect();
        for id in &ids {
            let set = self.cuts.entry(*id).or_default();
            if *id == node {
                if cut {
                    set.extend(ids.iter().filter(|o| **o != node));
                } else {
                    set.clear();
                }
            } else if cut {
                set.insert(node);
            } else {
                set.remove(&node);
            }
        }
        for id in ids {
            self.push_faults(id).await?;
        }
        Ok(())
    }

    async fn set_latency(&mut self, ms: u32) -> Result<bool, BackendError> {
        self.delay_ms = ms;
        let ids: Vec<u64> = self.cuts.keys().copied().collect();
        for id in ids {
            self.push_faults(id).await?;
        }
        Ok(true)
    }

    async fn set_clock_offset(&mut self, node: u64, offset_ms: i64) -> Result<bool, BackendError> {
        self.clock_offsets.insert(node, offset_ms);
        self.push_faults(node).await?;
        Ok(true)
    }

    async fn fill_disk(&mut self, node: u64, full: bool) -> Result<Option<String>, BackendError> {
        let Some(disk) = self.disks.get(&node) else { return Ok(None) };
        if full { disk.fill().map(Some) } else { disk.free().map(|()| Some("freed".into())) }
    }

    async fn shutdown(&mut self) {
        self.lc.stop_all().await;
        // Unmounted once the processes are gone (drop would do it too).
        self.disks.clear();
        if let Some(s) = self.stop_sim.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        if let Some(s) = self.stop_sim.take() {
            let _ = s.send(());
        }
    }
}

/// A size-limited tmpfs mounted on a node's data dir, so the node has a disk of its own to
/// fill; unmounted when dropped.
#[derive(Debug)]
struct Tmpfs {
    dir: PathBuf,
    /// The node's `storage.min_free_bytes`: filling leaves half of it free.
    min_free_bytes: u64,
}

impl Tmpfs {
    /// The file that fills the disk.
    const FILLER: &'static str = "chaos-disk-filler";

    /// Mounts a tmpfs of `mib` MiB on `dir` (created if missing). Needs root.
    fn mount(dir: &std::path::Path, mib: u64, min_free_bytes: u64) -> Result<Self, BackendError> {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| err(format!("disk_full: run mount: {e}")))?;
        if !out.status.success() {
            return Err(err(format!(
                "disk_full needs a filesystem per node: mounting a {mib} MiB tmpfs on {} failed \
                 (root is needed): {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Self { dir: dir.to_path_buf(), min_free_bytes })
    }

    /// Allocates a file taking all but half of `min_free_bytes` of what is free; returns what
    /// it did, for the report.
    fn fill(&self) -> Result<String, BackendError> {
        let path = self.dir.join(Self::FILLER);
        let free =
            fs2::available_space(&self.dir).map_err(|e| err(format!("{}: {e}", self.dir.display())))?;
        let leave = self.min_free_bytes / 2;
        let size = free.saturating_sub(leave);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| err(format!("{}: {e}", path.display())))?;
        let had = file.metadata().map_err(|e| err(format!("{}: {e}", path.display())))?.len();
        fs2::FileExt::allocate(&file, had + size)
            .map_err(|e| err(format!("fill {}: {e}", path.display())))?;
        let left = fs2::available_space(&self.dir).unwrap_or(0);
        Ok(format!("{} MiB written, {} MiB left free", size >> 20, left >> 20))
    }

    /// Removes the filler.
    fn free(&self) -> Result<(), BackendError> {
        match std::fs::remove_file(self.dir.join(Self::FILLER)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(format!("free {}: {e}", self.dir.display()))),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a node process still holding files open does not keep it mounted.
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).output();
    }
}
