//! `varsel-sim`: the provider simulator as a process, for process-mode tests, the chaos
//! harness and `varsel dev`. Parses arguments and calls `varsel_sim::run`.
//!
//! ```text
//! varsel-sim [--listen 127.0.0.1:PORT] [--config FILE.toml|FILE.json] [--seed N]
//! ```
//!
//! Without `--config` it serves the demo providers. `--listen` and `--seed` override the
//! file. Prints `READY <addr>` on stdout once listening; stops on SIGTERM or Ctrl-C.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use varsel_sim::SimConfig;

const USAGE: &str = "usage: varsel-sim [--listen ADDR] [--config FILE] [--seed N]";

#[derive(Debug, Default)]
struct Args {
    listen: Option<SocketAddr>,
    config: Option<PathBuf>,
    seed: Option<u64>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args::default();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args.next().ok_or_else(|| format!("{flag}: missing value\n{USAGE}"))?;
        match flag.as_str() {
            "--listen" => {
                parsed.listen = Some(value.parse().map_err(|e| format!("--listen: {value:?}: {e}"))?);
            }
            "--config" => parsed.config = Some(PathBuf::from(value)),
            "--seed" => parsed.seed = Some(value.parse().map_err(|e| format!("--seed: {value:?}: {e}"))?),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

fn config(args: &Args) -> Result<SimConfig, String> {
    let mut config = match &args.config {
        Some(path) => SimConfig::load(path).map_err(|e| e.to_string())?,
        None => SimConfig::demo(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    Ok(config)
}

fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)).and_then(|args| config(&args)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("varsel-sim: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("varsel-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(varsel_sim::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varsel-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
