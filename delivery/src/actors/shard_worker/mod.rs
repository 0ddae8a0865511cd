//! `ShardWorker`: sends one shard of one alert while this node holds its lease.
//!
//! For the current escalation step, each channel has its own pipeline: it reads the next chunk
//! of recipients ([`crate::recipients`]), personalises the messages, and hands them to
//! the channel's queue; at most `window_chunks` chunks per channel are in flight. Finished
//! chunks are recorded in order, so the shard's cursor in the log only ever covers messages
//! whose outcome is known. Before every chunk is handed over, the lease is checked (by this
//! node's monotonic clock, and by the epoch in the applied state); once it is gone the worker
//! stops, and the log refuses anything it still tries to record.
//!
//! In-flight window: what a takeover may send again is what this worker handed over and had
//! not yet recorded, at most `window_chunks x chunk_recipients` messages per channel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use varsel_domain::model::{Alert, Channel};
use varsel_raft_store::delivery::{LeaseRef, ShardState};
use varsel_raft_store::shards::ShardRange;
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::domain::query;

use super::fence::LeaseFence;
use super::recorder::Recorded;
use super::scheduler::{SchedulerMsg, WorkerExit};
use super::sender::BatchResult;
use crate::Shared;
use crate::render::Renderer;

mod chunks;
mod record;

use chunks::{Chunk, batch_done, build_chunk, dispatch};
use record::{recorded, submit_ready};

/// Pause before trying again when a channel's queue is full or a write failed.
const RETRY_PAUSE: Duration = Duration::from_millis(25);
/// How often a worker whose step is fully recorded looks for the record in the applied state.
const APPLY_POLL: Duration = Duration::from_millis(50);
/// A worker waits at most this long for its own lease to show in the applied state.
const LEASE_VISIBLE_WITHIN: Duration = Duration::from_secs(10);
/// Longest sleep while waiting for an escalation step to become due.
const STEP_WAIT_MAX: Duration = Duration::from_secs(1);
/// Longest a worker winds down after its alert ended: waiting for the batches it handed over
/// and recording what the providers accepted.
const WIND_DOWN_MAX: Duration = Duration::from_secs(30);

/// The worker actor.
#[derive(Debug)]
pub struct ShardWorker;

/// What a worker starts with.
#[derive(Debug)]
pub struct WorkerArgs {
    /// The engine.
    pub shared: Arc<Shared>,
    /// The lease it works under.
    pub lease: LeaseRef,
    /// The lease's end by this node's monotonic clock (ms since the engine started).
    pub valid_until: Arc<std::sync::atomic::AtomicU64>,
    /// Who to tell when it stops.
    pub scheduler: ActorRef<SchedulerMsg>,
}

/// Its messages.
#[derive(Debug)]
pub enum WorkerMsg {
    /// Look for work.
    Pump,
    /// A batch came back from the channel sender (`None`: lost, send it again).
    BatchDone {
        /// Pipeline.
        pipe: usize,
        /// Chunk.
        seq: u64,
        /// Outcomes.
        result: Option<BatchResult>,
    },
    /// The scheduler no longer holds the lease (lost, expired, or the alert ended): hand nothing
    /// more over, record what can still be recorded of the batches already handed over, then
    /// stop.
    WindDown(&'static str),
    /// The recorder answered for chunks up to `last_seq`.
    Recorded {
        /// Pipeline.
        pipe: usize,
        /// Last chunk covered.
        last_seq: u64,
        /// One past the last position covered.
        to: u64,
        /// The answer.
        result: Recorded,
    },
}

#[derive(Debug)]
struct Pipe {
    channel: Channel,
    next: u64,
    next_seq: u64,
    chunks: BTreeMap<u64, Chunk>,
    stalled: Option<u64>,
    recording: bool,
    /// The log refused a range of this pipeline as too large: record one chunk at a time.
    one_chunk: bool,
}

/// Its state.
#[derive(Debug)]
pub struct WorkerState {
    args: WorkerArgs,
    alert: Alert,
    range: ShardRange,
    end: u64,
    max_segments: u32,
    step: Option<u8>,
    pipes: Vec<Pipe>,
    renderer: Renderer,
    pump_scheduled: bool,
    started: tokio::time::Instant,
    fence: Arc<LeaseFence>,
    /// Since when the worker winds down (its alert ended).
    winding: Option<tokio::time::Instant>,
    /// It told the scheduler it stops; messages still in its mailbox are ignored.
    stopped: bool,
}

impl WorkerState {
    /// The shard's state in this node's applied state; `Err` when it could not be read (logged
    /// and counted: the caller tries again).
    fn shard_state(&self) -> Result<Option<ShardState>, ()> {
        let s = self.args.lease.shard;
        let shared = &self.args.shared;
        match dq::shard_state(&shared.replica.state().read_txn(), s.alert, self.alert.shards, s.shard) {
            Ok(v) => Ok(v),
            Err(e) => {
                shared.read_failed("shard-worker", &e.to_string());
                Err(())
            }
        }
    }
}

fn exit(state: &mut WorkerState, myself: &ActorRef<WorkerMsg>, why: WorkerExit) {
    if state.stopped {
        return;
    }
    state.stopped = true;
    if let WorkerExit::Lost(reason) = &why {
        state.fence.close(reason);
    }
    let _ = state.args.scheduler.cast(SchedulerMsg::WorkerExit(state.args.lease.shard, why));
    myself.stop(None);
}

fn schedule(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, after: Duration) {
    if !state.pump_scheduled {
        state.pump_scheduled = true;
        myself.send_after(after, || WorkerMsg::Pump);
    }
}

impl Actor for ShardWorker {
    type Msg = WorkerMsg;
    type State = WorkerState;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let txn = args.shared.replica.state().read_txn();
        let shard = args.lease.shard;
        let alert =
            dq::alert(&txn, shard.alert)?.ok_or_else(|| format!("alert {} not found", shard.alert))?;
        let range =
            dq::shard_range(&alert, shard.shard).ok_or_else(|| format!("no shard {}", shard.shard))?;
        let tenant = query::tenant(&txn, alert.tenant)?;
        let max_segments = tenant.as_ref().map_or(1, |t| t.limits.max_sms_segments);
        let senders =
            tenant.map(|t| senders_of(&args.shared.config.reply_routes, &t.name)).unwrap_or_default();
        let end = dq::range_end(&range);
        let mut renderer = Renderer::with_senders(senders);
        if let Some(asked) = varsel_raft_store::state_machine::domain::answers::of(&txn, alert.id)? {
            let cfg = &args.shared.config;
            match cfg.answer_url.as_deref().or(cfg.callback_url.as_deref()) {
                Some(base) => renderer = renderer.with_answers(base, &asked),
                None => tracing::warn!(
                    alert = alert.id,
                    "alert has answer options but neither delivery.answer_url nor delivery.callback_url is set: \
                     {{{{answer_link}}}} is left empty"
                ),
            }
        }
        drop(txn);
        let _ = myself.cast(WorkerMsg::Pump);
        let fence = Arc::new(LeaseFence::new(&args.shared, args.lease, args.valid_until.clone()));
        Ok(WorkerState {
            args,
            alert,
            range,
            end,
            max_segments,
            step: None,
            pipes: Vec::new(),
            renderer,
            pump_scheduled: true,
            started: tokio::time::Instant::now(),
            fence,
            winding: None,
            stopped: false,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Stopped by the scheduler (lease lost or expired, drain) or failed: whatever it queued
        // must not be handed over any more.
        state.fence.close("the shard worker stopped");
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkerMsg::Pump => {
                state.pump_scheduled = false;
                pump(&myself, state);
            }
            WorkerMsg::WindDown(why) => {
                wind_down(state, why);
                pump(&myself, state);
            }
            WorkerMsg::BatchDone { pipe, seq, result } => {
                batch_done(&myself, state, pipe, seq, result);
                pump(&myself, state);
            }
            WorkerMsg::Recorded { pipe, last_seq, to, result } => {
                recorded(&myself, state, pipe, last_seq, to, result);
                pump(&myself, state);
            }
        }
        Ok(())
    }
}

/// Checks the lease and the alert; sets up the step; keeps every pipeline busy.
fn pump(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState) {
    if state.stopped {
        return;
    }
    if state.winding.is_some() {
        return pump_winding(myself, state);
    }
    let shared = state.args.shared.clone();
    if shared.clock.now_ms() >= state.args.valid_until.load(std::sync::atomic::Ordering::Acquire) {
        wind_down(state, "lease expired by this node's clock");
        return pump_winding(myself, state);
    }
    let Ok(shard_state) = state.shard_state() else { return schedule(myself, state, RETRY_PAUSE * 4) };
    let Some(s) = shard_state else {
        return exit(state, myself, WorkerExit::Lost("shard state missing".into()));
    };
    if s.owner != Some(shared.replica.id()) || s.epoch != state.args.lease.epoch {
        if s.done {
            return exit(state, myself, WorkerExit::Done);
        }
        if s.epoch < state.args.lease.epoch && state.started.elapsed() < LEASE_VISIBLE_WITHIN {
            // Our lease is committed but not applied here yet.
            return schedule(myself, state, RETRY_PAUSE);
        }
        return exit(state, myself, WorkerExit::Lost(format!("lease taken over (epoch {})", s.epoch)));
    }
    let status = match dq::alert(&shared.replica.state().read_txn(), state.alert.id) {
        Ok(a) => a.map(|a| a.status),
        Err(e) => {
            shared.read_failed("shard-worker", &e.to_string());
            return schedule(myself, state, RETRY_PAUSE * 4);
        }
    };
    if status.is_none_or(|st| st.is_final()) {
        wind_down(state, "alert finished or cancelled");
        return pump_winding(myself, state);
    }
    if state.step != Some(s.step) && !start_step(myself, state, &s) {
        return;
    }
    for i in 0..state.pipes.len() {
        fill(myself, state, i);
        submit_ready(myself, state, i);
    }
    // Every range of the step is recorded, but this node may not have applied the last record
    // yet (a follower learns of a commit after the leader has answered): look again shortly,
    // or the next step, or the shard's end, would never be noticed.
    let drained = state.pipes.iter().all(|p| p.next >= state.end && p.chunks.is_empty() && !p.recording);
    if drained {
        schedule(myself, state, APPLY_POLL);
    }
}

/// The worker stops handing anything over (its alert ended, its lease was lost or expired by
/// this node's clock, or its fence closed under a batch): the fence closes, so queued and
/// retrying batches are dropped at once; chunks not handed over are given up; the batches in
/// flight are awaited so that what the providers accepted can still be recorded.
///
/// Recording after the lease is gone is safe: the log takes a range only from the lease's
/// owner and epoch, so it refuses once another node took the shard over (which then sends
/// from the recorded cursor) and accepts while nobody did (a cancelled alert is never taken
/// over), which keeps the report true and spares recipients a second copy.
fn wind_down(state: &mut WorkerState, why: &str) {
    if state.winding.is_some() {
        return;
    }
    tracing::info!(
        alert = state.alert.id,
        shard = state.args.lease.shard.shard,
        reason = why,
        "winding down"
    );
    state.fence.close(why);
    state.winding = Some(tokio::time::Instant::now());
    for pipe in &mut state.pipes {
        pipe.next = state.end;
        if let Some(seq) = pipe.stalled.take()
            && let Some(c) = pipe.chunks.get_mut(&seq)
        {
            c.messages.clear();
            c.positions.clear();
            c.done = true;
            c.incomplete = true;
        }
    }
}

/// Winding down: record answered chunks in order, then stop once nothing more can be recorded
/// or after [`WIND_DOWN_MAX`]. While the alert is still open, a chunk with messages that were
/// not handed over (`incomplete`) must not be recorded, nor anything after it: its cursor would
/// pass messages nobody sent. Once the alert has ended, those messages are simply not sent.
fn pump_winding(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState) {
    let since = state.winding.map_or(Duration::ZERO, |t| t.elapsed());
    let ended = match dq::alert(&state.args.shared.replica.state().read_txn(), state.alert.id) {
        Ok(a) => a.is_none_or(|a| a.status.is_final()),
        Err(e) => {
            state.args.shared.read_failed("shard-worker", &e.to_string());
            false
        }
    };
    if ended {
        for c in state.pipes.iter_mut().flat_map(|p| p.chunks.values_mut()) {
            c.incomplete = false;
        }
    }
    for i in 0..state.pipes.len() {
        submit_ready(myself, state, i);
    }
    let settled = state
        .pipes
        .iter()
        .all(|p| !p.recording && p.chunks.values().next().is_none_or(|head| head.done && head.incomplete));
    if settled || since >= WIND_DOWN_MAX {
        if !settled {
            tracing::warn!(
                alert = state.alert.id,
                shard = state.args.lease.shard.shard,
                "batches still unanswered or unrecorded after {WIND_DOWN_MAX:?} are left to whoever \
                 holds the shard next"
            );
        }
        let why = if ended { "alert finished or cancelled" } else { "lease lost" };
        return exit(state, myself, WorkerExit::Lost(why.into()));
    }
    schedule(myself, state, APPLY_POLL);
}

/// Sets up the pipelines of the shard's current step once it is due. False while waiting.
fn start_step(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, s: &ShardState) -> bool {
    let Some(step) = state.alert.spec.policy.get(usize::from(s.step)) else { return false };
    let due = state.alert.start_ms + u64::from(step.after_seconds) * 1000;
    let now = state.args.shared.log_now_ms();
    if now < due {
        if due - now > STEP_WAIT_MAX.as_millis() as u64 {
            // Minutes until the next escalation step: give the worker slot to other shards.
            exit(state, myself, WorkerExit::IdleUntil(due));
        } else {
            schedule(myself, state, Duration::from_millis(due - now));
        }
        return false;
    }
    state.pipes = step
        .channels
        .iter()
        .zip(s.cursors.iter())
        .map(|(c, cursor)| Pipe {
            channel: *c,
            next: *cursor,
            next_seq: 0,
            chunks: BTreeMap::new(),
            stalled: None,
            recording: false,
            one_chunk: false,
        })
        .collect();
    state.step = Some(s.step);
    true
}

/// Starts chunks on pipeline `i` while its window has room and its queue admits them.
fn fill(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, i: usize) {
    let cfg = &state.args.shared.config;
    let (window, chunk) = (cfg.window_chunks, cfg.chunk_recipients as u64);
    if let Some(seq) = state.pipes[i].stalled.take()
        && !dispatch(myself, state, i, seq)
    {
        return;
    }
    while state.pipes[i].chunks.len() < window && state.pipes[i].next < state.end {
        let from = state.pipes[i].next;
        let to = (from + chunk).min(state.end);
        let Some(c) = build_chunk(state, i, from, to) else {
            return schedule(myself, state, RETRY_PAUSE);
        };
        let seq = state.pipes[i].next_seq;
        state.pipes[i].next_seq += 1;
        state.pipes[i].next = to;
        state.pipes[i].chunks.insert(seq, c);
        if !dispatch(myself, state, i, seq) {
            return;
        }
    }
}

/// Where a tenant's messages are sent from, per provider: its `delivery.reply_routes` entries
/// (the first for a provider, if it has several).
fn senders_of(routes: &[varsel_config::ReplyRoute], tenant: &str) -> crate::message::Senders {
    let mut out = crate::message::Senders::new();
    for r in routes.iter().filter(|r| r.tenant == tenant) {
        out.entry(r.provider.clone()).or_insert_with(|| r.to.clone());
    }
    out
}
