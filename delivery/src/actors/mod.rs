//! The delivery engine's actors (ractor, on the node's tokio runtime).
//!
//! ```text
//! Root (the root supervisor)
//!  ├── Recorder            batches outcomes of every shard into Raft `Record` entries
//!  ├── Receipts            delivery receipts and replies → Raft `Receipts` / `Acks` entries
//!  ├── Sender(sms)         ┐
//!  ├── Sender(voice)       │ one per channel: a pool of workers over a bounded priority
//!  ├── Sender(email)       │ queue, handing batches to that channel's providers
//!  ├── Sender(push)        ┘ (failover, breakers, rate limits)
//!  └── Scheduler           leases shards through Raft heartbeats
//!       └── ShardWorker*   one per shard being sent: reads recipients, personalises,
//!                          dispatches per channel, records outcomes in order
//! ```
//!
//! The root restarts a failed child after a backoff (100 ms doubling to 10 s), at most
//! [`RESTARTS_MAX`] times within [`RESTART_WINDOW`]; past that the child stays down and the
//! node reports delivery as unhealthy, rather than spinning. The scheduler restarts its shard
//! workers the same way. A child's restart loses only what was in memory: queued batches stay
//! in the channel queues (owned by the engine), unrecorded outcomes are sent again by the
//! shard worker (the in-flight window), and leases carry on.
//!
//! Mailboxes: ractor's are unbounded, so every producer is bounded by design instead: shard
//! workers hand data to senders through the bounded [`sender::ChannelQueue`], wait for each
//! recorder answer before submitting the next range of a channel, and the receipts actor
//! refuses submissions beyond its bound (the provider is told to send them again).
//!
//! Fencing at the send: every batch a shard worker queues carries the worker's
//! [`fence::LeaseFence`], checked before each provider call and retry; a worker whose lease is
//! lost or whose alert ends winds down (hands nothing more over, records what was accepted).

pub mod fence;
pub mod open_alerts;
pub mod receipts;
pub mod recorder;
pub mod scheduler;
pub mod sender;
pub mod shard_worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use varsel_domain::model::Channel;

use crate::Shared;
use receipts::{Receipts, ReceiptsArgs};
use recorder::{Recorder, RecorderArgs};
use scheduler::Scheduler;
use sender::{ChannelSender, ChannelSenderArgs};

/// Restarts of one child allowed within [`RESTART_WINDOW`].
pub const RESTARTS_MAX: usize = 10;
/// Window over which restarts are counted.
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// The children of the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Child {
    /// The recorder.
    Recorder,
    /// The receipts actor.
    Receipts,
    /// A channel sender.
    Sender(Channel),
    /// The scheduler.
    Scheduler,
}

impl Child {
    fn name(self) -> String {
        match self {
            Child::Recorder => "recorder".into(),
            Child::Receipts => "receipts".into(),
            Child::Sender(c) => format!("sender-{c}"),
            Child::Scheduler => "scheduler".into(),
        }
    }
}

/// The root supervisor.
#[derive(Debug)]
pub struct Root;

/// Its messages.
#[derive(Debug)]
pub enum RootMsg {
    /// Start a child (again).
    Start(Child),
}

/// Its state.
#[derive(Debug)]
pub struct RootState {
    shared: Arc<Shared>,
    children: HashMap<ActorId, Child>,
    restarts: HashMap<Child, Vec<Instant>>,
}

async fn spawn_child(
    myself: &ActorRef<RootMsg>,
    state: &mut RootState,
    child: Child,
) -> Result<(), ActorProcessingErr> {
    let shared = state.shared.clone();
    let sup = myself.get_cell();
    let cell: ActorCell = match child {
        Child::Recorder => {
            let flush_after = Duration::from_millis(shared.config.record_flush_ms);
            let (r, _) = Actor::spawn_linked(
                None,
                Recorder,
                RecorderArgs {
                    replica: shared.replica.clone(),
                    flush_after,
                    failpoints: shared.failpoints.clone(),
                    metrics: shared.metrics.clone(),
                },
                sup,
            )
            .await?;
            shared.set_recorder(Some(r.clone()));
            r.get_cell()
        }
        Child::Receipts => {
            let args = ReceiptsArgs {
                replica: shared.replica.clone(),
                dropped: shared.counters.receipts_dropped.clone(),
                failpoints: shared.failpoints.clone(),
                routes: shared.config.reply_routes.clone(),
                reply_window_ms: shared.config.reply_window_s.saturating_mul(1_000),
                unattributed: shared.metrics.replies_unattributed.clone(),
            };
            let (r, _) = Actor::spawn_linked(None, Receipts, args, sup).await?;
            shared.set_receipts(Some(r.clone()));
            r.get_cell()
        }
        Child::Sender(channel) => {
            let (Some(queue), Some(providers)) =
                (shared.queues.get(&channel), shared.providers.get(&channel))
            else {
                return Ok(());
            };
            let args = ChannelSenderArgs {
                queue: queue.clone(),
                providers: providers.clone(),
                workers: shared.config.sender_workers,
                failpoints: shared.failpoints.clone(),
                metrics: shared.metrics.clone(),
            };
            Actor::spawn_linked(None, ChannelSender, args, sup).await?.0.get_cell()
        }
        Child::Scheduler => {
            let (r, _) = Actor::spawn_linked(None, Scheduler, shared.clone(), sup).await?;
            shared.set_scheduler(Some(r.clone()));
            r.get_cell()
        }
    };
    state.children.insert(cell.get_id(), child);
    Ok(())
}

impl Actor for Root {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = RootState { shared, children: HashMap::new(), restarts: HashMap::new() };
        let mut order = vec![Child::Recorder, Child::Receipts];
        order.extend(Channel::ALL.map(Child::Sender));
        order.push(Child::Scheduler);
        for child in order {
            spawn_child(&myself, &mut state, child).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::Start(child) => {
                if let Err(e) = spawn_child(&myself, state, child).await {
                    tracing::error!(child = %child.name(), error = %e, "restart failed; trying again");
                    myself.send_after(Duration::from_secs(1), move || RootMsg::Start(child));
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()))
            }
            _ => return Ok(()),
        };
        let Some(child) = state.children.remove(&cell.get_id()) else { return Ok(()) };
        state.shared.counters.actor_restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.shared.metrics.actor_restarts.with(&[&child.name()]).inc();
        let recent = state.restarts.entry(child).or_default();
        recent.retain(|t| t.elapsed() < RESTART_WINDOW);
        if recent.len() >= RESTARTS_MAX {
            tracing::error!(child = %child.name(), "failed {RESTARTS_MAX} times within {RESTART_WINDOW:?}; leaving it down");
            state.shared.set_unhealthy(child.name());
            return Ok(());
        }
        recent.push(Instant::now());
        let backoff = Duration::from_millis(100 << (recent.len() - 1).min(7)).min(Duration::from_secs(10));
        tracing::error!(child = %child.name(), reason = %why, backoff_ms = backoff.as_millis() as u64, "actor died; restarting");
        myself.send_after(backoff, move || RootMsg::Start(child));
        Ok(())
    }
}
