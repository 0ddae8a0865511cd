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

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::Instrument;
use varsel_domain::model::{Alert, Channel};
use varsel_raft_store::delivery::{LeaseRef, Outcome, OutcomeResult, ShardProgress, ShardState};
use varsel_raft_store::shards::ShardRange;
use varsel_raft_store::state_machine::delivery::query as dq;
use varsel_raft_store::state_machine::domain::query;

use super::recorder::{Recorded, RecorderMsg};
use super::scheduler::{SchedulerMsg, WorkerExit};
use super::sender::BatchResult;
use crate::Shared;
use crate::message::OutboundMessage;
use crate::providers::Final;
use crate::recipients::{self, Resolved};
use crate::render::{NotSendable, Renderer};

/// Pause before trying again when a channel's queue is full or a write failed.
const RETRY_PAUSE: Duration = Duration::from_millis(25);
/// How often a worker whose step is fully recorded looks for the record in the applied state.
const APPLY_POLL: Duration = Duration::from_millis(50);
/// A worker waits at most this long for its own lease to show in the applied state.
const LEASE_VISIBLE_WITHIN: Duration = Duration::from_secs(10);
/// Longest sleep while waiting for an escalation step to become due.
const STEP_WAIT_MAX: Duration = Duration::from_secs(1);

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
struct Chunk {
    from: u64,
    to: u64,
    recipients: u32,
    positions: Vec<u64>,
    messages: Vec<OutboundMessage>,
    outcomes: Vec<Outcome>,
    skipped: u32,
    done: bool,
}

#[derive(Debug)]
struct Pipe {
    channel: Channel,
    next: u64,
    next_seq: u64,
    chunks: BTreeMap<u64, Chunk>,
    stalled: Option<u64>,
    recording: bool,
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
}

impl WorkerState {
    fn shard_state(&self) -> Option<ShardState> {
        let s = self.args.lease.shard;
        dq::shard_states(&self.args.shared.replica.state().read_txn(), s.alert, self.alert.shards)
            .ok()
            .and_then(|v| v.get(s.shard as usize).cloned())
    }
}

fn exit(state: &WorkerState, myself: &ActorRef<WorkerMsg>, why: WorkerExit) {
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
        let max_segments = query::tenant(&txn, alert.tenant)?.map_or(1, |t| t.limits.max_sms_segments);
        let end = dq::range_end(&range);
        drop(txn);
        let _ = myself.cast(WorkerMsg::Pump);
        Ok(WorkerState {
            args,
            alert,
            range,
            end,
            max_segments,
            step: None,
            pipes: Vec::new(),
            renderer: Renderer::default(),
            pump_scheduled: true,
            started: tokio::time::Instant::now(),
        })
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
    let shared = state.args.shared.clone();
    if shared.clock.now_ms() >= state.args.valid_until.load(std::sync::atomic::Ordering::Acquire) {
        return exit(state, myself, WorkerExit::Lost("lease expired by this node's clock".into()));
    }
    let Some(s) = state.shard_state() else {
        return exit(state, myself, WorkerExit::Lost("shard state unreadable".into()));
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
    let status =
        dq::alert(&shared.replica.state().read_txn(), state.alert.id).ok().flatten().map(|a| a.status);
    if status.is_none_or(|st| st.is_final()) {
        return exit(state, myself, WorkerExit::Lost("alert finished or cancelled".into()));
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

/// Sets up the pipelines of the shard's current step once it is due. False while waiting.
fn start_step(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, s: &ShardState) -> bool {
    let Some(step) = state.alert.spec.policy.get(usize::from(s.step)) else { return false };
    let due = state.alert.start_ms + u64::from(step.after_seconds) * 1000;
    let now = varsel_domain::clock::wall_ms();
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

/// Reads and personalises the chunk `from..to` of pipeline `i`. None on a storage error.
fn build_chunk(state: &mut WorkerState, i: usize, from: u64, to: u64) -> Option<Chunk> {
    let shared = state.args.shared.clone();
    let resolved = recipients::resolve(shared.replica.state(), &state.alert, &state.range, from, to).ok()?;
    let step = state.step.unwrap_or(0);
    let channel = state.pipes[i].channel;
    let mut c = Chunk {
        from,
        to,
        recipients: 0,
        positions: Vec::new(),
        messages: Vec::new(),
        outcomes: Vec::new(),
        skipped: 0,
        done: false,
    };
    let txn = shared.replica.state().read_txn();
    for (pos, r) in resolved {
        let contact = match r {
            Resolved::Recipient(c) => c,
            Resolved::NotRecipient | Resolved::Duplicate => continue,
            Resolved::Deleted => {
                c.skipped += 1;
                continue;
            }
        };
        if step == 0 && i == 0 {
            c.recipients += 1;
        }
        if step > 0 && query::ack(&txn, state.alert.id, contact.id).ok().flatten().is_some() {
            c.skipped += 1;
            continue;
        }
        match state.renderer.message(&state.alert, &contact, channel, step, state.max_segments) {
            Ok(m) => {
                c.positions.push(pos);
                c.messages.push(m);
            }
            Err(NotSendable::OptedOut | NotSendable::NoAddress) => c.skipped += 1,
            Err(NotSendable::Content(reason)) => c.outcomes.push(Outcome {
                pos,
                contact: contact.id,
                channel,
                result: OutcomeResult::Failed { reason },
                provider: String::new(),
                at_ms: varsel_domain::clock::wall_ms(),
            }),
        }
    }
    c.done = c.messages.is_empty();
    Some(c)
}

/// Hands chunk `seq`'s messages to the channel queue. False when the queue is full (the chunk
/// stays stalled and the pump comes back later).
fn dispatch(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, i: usize, seq: u64) -> bool {
    let shared = state.args.shared.clone();
    let pipe = &mut state.pipes[i];
    let Some(chunk) = pipe.chunks.get_mut(&seq) else { return true };
    if chunk.done || chunk.messages.is_empty() {
        return true;
    }
    let Some(queue) = shared.queues.get(&pipe.channel) else { return true };
    if !shared.tenant_budget(state.alert.tenant, chunk.messages.len()) {
        pipe.stalled = Some(seq);
        schedule(myself, state, RETRY_PAUSE);
        return false;
    }
    let messages = chunk.messages.clone();
    let n = messages.len();
    match queue.try_push(state.alert.spec.priority, messages) {
        Ok(rx) => {
            let me = myself.clone();
            let span = batch_span(&state.alert, state.args.lease.shard.shard, pipe.channel, n);
            tokio::spawn(
                async move {
                    let result = rx.await.ok();
                    let _ = me.cast(WorkerMsg::BatchDone { pipe: i, seq, result });
                }
                .instrument(span),
            );
            true
        }
        Err(_) => {
            pipe.stalled = Some(seq);
            schedule(myself, state, RETRY_PAUSE);
            false
        }
    }
}

/// A span for one batch from queue to provider answer, in the trace of the request that
/// created the alert (whichever node that was).
fn batch_span(alert: &Alert, shard: u32, channel: Channel, messages: usize) -> tracing::Span {
    let span = tracing::info_span!(
        "delivery.batch",
        otel.kind = "client",
        alert = alert.id,
        shard,
        channel = %channel,
        messages
    );
    let carrier = varsel_observe::trace::TraceCarrier { traceparent: alert.trace.clone(), tracestate: None };
    carrier.set_parent_of(&span);
    span
}

fn batch_done(
    myself: &ActorRef<WorkerMsg>,
    state: &mut WorkerState,
    i: usize,
    seq: u64,
    result: Option<BatchResult>,
) {
    let Some(pipe) = state.pipes.get_mut(i) else { return };
    let channel = pipe.channel;
    let Some(chunk) = pipe.chunks.get_mut(&seq) else { return };
    let Some(results) = result else {
        // The sender worker died holding the batch: send it again (same keys).
        pipe.stalled = Some(seq);
        return schedule(myself, state, RETRY_PAUSE);
    };
    for ((m, pos), (fin, at_ms)) in chunk.messages.iter().zip(&chunk.positions).zip(results) {
        let (result, provider) = match fin {
            Final::Sent { provider, provider_id } => (OutcomeResult::Sent { provider_id }, provider),
            Final::Failed { provider, reason } => (OutcomeResult::Failed { reason }, provider),
        };
        chunk.outcomes.push(Outcome { pos: *pos, contact: m.contact, channel, result, provider, at_ms });
    }
    chunk.messages = Vec::new();
    chunk.positions = Vec::new();
    chunk.done = true;
}

/// Sends the finished chunks at the head of pipeline `i` to the recorder, as one range.
fn submit_ready(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, i: usize) {
    let lease = state.args.lease;
    let step = state.step.unwrap_or(0);
    let pipe = &mut state.pipes[i];
    if pipe.recording {
        return;
    }
    let ready: VecDeque<u64> = pipe.chunks.iter().take_while(|(_, c)| c.done).map(|(s, _)| *s).collect();
    let (Some(&first), Some(&last)) = (ready.front(), ready.back()) else { return };
    let from = pipe.chunks[&first].from;
    let to = pipe.chunks[&last].to;
    let mut progress = ShardProgress {
        lease,
        step,
        channel: pipe.channel,
        from,
        to,
        recipients: 0,
        outcomes: Vec::new(),
        skipped: Vec::new(),
    };
    let mut skipped = 0;
    for seq in &ready {
        let c = &pipe.chunks[seq];
        progress.recipients += c.recipients;
        progress.outcomes.extend(c.outcomes.iter().cloned());
        skipped += c.skipped;
    }
    if skipped > 0 {
        progress.skipped.push((pipe.channel, skipped));
    }
    pipe.recording = true;
    let Some(recorder) = state.args.shared.recorder() else {
        pipe.recording = false;
        return schedule(myself, state, RETRY_PAUSE);
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    if recorder.cast(RecorderMsg::Submit(progress, tx)).is_err() {
        pipe.recording = false;
        return schedule(myself, state, RETRY_PAUSE);
    }
    let me = myself.clone();
    tokio::spawn(async move {
        let result = rx.await.unwrap_or_else(|_| Recorded::Failed("recorder restarted".into()));
        let _ = me.cast(WorkerMsg::Recorded { pipe: i, last_seq: last, to, result });
    });
}

fn recorded(
    myself: &ActorRef<WorkerMsg>,
    state: &mut WorkerState,
    i: usize,
    last_seq: u64,
    to: u64,
    result: Recorded,
) {
    let accepted = match result {
        Recorded::Accepted => true,
        // The write may have committed before its answer was lost: trust the applied state.
        Recorded::Refused | Recorded::Failed(_) => state.shard_state().is_some_and(|s| {
            s.epoch == state.args.lease.epoch
                && (Some(s.step) > state.step || s.cursors.get(i).is_some_and(|c| *c >= to))
        }),
    };
    let Some(pipe) = state.pipes.get_mut(i) else { return };
    pipe.recording = false;
    if accepted {
        pipe.chunks.retain(|seq, _| *seq > last_seq);
    } else if matches!(result, Recorded::Failed(_)) {
        schedule(myself, state, RETRY_PAUSE * 4);
    } else {
        // Refused and not in the log: the lease moved on. The pump notices and stops.
        schedule(myself, state, RETRY_PAUSE);
    }
}
