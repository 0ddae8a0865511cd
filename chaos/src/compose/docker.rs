//! Docker engine plumbing for [`super::ComposeBackend`]: running `docker` (and `nsenter`)
//! commands with a bound on their time and errors that name the command and its stderr, and
//! reading what `docker inspect` and the deployment's configuration files say.
//!
//! Everything here that parses text is a pure function with a unit test on a captured sample.

use std::collections::BTreeMap;
use std::fmt;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::Command;

use crate::backend::BackendError;

/// Longest a single `docker` or `nsenter` command may take. `docker start` of a node and
/// `docker network connect` take well under a second when the engine is healthy; a command
/// still running after this is killed and reported.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Most bytes of a failed command's stderr quoted in an error.
const STDERR_QUOTED_BYTES_MAX: usize = 2_000;

/// Why a command did not succeed.
#[derive(Debug)]
pub(super) enum CommandError {
    /// The program could not be started (not installed, not executable).
    Spawn { command: String, error: std::io::Error },
    /// It ran longer than [`COMMAND_TIMEOUT`] and was killed.
    Timeout { command: String },
    /// It exited unsuccessfully.
    Failed { command: String, status: String, stderr: String },
}

impl CommandError {
    /// The program does not exist on this machine.
    pub(super) fn is_not_installed(&self) -> bool {
        matches!(self, CommandError::Spawn { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }

    /// What the command printed on stderr ("" unless it failed).
    pub(super) fn stderr(&self) -> &str {
        match self {
            CommandError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Spawn { command, error } => write!(f, "cannot run `{command}`: {error}"),
            CommandError::Timeout { command } => {
                write!(f, "`{command}` did not finish within {} s and was killed", COMMAND_TIMEOUT.as_secs())
            }
            CommandError::Failed { command, status, stderr } => {
                write!(f, "`{command}` failed ({status}): {stderr}")
            }
        }
    }
}

impl From<CommandError> for BackendError {
    fn from(e: CommandError) -> Self {
        BackendError::new(e.to_string())
    }
}

/// Runs `program args…` and returns its stdout, or why it failed.
pub(super) async fn run(program: &str, args: &[&str]) -> Result<String, CommandError> {
    let command = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| CommandError::Spawn { command: command.clone(), error })?;
    let output = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(CommandError::Spawn { command, error }),
        Err(_) => return Err(CommandError::Timeout { command }),
    };
    if !output.status.success() {
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if stderr.len() > STDERR_QUOTED_BYTES_MAX {
            let mut cut = STDERR_QUOTED_BYTES_MAX;
            while !stderr.is_char_boundary(cut) {
                cut -= 1;
            }
            stderr.truncate(cut);
            stderr.push('…');
        }
        return Err(CommandError::Failed { command, status: output.status.to_string(), stderr });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `docker args…`.
pub(super) async fn docker(args: &[&str]) -> Result<String, CommandError> {
    run("docker", args).await
}

/// `docker inspect` of these containers.
pub(super) async fn inspect(ids: &[String]) -> Result<Vec<Container>, BackendError> {
    let mut args = vec!["inspect"];
    args.extend(ids.iter().map(String::as_str));
    let out = docker(&args).await?;
    parse_inspect(&out).map_err(|e| BackendError::new(format!("`docker inspect {}`: {e}", ids.join(" "))))
}

/// `docker inspect` of one container: its state and addresses now (they change when it is
/// started again or reconnected).
pub(super) async fn inspect_one(container: &str) -> Result<Container, BackendError> {
    inspect(&[container.to_string()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| BackendError::new(format!("`docker inspect {container}` printed nothing")))
}

/// One container as `docker inspect` describes it (only the fields used here).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Container {
    pub id: String,
    pub name: String,
    /// The executable the container runs.
    #[serde(default)]
    pub path: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    pub state: ContainerState,
    pub config: ContainerConfig,
    pub network_settings: NetworkSettings,
    #[serde(default)]
    pub mounts: Vec<Mount>,
}

/// `State` of a container.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ContainerState {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub paused: bool,
    /// Its first process on the host; 0 when not running.
    #[serde(default)]
    pub pid: u32,
}

/// `Config` of a container.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ContainerConfig {
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `NetworkSettings` of a container.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NetworkSettings {
    #[serde(default)]
    pub networks: Option<BTreeMap<String, Attachment>>,
}

/// The container on one network.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Attachment {
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// Empty while the container is stopped.
    #[serde(rename = "IPAddress", default)]
    pub ip_address: String,
    /// The network's gateway (the host's address on it).
    #[serde(default)]
    pub gateway: String,
}

/// A mount of a container.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Mount {
    /// Path on the host (for a volume, its directory under the engine's root).
    #[serde(default)]
    pub source: String,
    /// Path in the container.
    #[serde(default)]
    pub destination: String,
}

/// Parses the JSON array `docker inspect` prints.
pub(super) fn parse_inspect(json: &str) -> Result<Vec<Container>, String> {
    serde_json::from_str(json).map_err(|e| format!("unreadable output: {e}"))
}

impl Container {
    /// `Name` without its leading `/`, for messages.
    pub(super) fn display_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// Its compose service (`com.docker.compose.service`), "" when it has none.
    pub(super) fn service(&self) -> &str {
        self.config.labels.as_ref().and_then(|l| l.get("com.docker.compose.service")).map_or("", |s| s)
    }

    /// Whether it runs `varsel start` (a node).
    pub(super) fn is_node(&self) -> bool {
        self.path.rsplit('/').next() == Some("varsel") && self.args.first().is_some_and(|a| a == "start")
    }

    /// Whether it runs `varsel-sim` (the provider simulator).
    pub(super) fn is_sim(&self) -> bool {
        self.path.rsplit('/').next() == Some("varsel-sim")
    }

    /// The value of its `--config` argument.
    pub(super) fn config_arg(&self) -> Option<&str> {
        let i = self.args.iter().position(|a| a == "--config")?;
        self.args.get(i + 1).map(String::as_str)
    }

    /// Its attachment to `network`, if attached.
    pub(super) fn network(&self, network: &str) -> Option<&Attachment> {
        self.network_settings.networks.as_ref()?.get(network)
    }

    /// The networks it is attached to.
    pub(super) fn network_names(&self) -> Vec<&str> {
        self.network_settings.networks.iter().flat_map(|n| n.keys().map(String::as_str)).collect()
    }

    /// Its aliases on `network` other than its short id (which the engine adds by itself on
    /// every connect): what `docker network connect --alias` must give back after a disconnect.
    pub(super) fn aliases_on(&self, network: &str) -> Vec<String> {
        let short_id = self.id.get(..12).unwrap_or(&self.id);
        let aliases = self.network(network).and_then(|a| a.aliases.clone()).unwrap_or_default();
        aliases.into_iter().filter(|a| a != short_id).collect()
    }

    /// The host path mounted at `destination` in the container.
    pub(super) fn mount_source(&self, destination: &str) -> Option<&str> {
        self.mounts.iter().find(|m| m.destination == destination).map(|m| m.source.as_str())
    }
}

/// What the harness needs of a node's configuration file (`docs/reference/configuration.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NodeFile {
    pub node_id: u64,
    pub site: String,
    /// Port of `api_addr`.
    pub api_port: u16,
    /// Port of `http_addr` (metrics and health), if the node has one.
    pub http_port: Option<u16>,
    /// `auth.superadmin_token_file`, a path in the container.
    pub superadmin_token_file: Option<String>,
    /// `tls.ca_file`, a path in the container (none for a plaintext deployment).
    pub ca_file: Option<String>,
}

#[derive(Deserialize)]
struct NodeFileToml {
    node_id: u64,
    site: String,
    api_addr: String,
    #[serde(default)]
    http_addr: Option<String>,
    #[serde(default)]
    auth: AuthToml,
    #[serde(default)]
    tls: TlsToml,
}

#[derive(Deserialize, Default)]
struct TlsToml {
    ca_file: Option<String>,
    #[serde(default)]
    insecure_plaintext: bool,
}

#[derive(Deserialize, Default)]
struct AuthToml {
    superadmin_token_file: Option<String>,
}

/// Reads `node_id`, `site`, the ports of `api_addr` and `http_addr`, `auth.superadmin_token_file` and
/// `tls.ca_file` from a node's TOML configuration; other fields are not checked here (the node
/// checks them).
pub(super) fn parse_node_file(text: &str) -> Result<NodeFile, String> {
    let t: NodeFileToml = toml::from_str(text).map_err(|e| e.to_string())?;
    let api_port = port_of(&t.api_addr).map_err(|e| format!("api_addr: {e}"))?;
    let http_port = t.http_addr.as_deref().map(port_of).transpose().map_err(|e| format!("http_addr: {e}"))?;
    Ok(NodeFile {
        node_id: t.node_id,
        site: t.site,
        api_port,
        http_port,
        superadmin_token_file: t.auth.superadmin_token_file,
        ca_file: if t.tls.insecure_plaintext { None } else { t.tls.ca_file },
    })
}

#[derive(Deserialize)]
struct SimFileToml {
    listen: Option<String>,
}

/// The simulator's port: that of `listen` in its TOML configuration, else its default 8900.
pub(super) fn parse_sim_port(text: &str) -> Result<u16, String> {
    let t: SimFileToml = toml::from_str(text).map_err(|e| e.to_string())?;
    t.listen.map_or(Ok(SIM_DEFAULT_PORT), |l| port_of(&l).map_err(|e| format!("listen: {e}")))
}

/// The simulator's port when its configuration does not say.
pub(super) const SIM_DEFAULT_PORT: u16 = 8900;

fn port_of(addr: &str) -> Result<u16, String> {
    let (_, port) = addr.rsplit_once(':').ok_or_else(|| format!("{addr:?} has no :port"))?;
    port.parse().map_err(|e| format!("{addr:?}: port {port:?}: {e}"))
}

/// The interface holding IPv4 address `ip`, from the output of `ip -o -4 addr show`
/// (`70: eth1    inet 172.18.0.2/16 brd … scope global eth1\ …`).
pub(super) fn interface_with_ip(ip_output: &str, ip: &str) -> Option<String> {
    ip_output.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let _index = words.next()?;
        let name = words.next()?;
        let family = words.next()?;
        let cidr = words.next()?;
        let addr = cidr.split('/').next()?;
        (family == "inet" && addr == ip)
            .then(|| name.trim_end_matches(':').split('@').next().unwrap_or(name).to_string())
    })
}

/// Whether `tc` failed because the kernel has no netem (`CONFIG_NET_SCH_NETEM` not set).
pub(super) fn netem_missing(tc_stderr: &str) -> bool {
    let s = tc_stderr.to_ascii_lowercase();
    s.contains("qdisc kind is unknown") || s.contains("unknown qdisc")
}

/// Whether `tc qdisc del` failed only because there was nothing to delete.
pub(super) fn no_qdisc_to_delete(tc_stderr: &str) -> bool {
    let s = tc_stderr.to_ascii_lowercase();
    s.contains("no such file or directory") || s.contains("handle of zero") || s.contains("invalid handle")
}

/// Whether `docker network connect --ip` was refused because the network's subnet was chosen
/// by the engine (compose networks without an `ipam` section): connect without `--ip` then.
pub(super) fn fixed_ip_refused(docker_stderr: &str) -> bool {
    docker_stderr.contains("user specified IP address is supported only")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docker inspect` of the `oslo` node and the simulator of a compose v1 project `vt`, as the
    /// engine (20.10) printed them, cut to a few fields per object (others are ignored).
    const INSPECT: &str = r#"[
{
 "Id": "080bfbcaa3afd2c6e5f0e0b1a8b1f1f1b0a3c7b1d2e3f4a5b6c7d8e9f0a1b2c3",
 "Created": "2026-11-28T16:29:19.2Z",
 "Path": "/usr/local/bin/varsel",
 "Args": ["start", "--config", "/etc/varsel/node.toml"],
 "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false,
           "OOMKilled": false, "Dead": false, "Pid": 17706, "ExitCode": 0, "Error": "",
           "StartedAt": "2026-11-28T16:29:19.623007217Z", "FinishedAt": "0001-01-01T00:00:00Z"},
 "Name": "/vt_oslo_1",
 "Config": {"User": "10001:10001", "Labels": {
   "com.docker.compose.oneoff": "False",
   "com.docker.compose.project": "vt",
   "com.docker.compose.project.config_files": "deploy/compose.yaml",
   "com.docker.compose.service": "oslo",
   "com.docker.compose.version": "1.29.2"}},
 "NetworkSettings": {"Bridge": "", "Ports": {}, "IPAddress": "", "Networks": {
   "vt_intersite": {"IPAMConfig": null, "Links": null, "Aliases": ["oslo", "080bfbcaa3af"],
     "NetworkID": "c7d956a9b5ce", "Gateway": "172.19.0.1", "IPAddress": "172.19.0.3", "IPPrefixLen": 16,
     "MacAddress": "02:42:ac:13:00:03", "DriverOpts": null},
   "vt_site-oslo": {"IPAMConfig": null, "Links": null, "Aliases": ["oslo", "080bfbcaa3af"],
     "NetworkID": "a5a97fcaf782", "Gateway": "172.18.0.1", "IPAddress": "172.18.0.2", "IPPrefixLen": 16,
     "MacAddress": "02:42:ac:12:00:02", "DriverOpts": null}}},
 "Mounts": [
  {"Type": "bind", "Source": "/work/deploy/dev-secrets/sim-callback.secret",
   "Destination": "/run/secrets/sim_callback_secret", "Mode": "", "RW": false, "Propagation": "rprivate"},
  {"Type": "bind", "Source": "/work/deploy/nodes/oslo.toml", "Destination": "/etc/varsel/node.toml",
   "Mode": "ro", "RW": false, "Propagation": "rprivate"},
  {"Type": "volume", "Name": "vt_oslo-data", "Source": "/var/lib/docker/volumes/vt_oslo-data/_data",
   "Destination": "/var/lib/varsel", "Driver": "local", "Mode": "rw", "RW": true, "Propagation": ""},
  {"Type": "bind", "Source": "/work/deploy/dev-secrets/superadmin.token",
   "Destination": "/run/secrets/superadmin_token", "Mode": "", "RW": false, "Propagation": "rprivate"}]
},
{
 "Id": "265e5c8000d65c9779508dbd45902d43855cf2a6ca1fca29cdd1bef41e998554",
 "Path": "/usr/local/bin/varsel-sim",
 "Args": ["--config", "/etc/varsel/sim.toml"],
 "State": {"Status": "running", "Running": true, "Paused": false, "Pid": 17261},
 "Name": "/vt_sim_1",
 "Config": {"Labels": {"com.docker.compose.project": "vt", "com.docker.compose.service": "sim"}},
 "NetworkSettings": {"Networks": {
   "vt_site-bergen": {"Aliases": ["sim", "265e5c8000d6"], "IPAddress": "172.20.0.3"},
   "vt_site-oslo": {"Aliases": ["sim", "265e5c8000d6"], "IPAddress": "172.18.0.3"},
   "vt_site-trondheim": {"Aliases": ["sim", "265e5c8000d6"], "IPAddress": "172.21.0.3"}}},
 "Mounts": [{"Type": "bind", "Source": "/work/deploy/sim.toml", "Destination": "/etc/varsel/sim.toml"}]
},
{
 "Id": "5f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e",
 "Path": "/usr/local/bin/varsel",
 "Args": ["start", "--config", "/etc/varsel/node.toml"],
 "State": {"Status": "exited", "Running": false, "Paused": false, "Pid": 0},
 "Name": "/vt_bergen_1",
 "Config": {"Labels": null},
 "NetworkSettings": {"Networks": {
   "vt_intersite": {"Aliases": null, "IPAddress": ""}}},
 "Mounts": []
}
]"#;

    /// Goal: the fields the backend relies on are read from real `docker inspect` output, and
    /// nulls (a stopped container, no labels, no aliases) read as absent rather than failing.
    #[test]
    fn inspect_output_is_read() {
        let all = parse_inspect(INSPECT).expect("sample parses");
        assert_eq!(all.len(), 3);
        let (oslo, sim, bergen) = (&all[0], &all[1], &all[2]);

        assert_eq!(oslo.display_name(), "vt_oslo_1");
        assert_eq!(oslo.service(), "oslo");
        assert!(oslo.is_node() && !oslo.is_sim());
        assert!(oslo.state.running && !oslo.state.paused);
        assert_eq!(oslo.state.pid, 17706);
        assert_eq!(oslo.config_arg(), Some("/etc/varsel/node.toml"));
        assert_eq!(oslo.network("vt_site-oslo").map(|a| a.ip_address.as_str()), Some("172.18.0.2"));
        assert_eq!(oslo.network_names(), vec!["vt_intersite", "vt_site-oslo"]);
        // The short id is dropped: the engine adds it back by itself on connect.
        assert_eq!(oslo.aliases_on("vt_intersite"), vec!["oslo".to_string()]);
        assert_eq!(oslo.mount_source("/etc/varsel/node.toml"), Some("/work/deploy/nodes/oslo.toml"));
        assert_eq!(
            oslo.mount_source("/run/secrets/superadmin_token"),
            Some("/work/deploy/dev-secrets/superadmin.token")
        );
        assert_eq!(oslo.mount_source("/nowhere"), None);

        assert!(sim.is_sim() && !sim.is_node());
        assert_eq!(sim.service(), "sim");
        assert_eq!(sim.config_arg(), Some("/etc/varsel/sim.toml"));
        assert_eq!(sim.network("vt_site-oslo").map(|a| a.ip_address.as_str()), Some("172.18.0.3"));
        assert!(sim.network("vt_intersite").is_none());

        assert!(bergen.is_node() && !bergen.state.running);
        assert_eq!(bergen.service(), "");
        assert!(bergen.aliases_on("vt_intersite").is_empty());
    }

    /// Goal: malformed inspect output is an error with the reason, not a panic.
    #[test]
    fn bad_inspect_output_is_an_error() {
        let err = parse_inspect("[{\"Id\": 3}]").expect_err("wrong type");
        assert!(err.contains("unreadable output"), "{err}");
        assert!(parse_inspect("").is_err());
    }

    /// Goal: a node's configuration file (as deploy/nodes/*.toml) gives id, site, API port and
    /// the token file; a broken one is an error naming the field.
    #[test]
    fn node_and_sim_files_are_read() {
        let text = "node_id = 2\nsite = \"bergen\"\napi_addr = \"0.0.0.0:7001\"\nraft_addr = \"0.0.0.0:7101\"\n\
                    http_addr = \"0.0.0.0:7201\"\n\
                    [[peers]]\nid = 1\n[auth]\nsuperadmin_token_file = \"/run/secrets/superadmin_token\"\n";
        let f = parse_node_file(text).expect("parses");
        assert_eq!(
            f,
            NodeFile {
                node_id: 2,
                site: "bergen".into(),
                api_port: 7001,
                http_port: Some(7201),
                superadmin_token_file: Some("/run/secrets/superadmin_token".into()),
                ca_file: None,
            }
        );
        let err =
            parse_node_file("node_id = 1\nsite = \"x\"\napi_addr = \"nowhere\"\n").expect_err("no port");
        assert!(err.contains("api_addr"), "{err}");
        assert!(parse_node_file("site = \"x\"\n").expect_err("no id").contains("node_id"));

        assert_eq!(parse_sim_port("listen = \"0.0.0.0:8900\"\nseed = 1\n"), Ok(8900));
        assert_eq!(parse_sim_port("seed = 1\n"), Ok(SIM_DEFAULT_PORT));
        assert!(parse_sim_port("listen = \"0.0.0.0:x\"\n").expect_err("bad port").contains("listen"));
    }

    /// Goal: the interface of an address is found in `ip -o -4 addr show` output (captured in a
    /// node container), and tc / docker refusals are told apart by their messages.
    #[test]
    fn ip_and_tc_output_is_read() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                   68: eth0    inet 172.19.0.3/16 brd 172.19.255.255 scope global eth0\\       valid_lft forever\n\
                   70: eth1    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth1\\       valid_lft forever\n";
        assert_eq!(interface_with_ip(out, "172.19.0.3").as_deref(), Some("eth0"));
        assert_eq!(interface_with_ip(out, "172.18.0.2").as_deref(), Some("eth1"));
        assert_eq!(interface_with_ip(out, "172.18.0.20"), None);
        assert_eq!(interface_with_ip("", "172.18.0.2"), None);

        assert!(netem_missing("Error: Specified qdisc kind is unknown."));
        assert!(!netem_missing("RTNETLINK answers: Operation not permitted"));
        assert!(no_qdisc_to_delete("Error: Cannot delete qdisc with handle of zero."));
        assert!(fixed_ip_refused(
            "Error response from daemon: user specified IP address is supported only when connecting to \
             networks with user configured subnets"
        ));
    }
}
