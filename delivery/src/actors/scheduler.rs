//! `Scheduler`: which shards this node sends, and keeping their leases.
//!
//! Every tick it looks at the unfinished alerts in the applied state and, with one heartbeat
//! entry at a time, renews the leases it holds and asks for free ones: first the shards that
//! fall to it in a deterministic split over the live nodes (so the sites share an alert from
//! the start), then, once the alert has run for one lease length (`lease_ms`), any free or
//! expired shard (so a dead node's shards move to the survivors as soon as its leases lapse by
//! the log's clock, and the share of a node that is alive but too slow to claim it is taken).
//!
//! It runs at most `shard_workers` [`ShardWorker`]s, highest priority first, then the oldest
//! alert, taking tenants in turn so one tenant's huge alert does not starve another's small
//! one. A lease counts as valid on this node until `lease_ms - CLOCK_SKEW_MARGIN_MS` after
//! the heartbeat that renewed it was *sent*, by the monotonic clock: a node that was stalled
//! stops its workers without waiting for anyone to tell it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use varsel_domain::model::{Priority, TenantId};
use varsel_raft_store::delivery::{
    CLOCK_SKEW_MARGIN_MS, DeliveryCommand, DeliveryReply, Granted, LeaseRef, ShardRef,
};
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::domain::query;
use varsel_raft_store::{Request, Response};

use super::open_alerts::{OpenAlert, OpenAlerts};
use super::shard_worker::{ShardWorker, WorkerArgs, WorkerMsg};

use crate::Shared;

/// Most shards asked for in one heartbeat.
pub const ACQUIRE_MAX: usize = 64;
/// Restarts of one shard's worker after failures before its lease is given back.
pub const WORKER_RESTARTS_MAX: u32 = 5;

/// Why a worker stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerExit {
    /// Every step of the shard is done.
    Done,
    /// The lease is gone (expired, taken over, alert finished).
    Lost(String),
    /// Nothing to do before this wall-clock time (the next escalation step): the lease is
    /// kept and renewed, the worker slot is freed.
    IdleUntil(u64),
}

/// The scheduler actor.
#[derive(Debug)]
pub struct Scheduler;

/// Its messages.
#[derive(Debug)]
pub enum SchedulerMsg {
    /// Look for work, renew leases.
    Tick,
    /// A heartbeat was answered (or failed); `sent_at_ms` is when it was sent (monotonic).
    Beat(Result<DeliveryReply, String>, u64),
    /// A worker stopped.
    WorkerExit(ShardRef, WorkerExit),
    /// Stop all work and give the leases back (site drain, shutdown).
    Drain(ractor::RpcReplyPort<usize>),
    /// Take work again after a drain.
    Resume,
}

#[derive(Debug)]
struct Held {
    epoch: u64,
    valid_until: Arc<AtomicU64>,
    priority: Priority,
    tenant: TenantId,
    worker: Option<ActorRef<WorkerMsg>>,
    restarts: u32,
    /// No worker before this log time (an escalation step not yet due, a restart backing off).
    idle_until: u64,
}

/// Its state.
#[derive(Debug)]
pub struct SchedulerState {
    shared: Arc<Shared>,
    held: HashMap<ShardRef, Held>,
    beat_in_flight: bool,
    last_beat_ms: u64,
    draining: bool,
    /// A purge task runs (see [`purge_due`]).
    purging: Arc<std::sync::atomic::AtomicBool>,
    /// When (this node's clock) the last purge task started.
    last_purge_ms: u64,
    /// The unfinished alerts, decoded once each.
    open: OpenAlerts,
}

impl Actor for Scheduler {
    type Msg = SchedulerMsg;
    type State = SchedulerState;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(Duration::from_millis(shared.config.scheduler_tick_ms), || SchedulerMsg::Tick);
        Ok(SchedulerState {
            shared,
            held: HashMap::new(),
            beat_in_flight: false,
            last_beat_ms: 0,
            draining: false,
            purging: Arc::default(),
            last_purge_ms: 0,
            open: OpenAlerts::default(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedulerMsg::Tick if !state.draining => {
                state.shared.failpoints.check("scheduler");
                tick(&myself, state).await
            }
            SchedulerMsg::Tick => {}
            SchedulerMsg::Beat(answer, sent_at) => {
                state.beat_in_flight = false;
                on_beat(state, answer, sent_at);
                start_workers(&myself, state).await;
            }
            SchedulerMsg::WorkerExit(shard, why) => on_worker_exit(state, shard, why),
            SchedulerMsg::Resume => state.draining = false,
            SchedulerMsg::Drain(reply) => {
                state.draining = true;
                let n = drain(state).await;
                let _ = reply.send(n);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = evt {
            restart_failed(state, &cell, &err.to_string());
        }
        Ok(())
    }
}

async fn tick(myself: &ActorRef<SchedulerMsg>, state: &mut SchedulerState) {
    let now = state.shared.clock.now_ms();
    state.shared.metrics.shards_held.set(state.held.len() as f64);
    drop_expired(state, now);
    let open = {
        let txn = state.shared.replica.state().read_txn();
        state.open.refresh(&txn)
    };
    let wants = wants(state, &open);
    let due = now.saturating_sub(state.last_beat_ms) >= state.shared.config.heartbeat_interval_ms;
    if !state.beat_in_flight && (due || !wants.is_empty()) {
        send_beat(myself, state, wants, now);
    }
    start_workers(myself, state).await;
    if state.shared.replica.is_leader() {
        expire_alerts(&state.shared, &open);
        purge_due(state, now);
    }
    open_alert_gauges(&state.shared, &open);
}

/// Leases whose local validity ended: stop their workers now (fencing by our own clock).
fn drop_expired(state: &mut SchedulerState, now: u64) {
    state.held.retain(|shard, h| {
        let valid = h.valid_until.load(Ordering::Acquire) > now;
        if !valid {
            tracing::warn!(
                alert = shard.alert,
                shard = shard.shard,
                "lease expired locally; stopping the shard"
            );
            if let Some(w) = h.worker.take() {
                stop_worker(&w, "lease expired by this node's clock");
            }
        }
        valid
    });
}

/// Tells the worker of a shard this node no longer holds to wind down: it hands nothing more
/// over (its fence closes at once) and records what providers accepted of the batches already
/// handed over, where the log still takes it (see the shard worker's `wind_down`).
fn stop_worker(worker: &ActorRef<WorkerMsg>, why: &'static str) {
    if worker.cast(WorkerMsg::WindDown(why)).is_err() {
        worker.stop(Some(why.into()));
    }
}

fn send_beat(myself: &ActorRef<SchedulerMsg>, state: &mut SchedulerState, acquire: Vec<ShardRef>, now: u64) {
    state.beat_in_flight = true;
    state.last_beat_ms = now;
    let renew: Vec<LeaseRef> =
        state.held.iter().map(|(s, h)| LeaseRef { shard: *s, epoch: h.epoch }).collect();
    let replica = state.shared.replica.clone();
    let lease_ms = state.shared.config.lease_ms;
    let me = myself.clone();
    tokio::spawn(async move {
        let cmd = DeliveryCommand::Heartbeat { node: replica.id(), renew, acquire, lease_ms };
        // A heartbeat is worth waiting for only while the leases it renews can still be valid
        // (its answer extends them from when it was sent); one that hangs longer (a leader lost
        // to a partition) must not hold back the next, which claims the shards of the node that
        // was lost. Sending it again is safe: renewals and claims are by epoch. (Half a lease
        // was too short: under a national fan-out commits take longer than that, and leases
        // then lapsed on healthy nodes.)
        let within = Duration::from_millis(lease_ms.saturating_sub(CLOCK_SKEW_MARGIN_MS).max(1));
        let answer = match tokio::time::timeout(within, replica.write(Request::Delivery(Box::new(cmd)))).await
        {
            Ok(Ok(w)) => match w.response {
                Response::Delivery(r) => Ok(r),
                other => Err(format!("unexpected answer {other:?}")),
            },
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", within.as_millis())),
        };
        let _ = me.cast(SchedulerMsg::Beat(answer, now));
    });
}

fn on_beat(state: &mut SchedulerState, answer: Result<DeliveryReply, String>, sent_at: u64) {
    let Ok(DeliveryReply::Leases { granted, renewed, lost, .. }) = answer else {
        if let Err(e) = answer {
            tracing::warn!(error = %e, "heartbeat not committed; leases run on until they expire");
        }
        return;
    };
    let valid_until = sent_at + state.shared.config.lease_ms - CLOCK_SKEW_MARGIN_MS;
    for Granted { lease, .. } in renewed {
        if let Some(h) = state.held.get(&lease.shard).filter(|h| h.epoch == lease.epoch) {
            h.valid_until.fetch_max(valid_until, Ordering::AcqRel);
        }
    }
    for l in lost {
        if let Some(mut h) = state.held.remove(&l.shard)
            && let Some(w) = h.worker.take()
        {
            stop_worker(&w, "lease lost");
        }
    }
    let txn = state.shared.replica.state().read_txn();
    for Granted { lease, .. } in granted {
        let (priority, tenant) = dq::alert(&txn, lease.shard.alert)
            .ok()
            .flatten()
            .map_or((Priority::Routine, 0), |a| (a.spec.priority, a.tenant));
        state.held.insert(
            lease.shard,
            Held {
                epoch: lease.epoch,
                valid_until: Arc::new(AtomicU64::new(valid_until)),
                priority,
                tenant,
                worker: None,
                restarts: 0,
                idle_until: 0,
            },
        );
    }
}

/// Shards this node should ask for now, most urgent first.
fn wants(state: &SchedulerState, open: &[OpenAlert]) -> Vec<ShardRef> {
    let cap = state.shared.config.shard_workers * 4;
    if state.held.len() >= cap {
        return Vec::new();
    }
    let live = state.shared.live_nodes();
    let rank = live.iter().position(|n| *n == state.shared.replica.id()).unwrap_or(0);
    let now = state.shared.log_now_ms();
    let lease_now = state.shared.lease_now_ms();
    let txn = state.shared.replica.state().read_txn();
    let mut alerts: Vec<_> = open.iter().filter(|a| a.start_ms <= now).collect();
    alerts.sort_by_key(|a| (std::cmp::Reverse(a.priority), a.id));
    let mut out = Vec::new();
    for a in alerts {
        let states = dq::shard_states(&txn, a.id, a.shards).unwrap_or_default();
        // Each live node is given one lease length to claim its share: long enough for a busy
        // node to see the alert, and all a node that stopped (but still counts as live) costs.
        let fair_only = now < a.start_ms + state.shared.config.lease_ms;
        for (i, s) in states.iter().enumerate() {
            let shard = ShardRef { alert: a.id, shard: i as u32 };
            let free = s.owner.is_none() || s.expires_ms + CLOCK_SKEW_MARGIN_MS < lease_now;
            // The split starts at a node chosen by the alert's id, so the many small alerts of
            // one shard each are spread over the sites rather than all given to the lowest id.
            let share = (i + a.id as usize) % live.len();
            if s.done || !free || state.held.contains_key(&shard) || (fair_only && share != rank) {
                continue;
            }
            out.push(shard);
            if out.len() >= ACQUIRE_MAX || state.held.len() + out.len() >= cap {
                return out;
            }
        }
    }
    out
}

/// Starts workers for held shards while slots are free: priority, then tenants in turn.
async fn start_workers(myself: &ActorRef<SchedulerMsg>, state: &mut SchedulerState) {
    let running = state.held.values().filter(|h| h.worker.is_some()).count();
    let mut free = state.shared.config.shard_workers.saturating_sub(running);
    if free == 0 {
        return;
    }
    let mut by_tenant: BTreeMap<(std::cmp::Reverse<Priority>, TenantId), Vec<ShardRef>> = BTreeMap::new();
    let now = state.shared.log_now_ms();
    for (s, h) in state.held.iter().filter(|(_, h)| h.worker.is_none() && h.idle_until <= now) {
        by_tenant.entry((std::cmp::Reverse(h.priority), h.tenant)).or_default().push(*s);
    }
    for list in by_tenant.values_mut() {
        list.sort();
        list.reverse();
    }
    while free > 0 {
        let Some(top) = by_tenant.keys().next().map(|(p, _)| *p) else { break };
        let mut started_any = false;
        for (_, list) in by_tenant.iter_mut().filter(|((p, _), _)| *p == top) {
            if free == 0 {
                break;
            }
            if let Some(shard) = list.pop() {
                spawn_worker(myself, state, shard).await;
                free -= 1;
                started_any = true;
            }
        }
        by_tenant.retain(|_, l| !l.is_empty());
        if !started_any {
            break;
        }
    }
}

async fn spawn_worker(myself: &ActorRef<SchedulerMsg>, state: &mut SchedulerState, shard: ShardRef) {
    let Some(h) = state.held.get(&shard) else { return };
    let args = WorkerArgs {
        shared: state.shared.clone(),
        lease: LeaseRef { shard, epoch: h.epoch },
        valid_until: h.valid_until.clone(),
        scheduler: myself.clone(),
    };
    match Actor::spawn_linked(None, ShardWorker, args, myself.get_cell()).await {
        Ok((worker, _)) => {
            if let Some(h) = state.held.get_mut(&shard) {
                h.worker = Some(worker);
            }
        }
        Err(e) => {
            tracing::error!(alert = shard.alert, shard = shard.shard, error = %e, "shard worker did not start")
        }
    }
}

fn on_worker_exit(state: &mut SchedulerState, shard: ShardRef, why: WorkerExit) {
    match why {
        WorkerExit::IdleUntil(t) => {
            if let Some(h) = state.held.get_mut(&shard) {
                h.worker = None;
                h.idle_until = t;
            }
        }
        WorkerExit::Lost(reason) => {
            tracing::info!(alert = shard.alert, shard = shard.shard, reason = %reason, "shard given up");
            state.held.remove(&shard);
        }
        WorkerExit::Done => {
            state.held.remove(&shard);
        }
    }
}

fn restart_failed(state: &mut SchedulerState, cell: &ActorCell, err: &str) {
    let now = state.shared.log_now_ms();
    let Some((&shard, h)) =
        state.held.iter_mut().find(|(_, h)| h.worker.as_ref().is_some_and(|w| w.get_id() == cell.get_id()))
    else {
        return;
    };
    h.worker = None;
    h.restarts += 1;
    tracing::error!(alert = shard.alert, shard = shard.shard, restarts = h.restarts, error = %err, "shard worker failed");
    if h.restarts > WORKER_RESTARTS_MAX {
        tracing::error!(
            alert = shard.alert,
            shard = shard.shard,
            "giving the shard up after repeated failures"
        );
        state.held.remove(&shard);
        return;
    }
    // Back off before the restart (100 ms, 200 ms, … 1.6 s): `start_workers` starts it again
    // once this time has passed, on a later tick. The scheduler does not wait here, so its
    // heartbeats, which keep every lease of this node, go on meanwhile.
    h.idle_until = now + (100u64 << h.restarts.min(4));
}

/// Sets the open-alert gauges from the applied state.
fn open_alert_gauges(shared: &Shared, open: &[OpenAlert]) {
    let now = shared.log_now_ms();
    let txn = shared.replica.state().read_txn();
    // An alert that has not started has no progress yet: nothing to read.
    let pending: u64 = open
        .iter()
        .map(|a| match a.start_ms <= now {
            true => {
                a.recipients_planned.saturating_sub(query::progress(&txn, a.id).map_or(0, |p| p.recipients))
            }
            false => a.recipients_planned,
        })
        .sum();
    shared.metrics.alerts_open.set(open.len() as f64);
    shared.metrics.recipients_pending.set(pending as f64);
}

/// The leader ends alerts whose expiry passed; the log's clock decides.
fn expire_alerts(shared: &Arc<Shared>, open: &[OpenAlert]) {
    let now = shared.log_now_ms();
    let due: Vec<u64> = open.iter().filter(|a| a.expires_ms <= now).map(|a| a.id).collect();
    for alert in due {
        let replica = shared.replica.clone();
        tokio::spawn(async move {
            if let Err(e) =
                replica.write(Request::Delivery(Box::new(DeliveryCommand::Expire { alert }))).await
            {
                tracing::warn!(alert, error = %e, "expiry not recorded; will try again");
            }
        });
    }
}

/// Records one purge entry removes at most.
const PURGE_BUDGET: u32 = 2_000;
/// How often the leader purges even when no alert is due (old audit entries).
const PURGE_EVERY_MS: u64 = 60_000;

/// The leader removes what retention no longer keeps: when a finished alert is due by the
/// log's clock (or a minute has passed, for the audit trail), a task proposes purge entries of
/// at most [`PURGE_BUDGET`] records, one after the other, until nothing more is due. One task
/// at a time; sending's own entries go in between.
fn purge_due(state: &mut SchedulerState, now: u64) {
    use std::sync::atomic::Ordering as O;
    if state.purging.load(O::Acquire) {
        return;
    }
    let log_now = state.shared.log_now_ms();
    let txn = state.shared.replica.state().read_txn();
    let alert_due = varsel_raft_store::state_machine::retention::due(&txn, log_now).unwrap_or(false);
    drop(txn);
    if !alert_due && now.saturating_sub(state.last_purge_ms) < PURGE_EVERY_MS {
        return;
    }
    state.last_purge_ms = now;
    state.purging.store(true, O::Release);
    let (replica, purging) = (state.shared.replica.clone(), Arc::clone(&state.purging));
    tokio::spawn(async move {
        let mut removed = 0u64;
        loop {
            let cmd = DeliveryCommand::Purge { budget: PURGE_BUDGET };
            match replica.write(Request::Delivery(Box::new(cmd))).await {
                Ok(w) => match w.response {
                    varsel_raft_store::Response::Delivery(DeliveryReply::Purged { records, more }) => {
                        removed += records;
                        if !more {
                            break;
                        }
                    }
                    _ => break,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "purge not committed; the next tick tries again");
                    break;
                }
            }
        }
        if removed > 0 {
            tracing::info!(records = removed, "retention: records purged");
        }
        purging.store(false, O::Release);
    });
}

/// Winds every worker down, waits (bounded) until each has recorded what it had handed over,
/// then gives the leases back. Returns how many were released.
///
/// The leases are released only after the workers are done: a lease given back while a
/// worker still has batches at the providers lets another node take the shard from the last
/// recorded position and send those batches again (seen as a whole chunk sent twice in a
/// drain test). The wait is bounded by the lease: the scheduler renews nothing meanwhile, so
/// after one lease length the workers' fences are closed anyway.
async fn drain(state: &mut SchedulerState) -> usize {
    let leases: Vec<LeaseRef> =
        state.held.iter().map(|(s, h)| LeaseRef { shard: *s, epoch: h.epoch }).collect();
    let workers: Vec<ActorRef<WorkerMsg>> = state.held.values_mut().filter_map(|h| h.worker.take()).collect();
    for w in &workers {
        stop_worker(w, "draining");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(state.shared.config.lease_ms);
    for w in &workers {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if w.wait(Some(left)).await.is_err() {
            tracing::warn!(worker = ?w.get_id(), "a worker did not finish winding down within a lease; stopping it");
            w.stop(Some("draining: wind-down took longer than a lease".into()));
        }
    }
    state.held.clear();
    if leases.is_empty() {
        return 0;
    }
    let n = leases.len();
    let cmd = DeliveryCommand::Release { node: state.shared.replica.id(), leases };
    if let Err(e) = state.shared.replica.write(Request::Delivery(Box::new(cmd))).await {
        tracing::warn!(error = %e, "leases not released; they will expire");
    }
    n
}
