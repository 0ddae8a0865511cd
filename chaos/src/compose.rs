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

mod docker;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use varsel_proto::admin::cluster_admin_client::ClusterAdminClient;
use varsel_proto::admin::{InitRequest, NodeStatus, StatusRequest};
use varsel_sim::SimClient;

use self::docker::{CommandError, Container, docker};
use crate::backend::{Backend, BackendError, NodeInfo};

/// Time allowed for every node to answer on its API after `up -d` (debug builds on a busy
/// machine open their stores in a few seconds).
const NODES_ANSWER_TIMEOUT: Duration = Duration::from_secs(90);
/// Time allowed, after init, for the nodes to agree on a leader (elections wait 1-2 s).
const LEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// Time one admin `Status` call may take, connection included.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// Time the admin `Init` call may take.
const INIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between polls of the nodes' status.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The node configuration path when a node's command names none (`varsel start` default in
/// the image).
const NODE_CONFIG_DEFAULT: &str = "/etc/varsel/node.toml";
/// The simulator configuration path when its command names none.
const SIM_CONFIG_DEFAULT: &str = "/etc/varsel/sim.toml";
/// Longest compose project name accepted (Docker names are short; this bounds messages).
const PROJECT_NAME_BYTES_MAX: usize = 63;

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
    /// `ip:port` of its API on its site network, as last seen running.
    api: String,
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
        for c in containers.iter().filter(|c| c.is_node()) {
            let (node, token_file) = describe_node(project, &intersite, c)?;
            if token.is_none() {
                token = Some(read_token(c, token_file.as_deref())?);
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

    fn node(&self, id: u64) -> Result<&ComposeNode, BackendError> {
        self.nodes.get(&id).ok_or_else(|| {
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            BackendError::new(format!("no node {id} in project `{}` (nodes: {ids:?})", self.project))
        })
    }

    /// Waits until every node answers, then bootstraps through the lowest id unless one of
    /// them already reports an initialised cluster.
    async fn ensure_initialised(&self) -> Result<(), BackendError> {
        let deadline = Instant::now() + NODES_ANSWER_TIMEOUT;
        let mut statuses = BTreeMap::new();
        while statuses.len() < self.nodes.len() {
            let silent: Vec<&ComposeNode> =
                self.nodes.values().filter(|n| !statuses.contains_key(&n.id)).collect();
            for n in silent {
                if let Some(s) = status(&n.api).await {
                    statuses.insert(n.id, s);
                }
            }
            if statuses.len() < self.nodes.len() {
                if Instant::now() >= deadline {
                    let silent: Vec<String> = self
                        .nodes
                        .values()
                        .filter(|n| !statuses.contains_key(&n.id))
                        .map(|n| format!("node {} ({}, {})", n.id, n.name, n.api))
                        .collect();
                    return Err(BackendError::new(format!(
                        "{} did not answer within {NODES_ANSWER_TIMEOUT:?}; see `docker logs`",
                        silent.join(", ")
                    )));
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        if statuses.values().any(|s| s.initialized) {
            return Ok(());
        }
        let first = self.nodes.values().next().ok_or_else(|| BackendError::new("no nodes"))?;
        init(&first.api).await.map_err(|e| BackendError::new(format!("init through node {}: {e}", first.id)))
    }

    /// Waits until every node agrees on one leader.
    async fn wait_leader(&self) -> Result<u64, BackendError> {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        loop {
            let mut seen = BTreeMap::new();
            for n in self.nodes.values() {
                let leader = status(&n.api).await.filter(|s| s.has_leader).map(|s| s.leader_id);
                seen.insert(n.id, leader);
            }
            let first = seen.values().next().copied().flatten();
            if let Some(l) = first
                && seen.values().all(|x| *x == Some(l))
                && self.nodes.contains_key(&l)
            {
                return Ok(l);
            }
            if Instant::now() >= deadline {
                return Err(BackendError::new(format!(
                    "the nodes did not agree on a leader within {LEADER_TIMEOUT:?}: leader seen by node id {seen:?}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
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

    /// Sets the current latency on one node's intersite interface. `Ok(false)` when this
    /// machine cannot (see the module documentation).
    async fn apply_latency(&mut self, id: u64) -> Result<bool, BackendError> {
        let node = self.node(id)?.clone();
        let c = inspect_one(&node.container).await?;
        let Some(ip) = c.network(&self.intersite).map(|a| a.ip_address.clone()).filter(|ip| !ip.is_empty())
        else {
            // Killed or cut: set again when it comes back.
            return Ok(true);
        };
        let pid = c.state.pid.to_string();
        let addrs = match docker::run("nsenter", &["-t", &pid, "-n", "ip", "-o", "-4", "addr", "show"]).await
        {
            Ok(out) => out,
            Err(e) => return self.latency_unavailable(e),
        };
        let dev = docker::interface_with_ip(&addrs, &ip).ok_or_else(|| {
            BackendError::new(format!(
                "node {id} ({}): no interface holds its intersite address {ip}",
                node.name
            ))
        })?;
        let delay = format!("{}ms", self.latency_ms);
        let result = if self.latency_ms > 0 {
            docker::run(
                "nsenter",
                &["-t", &pid, "-n", "tc", "qdisc", "replace", "dev", &dev, "root", "netem", "delay", &delay],
            )
            .await
        } else {
            match docker::run("nsenter", &["-t", &pid, "-n", "tc", "qdisc", "del", "dev", &dev, "root"]).await
            {
                Err(e) if docker::no_qdisc_to_delete(e.stderr()) => Ok(String::new()),
                other => other,
            }
        };
        match result {
            Ok(_) => {
                self.netem = Some(true);
                Ok(true)
            }
            Err(e) => self.latency_unavailable(e),
        }
    }

    /// Turns a failed `nsenter`/`tc` into `Ok(false)` when it means "cannot here", else an error.
    fn latency_unavailable(&mut self, e: CommandError) -> Result<bool, BackendError> {
        let stderr = e.stderr().to_ascii_lowercase();
        let cannot = e.is_not_installed()
            || docker::netem_missing(&stderr)
            || stderr.contains("operation not permitted")
            || stderr.contains("permission denied");
        if cannot {
            tracing::warn!(error = %e, "compose backend: no latency injection on this machine");
            self.netem = Some(false);
            return Ok(false);
        }
        Err(e.into())
    }

    /// Sets the latency again on a node that came back, when latency is in force.
    async fn reapply_latency(&mut self, id: u64) -> Result<(), BackendError> {
        if self.latency_ms > 0 && self.netem == Some(true) {
            self.apply_latency(id).await?;
        }
        Ok(())
    }

    async fn disconnect(&mut self, id: u64) -> Result<(), BackendError> {
        let node = self.node(id)?.clone();
        // Remember the address it has now, to offer it back on reconnect.
        self.refresh(id).await?;
        docker(&["network", "disconnect", &self.intersite, &node.container]).await?;
        // Leaving `intersite` is not enough where the engine does not isolate its bridge
        // networks from each other (seen here): the container would still reach the other sites
        // through its default route via the host. Without a default route it reaches only its
        // own site network: the simulator (the providers) and the harness, as a site cut off
        // from the others would.
        let c = inspect_one(&node.container).await?;
        let pid = c.state.pid.to_string();
        if let Err(e) = docker::run("nsenter", &["-t", &pid, "-n", "ip", "route", "del", "default"]).await
            && !e.stderr().contains("No such process")
        {
            return Err(BackendError::new(format!(
                "node {id} ({}): removing its default route to complete the partition: {e}",
                node.name
            )));
        }
        Ok(())
    }

    async fn reconnect(&mut self, id: u64) -> Result<(), BackendError> {
        let node = self.node(id)?.clone();
        let mut args: Vec<&str> = vec!["network", "connect"];
        for alias in &node.intersite_aliases {
            args.extend(["--alias", alias.as_str()]);
        }
        let mut with_ip = args.clone();
        if !node.intersite_ip.is_empty() {
            with_ip.extend(["--ip", node.intersite_ip.as_str()]);
        }
        with_ip.extend([self.intersite.as_str(), node.container.as_str()]);
        args.extend([self.intersite.as_str(), node.container.as_str()]);
        match docker(&with_ip).await {
            Ok(_) => {}
            Err(e) if docker::fixed_ip_refused(e.stderr()) => {
                docker(&args).await?;
            }
            Err(e) => return Err(e.into()),
        }
        // The default route removed when it was cut: back through its site network.
        let c = inspect_one(&node.container).await?;
        let pid = c.state.pid.to_string();
        let routes = docker::run("nsenter", &["-t", &pid, "-n", "ip", "route", "show", "default"]).await?;
        if routes.trim().is_empty() {
            let gateway = c.network(&node.site_network).map(|a| a.gateway.clone()).unwrap_or_default();
            if gateway.is_empty() {
                return Err(BackendError::new(format!(
                    "node {id} ({}): no gateway on {} to restore its default route",
                    node.name, node.site_network
                )));
            }
            docker::run("nsenter", &["-t", &pid, "-n", "ip", "route", "add", "default", "via", &gateway])
                .await?;
        }
        self.refresh(id).await?;
        self.reapply_latency(id).await
    }
}

impl Backend for ComposeBackend {
    fn mode(&self) -> &'static str {
        "compose"
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes.values().map(|n| NodeInfo { id: n.id, site: n.site.clone(), api: n.api.clone() }).collect()
    }

    fn sim(&self) -> SimClient {
        SimClient::new(self.sim)
    }

    fn superadmin_token(&self) -> String {
        self.token.clone()
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

fn check_project_name(project: &str) -> Result<(), BackendError> {
    let ok = !project.is_empty()
        && project.len() <= PROJECT_NAME_BYTES_MAX
        && project.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && project.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(BackendError::new(format!(
            "project {project:?}: a compose project name is 1 to {PROJECT_NAME_BYTES_MAX} lowercase letters, \
             digits, '-' or '_', starting with a letter or digit"
        )))
    }
}

/// Every service container of the project (not `docker compose run` ones), inspected.
async fn project_containers(project: &str, compose_file: &Path) -> Result<Vec<Container>, BackendError> {
    let label = format!("label=com.docker.compose.project={project}");
    let out = docker(&["ps", "-aq", "--filter", &label, "--filter", "label=com.docker.compose.oneoff=False"])
        .await?;
    let ids: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    if ids.is_empty() {
        return Err(BackendError::new(format!(
            "no containers of compose project `{project}`: start it first with \
             `docker compose -p {project} -f {} up -d`",
            compose_file.display()
        )));
    }
    docker::inspect(&ids).await
}

async fn inspect_one(container: &str) -> Result<Container, BackendError> {
    docker::inspect(&[container.to_string()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| BackendError::new(format!("`docker inspect {container}` printed nothing")))
}

/// A node from its container; also the container path of its superadmin token file.
fn describe_node(
    project: &str,
    intersite: &str,
    c: &Container,
) -> Result<(ComposeNode, Option<String>), BackendError> {
    let name = c.display_name().to_string();
    if !c.state.running {
        return Err(BackendError::new(format!(
            "node container {name} is {} (start it: `docker start {name}`)",
            c.state.status
        )));
    }
    if c.state.paused {
        return Err(BackendError::new(format!(
            "node container {name} is paused (thaw it: `docker unpause {name}`)"
        )));
    }
    let file = read_mounted(c, c.config_arg().unwrap_or(NODE_CONFIG_DEFAULT))?;
    let cfg = docker::parse_node_file(&file.1)
        .map_err(|e| BackendError::new(format!("{name}: node configuration {}: {e}", file.0)))?;
    let site_network = site_network_of(project, intersite, c)?;
    let ip = c.network(&site_network).map(|a| a.ip_address.clone()).unwrap_or_default();
    let mut intersite_aliases = c.aliases_on(intersite);
    if intersite_aliases.is_empty() && !c.service().is_empty() {
        // Cut off already (a previous run): peers address it by its service name.
        intersite_aliases.push(c.service().to_string());
    }
    let node = ComposeNode {
        id: cfg.node_id,
        site: cfg.site,
        container: c.id.clone(),
        name,
        site_network,
        intersite_aliases,
        intersite_ip: c.network(intersite).map(|a| a.ip_address.clone()).unwrap_or_default(),
        api_port: cfg.api_port,
        api: format!("{ip}:{}", cfg.api_port),
    };
    Ok((node, cfg.superadmin_token_file))
}

/// The network the harness reaches a node on: `<p>_site-<service>`, else its only network
/// other than intersite.
fn site_network_of(project: &str, intersite: &str, c: &Container) -> Result<String, BackendError> {
    let named = format!("{project}_site-{}", c.service());
    if c.network(&named).is_some() {
        return Ok(named);
    }
    let others: Vec<&str> = c.network_names().into_iter().filter(|n| *n != intersite).collect();
    match others.as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(BackendError::new(format!(
            "node container {}: expected network {named} (or exactly one network besides {intersite}), \
             found {others:?}",
            c.display_name()
        ))),
    }
}

/// The host file mounted at `path` in the container: (host path, its text).
fn read_mounted(c: &Container, path: &str) -> Result<(String, String), BackendError> {
    let source = c.mount_source(path).ok_or_else(|| {
        BackendError::new(format!(
            "container {}: {path} is not mounted from the host, so the harness cannot read it",
            c.display_name()
        ))
    })?;
    let text = std::fs::read_to_string(source).map_err(|e| {
        BackendError::new(format!(
            "container {}: cannot read {source} (mounted at {path}): {e}",
            c.display_name()
        ))
    })?;
    Ok((source.to_string(), text))
}

fn read_token(c: &Container, token_file: Option<&str>) -> Result<String, BackendError> {
    let path = token_file.ok_or_else(|| {
        BackendError::new(format!(
            "node container {}: its configuration sets no auth.superadmin_token_file",
            c.display_name()
        ))
    })?;
    let (source, text) = read_mounted(c, path)?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(BackendError::new(format!("superadmin token file {source} is empty")));
    }
    Ok(token)
}

/// The simulator's address on `network` (else on any network it is on).
fn find_sim(containers: &[Container], network: &str) -> Result<SocketAddr, BackendError> {
    let sims: Vec<&Container> = containers.iter().filter(|c| c.is_sim()).collect();
    let [sim] = sims.as_slice() else {
        return Err(BackendError::new(format!(
            "expected one container running varsel-sim, found {}",
            sims.len()
        )));
    };
    if !sim.state.running {
        return Err(BackendError::new(format!(
            "simulator container {} is {}",
            sim.display_name(),
            sim.state.status
        )));
    }
    let port = match sim.mount_source(sim.config_arg().unwrap_or(SIM_CONFIG_DEFAULT)) {
        Some(_) => {
            let (source, text) = read_mounted(sim, sim.config_arg().unwrap_or(SIM_CONFIG_DEFAULT))?;
            docker::parse_sim_port(&text)
                .map_err(|e| BackendError::new(format!("simulator configuration {source}: {e}")))?
        }
        None => docker::SIM_DEFAULT_PORT,
    };
    let ip = sim
        .network(network)
        .or_else(|| sim.network_settings.networks.as_ref().and_then(|n| n.values().next()))
        .map(|a| a.ip_address.clone())
        .unwrap_or_default();
    format!("{ip}:{port}").parse().map_err(|e| {
        BackendError::new(format!("simulator container {}: address {ip:?}:{port}: {e}", sim.display_name()))
    })
}

async fn admin_client(
    api: &str,
    timeout: Duration,
) -> Result<ClusterAdminClient<tonic::transport::Channel>, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{api}"))
        .map_err(|e| format!("{api}: {e}"))?
        .connect_timeout(STATUS_TIMEOUT)
        .timeout(timeout);
    let channel = endpoint.connect().await.map_err(|e| format!("{api}: {e}"))?;
    Ok(ClusterAdminClient::new(channel))
}

/// A node's own status, if it answers within [`STATUS_TIMEOUT`].
async fn status(api: &str) -> Option<NodeStatus> {
    let call = async {
        let mut c = admin_client(api, STATUS_TIMEOUT).await.ok()?;
        c.status(StatusRequest {}).await.ok().map(|r| r.into_inner())
    };
    tokio::time::timeout(STATUS_TIMEOUT, call).await.ok().flatten()
}

async fn init(api: &str) -> Result<(), String> {
    let call = async {
        let mut c = admin_client(api, INIT_TIMEOUT).await?;
        c.init(InitRequest { members: vec![] })
            .await
            .map_err(|s| format!("{api}: {}: {}", s.code(), s.message()))?;
        Ok::<(), String>(())
    };
    tokio::time::timeout(INIT_TIMEOUT, call)
        .await
        .map_err(|_| format!("{api}: no answer within {INIT_TIMEOUT:?}"))?
}
