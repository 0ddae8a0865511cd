//! The `varsel` command: runs a node (`start`) and operates a cluster (everything else).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use varsel_cli::auth::TokenArgs;
use varsel_cli::cluster::Admin;
use varsel_cli::error::CliError;
use varsel_cli::session::{ApiArgs, Session};
use varsel_cli::{self as cli, DEFAULT_ENDPOINTS};
use varsel_client::{ClientError, Cluster, Trust};
use varsel_config::NodeConfig;

/// mimalloc rather than glibc's allocator: sled allocates and frees a node buffer per page it
/// reads or rewrites, and in the fan-out profile glibc's malloc and free (with its periodic
/// consolidation) took ~45 % of a node's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Varsel: geo-redundant crisis mass notification.
#[derive(Debug, Parser)]
#[command(name = "varsel", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The heading the options shared by every cluster command are listed under in `--help`, apart
/// from each command's own.
const CONNECTION: &str = cli::session::CONNECTION_HEADING;

/// Options of every command that talks to a running cluster.
#[derive(Debug, Clone, clap::Args)]
struct Target {
    /// API addresses of the cluster's nodes (host:port, comma-separated). The next one is
    /// tried when a node is down.
    #[arg(long, env = "VARSEL_ENDPOINTS", default_value = DEFAULT_ENDPOINTS, global = true, help_heading = CONNECTION)]
    endpoints: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true, help_heading = CONNECTION)]
    json: bool,
    /// The cluster's CA certificate (PEM): the nodes' certificates are checked against it and
    /// nothing else. Default, for endpoints on this machine only: `.varsel-dev/tls/ca.pem` when
    /// that file exists (what `varsel dev` makes). Not needed for endpoints written `http://…`
    /// (a plaintext cluster).
    #[arg(long, env = "VARSEL_CA_FILE", global = true, help_heading = CONNECTION)]
    ca_file: Option<PathBuf>,
}

impl Target {
    /// The CA the endpoints are trusted by: the given file, or the dev cluster's when every
    /// endpoint is on this machine (a `.varsel-dev` directory in whatever directory the
    /// command runs in must not decide whom a token is sent to over the network).
    fn trust(&self) -> Result<Trust, ClientError> {
        match &self.ca_file {
            Some(path) => Trust::ca_file(path),
            None if Path::new(cli::DEV_CA_FILE).is_file() && cli::all_loopback(&self.endpoints) => {
                Trust::ca_file(Path::new(cli::DEV_CA_FILE))
            }
            None => Ok(Trust::none()),
        }
    }

    /// The cluster-administration context: the cluster and the superadmin token.
    fn admin(&self, token: &TokenArgs) -> Result<Admin, CliError> {
        let trust = self.trust()?;
        let cluster = Cluster::parse(&self.endpoints, &trust)?;
        let bearer = cli::auth::bearer(&token.resolve()?)?;
        let plaintext = self.endpoints.split(',').all(|e| e.trim().starts_with("http://"));
        Ok(Admin::new(cluster, trust, bearer, plaintext))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node.
    Start {
        /// The node's configuration file (TOML). `VARSEL_*` variables override its fields.
        #[arg(long, env = "VARSEL_CONFIG")]
        config: PathBuf,
    },
    /// Operate the cluster: init, membership, leader transfer, snapshots, status. Needs the
    /// superadmin token.
    Cluster {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        token: TokenArgs,
        #[command(subcommand)]
        command: cli::cluster::ClusterCommand,
    },
    /// Back the replicated state up, and check backups.
    Backup {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        token: TokenArgs,
        #[command(subcommand)]
        command: cli::backup::BackupCommand,
    },
    /// Restore a backup into this node's new, empty data dir (the node stopped): it becomes the
    /// only member of a new cluster (new cluster id); alerts that were being sent are held
    /// until resumed or cancelled. Then start it and add the other sites.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The node's configuration file (its data dir, id, site and addresses).
        #[arg(long, env = "VARSEL_CONFIG")]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// UNSAFE, for when a majority of the sites is lost for good: make this stopped node the
    /// only member of a new cluster from what it has applied. What the lost sites committed
    /// after that is lost; the command prints what may be.
    UnsafeForceNewCluster {
        /// The node's configuration file.
        #[arg(long, env = "VARSEL_CONFIG")]
        config: PathBuf,
        /// Say that you accept losing what only the lost sites held.
        #[arg(long)]
        accept_data_loss: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read and write the replicated key-value map. Needs the superadmin token.
    Kv {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        token: TokenArgs,
        #[command(subcommand)]
        command: cli::kv::KvCommand,
    },
    /// Tenants, their limits and API credentials.
    Tenant {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: cli::tenant::TenantCommand,
    },
    /// Contacts: add, show, list, delete, import from CSV, export or erase one person's data.
    Contact {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: cli::contact::ContactCommand,
    },
    /// Groups (notification lists) and their members.
    Group {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: cli::group::GroupCommand,
    },
    /// Named alert content in one or more languages.
    Template {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: cli::template::TemplateCommand,
    },
    /// Send, follow, cancel and acknowledge alerts.
    Alert {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: cli::alert::AlertCommand,
    },
    /// The audit trail.
    Audit {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: cli::audit::AuditCommand,
    },
    /// Signed outbound webhooks of a tenant.
    Webhook {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        command: cli::webhook::WebhookCommand,
    },
    /// Run the provider simulator (SMS, voice, e-mail and push endpoints that record every
    /// message) for tests, benchmarks and trying Varsel out.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8900")]
        listen: std::net::SocketAddr,
        /// Simulator configuration (TOML or JSON); default: the demo providers.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed for the simulated errors, latencies and replies.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Make the cluster's certificates: its CA, node certificates, client certificates.
    Certs {
        #[command(subcommand)]
        command: cli::certs::CertsCommand,
    },
    /// Voice alerts: preview a script as speech.
    Voice {
        #[command(subcommand)]
        command: cli::voice::VoiceCommand,
    },
    /// Start a local three-site cluster and show it working.
    Dev(cli::dev::DevArgs),
    /// Measure a local three-node cluster and print the figures.
    Bench(cli::bench::BenchArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !matches!(args.command, Command::Start { .. }) {
        exit_quietly_on_closed_pipe();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("varsel: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(args.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varsel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Start { config } => start(config).await,
        Command::Cluster { target, token, command } => {
            let admin = target.admin(&token)?;
            Ok(cli::cluster::run(&admin, command, target.json).await?)
        }
        Command::Backup { target, token, command } => match command {
            cli::backup::BackupCommand::Create { out } => {
                Ok(cli::backup::create(&target.admin(&token)?, &out, target.json).await?)
            }
            cli::backup::BackupCommand::Verify { file } => Ok(cli::backup::verify(&file, target.json).await?),
        },
        Command::Restore { from, config, json } => Ok(cli::backup::restore(&from, &config, json).await?),
        Command::UnsafeForceNewCluster { config, accept_data_loss, json } => {
            Ok(cli::backup::force_new_cluster(&config, accept_data_loss, json).await?)
        }
        Command::Kv { target, token, command } => {
            let trust = target.trust()?;
            let cluster = Cluster::parse(&target.endpoints, &trust)?;
            let bearer = cli::auth::bearer(&token.resolve()?)?;
            Ok(cli::kv::run(&cluster, &bearer, command, target.json).await?)
        }
        Command::Tenant { target, api, command } => {
            Ok(cli::tenant::run(&session(&target, &api)?, command).await?)
        }
        Command::Contact { target, api, command } => {
            Ok(cli::contact::run(&session(&target, &api)?, command).await?)
        }
        Command::Group { target, api, command } => {
            Ok(cli::group::run(&session(&target, &api)?, command).await?)
        }
        Command::Template { target, api, command } => {
            Ok(cli::template::run(&session(&target, &api)?, command).await?)
        }
        Command::Alert { target, api, command } => {
            Ok(cli::alert::run(&session(&target, &api)?, command).await?)
        }
        Command::Audit { target, api, command } => {
            Ok(cli::audit::run(&session(&target, &api)?, command).await?)
        }
        Command::Webhook { target, api, command } => {
            Ok(cli::webhook::run(&session(&target, &api)?, command).await?)
        }
        Command::Sim { listen, config, seed } => {
            varsel_node::telemetry::init_logging(&quiet_logs());
            let mut cfg = match config {
                Some(path) => varsel_sim::SimConfig::load(&path)?,
                None => varsel_sim::SimConfig::demo(),
            };
            cfg.listen = listen;
            if let Some(seed) = seed {
                cfg.seed = seed;
            }
            Ok(varsel_sim::run(cfg).await?)
        }
        Command::Voice { command } => Ok(cli::voice::run(command).await?),
        Command::Certs { command } => Ok(cli::certs::run(command)?),
        Command::Dev(args) => {
            varsel_node::telemetry::init_logging(&quiet_logs());
            cli::dev::run(args).await
        }
        Command::Bench(args) => {
            varsel_node::telemetry::init_logging(&quiet_logs());
            cli::bench::run(args).await
        }
    }
}

/// The API session of a tenant/contact/group/template/alert/audit command.
fn session(target: &Target, api: &ApiArgs) -> Result<Session, CliError> {
    Session::new(&target.endpoints, target.trust()?, target.json, api)
}

fn quiet_logs() -> varsel_config::LogConfig {
    varsel_config::LogConfig { format: "text".into(), filter: "warn".into() }
}

/// Time queued spans get to reach the collector when the node stops.
const TELEMETRY_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

async fn start(path: PathBuf) -> anyhow::Result<()> {
    let config = NodeConfig::load(&path, std::env::vars())?;
    let telemetry = varsel_node::telemetry::init(&config)?;
    let result = varsel_node::run(config, shutdown_signal()).await;
    telemetry.shutdown(TELEMETRY_FLUSH_TIMEOUT).await;
    Ok(result?)
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}

/// An operator command whose output goes to a pipe that closes (`varsel alert watch 1 | head`)
/// ends at once and quietly, as Unix tools do, instead of panicking in `println!`. Not for a
/// node (`start`): it must outlive whatever reads its output.
fn exit_quietly_on_closed_pipe() {
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: called first thing in `main`, before any thread exists; restoring the default
    // disposition of SIGPIPE has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Goal: the whole command line is consistent (no clashing flags, groups naming real
    /// arguments). Method: clap's own checks, which otherwise run only when a command is used.
    #[test]
    fn command_line_is_consistent() {
        Args::command().debug_assert();
    }
}
