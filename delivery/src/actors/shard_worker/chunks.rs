//! A shard worker's chunks: reading and personalising recipients, handing them to the channel
//! queue behind the worker's fence, and taking the provider's answers.

use tracing::Instrument;
use varsel_domain::model::{Alert, Channel};
use varsel_raft_store::delivery::{Outcome, OutcomeResult};
use varsel_raft_store::state_machine::domain::query;

use super::{RETRY_PAUSE, WorkerMsg, WorkerState, schedule};
use crate::actors::sender::BatchResult;
use crate::message::OutboundMessage;
use crate::providers::Final;
use crate::recipients::{self, Resolved};
use crate::render::NotSendable;
use ractor::ActorRef;

#[derive(Debug)]
pub(super) struct Chunk {
    pub(super) from: u64,
    pub(super) to: u64,
    pub(super) recipients: u32,
    pub(super) positions: Vec<u64>,
    pub(super) messages: Vec<OutboundMessage>,
    pub(super) outcomes: Vec<Outcome>,
    pub(super) skipped: u32,
    pub(super) done: bool,
    /// Some of its messages were never handed over (the fence closed first).
    pub(super) incomplete: bool,
}

/// Reads and personalises the chunk `from..to` of pipeline `i`. None on a storage error.
pub(super) fn build_chunk(state: &mut WorkerState, i: usize, from: u64, to: u64) -> Option<Chunk> {
    let shared = state.args.shared.clone();
    let resolved = match recipients::resolve(shared.replica.state(), &state.alert, &state.range, from, to) {
        Ok(r) => r,
        Err(e) => {
            shared.read_failed("shard-worker", &e.to_string());
            return None;
        }
    };
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
        incomplete: false,
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
        if step > 0 {
            let ack = match query::ack(&txn, state.alert.id, contact.id) {
                // The failpoint fails the first read that would have found an acknowledgement:
                // the case where taking a failure for "no" would call someone who answered.
                Ok(Some(_)) if shared.failpoints.fail_read("ack") => {
                    Err("failpoint: an acknowledgement read fails once (testing.fail_reads)".to_string())
                }
                other => other.map_err(|e| e.to_string()),
            };
            match ack {
                Ok(Some(_)) => {
                    c.skipped += 1;
                    continue;
                }
                Ok(None) => {}
                // Not knowing is not "not acknowledged": the whole chunk is read again later.
                Err(e) => {
                    shared.read_failed("shard-worker", &e);
                    return None;
                }
            }
        }
        match state.renderer.message(&state.alert, &contact, channel, step, state.max_segments) {
            Ok(m) => {
                c.positions.push(pos);
                c.messages.push(m);
            }
            Err(NotSendable::OptedOut | NotSendable::NoAddress) => c.skipped += 1,
            Err(NotSendable::Content(reason)) => c.outcomes.push(
                Outcome {
                    pos,
                    contact: contact.id,
                    channel,
                    result: OutcomeResult::Failed { reason },
                    provider: String::new(),
                    at_ms: varsel_domain::clock::wall_ms(),
                }
                .bounded(),
            ),
        }
    }
    c.done = c.messages.is_empty();
    Some(c)
}

/// Hands chunk `seq`'s messages to the channel queue. False when the queue is full (the chunk
/// stays stalled and the pump comes back later).
pub(super) fn dispatch(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, i: usize, seq: u64) -> bool {
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
    match queue.try_push(state.alert.spec.priority, messages, state.fence.clone()) {
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

pub(super) fn batch_done(
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
        if state.winding.is_some() {
            // Nothing more is handed over: the batch is given up like one not yet sent.
            chunk.messages.clear();
            chunk.positions.clear();
            chunk.done = true;
            chunk.incomplete = true;
            return;
        }
        // The sender worker died holding the batch: send it again (same keys).
        pipe.stalled = Some(seq);
        return schedule(myself, state, RETRY_PAUSE);
    };
    let mut dropped = None;
    for ((m, pos), (fin, at_ms)) in chunk.messages.iter().zip(&chunk.positions).zip(results) {
        let (result, provider) = match fin {
            Final::Sent { provider, provider_id } => (OutcomeResult::Sent { provider_id }, provider),
            Final::Failed { provider, reason } => (OutcomeResult::Failed { reason }, provider),
            Final::Dropped { reason } => {
                dropped = Some(reason);
                continue;
            }
        };
        let outcome = Outcome { pos: *pos, contact: m.contact, channel, result, provider, at_ms };
        chunk.outcomes.push(outcome.bounded());
    }
    chunk.messages = Vec::new();
    chunk.positions = Vec::new();
    chunk.done = true;
    if let Some(reason) = dropped {
        // The fence closed under this batch: some messages were not handed over. Until the
        // alert ends, this chunk must not be recorded, nor anything after it.
        chunk.incomplete = true;
        super::wind_down(state, &format!("fence closed: {reason}"));
    }
}
