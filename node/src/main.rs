//! The `varsel` command: runs a node (`start`) and operates a cluster (everything else).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use varsel_node::cli::{self, DEFAULT_ENDPOINTS};
use varsel_node::client::Cluster;
use varsel_node::config::NodeConfig;

/// Varsel: geo-redundant crisis mass notification.
#[derive(Debug, Parser)]
#[command(name = "varsel", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Options of every command that talks to a running cluster.
#[derive(Debug, Clone, clap::Args)]
struct Target {
    /// API addresses of the cluster's nodes (host:port, comma-separated). The next one is
    /// tried when a node is down.
    #[arg(long, env = "VARSEL_ENDPOINTS", default_value = DEFAULT_ENDPOINTS, global = true)]
    endpoints: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node.
    Start {
        /// The node's configuration file (TOML). `VARSEL_*` variables override its fields.
        #[arg(long, env = "VARSEL_CONFIG")]
        config: PathBuf,
    },
    /// Operate the cluster: init, membership, leader transfer, snapshots, status.
    Cluster {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: cli::cluster::ClusterCommand,
    },
    /// Read and write the replicated key-value map.
    Kv {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: cli::kv::KvCommand,
    },
    /// Start a local three-site cluster and show it working.
    Dev(cli::dev::DevArgs),
    /// Measure a local three-node cluster and print the figures.
    Bench(cli::bench::BenchArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
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
        Command::Cluster { target, command } => {
            let cluster = Cluster::parse(&target.endpoints)?;
            Ok(cli::cluster::run(&cluster, command, target.json).await?)
        }
        Command::Kv { target, command } => {
            let cluster = Cluster::parse(&target.endpoints)?;
            Ok(cli::kv::run(&cluster, command, target.json).await?)
        }
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

fn quiet_logs() -> varsel_node::config::LogConfig {
    varsel_node::config::LogConfig { format: "text".into(), filter: "warn".into() }
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
