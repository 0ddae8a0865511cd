//! Forwarded writes in batches: writes a follower forwards while its earlier ones are still on
//! their way to the leader travel together, in one `ForwardWrites` call.
//!
//! Through a follower, each write used to be its own call to the leader: its own HTTP/2 stream,
//! TLS records, encoding and task wake-ups on both nodes. With 64 clients spread over three
//! nodes the writes bench gave 8,400 writes/s through any node against 11,200 through the
//! leader. Batching the calls gained 3-19 % at 256 clients and nothing measurable at 64, where
//! the extra hop's latency, not its cost, bounds the rate (`docs/performance.md`, "Forwarded
//! writes in batches").
//!
//! - **No wait is added.** A write is forwarded at once, alone (`ForwardWrite`), while fewer than
//!   [`IN_FLIGHT`] forwarded calls are under way; only when that many are do writes arriving
//!   meanwhile gather into the next call. One client alone sees no difference.
//! - **Each write keeps its own outcome.** The leader checks, authorises and commits each write
//!   of a call as it would a single one, all at once (so they meet in its group commit), and
//!   answers each in order, with the error a single call would have carried.
//! - **Whole-call failures** mean the same for every write as for a single call: refused as not
//!   the leader, or never sent, is tried again; anything else is relayed to each.
//! - **Mixed versions:** a leader of an older build answers `UNIMPLEMENTED`, which says nothing
//!   was done; its writes are tried again, and writes to that leader go one per call for
//!   [`OLD_LEADER_RECHECK`].
//! - Large writes (imports) are forwarded alone: they are calls of their own size already.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tracing::Instrument as _;
use varsel_observe::trace::{self as propagation, TraceCarrier};
use varsel_proto::raft::{ForwardOutcome, ForwardedWrite, ForwardedWrites, forward_outcome};
use varsel_raft_store::write::WriteError;
use varsel_raft_store::{NodeId, Raft};

use crate::raft::network::Peers;
use crate::replica::batch::{Group, gather};
use crate::replica::write::{
    Attempt, NOT_LEADER_HEADER, WriteResult, decode_written, leader_moved, never_sent, relayed,
};

/// Forwarded calls under way at once from this node; more writes wait and go together.
pub const IN_FLIGHT: usize = 4;

/// Most writes in one `ForwardWrites` call; the leader refuses a call with more.
pub const FORWARDED_WRITES_MAX: usize = 1024;

/// Most encoded bytes of requests in one call.
pub const CALL_BYTES_MAX: usize = 256 << 10;

/// Writes larger than this are forwarded alone.
pub const ALONE_BYTES: usize = 64 << 10;

/// How long writes to a leader that answered a batch with `UNIMPLEMENTED` (an older build) go
/// one per call before a batch is tried again (it may have been upgraded meanwhile).
pub const OLD_LEADER_RECHECK: Duration = Duration::from_secs(60);

/// This node's forwarding state: the slots of calls under way, the queue of writes waiting for
/// one, and leaders that do not take batches.
#[derive(Debug, Default)]
pub struct Forwarding {
    inner: Arc<Inner>,
    queue: OnceLock<mpsc::UnboundedSender<Queued>>,
}

#[derive(Debug)]
struct Inner {
    slots: Arc<Semaphore>,
    /// Raft addresses of leaders that answered `UNIMPLEMENTED`, and when.
    old: Mutex<HashMap<String, Instant>>,
}

impl Default for Inner {
    fn default() -> Self {
        Self { slots: Arc::new(Semaphore::new(IN_FLIGHT)), old: Mutex::default() }
    }
}

/// How a write of `bytes` encoded bytes to the leader at `raft_addr` goes.
#[derive(Debug)]
pub enum Route {
    /// Alone, now, holding a slot while the call is under way (`None`: the leader does not take
    /// batches, or the write is large; no slot is needed).
    Alone(Option<OwnedSemaphorePermit>),
    /// Every slot is taken: with the next batch.
    Queue,
}

/// A write waiting for the next batch.
#[derive(Debug)]
pub struct Queued {
    leader_id: NodeId,
    raft_addr: String,
    write: ForwardedWrite,
    deadline: Instant,
    reply: oneshot::Sender<WriteResult<Attempt>>,
}

impl Forwarding {
    /// Where a write to the leader at `raft_addr` goes.
    pub fn route(&self, raft_addr: &str, bytes: usize) -> Route {
        if bytes > ALONE_BYTES || self.inner.is_old(raft_addr) {
            return Route::Alone(None);
        }
        match Arc::clone(&self.inner.slots).try_acquire_owned() {
            Ok(permit) => Route::Alone(Some(permit)),
            Err(_) => Route::Queue,
        }
    }

    /// Sends `write` with the next batch to `leader_id` at `raft_addr`, and waits (up to
    /// `within`) for its outcome.
    pub async fn queue(
        &self,
        (node, raft, peers): (NodeId, &Raft, &Peers),
        (leader_id, raft_addr): (NodeId, &str),
        mut write: ForwardedWrite,
        within: Duration,
    ) -> WriteResult<Attempt> {
        let carrier = TraceCarrier::current();
        write.traceparent = carrier.traceparent.unwrap_or_default();
        write.tracestate = carrier.tracestate.unwrap_or_default();
        let tx = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let ctx = Ctx { node, raft: raft.clone(), peers: peers.clone(), inner: Arc::clone(&self.inner) };
            tokio::spawn(run(ctx, rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            leader_id,
            raft_addr: raft_addr.to_string(),
            write,
            deadline: Instant::now() + within,
            reply,
        };
        if tx.send(queued).is_err() {
            return Err(WriteError::Stopping { node, reason: "the node stopped while writing".into() });
        }
        match tokio::time::timeout(within, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(WriteError::Stopping { node, reason: "the node stopped while writing".into() }),
            // It may be in a call the leader is committing: the outcome is unknown.
            Err(_) => Err(WriteError::OutcomeUnknown {
                reason: format!(
                    "write forwarded to leader {leader_id} with others was not answered within {} ms",
                    within.as_millis()
                ),
            }),
        }
    }
}

impl Inner {
    fn is_old(&self, raft_addr: &str) -> bool {
        let mut old = self.old.lock().unwrap_or_else(|e| e.into_inner());
        match old.get(raft_addr) {
            Some(since) if since.elapsed() < OLD_LEADER_RECHECK => true,
            Some(_) => {
                old.remove(raft_addr);
                false
            }
            None => false,
        }
    }

    fn mark_old(&self, raft_addr: &str) {
        self.old.lock().unwrap_or_else(|e| e.into_inner()).insert(raft_addr.to_string(), Instant::now());
    }
}

/// What the batching task needs of the replica.
#[derive(Clone)]
struct Ctx {
    node: NodeId,
    raft: Raft,
    peers: Peers,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("node", &self.node).finish_non_exhaustive()
    }
}

/// Takes queued writes and sends them, gathering those that arrive while every slot is taken.
async fn run(ctx: Ctx, jobs: mpsc::UnboundedReceiver<Queued>) {
    let slots = Arc::clone(&ctx.inner.slots);
    gather(jobs, slots, FORWARDED_WRITES_MAX, move |call: Call| {
        let ctx = ctx.clone();
        async move { call.send(&ctx).await }
    })
    .await;
}

/// Writes to one leader sent in one call.
struct Call {
    jobs: Vec<Queued>,
    bytes: usize,
}

impl Group for Call {
    type Job = Queued;

    fn new(first: Queued) -> Self {
        let mut call = Self { jobs: Vec::new(), bytes: 0 };
        call.push(first);
        call
    }

    fn len(&self) -> usize {
        self.jobs.len()
    }

    fn takes(&self, job: &Queued) -> bool {
        self.jobs
            .first()
            .is_some_and(|first| job.leader_id == first.leader_id && job.raft_addr == first.raft_addr)
            && self.bytes + job.write.request.len() <= CALL_BYTES_MAX
    }

    fn push(&mut self, job: Queued) {
        self.bytes += job.write.request.len();
        self.jobs.push(job);
    }
}

impl Call {
    /// Sends the call and answers every write in it.
    async fn send(mut self, ctx: &Ctx) {
        // A caller that gave up while its write waited here was told the outcome is unknown;
        // its write is not sent now.
        self.jobs.retain(|j| !j.reply.is_closed());
        let Some(first) = self.jobs.first() else { return };
        let (leader_id, raft_addr) = (first.leader_id, first.raft_addr.clone());
        let within =
            self.jobs.iter().map(|j| j.deadline).max().map(|d| d.saturating_duration_since(Instant::now()));
        let (writes, replies): (Vec<ForwardedWrite>, Vec<_>) =
            self.jobs.into_iter().map(|j| (j.write, j.reply)).unzip();
        let answer_all = |replies: Vec<oneshot::Sender<WriteResult<Attempt>>>, r: WriteResult<Attempt>| {
            for reply in replies {
                let _ = reply.send(r.clone());
            }
        };
        let mut client = match ctx.peers.raft_client(&raft_addr) {
            Ok(c) => c,
            Err(e) => {
                let e = WriteError::Internal(format!("bad address for node {leader_id}: {e}"));
                return answer_all(replies, Err(e));
            }
        };
        let count = writes.len();
        let mut req = tonic::Request::new(ForwardedWrites { writes });
        req.set_timeout(within.unwrap_or_default());
        let span = propagation::root_client_span("raft.forward_writes", leader_id);
        propagation::inject(&span, &mut req);
        let result = tokio::select! {
            r = client.forward_writes(req).instrument(span.clone()) => r,
            moved = leader_moved(&ctx.raft, leader_id) => {
                propagation::record_error(&span);
                return answer_all(replies, Err(moved));
            }
        };
        let status = match result {
            Ok(reply) => {
                let outcomes = reply.into_inner().outcomes;
                if outcomes.len() != count {
                    let reason = format!(
                        "leader {leader_id} answered {} outcomes for {count} forwarded writes",
                        outcomes.len()
                    );
                    return answer_all(replies, Err(WriteError::OutcomeUnknown { reason }));
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(attempt_from(leader_id, outcome));
                }
                return;
            }
            Err(status) => status,
        };
        propagation::record_error(&span);
        let attempt = if status.metadata().contains_key(NOT_LEADER_HEADER) {
            Ok(Attempt::Retry(format!("node {leader_id} is no longer the leader")))
        } else if never_sent(&status) {
            Ok(Attempt::Retry(format!("leader {leader_id} at {raft_addr} unreachable: {}", status.message())))
        } else if status.code() == tonic::Code::Unimplemented {
            // An older build: the call was not served, so nothing of it was done.
            ctx.inner.mark_old(&raft_addr);
            tracing::info!(
                node = ctx.node,
                leader = leader_id,
                "the leader does not take forwarded writes in batches (an older build): forwarding one per call"
            );
            Ok(Attempt::Retry(format!("leader {leader_id} does not take forwarded writes in batches")))
        } else {
            Err(relayed(leader_id, None, &status))
        };
        answer_all(replies, attempt);
    }
}

/// What one write's outcome in a batch means here: as [`relayed`] for a single call's status.
fn attempt_from(leader_id: NodeId, outcome: ForwardOutcome) -> WriteResult<Attempt> {
    match outcome.outcome {
        Some(forward_outcome::Outcome::Written(w)) => Ok(Attempt::Done(decode_written(w)?)),
        Some(forward_outcome::Outcome::Failed(f)) if f.not_leader => {
            Ok(Attempt::Retry(format!("node {leader_id} is no longer the leader")))
        }
        Some(forward_outcome::Outcome::Failed(f)) => {
            let kind = (!f.write_error.is_empty()).then_some(f.write_error.as_str());
            let status = tonic::Status::new(tonic::Code::from_i32(f.code), f.message);
            Err(relayed(leader_id, kind, &status))
        }
        None => Err(WriteError::OutcomeUnknown {
            reason: format!("leader {leader_id} answered a forwarded write with no outcome"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use varsel_proto::raft::{ForwardFailure, ForwardedWriteReply};
    use varsel_raft_store::{Response, encode};

    use super::*;

    fn failed(f: ForwardFailure) -> ForwardOutcome {
        ForwardOutcome { outcome: Some(forward_outcome::Outcome::Failed(f)) }
    }

    /// Goal: each write of a batch comes back as a single call's would: committed with its own
    /// answer, "not the leader" as a retry, a named error kind kept, and anything unknown or
    /// missing on the safe side (may have been applied).
    #[test]
    fn outcomes_mean_what_a_single_call_would() {
        let response = encode("response", &Response::KvPrevious(None)).expect("encode");
        let written = ForwardOutcome {
            outcome: Some(forward_outcome::Outcome::Written(ForwardedWriteReply { response, log_index: 42 })),
        };
        match attempt_from(1, written) {
            Ok(Attempt::Done(w)) => assert_eq!(w.log_index, 42),
            other => panic!("{other:?}"),
        }
        let not_leader =
            failed(ForwardFailure { code: 14, message: "x".into(), not_leader: true, ..Default::default() });
        assert!(matches!(attempt_from(1, not_leader), Ok(Attempt::Retry(_))));
        let not_applied = failed(ForwardFailure {
            code: 14,
            message: "no quorum".into(),
            write_error: "not-applied".into(),
            not_leader: false,
        });
        let e = attempt_from(1, not_applied).expect_err("an error");
        assert!(!e.may_have_been_applied(), "{e:?}");
        let refused = failed(ForwardFailure { code: 7, message: "denied".into(), ..Default::default() });
        let e = attempt_from(1, refused).expect_err("an error");
        assert!(e.to_string().contains("denied"), "{e}");
        assert!(
            attempt_from(1, ForwardOutcome { outcome: None }).expect_err("an error").may_have_been_applied()
        );
    }

    /// Goal: a leader that answered UNIMPLEMENTED gets single writes, and only for a while.
    #[test]
    fn old_leaders_are_remembered_for_a_while() {
        let inner = Inner::default();
        assert!(!inner.is_old("a:1"));
        inner.mark_old("a:1");
        assert!(inner.is_old("a:1"));
        assert!(!inner.is_old("b:1"));
        inner.old.lock().expect("lock").insert("a:1".into(), Instant::now() - OLD_LEADER_RECHECK);
        assert!(!inner.is_old("a:1"));
    }
}
