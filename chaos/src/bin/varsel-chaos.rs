//! `varsel-chaos`: runs a chaos scenario against a Varsel cluster and reports.
//!
//! ```text
//! varsel-chaos run --scenario chaos/scenarios/site-kill.toml            # process mode
//! varsel-chaos run --scenario chaos/scenarios/soak.toml --seed 42 --report out.json
//! varsel-chaos run --mode compose --project varsel-chaos --compose-file deploy/compose.yaml \
//!     --scenario chaos/scenarios/compose-site-loss.toml
//! ```
//!
//! Exit status: 0 when every invariant held, 1 when one failed, 2 when the run could not be
//! carried out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use varsel_chaos::scenario::{FaultKind, Scenario};

#[derive(Parser)]
#[command(name = "varsel-chaos", about = "Kill sites, cut networks, stall nodes; check that nothing is lost")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and print its report.
    Run(RunArgs),
    /// Check scenario files and print their fault schedule for a seed.
    Plan {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Mode {
    /// Three `varsel` processes on loopback.
    Processes,
    /// The `docker compose` deployment of deploy/ (already up).
    Compose,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The scenario file.
    #[arg(long)]
    scenario: PathBuf,
    /// processes or compose.
    #[arg(long, value_enum, default_value = "processes")]
    mode: Mode,
    /// The seed (default: the scenario's, else drawn at random).
    #[arg(long)]
    seed: Option<u64>,
    /// Override the scenario's duration_s.
    #[arg(long)]
    duration_s: Option<u64>,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Process mode: the `varsel` binary (default: next to this one).
    #[arg(long)]
    varsel_bin: Option<PathBuf>,
    /// Process mode: keep node data and logs here (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Process mode: the nodes' delivery lease, ms.
    #[arg(long, default_value_t = varsel_chaos::process::LEASE_MS)]
    lease_ms: u64,
    /// Process mode: a node's default Raft timing (elections after 400-800 ms) instead of the
    /// test clusters' slack for busy shared machines (1-2 s).
    #[arg(long)]
    production_timing: bool,
    /// Compose mode: the compose project name.
    #[arg(long, default_value = "varsel-chaos")]
    project: String,
    /// Compose mode: the compose file.
    #[arg(long, default_value = "deploy/compose.yaml")]
    compose_file: PathBuf,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,varsel_chaos=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Plan { scenarios, seed } => plan(&scenarios, seed),
        Command::Run(args) => rt.block_on(run(args)),
    }
}

fn plan(files: &[PathBuf], seed: u64) -> ExitCode {
    for f in files {
        match Scenario::load(f) {
            Ok(s) => {
                println!("{} (seed {seed}):", f.display());
                for p in s.plan(seed) {
                    let spec = &s.faults[p.spec];
                    let how = match spec.kind {
                        FaultKind::Cancel | FaultKind::Snapshot => "not undone".to_string(),
                        k if k.sets_clock() => format!("{:+} ms for {} s", spec.offset_ms, spec.lasts_s),
                        _ => format!("for {} s", spec.lasts_s),
                    };
                    println!("  {:>7.1}s  {:?} target {:?} {how}", p.at_s, spec.kind, spec.target);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}

async fn run(args: RunArgs) -> ExitCode {
    let mut scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(d) = args.duration_s {
        scenario.duration_s = d;
        if let Err(e) = scenario.validate() {
            eprintln!("error: --duration-s {d}: {e}");
            return ExitCode::from(2);
        }
    }
    let seed = args.seed.or(scenario.seed).unwrap_or_else(rand::random);
    let mut replay = format!(
        "varsel-chaos run --scenario {} --mode {} --seed {seed}",
        args.scenario.display(),
        if args.mode == Mode::Compose { "compose" } else { "processes" }
    );
    if let Some(d) = args.duration_s {
        replay.push_str(&format!(" --duration-s {d}"));
    }
    let result = match args.mode {
        Mode::Processes => {
            let Some(binary) =
                args.varsel_bin.clone().or_else(|| varsel_client::local_cluster::sibling_binary("varsel"))
            else {
                eprintln!("error: --varsel-bin: no `varsel` binary next to this one; give its path");
                return ExitCode::from(2);
            };
            if args.lease_ms != varsel_chaos::process::LEASE_MS {
                replay.push_str(&format!(" --lease-ms {}", args.lease_ms));
            }
            if args.production_timing {
                replay.push_str(" --production-timing");
            }
            let opts = varsel_chaos::process::ProcessOptions {
                binary,
                dir: args.dir.clone(),
                seed,
                lease_ms: args.lease_ms,
                production_timing: args.production_timing,
                disk_mib: None,
            };
            varsel_chaos::run_processes_with(&scenario, opts, replay).await
        }
        Mode::Compose => run_compose(&scenario, seed, &args, replay).await,
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the run could not be carried out: {e}\nreplay: seed {seed}");
            return ExitCode::from(2);
        }
    };
    println!("{}", report.table());
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("error: --report {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if report.passed { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

async fn run_compose(
    scenario: &Scenario,
    seed: u64,
    args: &RunArgs,
    replay: String,
) -> Result<varsel_chaos::report::Report, varsel_chaos::runner::RunError> {
    use varsel_chaos::backend::Backend as _;
    let mut backend =
        varsel_chaos::compose::ComposeBackend::connect(&args.project, &args.compose_file).await?;
    let replay =
        format!("{replay} --project {} --compose-file {}", args.project, args.compose_file.display());
    let result = varsel_chaos::runner::run(scenario, &mut backend, seed, replay).await;
    backend.shutdown().await;
    result
}
