//! The fault phase: injects the scenario's faults at the times the seed's plan gives, undoes
//! each when it has lasted its time, and skips any that would take a quorum away or repeat a
//! fault still in force. Every planned fault leaves a [`FaultRecord`] for the report.
//!
//! A `cancel` is carried out at once and a `snapshot` in a task of its own (see
//! `snapshot.rs`); neither is undone. Before each kill the victim's late hand-over counter is
//! read, since the process it restarts as counts from 0.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use varsel_sim::{ProviderSettings, SimClient};

use super::{Run, RunError, admin, snapshot};
use crate::backend::{Backend, BackendError, NodeInfo};
use crate::invariants::late_handover;
use crate::load::{History, OpKind, OpResult};
use crate::report::{FaultRecord, SnapshotCall};
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
    /// (index in `records`, the task asking for the snapshots) for each `snapshot` fault.
    snapshots: Vec<(usize, SnapshotTask)>,
    /// (index in `records`, probe of how the cluster judged the wrong clock) for each clock
    /// fault.
    clock_probes: Vec<(usize, ClockProbe)>,
    /// (index in `records`, probe of when the node said its disk was full) for each
    /// `disk_full` fault.
    disk_probes: Vec<(usize, JoinHandle<Option<u64>>)>,
    /// (index in `records`, probe of when the node caught up after its disk was freed).
    recoveries: Vec<(usize, JoinHandle<Option<u64>>)>,
}

/// How the cluster judged a wrong clock: ms until the node said it was out of bounds, ms until
/// another node led (see `admin::clock_judged`).
type ClockProbe = JoinHandle<(Option<u64>, Option<u64>)>;

/// A `snapshot` fault's calls, and when the last one ended (seconds into the run).
type SnapshotTask = JoinHandle<(Vec<SnapshotCall>, f64)>;

/// Runs the fault schedule until the scenario's duration is up, then undoes what is still in
/// force, so the settle phase sees a whole cluster.
pub(super) async fn inject_on_schedule<B: Backend>(
    run: &Run<'_>,
    backend: &mut B,
) -> Result<Faults, RunError> {
    let plan = run.scenario.plan(run.seed);
    let mut faults = Faults {
        records: Vec::new(),
        active: Vec::new(),
        probes: Vec::new(),
        snapshots: Vec::new(),
        clock_probes: Vec::new(),
        disk_probes: Vec::new(),
        recoveries: Vec::new(),
    };
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
            faults.undo(backend, &a, run.t0).await?;
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
        faults.undo(backend, &a, run.t0).await?;
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
        let mut record = FaultRecord::new(spec.kind.name(), now_s);
        if spec.kind == FaultKind::Snapshot {
            return self.snapshot(run, spec, p.pick, record).await;
        }
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
        if let Some(reason) = node.and_then(|n| self.clock_conflict(spec.kind, n)) {
            record.skipped = Some(reason);
            self.records.push(record);
            return Ok(());
        }
        if matches!(spec.kind, FaultKind::KillSite | FaultKind::KillLeader) {
            record.late_handovers_before = late_before_kill(run, node).await;
        }
        let led = match node {
            Some(n) if spec.kind.sets_clock() => admin::leader(&run.nodes).await? == n,
            _ => false,
        };
        if apply(backend, &run.sim, spec, node, &mut record).await? {
            tracing::info!(kind = %record.kind, node = ?record.node, at_s = record.at_s, "fault injected");
            if let Some(n) = node.filter(|_| spec.kind.sets_clock()) {
                self.watch_clock(run, spec, n, led);
            }
            if let Some(n) = node.filter(|_| spec.kind == FaultKind::DiskFull) {
                let within = Duration::from_secs_f64(spec.lasts_s);
                let probe = tokio::spawn(admin::disk_full_seen(run.nodes.clone(), n, within));
                self.disk_probes.push((self.records.len(), probe));
            }
            let until_s = now_s + spec.lasts_s;
            self.active.push(Active { record: self.records.len(), kind: spec.kind, node, until_s });
        }
        self.records.push(record);
        Ok(())
    }

    /// Why a fault of `kind` must not be injected now: one site down at a time, so a quorum
    /// always stays, and never two faults of the same kind at once.
    fn skip_reason(&self, kind: FaultKind) -> Option<String> {
        if kind.takes_vote()
            && let Some(a) = self.active.iter().find(|a| a.kind.takes_vote())
        {
            return Some(format!(
                "node {} is still out ({}); a quorum must stay",
                a.node.unwrap_or(0),
                a.kind.name()
            ));
        }
        if self.active.iter().any(|a| a.kind == kind) {
            return Some("the same kind of fault is still in force".into());
        }
        None
    }

    /// Why a clock fault must not be set on `node` now: it is down (its clock cannot be set),
    /// or another clock fault holds its clock (undoing one would set the other's right).
    fn clock_conflict(&self, kind: FaultKind, node: u64) -> Option<String> {
        if !kind.sets_clock() {
            return None;
        }
        let on_node = self.active.iter().filter(|a| a.node == Some(node));
        on_node.map(|a| a.kind).find(|k| k.hits_site() || k.sets_clock()).map(|k| {
            if k.hits_site() {
                format!("node {node} is down ({}); its clock cannot be set", k.name())
            } else {
                format!("node {node}'s clock is already off ({} in force)", k.name())
            }
        })
    }

    /// Starts the probe of how the cluster judges `node`'s wrong clock while `spec` lasts (`led`:
    /// the node led when its clock was set).
    fn watch_clock(&mut self, run: &Run<'_>, spec: &FaultSpec, node: u64, led: bool) {
        let within = Duration::from_secs_f64(spec.lasts_s);
        let probe = tokio::spawn(admin::clock_judged(run.nodes.clone(), node, led, within));
        // The record is pushed next, at this index.
        self.clock_probes.push((self.records.len(), probe));
    }

    /// A `snapshot` fault: starts the task that asks the target's nodes for a snapshot one
    /// after the other, unless the previous one is still asking.
    async fn snapshot(
        &mut self,
        run: &Run<'_>,
        spec: &FaultSpec,
        pick: u64,
        mut record: FaultRecord,
    ) -> Result<(), RunError> {
        if self.snapshots.iter().any(|(_, task)| !task.is_finished()) {
            record.skipped = Some("the previous snapshot fault is still asking its nodes".into());
            self.records.push(record);
            return Ok(());
        }
        let order = snapshot::order(run, &spec.target, pick).await?;
        // The first node asked (the leader, for `leader` and `all`): the one whose pause stops
        // writes, so the next committed write is timed from it.
        record.node = order.first().copied();
        let named: Vec<String> = order.iter().map(u64::to_string).collect();
        record.detail = format!("nodes {} in turn", named.join(", "));
        tracing::info!(nodes = ?order, at_s = record.at_s, "snapshots forced");
        let nodes: Vec<NodeInfo> =
            order.iter().filter_map(|id| run.nodes.iter().find(|n| n.id == *id).cloned()).collect();
        self.snapshots.push((self.records.len(), tokio::spawn(snapshot::force_each(nodes, run.t0))));
        self.records.push(record);
        Ok(())
    }

    /// Chooses the node a fault hits (the leader for `kill_leader` and `clock_jump`; none for
    /// faults that hit no node) and, for a site fault whose victim holds unfinished shards,
    /// starts the probe that times how long the others take to resume them.
    async fn victim(
        &mut self,
        run: &Run<'_>,
        spec: &FaultSpec,
        pick: u64,
        record: &mut FaultRecord,
    ) -> Result<Option<u64>, RunError> {
        let recent = recent_alerts(&run.history, run.t0, run.scenario.load.escalate_after_s);
        let node = match spec.kind {
            FaultKind::KillLeader | FaultKind::ClockJump => Some(admin::leader(&run.nodes).await?),
            k if k.hits_site() || matches!(k, FaultKind::ClockSkew | FaultKind::DiskFull) => {
                Some(choose(&run.nodes, &spec.target, pick, &recent).await?)
            }
            _ => None,
        };
        record.node = node;
        if let Some(victim) = node
            && (spec.kind.hits_site() || spec.kind == FaultKind::DiskFull)
        {
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
    /// answered (each waited for at most [`PROBE_WAIT`]), and each snapshot fault with its
    /// calls once they have all answered (each call is bounded by `snapshot::CALL_TIMEOUT`).
    pub(super) async fn into_records(self) -> Vec<FaultRecord> {
        let mut records = self.records;
        for (i, probe) in self.probes {
            if let Ok(Ok(ms)) = tokio::time::timeout(PROBE_WAIT, probe).await {
                records[i].sending_resumed_ms = ms;
            }
        }
        for (i, probe) in self.disk_probes {
            records[i].disk_full_ms = probe.await.ok().flatten();
        }
        for (i, probe) in self.recoveries {
            records[i].caught_up_ms = probe.await.ok().flatten();
        }
        for (i, probe) in self.clock_probes {
            if let Ok((out_of_bounds, moved)) = probe.await {
                (records[i].out_of_bounds_ms, records[i].leader_moved_ms) = (out_of_bounds, moved);
            }
        }
        for (i, task) in self.snapshots {
            match task.await {
                Ok((calls, ended_s)) => {
                    let failed = calls.iter().filter(|c| c.error.is_some()).count();
                    records[i].detail.push_str(&format!("; {} calls, {failed} failed", calls.len()));
                    records[i].undone_at_s = Some(ended_s);
                    records[i].snapshots = calls;
                }
                Err(e) => records[i].detail.push_str(&format!("; the calls' task failed: {e}")),
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
        FaultKind::ClockSkew | FaultKind::ClockJump => {
            record.detail = format!("clock {}", offset_text(spec.offset_ms));
            if !backend.set_clock_offset(node.unwrap_or(0), spec.offset_ms).await? {
                record.skipped = Some(format!("{} mode cannot set a node's clock", backend.mode()));
                return Ok(false);
            }
        }
        FaultKind::DiskFull => match backend.fill_disk(node.unwrap_or(0), true).await? {
            Some(filled) => record.detail = filled,
            None => {
                record.skipped = Some(format!("{} mode cannot fill a node's disk", backend.mode()));
                return Ok(false);
            }
        },
        // Carried out by `Faults::inject` itself; nothing is put in force.
        FaultKind::Cancel | FaultKind::Snapshot => return Ok(false),
    }
    Ok(true)
}

impl Faults {
    /// Takes fault `a` out of force and notes when in its record; after a full disk is freed,
    /// starts the probe of how long the node takes to catch up.
    async fn undo<B: Backend>(&mut self, backend: &mut B, a: &Active, t0: Instant) -> Result<(), RunError> {
        undo(backend, a, &mut self.records, t0).await?;
        if a.kind == FaultKind::DiskFull
            && let Some(n) = a.node
        {
            self.recoveries.push((a.record, tokio::spawn(admin::disk_caught_up(backend.nodes(), n))));
        }
        Ok(())
    }
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
        FaultKind::ClockSkew | FaultKind::ClockJump => {
            backend.set_clock_offset(node, 0).await?;
        }
        FaultKind::DiskFull => {
            backend.fill_disk(node, false).await?;
        }
        FaultKind::Cancel | FaultKind::Snapshot => {}
    }
    records[a.record].undone_at_s = Some(t0.elapsed().as_secs_f64());
    tracing::info!(kind = %records[a.record].kind, node = ?a.node, "fault undone");
    Ok(())
}

/// `node`'s late hand-over counter read just before it is killed (its next process counts from
/// 0); `None` if it did not answer.
async fn late_before_kill(run: &Run<'_>, node: Option<u64>) -> Option<u64> {
    let info = node.and_then(|n| run.nodes.iter().find(|i| i.id == n))?;
    late_handover::read(info)
        .await
        .inspect_err(|e| tracing::warn!(node = info.id, error = %e, "late hand-overs unread before the kill"))
        .ok()
}

/// An offset as people read it: `+90 s`, `-90 s`, `+25 h`, `+1500 ms`.
fn offset_text(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let a = ms.unsigned_abs();
    match a {
        a if a % 3_600_000 == 0 => format!("{sign}{} h", a / 3_600_000),
        a if a % 1_000 == 0 => format!("{sign}{} s", a / 1_000),
        a => format!("{sign}{a} ms"),
    }
}

/// The node `target` names; `pick` (a draw from the seed) chooses among several candidates,
/// so a seed repeats the same choice.
pub(super) async fn choose(
    nodes: &[NodeInfo],
    target: &Target,
    pick: u64,
    recent: &[u64],
) -> Result<u64, RunError> {
    let ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
    let any = |set: &[u64]| set[(pick % set.len().max(1) as u64) as usize];
    Ok(match target {
        Target::Node(id) if ids.contains(id) => *id,
        Target::Node(id) => {
            return Err(BackendError::new(format!("target node {id} is not in the cluster {ids:?}")).into());
        }
        Target::All => {
            return Err(
                BackendError::new("target all names every node; only a snapshot fault takes it").into()
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: offsets are shown in the unit they were written in.
    #[test]
    fn offsets_read_as_written() {
        assert_eq!(offset_text(90_000), "+90 s");
        assert_eq!(offset_text(-90_000), "-90 s");
        assert_eq!(offset_text(25 * 3_600_000), "+25 h");
        assert_eq!(offset_text(1_500), "+1500 ms");
    }
}
