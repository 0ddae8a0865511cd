//! The server side of the Raft transport and of internal node-to-node calls.

use std::sync::Arc;
use std::time::Duration;

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use tonic::{Request, Response, Status};
use tracing::Instrument as _;
use varsel_observe::trace::TraceCarrier;
use varsel_proto::raft::raft_service_server::RaftService;
use varsel_proto::raft::{
    ClockReply, ClockRequest, ElectionControl, Empty, ForwardFailure, ForwardOutcome, ForwardedWrite,
    ForwardedWriteReply, ForwardedWrites, ForwardedWritesReply, RaftPayload, ReadIndexReply,
    ReadIndexRequest, forward_outcome,
};
use varsel_raft_store::{LOG_FEATURES, NodeId, Request as AppRequest, TypeConfig, decode, encode};

use super::network::LOG_FEATURES_HEADER;

use super::peer_check::{self, Peer};
use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::replica::Replica;
use crate::replica::forward::FORWARDED_WRITES_MAX;
use crate::replica::write::{MAX_FORWARD_HOPS, NOT_LEADER_HEADER, WRITE_ERROR_HEADER, forwarded_failure};

/// Serves Raft messages and internal calls for one replica.
#[derive(Debug, Clone)]
pub struct RaftTransportService {
    replica: Arc<Replica>,
    auth: Authenticator,
}

impl RaftTransportService {
    /// A service for `replica`; forwarded domain writes are authenticated again with `auth`.
    pub fn new(replica: Arc<Replica>, auth: Authenticator) -> Self {
        Self { replica, auth }
    }

    /// The caller, checked against the membership (see [`peer_check`]).
    fn peer<T>(&self, req: &Request<T>) -> Result<Peer, Status> {
        peer_check::peer(&self.replica, req)
    }

    /// The longest election suppression a leader transfer asks for (see
    /// `Replica::transfer_leader`): longer asks are cut to it, so no message can switch
    /// elections off for long.
    fn suppress_max(&self) -> Duration {
        Duration::from_millis(
            self.replica.config.raft.election_timeout_max_ms.saturating_mul(4).saturating_add(2_000),
        )
    }

    /// Refuses `what` while this node's data disk is full (see `crate::disk`): the leader
    /// takes it as unreachable and sends it again later.
    fn room_for(&self, what: &str) -> Result<(), Status> {
        match self.replica.disk.refusal(self.replica.id) {
            Some(reason) => Err(Status::unavailable(format!("not taking {what}: {reason}"))),
            None => Ok(()),
        }
    }

    fn drop_from(&self, from: NodeId) -> Result<(), Status> {
        if self.replica.faults.blocks_from(from) {
            return Err(Status::unavailable(format!("fault injection: link from node {from} is cut")));
        }
        Ok(())
    }
}

impl RaftTransportService {
    /// Checks, authorises and commits one forwarded write (alone, or one of a batch).
    async fn commit_one(&self, peer: Peer, fw: ForwardedWrite) -> Result<ForwardedWriteReply, Status> {
        if fw.hops > MAX_FORWARD_HOPS {
            return Err(Status::invalid_argument(format!("write forwarded {} times", fw.hops)));
        }
        let request: AppRequest = decode("forwarded request", &fw.request).map_err(bad_payload)?;
        peer_check::authorize_forwarded(&self.replica, &self.auth, peer, &request, &fw.bearer).await?;
        let bytes = fw.request.len();
        let Some(written) =
            self.replica.commit_forwarded(request, bytes).await.map_err(|e| forwarded_failure(&e))?
        else {
            return Err(not_leader(self.replica.id));
        };
        let response = encode("response", &written.response).map_err(|e| Status::internal(e.to_string()))?;
        Ok(ForwardedWriteReply { response, log_index: written.log_index })
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// One write's result in a [`ForwardedWritesReply`]: what a single call would have answered.
fn forward_outcome(result: Result<ForwardedWriteReply, Status>) -> ForwardOutcome {
    let outcome = match result {
        Ok(written) => forward_outcome::Outcome::Written(written),
        Err(status) => forward_outcome::Outcome::Failed(ForwardFailure {
            code: status.code() as i32,
            message: status.message().to_string(),
            write_error: status
                .metadata()
                .get(WRITE_ERROR_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            not_leader: status.metadata().contains_key(NOT_LEADER_HEADER),
        }),
    };
    ForwardOutcome { outcome: Some(outcome) }
}

fn not_leader(id: NodeId) -> Status {
    let mut s = Status::unavailable(format!("node {id} is not the leader"));
    s.metadata_mut().insert(NOT_LEADER_HEADER, tonic::metadata::MetadataValue::from_static("1"));
    s
}

fn bad_payload(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("undecodable raft payload: {e}"))
}

fn reply<T: serde::Serialize>(v: &T) -> Result<Response<RaftPayload>, Status> {
    let data = encode("raft reply", v).map_err(|e| Status::internal(e.to_string()))?;
    let mut response = Response::new(RaftPayload { data });
    response.metadata_mut().insert(LOG_FEATURES_HEADER, LOG_FEATURES.into());
    Ok(response)
}

#[tonic::async_trait]
impl RaftService for RaftTransportService {
    async fn append_entries(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let peer = self.peer(&req)?;
        let rpc: AppendEntriesRequest<TypeConfig> =
            decode("append entries", &req.get_ref().data).map_err(bad_payload)?;
        let from = rpc.vote.leader_id().voted_for().unwrap_or_default();
        peer.must_be(from, "append entries")?;
        self.drop_from(from)?;
        if !rpc.entries.is_empty() {
            self.room_for("log entries")?;
        }
        reply(&self.replica.raft.append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let peer = self.peer(&req)?;
        let rpc: VoteRequest<NodeId> = decode("vote", &req.get_ref().data).map_err(bad_payload)?;
        let from = rpc.vote.leader_id().voted_for().unwrap_or_default();
        peer.must_be(from, "a vote request")?;
        self.drop_from(from)?;
        reply(&self.replica.raft.vote(rpc).await)
    }

    async fn install_snapshot(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let peer = self.peer(&req)?;
        let rpc: InstallSnapshotRequest<TypeConfig> =
            decode("install snapshot", &req.get_ref().data).map_err(bad_payload)?;
        if rpc.offset == 0 {
            // A snapshot of a newer format is refused here, as an answer to its sender: once
            // received, its installation would fail as a storage error, which stops Raft.
            varsel_raft_store::snapshot::check_prefix(&rpc.data).map_err(bad_payload)?;
        }
        let from = rpc.vote.leader_id().voted_for().unwrap_or_default();
        peer.must_be(from, "install snapshot")?;
        self.drop_from(from)?;
        self.room_for("a snapshot")?;
        reply(&self.replica.raft.install_snapshot(rpc).await)
    }

    async fn forward_write(
        &self,
        req: Request<ForwardedWrite>,
    ) -> Result<Response<ForwardedWriteReply>, Status> {
        let peer = self.peer(&req)?;
        Ok(Response::new(self.commit_one(peer, req.into_inner()).await?))
    }

    async fn forward_writes(
        &self,
        req: Request<ForwardedWrites>,
    ) -> Result<Response<ForwardedWritesReply>, Status> {
        let peer = self.peer(&req)?;
        let writes = req.into_inner().writes;
        if writes.len() > FORWARDED_WRITES_MAX {
            return Err(Status::invalid_argument(format!(
                "{} writes in one call; at most {FORWARDED_WRITES_MAX}",
                writes.len()
            )));
        }
        // Not the leader: nothing of it was appended, and the sender tries them all again.
        if !self.replica.is_leader() {
            return Err(not_leader(self.replica.id));
        }
        // All at once, so that they reach the leader's group commit together.
        let outcomes = futures::future::join_all(writes.into_iter().map(|fw| {
            let span = tracing::info_span!("raft.forwarded_write", node = self.replica.id);
            TraceCarrier { traceparent: non_empty(&fw.traceparent), tracestate: non_empty(&fw.tracestate) }
                .set_parent_of(&span);
            self.commit_one(peer, fw).instrument(span)
        }))
        .await;
        let outcomes = outcomes.into_iter().map(forward_outcome).collect();
        Ok(Response::new(ForwardedWritesReply { outcomes }))
    }

    async fn read_index(&self, req: Request<ReadIndexRequest>) -> Result<Response<ReadIndexReply>, Status> {
        self.peer(&req)?;
        if !self.replica.is_leader() {
            return Err(not_leader(self.replica.id));
        }
        let index =
            self.replica.leader_read_index(self.replica.write_timeout()).await.map_err(Status::from)?;
        Ok(Response::new(ReadIndexReply { read_index: index }))
    }

    async fn control_election(&self, req: Request<ElectionControl>) -> Result<Response<Empty>, Status> {
        let peer = self.peer(&req)?;
        let ctl = req.into_inner();
        // Resuming elections is always safe; switching them off or forcing one is the leader's
        // call (it hands leadership over), not any member's.
        if ctl.elect_now || ctl.suppress_ms > 0 {
            peer_check::must_be_leader(&self.replica, peer)?;
        }
        if ctl.elect_now {
            self.replica.raft.runtime_config().elect(true);
            self.replica
                .raft
                .trigger()
                .elect()
                .await
                .map_err(|f| Status::from(ApiError::Unavailable(f.to_string())))?;
        } else {
            let asked = Duration::from_millis(ctl.suppress_ms);
            let max = self.suppress_max();
            if asked > max {
                tracing::warn!(
                    asked_ms = ctl.suppress_ms,
                    max_ms = max.as_millis() as u64,
                    "election suppression cut to the bound"
                );
            }
            self.replica.suppress_elections(asked.min(max));
        }
        Ok(Response::new(Empty {}))
    }

    async fn clock(&self, req: Request<ClockRequest>) -> Result<Response<ClockReply>, Status> {
        if let Peer::Node(id) = self.peer(&req)? {
            self.drop_from(id)?;
        }
        Ok(Response::new(ClockReply { wall_ms: varsel_domain::clock::wall_ms() }))
    }
}
