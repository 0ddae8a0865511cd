//! A cluster wired to an in-process provider simulator that calls the nodes back (signed).

use std::net::SocketAddr;

use varsel_client::local_cluster::Spec;
use varsel_sim::{SimClient, SimConfig};

use super::TestCluster;

/// The simulator, served in this process until dropped.
pub struct SimProc {
    pub client: SimClient,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SimProc {
    fn serve(config: SimConfig, listener: tokio::net::TcpListener, addr: SocketAddr) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            if let Err(e) = varsel_sim::serve(config, listener, async move {
                let _ = stopped.await;
            })
            .await
            {
                eprintln!("simulator stopped: {e}");
            }
        });
        Self { client: SimClient::new(addr), stop: Some(stop) }
    }
}

impl Drop for SimProc {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts `n` nodes whose providers are the simulator's demo providers, and the simulator with
/// the nodes as callback targets. The simulator's port is taken first: its address goes into the
/// nodes' configuration and theirs into its own.
pub async fn start_with_sim(
    mut sim: SimConfig,
    n: usize,
    adjust: impl FnOnce(&mut Spec),
) -> (TestCluster, SimProc, tempfile::TempDir) {
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("sim.secret");
    std::fs::write(&secret_file, &sim.callback_secret).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let mut c = TestCluster::configure(n, |s| {
        s.providers = varsel_config::providers::simulator::demo_provider_configs(&url, &secret_file);
        adjust(s);
    });
    // The nodes' HTTP listeners speak TLS with the cluster's certificates.
    let scheme = if c.lc.ca.is_some() { "https" } else { "http" };
    sim.callback_urls =
        c.lc.nodes.values().filter_map(|n| n.http()).map(|a| format!("{scheme}://{a}")).collect();
    sim.callback_ca_file = c.lc.ca_file.clone();
    let proc = SimProc::serve(sim, listener, addr);
    c.boot().await;
    (c, proc, secret_dir)
}
