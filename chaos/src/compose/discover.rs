//! Finding a compose project's parts through the Docker engine: its containers (by the
//! compose labels, so compose v1 and v2 alike), which of them are nodes and which the
//! simulator, and what the harness needs of each (node id, site, API address, the superadmin
//! token, the simulator's port), read from the configuration files mounted from the host.

use std::net::SocketAddr;
use std::path::Path;

use super::ComposeNode;
use super::docker::{self, Container, docker};
use crate::backend::BackendError;

/// The node configuration path when a node's command names none (`varsel start` default in
/// the image).
const NODE_CONFIG_DEFAULT: &str = "/etc/varsel/node.toml";
/// The simulator configuration path when its command names none.
const SIM_CONFIG_DEFAULT: &str = "/etc/varsel/sim.toml";
/// Longest compose project name accepted (Docker names are short; this bounds messages).
const PROJECT_NAME_BYTES_MAX: usize = 63;

/// Checks `project` before it goes into `docker` arguments and network names, so a wrong
/// name fails with a message saying what a compose project name may be.
pub(super) fn check_project_name(project: &str) -> Result<(), BackendError> {
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
pub(super) async fn project_containers(
    project: &str,
    compose_file: &Path,
) -> Result<Vec<Container>, BackendError> {
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

/// What a node's configuration names besides the node: the container paths of its superadmin
/// token file and of the cluster CA (none without TLS).
pub(super) struct NodeFiles {
    pub token: Option<String>,
    pub ca: Option<String>,
}

/// A node from its container, and the files its configuration names.
pub(super) fn describe_node(
    project: &str,
    intersite: &str,
    c: &Container,
) -> Result<(ComposeNode, NodeFiles), BackendError> {
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
        http_port: cfg.http_port,
        api: format!("{ip}:{}", cfg.api_port),
        tls_name: c.service().to_string(),
    };
    Ok((node, NodeFiles { token: cfg.superadmin_token_file, ca: cfg.ca_file }))
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

/// The superadmin token from the file the node's configuration names (mounted from the host):
/// the harness creates the run's tenant with it.
pub(super) fn read_token(c: &Container, token_file: Option<&str>) -> Result<String, BackendError> {
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

/// The cluster CA from the file the node's configuration names (mounted from the host).
pub(super) fn read_ca(c: &Container, ca_file: &str) -> Result<Vec<u8>, BackendError> {
    Ok(read_mounted(c, ca_file)?.1.into_bytes())
}

/// The simulator's address on `network` (else on any network it is on).
pub(super) fn find_sim(containers: &[Container], network: &str) -> Result<SocketAddr, BackendError> {
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
