//! Writes from any node: commit on the leader, forwarding from followers.
//!
//! A write arriving at a follower is forwarded to the leader over the Raft port and answered
//! once it is committed (and applied on the leader). While there is no leader (an election
//! after a site was lost), the write waits for one within the write timeout.
//!
//! A write is retried inside the cluster only when it provably was not appended: the target
//! said it is not the leader, or the connection to it could not even be opened. Any other
//! failure is reported as `UNAVAILABLE` with "outcome unknown": the caller retries (on another
//! node), and domain requests carry idempotency keys so a retry never applies twice.

use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::ClientWriteResponse;
use tracing::Instrument as _;
use varsel_observe::trace as propagation;
use varsel_proto::raft::{ForwardedWrite, ForwardedWriteReply};
use varsel_raft_store::delivery::DeliveryCommand;
use varsel_raft_store::write::{WriteError, Written};
use varsel_raft_store::{
    Command, LOG_FEATURE_PACKED_RECORD, NodeId, Request, Response, TypeConfig, VarselNode, decode, encode,
    encoded_len,
};

use crate::replica::Replica;
use crate::replica::forward::Route;

/// Largest encoded request accepted into the log. Raft entries are replicated to every site
/// and held in memory until applied; big ones stall heartbeats. Bulk work is split into many
/// entries by the callers.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// A forwarded write is committed by the node it was forwarded to, or refused with
/// [`NOT_LEADER_HEADER`]; it is never forwarded a second time, so leadership moving cannot make
/// a write circle between nodes.
pub const MAX_FORWARD_HOPS: u32 = 1;

/// Pause before trying again after a retryable failure inside the cluster.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Metadata key set on replies of a node that refused a forwarded write because it is not the
/// leader: the write was not appended and may be sent elsewhere.
pub const NOT_LEADER_HEADER: &str = "varsel-not-leader";

/// Metadata key naming the [`WriteError`] kind (`WriteError::kind`) when the leader could not
/// commit a forwarded write, so the forwarding node relays the same kind: above all, whether
/// the write may have been applied.
pub const WRITE_ERROR_HEADER: &str = "varsel-write-error";

/// The result of a write.
pub type WriteResult<T> = Result<T, WriteError>;

/// What one try at committing a write came to.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// Committed and applied.
    Done(Written),
    /// Provably not appended (the reason says why): may be tried again.
    Retry(String),
}

impl Replica {
    /// Commits `request`, which this node makes on its own (delivery leases and records, the
    /// key-value service), through the leader.
    pub async fn write(&self, request: Request) -> WriteResult<Written> {
        self.write_as(request, None).await
    }

    /// Commits `request` through the leader, from whichever node this is. `bearer` is the token
    /// of the caller this node authenticated; a leader elsewhere authenticates it again.
    #[tracing::instrument(name = "replica.write", skip_all, fields(node = self.id))]
    pub async fn write_as(&self, request: Request, bearer: Option<&str>) -> WriteResult<Written> {
        // Its size is checked here. On the leader it is only counted (the log encodes it
        // itself); a follower encodes it once and forwards those bytes, also after a leadership
        // change below.
        let mut encoded = None;
        let bytes = if self.known_leader().is_some_and(|(leader, _)| leader == self.id) {
            size_checked(&request)?
        } else {
            let e = encode_checked(&request)?;
            let n = e.len();
            encoded = Some(e);
            n
        };
        // A client's write is refused while this node's disk is full (see `crate::disk`); the
        // node's own (delivery records of what is in flight) still go to the leader.
        if bearer.is_some()
            && let Some(reason) = self.disk.refusal(self.id)
        {
            return Err(WriteError::NotApplied { timeout_ms: 0, reason });
        }
        let deadline = Instant::now() + self.write_timeout();
        let mut last_reason = String::from("no attempt made");
        while let Some(remaining) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            let (leader_id, leader) = self.wait_for_leader(remaining).await?;
            let attempt = if leader_id == self.id {
                self.commit_locally(&request, bytes, remaining).await?
            } else {
                let wire = match encoded.take() {
                    Some(e) => e,
                    None => encode_checked(&request)?,
                };
                let attempt = self.forward(leader_id, &leader, &wire, bearer, remaining).await;
                encoded = Some(wire);
                attempt?
            };
            match attempt {
                Attempt::Done(w) => return Ok(w),
                Attempt::Retry(reason) => last_reason = reason,
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        Err(WriteError::NotApplied { timeout_ms: self.config.raft.write_timeout_ms, reason: last_reason })
    }

    /// Commits a write another node forwarded here (`bytes`: its size as it came, the forwarder's
    /// encoding of it). `Ok(None)` means this node is not (or no longer) the leader and did not
    /// append it.
    pub async fn commit_forwarded(&self, request: Request, bytes: usize) -> WriteResult<Option<Written>> {
        check_size(bytes)?;
        // A leader whose disk is full is handing leadership over: the forwarder tries again.
        if !self.is_leader() || self.disk.is_full() {
            return Ok(None);
        }
        match self.commit_locally(&request, bytes, self.write_timeout()).await? {
            Attempt::Done(w) => Ok(Some(w)),
            Attempt::Retry(_) => Ok(None),
        }
    }

    /// The current leader; waits (up to `within`) while an election runs.
    pub async fn wait_for_leader(&self, within: Duration) -> WriteResult<(NodeId, VarselNode)> {
        if let Some(l) = self.known_leader() {
            return Ok(l);
        }
        let waited =
            self.raft.wait(Some(within)).metrics(|m| m.current_leader.is_some(), "a leader is known").await;
        match (waited, self.known_leader()) {
            (_, Some(l)) => Ok(l),
            (_, None) => Err(WriteError::NoLeader {
                node: self.id,
                waited_ms: within.as_millis() as u64,
                term: self.raft.metrics().borrow().current_term,
            }),
        }
    }

    /// Commits `request` (`bytes` its encoded size) on this node, which believes it leads; in a
    /// batch with other writes when they arrive together (see [`crate::replica::batch`]).
    #[tracing::instrument(name = "raft.commit", skip_all, fields(node = self.id))]
    async fn commit_locally(
        &self,
        request: &Request,
        bytes: usize,
        within: Duration,
    ) -> WriteResult<Attempt> {
        if self.handing_over.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(Attempt::Retry("leadership is being handed over".into()));
        }
        let (issued_at_ms, lease_at_ms) = self.clocks.stamp(&self.log_clock, &self.voter_ids(), self.id);
        let request = as_logged(request, || self.members_read(LOG_FEATURE_PACKED_RECORD));
        let cmd = Command { issued_at_ms, lease_at_ms, request };
        match tokio::time::timeout(within, self.propose(cmd, bytes)).await {
            Ok(attempt) => attempt,
            Err(_) => Err(WriteError::OutcomeUnknown {
                reason: format!(
                    "write appended on leader {} but not committed within {} ms: a quorum of sites is unreachable \
                     or too slow",
                    self.id,
                    within.as_millis()
                ),
            }),
        }
    }

    async fn forward(
        &self,
        leader_id: NodeId,
        leader: &VarselNode,
        encoded: &[u8],
        bearer: Option<&str>,
        within: Duration,
    ) -> WriteResult<Attempt> {
        if self.faults.blocks_to(leader_id) {
            return Ok(Attempt::Retry(format!("fault injection: link to leader {leader_id} is cut")));
        }
        let bearer = bearer.unwrap_or_default().to_string();
        let write = ForwardedWrite {
            request: encoded.to_vec(),
            hops: MAX_FORWARD_HOPS,
            bearer,
            ..Default::default()
        };
        // While this node's earlier forwarded writes are under way, this one goes with the next
        // batch (see `crate::replica::forward`).
        let _slot = match self.forwarding.route(&leader.raft_addr, write.request.len()) {
            Route::Alone(slot) => slot,
            Route::Queue => {
                let replica = (self.id, &self.raft, &self.peers);
                return self.forwarding.queue(replica, (leader_id, &leader.raft_addr), write, within).await;
            }
        };
        let mut client = self
            .peers
            .raft_client(&leader.raft_addr)
            .map_err(|e| WriteError::Internal(format!("bad address for node {leader_id}: {e}")))?;
        let mut req = tonic::Request::new(write);
        req.set_timeout(within);
        let span = propagation::client_span("raft.forward_write", leader_id);
        propagation::inject(&span, &mut req);
        let result = tokio::select! {
            r = client.forward_write(req).instrument(span.clone()) => r,
            moved = leader_moved(&self.raft, leader_id) => {
                propagation::record_error(&span);
                return Err(moved);
            }
        };
        if result.is_err() {
            propagation::record_error(&span);
        }
        match result {
            Ok(reply) => Ok(Attempt::Done(decode_written(reply.into_inner())?)),
            Err(status) if status.metadata().contains_key(NOT_LEADER_HEADER) => {
                Ok(Attempt::Retry(format!("node {leader_id} is no longer the leader")))
            }
            Err(status) if never_sent(&status) => Ok(Attempt::Retry(format!(
                "leader {leader_id} at {} unreachable: {}",
                leader.raft_addr,
                status.message()
            ))),
            Err(status) => Err(relayed(leader_id, None, &status)),
        }
    }
}

/// Completes once this node knows a leader other than `leader_id`, with the error a write
/// forwarded to `leader_id` then ends with.
///
/// A leader cut off by a real partition does not refuse: packets to it vanish, and a forwarded
/// call would hang for the whole write timeout while the others elect a new leader. Once this
/// node knows another leader, the call is given up; the old leader may still have the entry in
/// its log (a new leader can commit it), so the outcome is unknown.
pub(crate) async fn leader_moved(raft: &varsel_raft_store::Raft, leader_id: NodeId) -> WriteError {
    let mut metrics = raft.metrics();
    // Raft stopped (an error): the call is given up as well; 0 names no leader.
    let moved = metrics.wait_for(|m| m.current_leader.is_some_and(|l| l != leader_id)).await;
    let now = moved.ok().and_then(|m| m.current_leader).unwrap_or_default();
    WriteError::OutcomeUnknown {
        reason: format!("leadership moved from node {leader_id} to node {now} while the write was forwarded"),
    }
}

/// `request` encoded, refused when over [`MAX_ENTRY_BYTES`].
fn encode_checked(request: &Request) -> WriteResult<Vec<u8>> {
    let encoded = encode("request", request).map_err(|e| WriteError::Internal(e.to_string()))?;
    check_size(encoded.len())?;
    Ok(encoded)
}

/// `request`'s encoded size, refused when over [`MAX_ENTRY_BYTES`]; nothing is encoded.
fn size_checked(request: &Request) -> WriteResult<usize> {
    let bytes = encoded_len("request", request).map_err(|e| WriteError::Internal(e.to_string()))?;
    check_size(bytes)?;
    Ok(bytes)
}

/// Refuses an encoded request of `bytes` over [`MAX_ENTRY_BYTES`].
fn check_size(bytes: usize) -> WriteResult<()> {
    if bytes > MAX_ENTRY_BYTES {
        return Err(WriteError::TooLarge { bytes, limit: MAX_ENTRY_BYTES });
    }
    Ok(())
}

/// What openraft's answer to a client write means for the write: done, to be tried again (it
/// was not appended), or an error.
pub fn attempt_of(
    node: NodeId,
    result: Result<ClientWriteResponse<TypeConfig>, RaftError<NodeId, ClientWriteError<NodeId, VarselNode>>>,
) -> WriteResult<Attempt> {
    match result {
        Ok(resp) => Ok(Attempt::Done(Written { log_index: resp.log_id.index, response: resp.data })),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
            Ok(Attempt::Retry("leadership moved while writing".into()))
        }
        Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
            Err(WriteError::Refused(e.to_string()))
        }
        Err(RaftError::Fatal(f)) => Err(WriteError::Stopping { node, reason: f.to_string() }),
    }
}

pub(crate) fn decode_written(reply: ForwardedWriteReply) -> WriteResult<Written> {
    let response: Response =
        decode("response", &reply.response).map_err(|e| WriteError::Internal(e.to_string()))?;
    Ok(Written { log_index: reply.log_index, response })
}

/// The error a forwarded write's failure on the leader becomes here: the kind the leader named
/// (`kind`, or else [`WRITE_ERROR_HEADER`] in the status), or, when it named none (a transport
/// failure after the call was sent), outcome unknown.
pub(crate) fn relayed(leader_id: NodeId, kind: Option<&str>, status: &tonic::Status) -> WriteError {
    let kind = kind.or_else(|| status.metadata().get(WRITE_ERROR_HEADER).and_then(|v| v.to_str().ok()));
    let message = format!("forwarding to leader {leader_id}: {}", status.message());
    WriteError::from_kind(kind, &message)
}

/// The status a leader answers a forwarded write with when it could not commit it, carrying
/// the kind in [`WRITE_ERROR_HEADER`].
pub fn forwarded_failure(e: &WriteError) -> tonic::Status {
    let mut status = crate::error::ApiError::Write(e.clone()).into_status();
    if let Ok(v) = tonic::metadata::MetadataValue::try_from(e.kind()) {
        status.metadata_mut().insert(WRITE_ERROR_HEADER, v);
    }
    status
}

/// Whether a failed call certainly never reached the peer's application: the connection (TCP,
/// and TLS where used) could not be opened. tonic reports that as a [`tonic::ConnectError`]
/// somewhere in the status's source chain.
pub fn never_sent(status: &tonic::Status) -> bool {
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use varsel_raft_store::types::KvCommand;

    use super::*;

    fn put(value_bytes: usize) -> Request {
        Request::Kv(KvCommand::Put { key: "k".into(), value: "v".repeat(value_bytes) })
    }

    /// Goal: the bytes a follower forwards are the request's encoding, and a request over the
    /// entry limit is refused with its size and the limit, before anything is sent.
    #[test]
    fn encoded_once_and_bounded() {
        let small = put(100);
        let encoded = encode_checked(&small).expect("under the limit");
        assert_eq!(encoded, encode("request", &small).expect("encode"));
        let Request::Kv(KvCommand::Put { value, .. }) =
            decode::<Request>("request", &encoded).expect("decode")
        else {
            panic!("not a put");
        };
        assert_eq!(value.len(), 100);

        // The leader only counts its own writes: the same size, and the same refusal.
        assert_eq!(size_checked(&small).expect("under the limit"), encoded.len());
        assert!(matches!(
            size_checked(&put(MAX_ENTRY_BYTES)),
            Err(WriteError::TooLarge { bytes, limit: MAX_ENTRY_BYTES }) if bytes > MAX_ENTRY_BYTES
        ));

        match encode_checked(&put(MAX_ENTRY_BYTES)) {
            Err(WriteError::TooLarge { bytes, limit }) => {
                assert!(bytes > MAX_ENTRY_BYTES, "{bytes}");
                assert_eq!(limit, MAX_ENTRY_BYTES);
            }
            other => panic!("a request over the limit was not refused: {:?}", other.map(|b| b.len())),
        }
        // The leader checks a forwarded write by the size it came with.
        assert!(check_size(MAX_ENTRY_BYTES).is_ok());
        assert!(
            matches!(check_size(MAX_ENTRY_BYTES + 1), Err(WriteError::TooLarge { bytes, .. }) if bytes == MAX_ENTRY_BYTES + 1)
        );
    }
}

/// `request` as this leader puts it in the log: a delivery `Record` with its outcomes packed
/// (`DeliveryCommand::RecordPacked`) when `packed_read` says every member reads that; any other
/// request, or a record the others could not read, as it is.
fn as_logged(request: &Request, packed_read: impl FnOnce() -> bool) -> Request {
    let Request::Delivery(cmd) = request else { return request.clone() };
    let packed = match **cmd {
        DeliveryCommand::Record { .. } if packed_read() => cmd.packed_record(),
        _ => None,
    };
    match packed {
        Some(Ok(packed)) => Request::Delivery(Box::new(packed)),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "a record's outcomes could not be packed; logged as they came");
            request.clone()
        }
        None => request.clone(),
    }
}

#[cfg(test)]
mod logged_tests {
    use varsel_domain::model::Channel;
    use varsel_raft_store::delivery::{LeaseRef, Outcome, OutcomeResult, ShardProgress, ShardRef};
    use varsel_raft_store::{KvCommand, decode, encode};

    use super::*;

    /// A record of 100 SMS outcomes, as a sender proposes it.
    fn record() -> Request {
        let outcomes = (0..100u64)
            .map(|i| Outcome {
                pos: 7 + i,
                contact: 70 + i,
                channel: Channel::Sms,
                result: OutcomeResult::Sent { provider_id: format!("sms-a-{:016x}", i * 0x9E37_79B9) },
                provider: "sms-a".into(),
                at_ms: 1_765_000_000_000 + i,
            })
            .collect();
        let p = ShardProgress {
            lease: LeaseRef { shard: ShardRef { alert: 3, shard: 1 }, epoch: 2 },
            step: 0,
            channel: Channel::Sms,
            from: 7,
            to: 107,
            recipients: 100,
            outcomes,
            skipped: vec![(Channel::Email, 1)],
        };
        Request::Delivery(Box::new(DeliveryCommand::Record { node: 2, items: vec![p] }))
    }

    #[test]
    fn a_record_is_packed_only_when_every_member_reads_it() -> Result<(), Box<dyn std::error::Error>> {
        let plain = record();
        assert_eq!(as_logged(&plain, || false), plain, "an older member: the record as it came");
        let logged = as_logged(&plain, || true);
        let (Request::Delivery(cmd), Request::Delivery(orig)) = (&logged, &plain) else {
            return Err(format!("not delivery commands: {logged:?}").into());
        };
        let (DeliveryCommand::RecordPacked { node: 2, items }, DeliveryCommand::Record { items: orig, .. }) =
            (&**cmd, &**orig)
        else {
            return Err(format!("not packed: {cmd:?}").into());
        };
        assert_eq!(items[0], orig[0].packed()?, "the same range, its outcomes packed");
        let (packed, as_came) = (encode("request", &logged)?.len(), encode("request", &plain)?.len());
        assert!(packed * 2 < as_came, "packed {packed} bytes in the log, {as_came} as it came");
        let back: Request = decode("request", &encode("request", &logged)?)?;
        assert_eq!(back, logged);
        let kv = Request::Kv(KvCommand::Put { key: "k".into(), value: "v".into() });
        assert_eq!(as_logged(&kv, || unreachable!("asked for a request that is no record")), kv);
        Ok(())
    }
}
