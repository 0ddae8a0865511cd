//! `varsel bench --compare-etcd`: the same write load against a three-member etcd cluster on
//! the same machine, in the same run, as an anchor for Varsel's write figures.
//!
//! etcd is what Raft-replicated writes cost when someone else wrote the log path: it also
//! fsyncs every batch before it answers. The three members run on free loopback ports, with
//! TLS from the bench cluster's own CA when the bench runs with TLS (plain HTTP when it runs
//! `--plaintext`), so both sides pay for the same things. The load is Varsel's: the same
//! client counts, 100-byte values and keys cycling over 1,000 per client, clients spread over
//! the three members as Varsel's are spread over its nodes. Absolute figures on a shared
//! two-core machine move from run to run; the ratio within one run is the figure.
//!
//! The `etcd` binary is taken from `PATH`; when it is missing, Debian's `etcd-server` is
//! installed with `apt-get` (the only registry these machines reach).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tonic::transport::Channel;
use varsel_client::access::Trust;
use varsel_client::local_cluster::{LocalCluster, free_port};
use varsel_client::pki::{self, NodeNames};

/// etcd's `PutRequest`, the two fields the load sets (`etcdserverpb`, field numbers as etcd
/// defines them).
#[derive(Clone, PartialEq, prost::Message)]
struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// etcd's `PutResponse`; nothing of it is read.
#[derive(Clone, PartialEq, prost::Message)]
struct PutResponse {}

/// Members of the etcd cluster.
const MEMBERS: usize = 3;

/// Time allowed for the members to elect a leader and take a first write.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running three-member etcd cluster, stopped when dropped.
#[derive(Debug)]
pub struct Etcd {
    children: Vec<Child>,
    /// The members' client addresses (`127.0.0.1:port`).
    pub endpoints: Vec<String>,
    trust: Trust,
    /// Its data directories and logs.
    pub dir: PathBuf,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.start_kill();
        }
    }
}

/// `etcd` on `PATH`, installing Debian's `etcd-server` when it is missing.
fn binary() -> anyhow::Result<PathBuf> {
    let find = || {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join("etcd")).find(|f| f.is_file()))
            .unwrap_or_default()
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    println!("etcd not found on PATH: installing Debian's etcd-server with apt-get");
    let install = || {
        std::process::Command::new("apt-get")
            .args(["install", "-y", "etcd-server"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
    };
    let ok = install().is_ok_and(|s| s.success()) || {
        let updated = std::process::Command::new("apt-get").arg("update").stdout(Stdio::null()).status();
        updated.is_ok_and(|s| s.success()) && install().is_ok_and(|s| s.success())
    };
    match find() {
        Some(found) if ok => Ok(found),
        _ => {
            bail!("etcd is not installed and `apt-get install etcd-server` failed; install it and run again")
        }
    }
}

impl Etcd {
    /// Starts three members under `dir`, with TLS from `lc`'s CA when it has one, and waits
    /// until a write commits.
    pub async fn start(lc: &LocalCluster, dir: &Path) -> anyhow::Result<Self> {
        let etcd = binary()?;
        std::fs::create_dir_all(dir)?;
        let ports: Vec<(u16, u16)> =
            (0..MEMBERS).map(|_| Ok((free_port()?, free_port()?))).collect::<std::io::Result<_>>()?;
        let scheme = if lc.ca.is_some() { "https" } else { "http" };
        let peer_url = |i: usize| format!("{scheme}://127.0.0.1:{}", ports[i].1);
        let initial: Vec<String> = (0..MEMBERS).map(|i| format!("e{i}={}", peer_url(i))).collect();
        let tls = match &lc.ca {
            Some(ca) => {
                let names = NodeNames {
                    node_id: 100,
                    site: "etcd".into(),
                    dns: vec!["localhost".into()],
                    ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
                };
                let pem = ca.node(&names, pki::LEAF_DAYS).map_err(|e| anyhow::anyhow!("{e}"))?;
                let (cert, key, ca_file) = (dir.join("etcd.pem"), dir.join("etcd.key"), dir.join("ca.pem"));
                pki::write(&cert, &pem.cert, false).map_err(|e| anyhow::anyhow!("{e}"))?;
                pki::write(&key, &pem.key, true).map_err(|e| anyhow::anyhow!("{e}"))?;
                pki::write(&ca_file, &ca.pem().cert, false).map_err(|e| anyhow::anyhow!("{e}"))?;
                let (cert, key, ca_file) =
                    (cert.display().to_string(), key.display().to_string(), ca_file.display().to_string());
                vec![
                    format!("--cert-file={cert}"),
                    format!("--key-file={key}"),
                    format!("--peer-cert-file={cert}"),
                    format!("--peer-key-file={key}"),
                    format!("--peer-trusted-ca-file={ca_file}"),
                    "--peer-client-cert-auth".to_string(),
                ]
            }
            None => Vec::new(),
        };
        let mut children = Vec::with_capacity(MEMBERS);
        for (i, (client, _)) in ports.iter().enumerate() {
            let client_url = format!("{scheme}://127.0.0.1:{client}");
            let log = std::fs::File::create(dir.join(format!("e{i}.log")))?;
            let child = Command::new(&etcd)
                .arg(format!("--name=e{i}"))
                .arg(format!("--data-dir={}", dir.join(format!("e{i}")).display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={}", peer_url(i)))
                .arg(format!("--initial-advertise-peer-urls={}", peer_url(i)))
                .arg(format!("--initial-cluster={}", initial.join(",")))
                .arg("--initial-cluster-state=new")
                .arg("--initial-cluster-token=varsel-bench")
                .arg("--logger=zap")
                .arg("--log-outputs=stderr")
                .args(&tls)
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {}", etcd.display()))?;
            children.push(child);
        }
        let endpoints = ports.iter().map(|(c, _)| format!("127.0.0.1:{c}")).collect();
        let me = Self { children, endpoints, trust: lc.trust.clone(), dir: dir.to_path_buf() };
        me.wait_ready().await?;
        Ok(me)
    }

    /// One channel per member.
    pub fn channels(&self) -> anyhow::Result<Vec<Channel>> {
        self.endpoints.iter().map(|a| Ok(self.trust.channel(a)?)).collect()
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        for ch in self.channels()? {
            loop {
                match put(ch.clone(), "bench/ready".into(), "x".into()).await {
                    Ok(()) => break,
                    Err(e) if Instant::now() < deadline => {
                        tracing::debug!(error = %e, "etcd not ready yet");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => bail!(
                        "etcd took no write within {READY_WITHIN:?} (logs in {}): {e}",
                        self.dir.display()
                    ),
                }
            }
        }
        Ok(())
    }
}

/// One etcd `KV.Put`.
pub async fn put(ch: Channel, key: String, value: String) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(ch);
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/etcdserverpb.KV/Put");
    let codec = tonic_prost::ProstCodec::<PutRequest, PutResponse>::default();
    let req = PutRequest { key: key.into_bytes(), value: value.into_bytes() };
    grpc.unary(tonic::Request::new(req), path, codec).await?;
    Ok(())
}
