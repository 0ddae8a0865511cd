//! `Recorder`: batches outcomes of many shards into few Raft entries.
//!
//! Shard workers submit the outcomes of a contiguous range with a reply port. The recorder
//! writes them as one `Record` command when [`RECORD_OUTCOMES_MAX`] outcomes or
//! [`RECORD_BYTES_MAX`] encoded bytes are pending, or `record_flush_ms` after the first one,
//! whichever comes first, with at most [`FLUSHES_IN_FLIGHT`] writes under way. A command never
//! takes more than those bounds (beyond a single range that is larger by itself). Each
//! submitter hears whether its range was accepted (or fenced), that the write failed and it
//! should submit again, or that its range alone is too large for a log entry.
//!
//! A command the log refuses as too large is split in halves and each written on its own,
//! never retried as is: one submitter's long failures must not stall the others batched with
//! it (before these bounds, ~4,000 failures with long reasons made every write of the batch
//! fail, and every submitter resubmit forever).

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{Semaphore, oneshot};
use varsel_raft_store::delivery::{
    DeliveryCommand, DeliveryReply, RECORD_BYTES_MAX, RECORD_OUTCOMES_MAX, ShardProgress,
};
use varsel_raft_store::write::WriteError;
use varsel_raft_store::{Request, Response};

use crate::replica::Replica;

/// Record writes under way at once.
pub const FLUSHES_IN_FLIGHT: usize = 2;

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// In the log and applied.
    Accepted,
    /// Refused: the lease moved on, or the range does not continue the cursor.
    Refused,
    /// The write failed (no quorum, timeout); its outcome is unknown.
    Failed(String),
    /// The range alone is larger than a log entry may be; it was not written. Submit less.
    TooLarge,
}

/// A submitted range waiting to be written.
#[derive(Debug)]
struct Pending {
    progress: ShardProgress,
    bytes: usize,
    reply: oneshot::Sender<Recorded>,
}

/// The recorder actor.
#[derive(Debug)]
pub struct Recorder;

/// Its messages.
#[derive(Debug)]
pub enum RecorderMsg {
    /// A range's outcomes.
    Submit(ShardProgress, oneshot::Sender<Recorded>),
    /// Time to write what is pending.
    Flush,
}

/// Its state.
#[derive(Debug)]
pub struct RecorderState {
    replica: Arc<dyn Replica>,
    flush_after: Duration,
    pending: std::collections::VecDeque<Pending>,
    pending_outcomes: usize,
    pending_bytes: usize,
    flush_scheduled: bool,
    in_flight: Arc<Semaphore>,
    failpoints: Arc<crate::engine::Failpoints>,
    metrics: crate::metrics::DeliveryMetrics,
}

/// What the recorder starts with.
#[derive(Debug)]
pub struct RecorderArgs {
    /// The replica to write through.
    pub replica: Arc<dyn Replica>,
    /// Longest wait before a write.
    pub flush_after: Duration,
    /// Test-only failpoints.
    pub failpoints: Arc<crate::engine::Failpoints>,
    /// Metrics.
    pub metrics: crate::metrics::DeliveryMetrics,
}

impl Recorder {
    fn flush(myself: &ActorRef<RecorderMsg>, state: &mut RecorderState) {
        state.flush_scheduled = false;
        if state.pending.is_empty() {
            return;
        }
        let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
            // Both writes are busy: try again shortly; meanwhile more outcomes join this batch.
            state.flush_scheduled = true;
            myself.send_after(Duration::from_millis(5), || RecorderMsg::Flush);
            return;
        };
        let batch = take_batch(state);
        if !state.pending.is_empty() && !state.flush_scheduled {
            state.flush_scheduled = true;
            myself.send_after(Duration::from_millis(5), || RecorderMsg::Flush);
        }
        let replica = state.replica.clone();
        let metrics = state.metrics.clone();
        tokio::spawn(async move {
            write(replica, metrics, batch).await;
            drop(permit);
        });
    }
}

/// Takes pending ranges from the front while the batch stays within [`RECORD_OUTCOMES_MAX`]
/// outcomes and [`RECORD_BYTES_MAX`] bytes (at least one range).
fn take_batch(state: &mut RecorderState) -> Vec<Pending> {
    let (mut outcomes, mut bytes, mut batch) = (0, 0, Vec::new());
    while let Some(next) = state.pending.front() {
        let n = next.progress.outcomes.len().max(1);
        let fits = outcomes + n <= RECORD_OUTCOMES_MAX && bytes + next.bytes <= RECORD_BYTES_MAX;
        if !batch.is_empty() && !fits {
            break;
        }
        outcomes += n;
        bytes += next.bytes;
        batch.extend(state.pending.pop_front());
    }
    state.pending_outcomes = state.pending_outcomes.saturating_sub(outcomes);
    state.pending_bytes = state.pending_bytes.saturating_sub(bytes);
    batch
}

/// Writes `batch` as one `Record` command and answers its submitters; a command the log
/// refuses as too large is split in halves, each written on its own.
fn write(
    replica: Arc<dyn Replica>,
    metrics: crate::metrics::DeliveryMetrics,
    batch: Vec<Pending>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let items: Vec<ShardProgress> = batch.iter().map(|p| p.progress.clone()).collect();
        let cmd = DeliveryCommand::Record { node: replica.id(), items };
        match replica.write(Request::Delivery(Box::new(cmd))).await {
            Ok(w) => match w.response {
                Response::Delivery(DeliveryReply::Recorded { accepted }) => {
                    metrics.records.inc();
                    for (p, ok) in batch.into_iter().zip(accepted) {
                        if ok {
                            metrics.outcomes_recorded.inc_by(p.progress.outcomes.len() as u64);
                            for (channel, k) in &p.progress.skipped {
                                metrics.skipped.with(&[channel.as_str()]).inc_by(u64::from(*k));
                            }
                        }
                        let _ = p.reply.send(if ok { Recorded::Accepted } else { Recorded::Refused });
                    }
                }
                other => fail_all(batch, format!("unexpected answer {other:?}")),
            },
            Err(WriteError::TooLarge { bytes, limit }) if batch.len() > 1 => {
                tracing::warn!(bytes, limit, ranges = batch.len(), "record command too large; splitting it");
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                write(replica.clone(), metrics.clone(), first).await;
                write(replica, metrics, second).await;
            }
            Err(WriteError::TooLarge { bytes, limit }) => {
                tracing::warn!(
                    bytes,
                    limit,
                    "one range's outcomes exceed a log entry; the worker submits less"
                );
                for p in batch {
                    let _ = p.reply.send(Recorded::TooLarge);
                }
            }
            Err(e) => fail_all(batch, e.to_string()),
        }
    })
}

fn fail_all(batch: Vec<Pending>, why: String) {
    for p in batch {
        let _ = p.reply.send(Recorded::Failed(why.clone()));
    }
}

impl Actor for Recorder {
    type Msg = RecorderMsg;
    type State = RecorderState;
    type Arguments = RecorderArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RecorderState {
            replica: args.replica,
            flush_after: args.flush_after,
            pending: std::collections::VecDeque::new(),
            pending_outcomes: 0,
            pending_bytes: 0,
            flush_scheduled: false,
            in_flight: Arc::new(Semaphore::new(FLUSHES_IN_FLIGHT)),
            failpoints: args.failpoints,
            metrics: args.metrics,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RecorderMsg::Submit(progress, reply) => {
                state.failpoints.check("recorder");
                let bytes = progress.encoded_len();
                state.pending_outcomes += progress.outcomes.len().max(1);
                state.pending_bytes += bytes;
                state.pending.push_back(Pending { progress, bytes, reply });
                if state.pending_outcomes >= RECORD_OUTCOMES_MAX || state.pending_bytes >= RECORD_BYTES_MAX {
                    Recorder::flush(&myself, state);
                } else if !state.flush_scheduled {
                    state.flush_scheduled = true;
                    myself.send_after(state.flush_after, || RecorderMsg::Flush);
                }
            }
            RecorderMsg::Flush => Recorder::flush(&myself, state),
        }
        Ok(())
    }
}
