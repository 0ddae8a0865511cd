//! `ChannelSender`: one per channel, a pool of workers that hand batches to providers.
//!
//! Work arrives in the channel's [`ChannelQueue`], a bounded priority queue shared with the shard
//! workers: a batch is admitted only when the queue has room for all of its messages, otherwise
//! the shard worker backs off and tries again (back-pressure: a saturated channel makes the
//! scheduler stop pulling work for it, memory does not grow). Workers take the highest-priority
//! batch first (a crisis alert overtakes queued routine traffic), in arrival order within a
//! priority.
//!
//! The actor supervises its worker tasks: a worker that panics is replaced on the next check;
//! the batch it held is answered by nobody, and the shard worker that sent it sends it again
//! (same idempotency keys).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinSet;
use varsel_domain::model::{Channel, Priority};

use crate::message::OutboundMessage;
use crate::metrics::DeliveryMetrics;
use crate::providers::{Final, ProviderSet, SendFence};

/// Interval at which a sender checks its workers and probes open circuits.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The outcome of a batch: per message, what happened and when.
pub type BatchResult = Vec<(Final, u64)>;

/// A batch waiting for a worker.
pub struct Job {
    priority: Priority,
    seq: u64,
    /// The messages, all of this channel.
    pub messages: Vec<OutboundMessage>,
    /// Checked before every provider call for these messages.
    fence: Arc<dyn SendFence>,
    reply: oneshot::Sender<BatchResult>,
    _room: OwnedSemaphorePermit,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    fn cmp(&self, other: &Self) -> Ordering {
        // Higher priority first; within a priority, the earlier arrival first.
        self.priority.cmp(&other.priority).then_with(|| other.seq.cmp(&self.seq))
    }
}

/// The bounded priority queue of one channel.
#[derive(Debug)]
pub struct ChannelQueue {
    channel: Channel,
    heap: Mutex<BinaryHeap<Job>>,
    notify: Notify,
    room: Arc<Semaphore>,
    seq: AtomicU64,
    capacity: usize,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("priority", &self.priority)
            .field("messages", &self.messages.len())
            .finish()
    }
}

impl ChannelQueue {
    /// A queue with room for `capacity` messages.
    pub fn new(channel: Channel, capacity: usize) -> Self {
        Self {
            channel,
            heap: Mutex::new(BinaryHeap::new()),
            notify: Notify::new(),
            room: Arc::new(Semaphore::new(capacity)),
            seq: AtomicU64::new(0),
            capacity,
        }
    }

    /// Admits a batch if there is room for it; otherwise gives the messages back. A batch
    /// larger than the whole queue is admitted when the queue is empty. Its messages are handed
    /// to a provider only while `fence` is open.
    pub fn try_push(
        &self,
        priority: Priority,
        messages: Vec<OutboundMessage>,
        fence: Arc<dyn SendFence>,
    ) -> Result<oneshot::Receiver<BatchResult>, Vec<OutboundMessage>> {
        let need = messages.len().clamp(1, self.capacity) as u32;
        let Ok(room) = self.room.clone().try_acquire_many_owned(need) else { return Err(messages) };
        let (reply, rx) = oneshot::channel();
        let seq = self.seq.fetch_add(1, AtomicOrdering::Relaxed);
        let job = Job { priority, seq, messages, fence, reply, _room: room };
        self.heap.lock().unwrap_or_else(|p| p.into_inner()).push(job);
        self.notify.notify_one();
        Ok(rx)
    }

    /// Waits for the highest-priority batch.
    pub async fn pop(&self) -> Job {
        loop {
            if let Some(job) = self.heap.lock().unwrap_or_else(|p| p.into_inner()).pop() {
                return job;
            }
            self.notify.notified().await;
        }
    }

    /// Messages waiting.
    pub fn queued(&self) -> usize {
        self.capacity - self.room.available_permits()
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }
}

/// The channel sender actor.
#[derive(Debug)]
pub struct ChannelSender;

/// Its state: the worker tasks.
#[derive(Debug)]
pub struct ChannelSenderState {
    queue: Arc<ChannelQueue>,
    providers: Arc<ProviderSet>,
    workers: JoinSet<()>,
    size: usize,
    failpoints: Arc<crate::engine::Failpoints>,
    metrics: DeliveryMetrics,
}

/// Messages of the channel sender.
#[derive(Debug)]
pub enum ChannelSenderMsg {
    /// Replace dead workers, probe open circuits.
    Check,
}

/// What a channel sender starts with.
#[derive(Debug)]
pub struct ChannelSenderArgs {
    /// Its queue.
    pub queue: Arc<ChannelQueue>,
    /// Its providers.
    pub providers: Arc<ProviderSet>,
    /// Worker count.
    pub workers: usize,
    /// Test-only failpoints.
    pub failpoints: Arc<crate::engine::Failpoints>,
    /// Metrics.
    pub metrics: DeliveryMetrics,
}

async fn work(queue: Arc<ChannelQueue>, providers: Arc<ProviderSet>, metrics: DeliveryMetrics) {
    let channel = queue.channel().as_str();
    loop {
        let (job, prepaid) = providers.admit(queue.pop(), |j: &Job| j.messages.len()).await;
        metrics.in_flight.add(job.messages.len() as f64);
        let results = providers.deliver_prepaid(&job.messages, prepaid, job.fence.as_ref()).await;
        metrics.in_flight.add(-(job.messages.len() as f64));
        for (fin, _) in &results {
            let (provider, outcome) = match fin {
                Final::Sent { provider, .. } => (provider.as_str(), "sent"),
                Final::Failed { provider, .. } => (provider.as_str(), "failed"),
                Final::Dropped { .. } => {
                    metrics.fenced.with(&[channel]).inc();
                    continue;
                }
            };
            metrics.messages.with(&[channel, provider, outcome]).inc();
        }
        // The shard worker may have stopped (lease lost); then nobody listens.
        let _ = job.reply.send(results);
    }
}

impl ChannelSenderState {
    fn fill(&mut self) {
        while self.workers.len() < self.size {
            self.workers.spawn(work(self.queue.clone(), self.providers.clone(), self.metrics.clone()));
        }
    }
}

impl Actor for ChannelSender {
    type Msg = ChannelSenderMsg;
    type State = ChannelSenderState;
    type Arguments = ChannelSenderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = ChannelSenderState {
            queue: args.queue,
            providers: args.providers,
            workers: JoinSet::new(),
            size: args.workers.max(1),
            failpoints: args.failpoints,
            metrics: args.metrics,
        };
        state.fill();
        myself.send_interval(CHECK_INTERVAL, || ChannelSenderMsg::Check);
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ChannelSenderMsg::Check => {
                state.failpoints.check(&format!("sender-{}", state.queue.channel()));
                while let Some(done) = state.workers.try_join_next() {
                    if let Err(e) = done {
                        tracing::error!(channel = %state.queue.channel(), error = %e, "sender worker died; replacing it");
                    }
                }
                state.fill();
                let channel = state.queue.channel();
                state.metrics.queued.with(&[channel.as_str()]).set(state.queue.queued() as f64);
                for slot in state.providers.slots() {
                    state.metrics.set_circuit(channel, slot.name(), slot.breaker_state());
                }
                let providers = state.providers.clone();
                tokio::spawn(async move { providers.probe_open().await });
            }
        }
        Ok(())
    }
}
