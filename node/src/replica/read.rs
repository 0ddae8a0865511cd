//! Linearizable reads on any node (read index).
//!
//! The leader confirms it is still leader with a quorum round and returns the index it had
//! committed at that moment; a follower asks the leader for that index over the Raft port, waits
//! until it has applied that far itself, and then reads its own state. Local reads skip all of
//! this and may be stale by the replication lag.

use std::time::{Duration, Instant};

use openraft::error::RaftError;
use tracing::Instrument as _;
use varsel_proto::raft::ReadIndexRequest;

use crate::error::{ApiError, ApiResult};
use crate::replica::Replica;
use varsel_observe::trace as propagation;

impl Replica {
    /// Returns once a read of this node's state will see every write committed before the call.
    /// The returned index is the one the read is linearizable at.
    #[tracing::instrument(name = "replica.read_barrier", skip_all, fields(node = self.id))]
    pub async fn read_barrier(&self) -> ApiResult<u64> {
        let deadline = Instant::now() + self.write_timeout();
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let (leader_id, leader) = self.wait_for_leader(remaining()).await?;
        let index = if leader_id == self.id {
            self.leader_read_index(remaining()).await?
        } else {
            if self.faults.blocks_to(leader_id) {
                return Err(ApiError::Unavailable(format!(
                    "fault injection: link to leader {leader_id} is cut"
                )));
            }
            let mut client = self
                .peers
                .raft_client(&leader.raft_addr)
                .map_err(|e| ApiError::Internal(format!("bad address for node {leader_id}: {e}")))?;
            let mut req = tonic::Request::new(ReadIndexRequest {});
            req.set_timeout(remaining());
            let span = propagation::client_span("raft.read_index", leader_id);
            propagation::inject(&span, &mut req);
            let reply = client.read_index(req).instrument(span.clone()).await.inspect_err(|_| {
                propagation::record_error(&span);
            });
            reply.map_err(ApiError::from)?.into_inner().read_index
        };
        self.wait_applied(index, remaining()).await?;
        Ok(index)
    }

    /// On the leader: confirm leadership with a quorum and return the read index.
    pub async fn leader_read_index(&self, within: Duration) -> ApiResult<u64> {
        match tokio::time::timeout(within, self.raft.ensure_linearizable()).await {
            Ok(Ok(log_id)) => Ok(log_id.map_or(0, |l| l.index)),
            Ok(Err(RaftError::APIError(e))) => {
                Err(ApiError::Unavailable(format!("node {} cannot serve a linearizable read: {e}", self.id)))
            }
            Ok(Err(RaftError::Fatal(f))) => {
                Err(ApiError::Unavailable(format!("node {} is stopping: {f}", self.id)))
            }
            Err(_) => Err(ApiError::Unavailable(format!(
                "leader {} could not confirm its leadership with a quorum within {} ms",
                self.id,
                within.as_millis()
            ))),
        }
    }

    /// Waits until this node has applied `index`.
    pub async fn wait_applied(&self, index: u64, within: Duration) -> ApiResult<()> {
        if index == 0 {
            return Ok(());
        }
        self.raft
            .wait(Some(within))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map(|_| ())
            .map_err(|e| {
                ApiError::Unavailable(format!("node {} did not catch up to index {index}: {e}", self.id))
            })
    }
}
