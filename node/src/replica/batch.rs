//! Group commit: writes arriving at the leader together share log entries.
//!
//! openraft 0.9 takes client writes one at a time: each is its own message to the Raft task,
//! its own append, its own flush notice and its own wake-up of every replication stream. With
//! 64 clients the Raft task's queue was what a write waited for most: 1.9 ms between one
//! append round trip to a follower and the next, against 1.6 ms for the round trip itself
//! (measured with probes, see `docs/performance.md`). Here concurrent writes are gathered into
//! one [`Request::Batch`] entry, so the Raft task, the log, replication and apply handle one
//! entry for many writes.
//!
//! - **No wait is added.** A write is proposed at once while fewer than [`IN_FLIGHT`] batches
//!   are under way; only when that many are, writes arriving meanwhile gather into the next
//!   one. One client alone sees no difference.
//! - **Durability is unchanged:** a batch is one log entry, fsynced on a quorum before any of
//!   its writes is answered; a failure answers all of them with the same error.
//! - **Entry index as identity:** every request of a batch is applied with the batch entry's
//!   index; a batch therefore holds at most one request that does not
//!   [`share an entry`](Request::shares_entry).
//! - **Mixed versions:** batches are made only once every member has answered a Raft message
//!   naming log features [`LOG_FEATURE_BATCH`] or later (see `crate::raft::network::LOG_FEATURES_HEADER`): a
//!   node of an older build, which could not read one, is never sent one.
//! - Large requests (imports) go alone: they are entries of their own size already.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use varsel_raft_store::write::WriteError;
use varsel_raft_store::{Command, LOG_FEATURE_BATCH, NodeId, Raft, Request, Response};

use crate::replica::Replica;
use crate::replica::write::{Attempt, WriteResult, attempt_of};

/// Batches under way at once; more writes wait and gather into the next batch.
pub const IN_FLIGHT: usize = 4;

/// Most encoded bytes of requests in one batch.
pub const BATCH_BYTES_MAX: usize = 256 << 10;

/// Requests larger than this are proposed alone.
pub const ALONE_BYTES: usize = 64 << 10;

/// Most requests in one batch.
pub const BATCH_REQUESTS_MAX: usize = 1024;

/// A write waiting to be proposed.
#[derive(Debug)]
pub struct Job {
    command: Command,
    bytes: usize,
    reply: oneshot::Sender<WriteResult<Attempt>>,
}

/// The sending side of the leader's batcher (started on the first write it proposes).
pub type BatcherHandle = std::sync::OnceLock<mpsc::UnboundedSender<Job>>;

impl Replica {
    /// Proposes `command` (`bytes` its request's encoded size) on this node, which believes it
    /// leads, in a batch with other writes when they arrive together; answers once it is
    /// committed and applied.
    pub(crate) async fn propose(&self, command: Command, bytes: usize) -> WriteResult<Attempt> {
        if bytes > ALONE_BYTES || !self.batching_allowed() {
            return attempt_of(self.id, self.raft.client_write(command).await);
        }
        let tx = self.batcher.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(self.id, self.raft.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        if let Err(back) = tx.send(Job { command, bytes, reply }) {
            // The batcher is gone (the runtime is shutting down): propose alone.
            return attempt_of(self.id, self.raft.client_write(back.0.command).await);
        }
        answer.await.unwrap_or_else(|_| {
            Err(WriteError::Stopping { node: self.id, reason: "the node stopped while writing".into() })
        })
    }

    /// Whether every other member has said it reads batch entries.
    fn batching_allowed(&self) -> bool {
        self.members_read(LOG_FEATURE_BATCH)
    }

    /// Whether every other member has said it reads log features `level`
    /// (see [`varsel_raft_store::LOG_FEATURES`]).
    pub(crate) fn members_read(&self, level: u32) -> bool {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let m = membership.membership();
        let others = m.voter_ids().chain(m.learner_ids()).filter(|n| *n != self.id);
        self.peers.all_read(others, level)
    }
}

/// Takes writes as they come and proposes them, gathering those that arrive while
/// [`IN_FLIGHT`] batches are under way.
async fn run(node: NodeId, raft: Raft, jobs: mpsc::UnboundedReceiver<Job>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    gather(jobs, slots, BATCH_REQUESTS_MAX, move |batch: Batch| {
        let raft = raft.clone();
        async move { batch.commit(node, &raft).await }
    })
    .await;
}

/// A group of jobs that go out together, as [`gather`] fills it.
pub(crate) trait Group: Send + 'static {
    /// One job.
    type Job: Send;
    /// A group of `first` alone.
    fn new(first: Self::Job) -> Self;
    /// Jobs in it.
    fn len(&self) -> usize;
    /// Whether `job` may join.
    fn takes(&self, job: &Self::Job) -> bool;
    /// Adds `job`.
    fn push(&mut self, job: Self::Job);
}

/// Takes jobs as they come and sends each group out with `send` once one of `slots` is free
/// (held until `send` ends), gathering into it the jobs that arrived meanwhile and fit, up to
/// `max`. A job alone while a slot is free goes at once, so nothing waits that need not.
pub(crate) async fn gather<G, F, Fut>(
    mut jobs: mpsc::UnboundedReceiver<G::Job>,
    slots: Arc<Semaphore>,
    max: usize,
    send: F,
) where
    G: Group,
    F: Fn(G) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut carried: Option<G::Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let mut group = G::new(first);
        while group.len() < max {
            let Ok(next) = jobs.try_recv() else { break };
            if !group.takes(&next) {
                carried = Some(next);
                break;
            }
            group.push(next);
        }
        let sent = send(group);
        tokio::spawn(async move {
            sent.await;
            drop(slot);
        });
    }
}

/// Writes proposed as one entry.
struct Batch {
    jobs: Vec<Job>,
    bytes: usize,
    /// Holds a request that does not share an entry.
    exclusive: bool,
}

impl Group for Batch {
    type Job = Job;

    fn new(first: Job) -> Self {
        let mut batch = Self { jobs: Vec::new(), bytes: 0, exclusive: false };
        batch.push(first);
        batch
    }

    fn len(&self) -> usize {
        self.jobs.len()
    }

    fn takes(&self, job: &Job) -> bool {
        self.bytes + job.bytes <= BATCH_BYTES_MAX && (job.command.request.shares_entry() || !self.exclusive)
    }

    fn push(&mut self, job: Job) {
        self.bytes += job.bytes;
        self.exclusive |= !job.command.request.shares_entry();
        self.jobs.push(job);
    }
}

impl Batch {
    /// Proposes the batch (a single write as itself) and answers every write in it.
    async fn commit(mut self, node: NodeId, raft: &Raft) {
        // A caller that gave up while its write waited here was told the outcome is unknown;
        // its write is not proposed now.
        self.jobs.retain(|j| !j.reply.is_closed());
        if self.jobs.is_empty() {
            return;
        }
        if self.jobs.len() == 1 {
            let Some(job) = self.jobs.pop() else { return };
            let _ = job.reply.send(attempt_of(node, raft.client_write(job.command).await));
            return;
        }
        // The batch is stamped with its latest write's times: as if the earlier ones had
        // arrived a moment later.
        let issued_at_ms = self.jobs.iter().map(|j| j.command.issued_at_ms).max().unwrap_or(0);
        let lease_at_ms = self.jobs.iter().map(|j| j.command.lease_at_ms).max().unwrap_or(0);
        let (requests, replies): (Vec<Request>, Vec<_>) =
            self.jobs.into_iter().map(|j| (j.command.request, j.reply)).unzip();
        let count = requests.len();
        let command = Command { issued_at_ms, lease_at_ms, request: Request::Batch(requests) };
        match attempt_of(node, raft.client_write(command).await) {
            Ok(Attempt::Done(written)) => match written.response {
                Response::Batch(answers) if answers.len() == count => {
                    for (reply, response) in replies.into_iter().zip(answers) {
                        let w = varsel_raft_store::write::Written { log_index: written.log_index, response };
                        let _ = reply.send(Ok(Attempt::Done(w)));
                    }
                }
                other => {
                    let reason = format!(
                        "a batch of {count} writes at log index {} was answered with {other:?}",
                        written.log_index
                    );
                    for reply in replies {
                        let _ = reply.send(Err(WriteError::Internal(reason.clone())));
                    }
                }
            },
            Ok(Attempt::Retry(reason)) => {
                for reply in replies {
                    let _ = reply.send(Ok(Attempt::Retry(reason.clone())));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
