//! A shard worker's recording: finished chunks at the head of a pipeline go to the recorder as
//! one range, in order, so the shard's cursor only covers messages whose outcome is known.

use std::collections::VecDeque;

use ractor::ActorRef;
use varsel_raft_store::delivery::ShardProgress;

use super::{RETRY_PAUSE, WorkerMsg, WorkerState, schedule};
use crate::actors::recorder::{Recorded, RecorderMsg};

/// Sends the finished chunks at the head of pipeline `i` to the recorder, as one range.
pub(super) fn submit_ready(myself: &ActorRef<WorkerMsg>, state: &mut WorkerState, i: usize) {
    let lease = state.args.lease;
    let step = state.step.unwrap_or(0);
    let pipe = &mut state.pipes[i];
    if pipe.recording {
        return;
    }
    let ready: VecDeque<u64> =
        pipe.chunks.iter().take_while(|(_, c)| c.done && !c.incomplete).map(|(s, _)| *s).collect();
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
    let accepted = match result {
        Recorded::Accepted => true,
        // The write may have committed before its answer was lost: trust the applied state.
        Recorded::Refused | Recorded::Failed(_) => state.shard_state().ok().flatten().is_some_and(|s| {
            s.epoch == state.args.lease.epoch
                && (Some(s.step) > state.step || s.cursors.get(i).is_some_and(|c| *c >= to))
        }),
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
