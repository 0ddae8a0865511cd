//! One run: set up a tenant, drive the client load, inject the scenario's faults on their
//! schedule, stop faulting, let every accepted alert finish, check the invariants, report.
//!
//! [`run`] reads as that list; each phase has a file of its own:
//!
//! - `setup.rs`: the run's tenant, its operator credential and contacts, and the simulator's
//!   replies;
//! - `faults.rs`: injecting and undoing the scenario's faults on the seed's schedule;
//! - `admin.rs`: what the harness asks the cluster's admin API (leader, shards held, the
//!   in-flight window) while it injects faults;
//! - `snapshot.rs`: the `snapshot` fault's calls;
//! - `sending.rs`: sampling each site's sending, when the scenario asks;
//! - `settle.rs`: waiting for every accepted alert to finish and the simulator to drain;
//! - `judge.rs`: the evidence of the run and the invariants' verdicts;
//! - `summary.rs`: the figures of the report.

mod admin;
mod cancel;
mod faults;
mod judge;
mod sending;
mod settle;
mod setup;
mod snapshot;
mod summary;

pub use sending::SENDING_SAMPLE_MS;

use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use varsel_sim::SimClient;

use crate::backend::{Backend, BackendError, NodeInfo};
use crate::invariants::late_handover;
use crate::load::{self, Client, History};
use crate::report::Report;
use crate::scenario::{Scenario, ScenarioError};

/// How long the nodes get to apply the setup (a 200,000-contact import) before the load starts.
const CATCH_UP_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Why a run could not be carried out (as opposed to an invariant failing).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Setting the cluster up for the run failed.
    #[error("setup: {0}")]
    Setup(String),
    /// The backend failed to inject or undo a fault.
    #[error("fault: {0}")]
    Backend(#[from] BackendError),
    /// The scenario asks for what this backend cannot do.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
}

/// What every phase of a run reads; fixed once the tenant exists and the load starts, so the
/// phases share one description of the run instead of long argument lists.
#[derive(Debug)]
struct Run<'a> {
    scenario: &'a Scenario,
    seed: u64,
    nodes: Vec<NodeInfo>,
    /// The run's tenant operator token.
    token: String,
    sim: SimClient,
    /// Tenant name and idempotency-key prefix: scenario, seed and process, so that runs
    /// against the same cluster never share either.
    tag: String,
    /// One node's in-flight window, measured before the load starts.
    in_flight_window: u64,
    /// When the load started; fault times are seconds since then.
    t0: Instant,
    /// `t0` in ms since the Unix epoch, to compare with the cluster's and simulator's clocks.
    t0_unix_ms: u64,
    /// Every client operation.
    history: History,
    /// The neighbour tenant, when the load has one.
    neighbour: Option<Neighbour>,
}

/// A second tenant with the same people, sending alerts of its own (`load.neighbour_clients`).
/// Its alerts are judged only by the reply checks: which tenant each reply went to.
#[derive(Debug)]
struct Neighbour {
    /// Its operator token.
    token: String,
    /// Its tenant name and idempotency-key prefix.
    tag: String,
    /// Its clients' operations.
    history: History,
}

/// Runs `scenario` with `seed` against `backend`. `replay` is the command that repeats it.
///
/// The phases run one after the other, so that the invariants are judged on a cluster that
/// has stopped being faulted and has finished (or given up on) every accepted alert.
pub async fn run<B: Backend>(
    scenario: &Scenario,
    backend: &mut B,
    seed: u64,
    replay: String,
) -> Result<Report, RunError> {
    scenario.validate_for_mode(backend.mode())?;
    let nodes = backend.nodes();
    let tag = format!("{}-{seed}-{}", scenario.name, std::process::id());
    let token = setup::tenant(&nodes, &backend.access().superadmin, &tag, &scenario.load).await?;
    let sim = backend.sim();
    setup::simulator_replies(&sim, &scenario.load).await?;
    let sim_before = setup::simulator_behaviour(&sim, &scenario.sim).await?;
    let neighbour = match scenario.load.neighbour_clients {
        0 => None,
        _ => {
            let tag = format!("{tag}-nb");
            let token = setup::tenant(&nodes, &backend.access().superadmin, &tag, &scenario.load).await?;
            Some(Neighbour { token, tag, history: History::default() })
        }
    };
    // The load starts on a cluster that has applied its setup everywhere.
    if !admin::caught_up(&nodes, CATCH_UP_WITHIN).await {
        tracing::warn!(
            "the nodes had not applied the setup alike within {CATCH_UP_WITHIN:?}; starting anyway"
        );
    }
    let in_flight_window = admin::in_flight_window(&nodes).await;
    let run = Run {
        scenario,
        seed,
        nodes,
        token,
        sim,
        tag,
        in_flight_window,
        t0: Instant::now(),
        t0_unix_ms: varsel_domain::clock::wall_ms(),
        history: History::default(),
        neighbour,
    };

    // Load and faults.
    let (stop, stopped) = watch::channel(false);
    let sampler = sending::Sampler::start(&run);
    let clients = start_clients(&run, &stopped);
    let faults = faults::inject_on_schedule(&run, backend).await?;
    stop_clients(&stop, clients).await;
    let faulted_s = run.t0.elapsed().as_secs_f64();
    let mut records = faults.into_records().await;

    // Settle, then judge.
    let ops = run.history.ops();
    let accepted = settle::accepted(&ops);
    let settled = settle::settle(&run, &accepted).await;
    let sending = match sampler {
        Some(s) => Some(s.finish().await),
        None => None,
    };
    judge::note_next_writes(&mut records, &ops);
    let finished = judge::all_finished(&accepted, &settled.unfinished, settled.settled_s, scenario.settle_s);
    let settled_s = settled.settled_s;
    let late_at_end = futures::future::join_all(
        run.nodes.iter().map(|n| async move { (n.id, late_handover::read(n).await) }),
    )
    .await;
    let evidence = judge::evidence(&run, ops.clone(), &records, faulted_s, settled, late_at_end);
    let judged = judge::verdicts(&evidence, finished, sending.as_ref()).await;
    setup::restore_simulator(&run.sim, sim_before).await;

    let outcome = summary::Outcome {
        faulted_s,
        settled_s,
        faults: records,
        ops,
        alerts_accepted: accepted.len() as u64,
        judged,
        sending,
    };
    Ok(summary::report(&run, backend.mode(), replay, outcome))
}

/// Starts the scenario's clients; each draws from its own stream of the run's seed, so a seed
/// repeats the same load.
fn start_clients(run: &Run<'_>, stopped: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let load = &run.scenario.load;
    let ours = (0..load.clients).map(|index| (index, &run.token, &run.tag, &run.history));
    let theirs = run.neighbour.iter().flat_map(|n| {
        (0..load.neighbour_clients).map(move |i| (load.clients + i, &n.token, &n.tag, &n.history))
    });
    ours.chain(theirs)
        .map(|(index, token, tag, history)| {
            let c = Client {
                index,
                nodes: run.nodes.clone(),
                token: token.clone(),
                load: load.clone(),
                seed: run.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                key_prefix: tag.clone(),
                history: history.clone(),
                t0: run.t0,
            };
            tokio::spawn(c.run(stopped.clone()))
        })
        .collect()
}

/// Tells the clients to stop and waits for each, bounded: an operation in flight may take up
/// to its deadline, and a client stuck beyond that must not hold the run.
async fn stop_clients(stop: &watch::Sender<bool>, clients: Vec<JoinHandle<()>>) {
    let _ = stop.send(true);
    for c in clients {
        let _ = tokio::time::timeout(load::OP_DEADLINE * 3, c).await;
    }
}
