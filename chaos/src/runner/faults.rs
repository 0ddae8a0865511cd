//! The fault phase: injects the scenario's faults at the times the seed's plan gives, undoes
//! each when it has lasted its time, and skips any that would take a quorum away or repeat a
//! fault still in force. Every planned fault leaves a [`FaultRecord`] for the report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use varsel_sim::{ProviderSettings, SimClient};

use super::{Run, RunError, admin};
use crate::backend::{Backend, BackendError, NodeInfo};
use crate::load::{History, OpKind, OpResult};
use crate::report::FaultRecord;
use crate::scenario::{FaultKind, FaultSpec, Planned, Target};

/// How long to wait for each "sending resumed" probe once the faults have stopped (the probe
/// gives up after as long itself).
const PROBE_WAIT: Duration = Duration::from_secs(120);

/// A fault in force.
#[derive(Debug)]
struct Active {
    /// Its index in [`Faults::records`].
    record: usize,
    kind: FaultKind,
    node: Option<u64>,
    /// When it is to be undone, seconds since the run's start.
    until_s: f64,
}

/// What the fault phase did and what it still has in force.
#[derive(Debug)]
pub(super) struct Faults {
    /// One per planned fault, injected or skipped.
    records: Vec<FaultRecord>,
    active: Vec<Active>,
    /// (index in `records`, probe timing how long the others took to resume sending what the
    /// faulted node held) for each fault whose victim held unfinished shards.
    probes: Vec<(usize, JoinHandle<Option<u64>>)>,
}

/// Runs the fault schedule until the scenario's duration is up, then undoes what is still in
/// force, so the settle phase sees a whole cluster.
pub(super) async fn inject_on_schedule<B: Backend>(
    run: &Run<'_>,
    backend: &mut B,
) -> Result<Faults, RunError> {
    let plan = run.scenario.plan(run.seed);
    let mut faults = Faults { records: Vec::new(), active: Vec::new(), probes: Vec::new() };
    let mut next = 0;
    let duration = run.scenario.duration_s as f64;
    loop {
        let now = run.t0.elapsed().as_secs_f64();
        let wake = faults.wake_at(plan.get(next).map(|p| p.at_s), duration);
        if wake > now {
            tokio::time::sleep(Duration::from_secs_f64(wake - now)).await;
            continue;
        }
        // Undo what is due first, so a site comes back before the next is taken.
        if let Some(i) = faults.active.iter().position(|a| a.until_s <= now) {
            let a = faults.active.swap_remove(i);
            undo(backend, &a, &mut faults.records, run.t0).await?;
            continue;
        }
        if now >= duration {
            break;
        }
        let Some(p) = plan.get(next).copied() else { break };
        next += 1;
        faults.inject(run, backend, p, now).await?;
    }
    for a in std::mem::take(&mut faults.active) {
        undo(backend, &a, &mut faults.records, run.t0).await?;
    }
    Ok(faults)
}

impl Faults {
    /// When the schedule next has something to do (seconds since the run's start): inject
    /// the next planned fault, undo one, or end at `duration_s`.
    fn wake_at(&self, next_inject_s: Option<f64>, duration_s: f64) -> f64 {
        let next_inject = next_inject_s.filter(|at| *at < duration_s);
        let next_undo = self.active.iter().map(|a| a.until_s).min_by(f64::total_cmp);
        [next_inject, next_undo, Some(duration_s)]
            .into_iter()
            .flatten()
            .min_by(f64::total_cmp)
            .unwrap_or(duration_s)
    }

    /// Injects planned fault `p` at `now_s`, or records why it was skipped.
    async fn inject<B: Backend>(
        &mut self,
        run: &Run<'_>,
        backend: &mut B,
        p: Planned,
        now_s: f64,
    ) -> Result<(), RunError> {
        let spec = &run.scenario.faults[p.spec];
        let mut record = FaultRecord {
            kind: spec.kind.name().into(),
            node: None,
            detail: String::new(),
            at_s: now_s,
            undone_at_s: None,
            skipped: None,
            next_write_ms: None,
            sending_resumed_ms: None,
            shards_held: 0,
            alerts: Vec::new(),
        };
        if spec.kind == FaultKind::Cancel {
            // Not undone and not exclusive: it is over once the cancels have answered.
            let done = super::cancel::cancel_running(run, p.pick).await;
            record.detail = format!(
                "{} cancelled, {} already over, {} failed",
                done.alerts.len(),
                done.finished,
                done.failed
            );
            record.alerts = done.alerts;
            record.undone_at_s = Some(run.t0.elapsed().as_secs_f64());
            tracing::info!(detail = %record.detail, at_s = record.at_s, "alerts cancelled");
            self.records.push(record);
            return Ok(());
        }
        if let Some(reason) = self.skip_reason(spec.kind) {
            record.skipped = Some(reason);
            self.records.push(record);
            return Ok(());
        }
        let node = self.victim(run, spec, p.pick, &mut record).await?;
        if apply(backend, &run.sim, spec, node, &mut record).await? {
            tracing::info!(kind = %record.kind, node = ?record.node, at_s = record.at_s, "fault injected");
            let until_s = now_s + spec.lasts_s;
            self.active.push(Active { record: self.records.len(), kind: spec.kind, node, until_s });
        }
        self.records.push(record);
        Ok(())
    }

    /// Why a fault of `kind` must not be injected now: one site down at a time, so a quorum
    /// always stays, and never two faults of the same kind at once.
    fn skip_reason(&self, kind: FaultKind) -> Option<String> {
        if kind.hits_site()
            && let Some(a) = self.active.iter().find(|a| a.kind.hits_site())
        {
            return Some(format!("node {} is still down; a quorum must stay", a.node.unwrap_or(0)));
        }
        if self.active.iter().any(|a| a.kind == kind) {
            return Some("the same kind of fault is still in force".into());
        }
        None
    }

    /// Chooses the node a site fault hits (none for other faults) and, if it holds unfinished
    /// shards, starts the probe that times how long the others take to resume them.
    async fn victim(
        &mut self,
        run: &Run<'_>,
        spec: &FaultSpec,
        pick: u64,
        record: &mut FaultRecord,
    ) -> Result<Option<u64>, RunError> {
        let recent = recent_alerts(&run.history, run.t0, run.scenario.load.escalate_after_s);
        let node = match spec.kind {
            FaultKind::KillLeader => Some(admin::leader(&run.nodes).await?),
            k if k.hits_site() => Some(choose(&run.nodes, &spec.target, pick, &recent).await?),
            _ => None,
        };
        record.node = node;
        if let Some(victim) = node {
            let held = admin::shards_held_by(&run.nodes, victim, &recent).await;
            record.shards_held = held.values().map(|v| v.len() as u32).sum();
            if !held.is_empty() {
                let probe_nodes: Vec<NodeInfo> =
                    run.nodes.iter().filter(|n| n.id != victim).cloned().collect();
                let probe = tokio::spawn(admin::sending_resumed(probe_nodes, victim, held));
                // The record is pushed next, at this index.
                self.probes.push((self.records.len(), probe));
            }
        }
        Ok(node)
    }

    /// The records, each with how long sending took to resume after it once its probe has
    /// answered (each waited for at most [`PROBE_WAIT`]).
    pub(super) async fn into_records(self) -> Vec<FaultRecord> {
        let mut records = self.records;
        for (i, probe) in self.probes {
            if let Ok(Ok(ms)) = tokio::time::timeout(PROBE_WAIT, probe).await {
                records[i].sending_resumed_ms = ms;
            }
        }
        records
    }
}

/// Puts `spec`'s fault in force on `node`. `false`, with the reason in `record.skipped`, when
/// this backend cannot inject it.
async fn apply<B: Backend>(
    backend: &mut B,
    sim: &SimClient,
    spec: &FaultSpec,
    node: Option<u64>,
    record: &mut FaultRecord,
) -> Result<bool, RunError> {
    match spec.kind {
        FaultKind::KillSite | FaultKind::KillLeader => backend.kill(node.unwrap_or(0)).await?,
        FaultKind::StallSite => backend.pause(node.unwrap_or(0), true).await?,
        FaultKind::PartitionSite => backend.partition(node.unwrap_or(0), true).await?,
        FaultKind::ProviderDown => {
            record.detail = spec.provider.clone();
            let down = ProviderSettings { outage: Some(true), ..Default::default() };
            sim.set(&spec.provider, &down).await.map_err(|e| BackendError::new(format!("simulator: {e}")))?;
        }
        FaultKind::Latency => {
            record.detail = format!("{} ms", spec.latency_ms);
            if !backend.set_latency(spec.latency_ms).await? {
                record.skipped = Some(format!("{} mode cannot add latency", backend.mode()));
                return Ok(false);
            }
        }
        // Carried out by `Faults::inject` itself; nothing is put in force.
        FaultKind::Cancel => return Ok(false),
    }
    Ok(true)
}

/// Takes fault `a` out of force and notes when in its record.
async fn undo<B: Backend>(
    backend: &mut B,
    a: &Active,
    records: &mut [FaultRecord],
    t0: Instant,
) -> Result<(), RunError> {
    let node = a.node.unwrap_or(0);
    match a.kind {
        FaultKind::KillSite | FaultKind::KillLeader => backend.restart(node).await?,
        FaultKind::StallSite => backend.pause(node, false).await?,
        FaultKind::PartitionSite => backend.partition(node, false).await?,
        FaultKind::ProviderDown => {
            let provider = records[a.record].detail.clone();
            let up = ProviderSettings { outage: Some(false), ..Default::default() };
            backend
                .sim()
                .set(&provider, &up)
                .await
                .map_err(|e| BackendError::new(format!("simulator: {e}")))?;
        }
        FaultKind::Latency => {
            backend.set_latency(0).await?;
        }
        FaultKind::Cancel => {}
    }
    records[a.record].undone_at_s = Some(t0.elapsed().as_secs_f64());
    tracing::info!(kind = %records[a.record].kind, node = ?a.node, "fault undone");
    Ok(())
}

/// The node `target` names; `pick` (a draw from the seed) chooses among several candidates,
/// so a seed repeats the same choice.
async fn choose(nodes: &[NodeInfo], target: &Target, pick: u64, recent: &[u64]) -> Result<u64, RunError> {
    let ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
    let any = |set: &[u64]| set[(pick % set.len().max(1) as u64) as usize];
    Ok(match target {
        Target::Node(id) if ids.contains(id) => *id,
        Target::Node(id) => {
            return Err(BackendError::new(format!("target node {id} is not in the cluster {ids:?}")).into());
        }
        Target::Random => any(&ids),
        Target::Leader => admin::leader(nodes).await?,
        Target::Follower => {
            let l = admin::leader(nodes).await?;
            let followers: Vec<u64> = ids.iter().copied().filter(|i| *i != l).collect();
            any(&followers)
        }
        Target::MostShards => {
            let mut count: BTreeMap<u64, usize> = BTreeMap::new();
            for id in &ids {
                count.insert(
                    *id,
                    admin::shards_held_by(nodes, *id, recent).await.values().map(Vec::len).sum(),
                );
            }
            match count.iter().max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id))) {
                Some((id, n)) if *n > 0 => *id,
                _ => any(&ids),
            }
        }
    })
}

/// Alerts created recently enough to still be sending: those whose shards a fault can catch
/// in a node's hands.
pub(super) fn recent_alerts(history: &History, t0: Instant, escalate_after_s: u32) -> Vec<u64> {
    let horizon = u64::from(escalate_after_s) * 1000 + 30_000;
    let now = t0.elapsed().as_millis() as u64;
    let mut ids: Vec<u64> = history
        .ops()
        .into_iter()
        .filter(|o| o.returned_ms + horizon >= now)
        .filter_map(|o| match (o.kind, o.result) {
            (OpKind::Create { .. }, OpResult::Created(id)) => Some(id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
