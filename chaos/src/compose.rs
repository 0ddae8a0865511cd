//! The three-site `docker compose` deployment (`deploy/compose.yaml`) as a chaos backend.
//!
//! [`ComposeBackend::connect`] finds a project that `docker compose -p <project> -f <file> up -d`
//! already started, through the engine's labels (`com.docker.compose.project`), so it works
//! with compose v1 (`docker-compose`, containers `<p>_oslo_1`) and v2 (`<p>-oslo-1`) alike:
//!
//! - a **node** is a container running `varsel start --config FILE`; its id, site and API port
//!   come from FILE as mounted from the host, and the harness reaches its API on its address on
//!   its own site network (`<p>_site-<service>`), which the host shares with every bridge
//!   network; the superadmin token is read from the host file mounted at the path its
//!   `auth.superadmin_token_file` names;
//! - the **simulator** is the container running `varsel-sim`, reached on its address on the
//!   first node's site network, at the port of its configuration's `listen`.
//!
//! It bootstraps the cluster if no node reports itself initialised (admin `Init` through the
//! lowest node id) and waits until the nodes agree on a leader.
//!
//! Faults go through the engine: `docker kill` / `docker start`, `docker pause` / `unpause`,
//! and a partition is `docker network disconnect <p>_intersite` of the node's container. The
//! node keeps its site network, so its own clients and the providers (the simulator is on the
//! site networks, not on intersite) still reach it. Healing reconnects it with the aliases it
//! had there (its service name, by which the peers address it; without `--alias` the name no
//! longer resolves) and with its old address when the network allows a fixed one (compose
//! networks without an `ipam` section do not, and the engine picks a free address: the peers
//! find it by name either way).
//!
//! Latency is `tc qdisc … netem delay` on each node's intersite interface, entered with
//! `nsenter -t <pid> -n` from the host (root, iproute2). A kernel without netem
//! (`CONFIG_NET_SCH_NETEM`), a missing `nsenter`/`tc`, or no permission make
//! [`Backend::set_latency`] answer `Ok(false)`. The delay is added on egress of every node, so
//! it is the one-way latency between any two sites; it is set again on a node that is started
//! again or reconnected (its network interface is new then).
//!
//! # Layout
//!
//! - this file: the backend's state, attaching to a project, and the [`Backend`] operations;
//! - `discover.rs`: finding the project's nodes, token and simulator from the engine's
//!   containers and the files mounted into them;
//! - `bootstrap.rs`: initialising the cluster and waiting for a leader, through the admin API;
//! - `partition.rs`: cutting a node off the intersite network and healing it;
//! - `latency.rs`: `netem` delay on the intersite interfaces;
//! - `docker.rs`: running `docker`/`nsenter` and parsing what they print.

mod bootstrap;
mod discover;
mod docker;
mod latency;
mod partition;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use varsel_client::Trust;
use varsel_sim::SimClient;

use self::discover::{check_project_name, describe_node, find_sim, project_containers, read_ca, read_token};
use self::docker::{docker, inspect_one};
use crate::backend::{Access, Backend, BackendError, MetricsEndpoint, NodeInfo};

/// One node's container.
#[derive(Debug, Clone)]
struct ComposeNode {
    id: u64,
    site: String,
    /// Container id (stable across `docker start`).
    container: String,
    /// Container name, for messages.
    name: String,
    /// The network the harness reaches it on.
    site_network: String,
    /// Its aliases on the intersite network, restored when a partition heals.
    intersite_aliases: Vec<String>,
    /// Its intersite address when last seen attached, offered back on reconnect.
    intersite_ip: String,
    /// API port in the container.
    api_port: u16,
    /// Metrics (`http_addr`) port in the container, if the node serves metrics.
    http_port: Option<u16>,
    /// `ip:port` of its API on its site network, as last seen running.
    api: String,
    /// The name its certificate is checked for: its compose service.
    tls_name: String,
}

/// The compose deployment of one project. See the module documentation.
#[derive(Debug)]
pub struct ComposeBackend {
    project: String,
    compose_file: PathBuf,
    intersite: String,
    nodes: BTreeMap<u64, ComposeNode>,
    sim: SocketAddr,
    token: String,
    /// The cluster CA, when the deployment speaks TLS.
    ca: Option<Vec<u8>>,
    killed: BTreeSet<u64>,
    paused: BTreeSet<u64>,
    cut: BTreeSet<u64>,
    latency_ms: u32,
    /// Whether netem works here: unknown until first tried.
    netem: Option<bool>,
}

impl ComposeBackend {
    /// Attaches to project `project` started from `compose_file` (`docker compose -p <project>
    /// -f <compose_file> up -d` must have run), initialises the cluster if it is not yet, and
    /// waits for a leader.
    pub async fn connect(project: &str, compose_file: &Path) -> Result<ComposeBackend, BackendError> {
        check_project_name(project)?;
        if !compose_file.is_file() {
            return Err(BackendError::new(format!(
                "compose file {}: not found (the deployment is deploy/compose.yaml)",
                compose_file.display()
            )));
        }
        let containers = project_containers(project, compose_file).await?;
        let intersite = format!("{project}_intersite");
        let mut nodes = BTreeMap::new();
        let mut token = None;
        let mut ca = None;
        for c in containers.iter().filter(|c| c.is_node()) {
            let (node, files) = describe_node(project, &intersite, c)?;
            if token.is_none() {
                token = Some(read_token(c, files.token.as_deref())?);
            }
            if ca.is_none()
                && let Some(path) = &files.ca
            {
                ca = Some(read_ca(c, path)?);
            }
            if let Some(other) = nodes.insert(node.id, node) {
                return Err(BackendError::new(format!(
                    "two containers of project `{project}` are node {}: {} and another",
                    other.id, other.name
                )));
            }
        }
        let first = nodes.values().next().ok_or_else(|| {
            BackendError::new(format!("project `{project}` has no container running `varsel start`"))
        })?;
        let sim = find_sim(&containers, &first.site_network)?;
        let token = token.ok_or_else(|| BackendError::new("no superadmin token found"))?;
        let backend = ComposeBackend {
            project: project.to_string(),
            compose_file: compose_file.to_path_buf(),
            intersite,
            nodes,
            sim,
            token,
            ca,
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
            cut: BTreeSet::new(),
            latency_ms: 0,
            netem: None,
        };
        backend.ensure_initialised().await?;
        backend.wait_leader().await?;
        Ok(backend)
    }

    /// The compose project name.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The compose file it was started from.
    pub fn compose_file(&self) -> &Path {
        &self.compose_file
    }

    /// The node `id`, or an error naming the nodes there are (a scenario may name any id).
    fn node(&self, id: u64) -> Result<&ComposeNode, BackendError> {
        self.nodes.get(&id).ok_or_else(|| {
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            BackendError::new(format!("no node {id} in project `{}` (nodes: {ids:?})", self.project))
        })
    }

    /// Reads the node's container again (after `docker start` or a reconnect): its addresses
    /// may have changed.
    async fn refresh(&mut self, id: u64) -> Result<(), BackendError> {
        let node = self.node(id)?.clone();
        let c = inspect_one(&node.container).await?;
        let updated = self.nodes.get_mut(&id).ok_or_else(|| BackendError::new(format!("no node {id}")))?;
        if let Some(ip) =
            c.network(&node.site_network).map(|a| a.ip_address.clone()).filter(|ip| !ip.is_empty())
        {
            updated.api = format!("{ip}:{}", node.api_port);
        }
        if let Some(a) = c.network(&self.intersite).filter(|a| !a.ip_address.is_empty()) {
            updated.intersite_ip = a.ip_address.clone();
        }
        Ok(())
    }
}

impl ComposeBackend {
    /// How clients write node `n`'s API endpoint: TLS unless the deployment is plaintext.
    fn endpoint(&self, n: &ComposeNode) -> String {
        if self.ca.is_some() { n.api.clone() } else { format!("http://{}", n.api) }
    }

    /// Node `n`'s metrics listener on the address the harness reaches its API on; its
    /// certificate names its service, as the API's does.
    fn metrics_endpoint(&self, n: &ComposeNode) -> Option<MetricsEndpoint> {
        let ip = n.api.rsplit_once(':').map(|(ip, _)| ip)?;
        let addr = format!("{ip}:{}", n.http_port?).parse().ok()?;
        Some(MetricsEndpoint { addr, tls_name: self.ca.is_some().then(|| n.tls_name.clone()) })
    }
}

impl Backend for ComposeBackend {
    fn mode(&self) -> &'static str {
        "compose"
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        let access = self.access();
        self.nodes
            .values()
            .map(|n| NodeInfo {
                id: n.id,
                site: n.site.clone(),
                api: self.endpoint(n),
                access: access.clone(),
                metrics: self.metrics_endpoint(n),
            })
            .collect()
    }

    fn sim(&self) -> SimClient {
        SimClient::new(self.sim)
    }

    fn access(&self) -> Access {
        let Some(ca) = &self.ca else {
            return Access { trust: Trust::none(), superadmin: self.token.clone() };
        };
        // The harness reaches nodes by their containers' addresses, which the engine hands out
        // and no certificate names; each node's certificate names its service instead.
        let trust = self
            .nodes
            .values()
            .fold(Trust::ca_pem(ca.clone()), |t, n| t.with_server_name(&n.api, &n.tls_name));
        Access { trust, superadmin: self.token.clone() }
    }

    async fn kill(&mut self, node: u64) -> Result<(), BackendError> {
        let container = self.node(node)?.container.clone();
        if self.killed.contains(&node) {
            return Ok(());
        }
        // A frozen container cannot be killed on every engine version: thaw it first.
        if self.paused.remove(&node) {
            docker(&["unpause", &container]).await?;
        }
        docker(&["kill", &container]).await?;
        self.killed.insert(node);
        Ok(())
    }

    async fn restart(&mut self, node: u64) -> Result<(), BackendError> {
        let container = self.node(node)?.container.clone();
        docker(&["start", &container]).await?;
        self.killed.remove(&node);
        self.refresh(node).await?;
        self.reapply_latency(node).await
    }

    async fn pause(&mut self, node: u64, paused: bool) -> Result<(), BackendError> {
        let container = self.node(node)?.container.clone();
        if self.paused.contains(&node) == paused {
            return Ok(());
        }
        docker(&[if paused { "pause" } else { "unpause" }, &container]).await?;
        if paused {
            self.paused.insert(node);
        } else {
            self.paused.remove(&node);
        }
        Ok(())
    }

    async fn partition(&mut self, node: u64, cut: bool) -> Result<(), BackendError> {
        self.node(node)?;
        if self.cut.contains(&node) == cut {
            return Ok(());
        }
        if cut {
            self.disconnect(node).await?;
            self.cut.insert(node);
        } else {
            self.reconnect(node).await?;
            self.cut.remove(&node);
        }
        Ok(())
    }

    async fn set_latency(&mut self, ms: u32) -> Result<bool, BackendError> {
        if self.netem == Some(false) {
            return Ok(false);
        }
        let previous = self.latency_ms;
        self.latency_ms = ms;
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            match self.apply_latency(id).await {
                Ok(true) => {}
                Ok(false) => {
                    self.latency_ms = 0;
                    return Ok(false);
                }
                Err(e) => {
                    self.latency_ms = previous;
                    return Err(e);
                }
            }
        }
        Ok(true)
    }

    /// Compose nodes run without the fault-injection layer, so no clock can be set
    /// (`Scenario::validate_for_mode` refuses such scenarios before they start).
    async fn set_clock_offset(&mut self, _node: u64, _offset_ms: i64) -> Result<bool, BackendError> {
        Ok(false)
    }

    async fn fill_disk(&mut self, _node: u64, _full: bool) -> Result<Option<String>, BackendError> {
        Ok(None)
    }

    async fn shutdown(&mut self) {
        if self.latency_ms > 0
            && let Err(e) = self.set_latency(0).await
        {
            tracing::warn!(error = %e, "compose backend: removing latency failed");
        }
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            let undo = async {
                self.pause(id, false).await?;
                self.partition(id, false).await?;
                if self.killed.contains(&id) {
                    self.restart(id).await?;
                }
                Ok::<(), BackendError>(())
            };
            if let Err(e) = undo.await {
                tracing::warn!(node = id, error = %e, "compose backend: undoing faults failed");
            }
        }
    }
}
