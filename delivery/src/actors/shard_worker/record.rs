//! A shard worker's recording: finished chunks at the head of a pipeline go to the recorder as
//! one range, in order, so the shard's cursor only covers messages whose outcome is known.

use std::collections::VecDeque;

use ractor::ActorRef;
use varsel_raft_store::delivery::{RECORD_BYTES_MAX, ShardProgress};

use super::{RETRY_PAUSE, WorkerMsg, WorkerState, schedule};
use crate::actors::recorder::{Recorded, RecorderMsg};

/// Sends the finished chunks at the head of pipeline `i` to the recorder, as one range: as
/// many as fit in [`RECORD_BYTES_MAX`] (at least one), or only the head chunk after the log
/// refused a range as too large.
pub(super) fn submit_ready(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, i: usize) {
    let lease = state.args.lease;
    let step = state.step.unwrap_or(0);
    let pipe = &mut state.pipes[i];
    if pipe.recording {
        return;
    }
    let mut bytes = 0;
    let ready: VecDeque<u64> = pipe
        .chunks
        .iter()
        .take_while(|(_, c)| c.done && !c.incomplete)
        .take_while(|(_, c)| {
            let first = bytes == 0;
            bytes += 64 + c.outcomes.iter().map(|o| o.size_estimate()).sum::<usize>();
            first || (bytes <= RECORD_BYTES_MAX && !pipe.one_chunk)
        })
        .map(|(s, _)| *s)
        .collect();
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

pub(super) fn recorded(
    myself: &ActorRef<WorkerMsg>,
    state: &mut WorkerState,
    i: usize,
    last_seq: u64,
    to: u64,
    result: Recorded,
) {
    if matches!(result, Recorded::TooLarge) {
        return too_large(myself, state, i, last_seq);
    }
    let accepted = match result {
        Recorded::Accepted => true,
        // The write may have committed before its answer was lost: trust the applied state.
        Recorded::Refused | Recorded::Failed(_) | Recorded::TooLarge => {
            state.shard_state().ok().flatten().is_some_and(|s| {
                s.epoch == state.args.lease.epoch
                    && (Some(s.step) > state.step || s.cursors.get(i).is_some_and(|c| *c >= to))
            })
        }
    };
    let Some(pipe) = state.pipes.get_mut(i) else { return };
    pipe.recording = false;
    if accepted {
        pipe.chunks.retain(|seq, _| *seq > last_seq);
    } else if state.winding.is_some() && matches!(result, Recorded::Refused) {
        // The alert ended and the log will not take these: nothing more to do with them.
        pipe.chunks.retain(|seq, _| *seq > last_seq);
    } else if matches!(result, Recorded::Failed(_)) {
        schedule(myself, state, RETRY_PAUSE * 4);
    } else {
        // Refused and not in the log: the lease moved on. The pump notices and stops.
        schedule(myself, state, RETRY_PAUSE);
    }
}

/// The log refused the range as larger than an entry may be. It is never submitted as is
/// again: first only its head chunk goes; if that alone is too large (a very large
/// `chunk_recipients` with long reasons), its reasons and provider ids are cut short.
fn too_large(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, i: usize, last_seq: u64) {
    let Some(pipe) = state.pipes.get_mut(i) else { return };
    pipe.recording = false;
    let single = pipe.chunks.keys().next() == Some(&last_seq);
    if single && let Some(head) = pipe.chunks.values_mut().next() {
        tracing::warn!(
            outcomes = head.outcomes.len(),
            "one chunk's outcomes exceed a log entry; cutting their texts"
        );
        for o in &mut head.outcomes {
            *o = o.clone().compact();
        }
    }
    pipe.one_chunk = true;
    schedule(myself, state, RETRY_PAUSE);
}
