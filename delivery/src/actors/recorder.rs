//! `Recorder`: batches outcomes of many shards into few Raft entries.
//!
//! Shard workers submit the outcomes of a contiguous range with a reply port. The recorder
//! writes them as one `Record` command when [`RECORD_OUTCOMES_MAX`] outcomes are pending or
//! `record_flush_ms` after the first one, whichever comes first, with at most
//! [`FLUSHES_IN_FLIGHT`] writes under way. Each submitter hears whether its range was accepted
//! (or fenced), or that the write failed and it should submit again.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{Semaphore, oneshot};
use varsel_raft_store::delivery::{DeliveryCommand, DeliveryReply, RECORD_OUTCOMES_MAX, ShardProgress};
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
    pending: Vec<(ShardProgress, oneshot::Sender<Recorded>)>,
    pending_outcomes: usize,
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
        let batch = std::mem::take(&mut state.pending);
        state.pending_outcomes = 0;
        let replica = state.replica.clone();
        let metrics = state.metrics.clone();
        tokio::spawn(async move {
            let (items, replies): (Vec<ShardProgress>, Vec<_>) = batch.into_iter().unzip();
            let counts: Vec<(usize, Vec<(varsel_domain::Channel, u32)>)> =
                items.iter().map(|p| (p.outcomes.len(), p.skipped.clone())).collect();
            let cmd = DeliveryCommand::Record { node: replica.id(), items };
            let answer = replica.write(Request::Delivery(Box::new(cmd))).await;
            drop(permit);
            match answer {
                Ok(w) => match w.response {
                    Response::Delivery(DeliveryReply::Recorded { accepted }) => {
                        metrics.records.inc();
                        let recorded = counts.iter().zip(&accepted).filter(|(_, ok)| **ok).map(|(c, _)| c);
                        for (n, skipped) in recorded {
                            metrics.outcomes_recorded.inc_by(*n as u64);
                            for (channel, k) in skipped {
                                metrics.skipped.with(&[channel.as_str()]).inc_by(u64::from(*k));
                            }
                        }
                        for (reply, ok) in replies.into_iter().zip(accepted) {
                            let _ = reply.send(if ok { Recorded::Accepted } else { Recorded::Refused });
                        }
                    }
                    other => fail_all(replies, format!("unexpected answer {other:?}")),
                },
                Err(e) => fail_all(replies, e.to_string()),
            }
        });
    }
}

fn fail_all(replies: Vec<oneshot::Sender<Recorded>>, why: String) {
    for r in replies {
        let _ = r.send(Recorded::Failed(why.clone()));
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
            pending: Vec::new(),
            pending_outcomes: 0,
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
                state.pending_outcomes += progress.outcomes.len().max(1);
                state.pending.push((progress, reply));
                if state.pending_outcomes >= RECORD_OUTCOMES_MAX {
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
