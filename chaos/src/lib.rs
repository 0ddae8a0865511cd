//! Chaos harness for Varsel: kills data centres, cuts networks, stalls nodes and takes
//! providers down while clients send alerts, then checks that nothing was lost.
//!
//! A run ([`runner::run`]) takes a [`scenario::Scenario`] (a TOML file in
//! `chaos/scenarios/`), a seed and a [`backend::Backend`]:
//!
//! - [`process::ProcessBackend`]: three `varsel` processes on loopback and the provider
//!   simulator in this process (runs anywhere; `cargo test` runs short scenarios this way);
//! - [`compose::ComposeBackend`]: the three-site `docker compose` deployment of `deploy/`.
//!
//! It creates a tenant and contacts, starts the client load ([`load`]), injects the faults on
//! the seed's schedule, undoes them, waits for every accepted alert to finish, checks the
//! invariants ([`invariants`], one per file) and returns a [`report::Report`] (JSON and a
//! table) that includes the command replaying the run. Some invariants read the nodes'
//! counters from their `/metrics` ([`metrics`]).
//!
//! The `varsel-chaos` binary: `varsel-chaos run --scenario chaos/scenarios/site-kill.toml`.

pub mod backend;
pub mod compose;
pub mod invariants;
pub mod load;
pub mod metrics;
pub mod process;
pub mod report;
pub mod runner;
pub mod scenario;

use std::path::PathBuf;

/// Runs `scenario` in process mode with `seed`: starts three nodes of `binary` (data under
/// `dir`, or a temporary directory), runs, stops them. `replay` is the command that repeats it.
pub async fn run_processes(
    scenario: &scenario::Scenario,
    seed: u64,
    binary: PathBuf,
    dir: Option<PathBuf>,
    replay: String,
) -> Result<report::Report, runner::RunError> {
    let opts = process::ProcessOptions {
        binary,
        dir,
        seed,
        lease_ms: process::LEASE_MS,
        production_timing: false,
        disk_mib: None,
    };
    run_processes_with(scenario, opts, replay).await
}

/// [`run_processes`] with every process option given.
pub async fn run_processes_with(
    scenario: &scenario::Scenario,
    opts: process::ProcessOptions,
    replay: String,
) -> Result<report::Report, runner::RunError> {
    use backend::Backend as _;
    let seed = opts.seed;
    let mut opts = opts;
    if scenario.fills_disks() && opts.disk_mib.is_none() {
        opts.disk_mib = Some(process::DISK_MIB);
    }
    let mut backend = process::ProcessBackend::start(opts).await?;
    let result = runner::run(scenario, &mut backend, seed, replay).await;
    if result.as_ref().map_or(true, |r| !r.passed) {
        for n in backend.nodes() {
            tracing::warn!(node = n.id, "log tail:\n{}", backend.cluster().log_tail(n.id, 30));
        }
    }
    backend.shutdown().await;
    result
}
