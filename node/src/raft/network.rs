//! The client side of the Raft transport: openraft's `RaftNetwork` over tonic.
//!
//! Each peer gets one lazily-connected HTTP/2 channel ([`Peers`]), shared by replication,
//! votes, snapshot chunks and forwarded writes. Messages are openraft's own types encoded with
//! postcard inside a protobuf `bytes` field. A peer that cannot be reached is reported as
//! `Unreachable`, which makes openraft back off instead of retrying in a tight loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, Endpoint};
use tracing::Instrument as _;
use varsel_proto::raft::RaftPayload;
use varsel_proto::raft::raft_service_client::RaftServiceClient;
use varsel_raft_store::{NodeId, TypeConfig, VarselNode, decode, encode};

use crate::raft::faults::Faults;
use crate::tls::TlsState;
use varsel_observe::trace as propagation;

/// Time allowed to open a TCP connection to a peer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

pub use varsel_config::raft::MAX_MESSAGE_BYTES;

/// One channel per peer address, created on first use and reused until the node's
/// certificates are reloaded (new channels then present the new certificate and trust the new
/// CA; calls already under way finish on the old ones).
#[derive(Debug, Clone)]
pub struct Peers {
    tls: Arc<TlsState>,
    channels: Arc<Mutex<(u64, HashMap<String, Channel>)>>,
    /// This node's cluster id once known (see [`Peers::set_cluster_id`]): sent with every Raft
    /// message, and checked against the sender's on every one received.
    cluster_id: Arc<std::sync::RwLock<Option<String>>>,
    /// The log features each peer last said it reads ([`LOG_FEATURES_HEADER`]).
    features: Arc<Mutex<HashMap<NodeId, u32>>>,
}

/// The header with which a node answering a Raft message names the log features it reads
/// ([`varsel_raft_store::LOG_FEATURES`]); a node of an older build sends none.
pub const LOG_FEATURES_HEADER: &str = "x-varsel-log-features";

/// The header a Raft message carries its sender's cluster id in.
pub const CLUSTER_ID_HEADER: &str = "x-varsel-cluster-id";

impl Peers {
    /// Channels secured by `tls` (plain ones when it is plaintext).
    pub fn new(tls: Arc<TlsState>) -> Self {
        Self { tls, channels: Arc::default(), cluster_id: Arc::default(), features: Arc::default() }
    }

    /// Records the log features `node` named in an answer (0: it named none).
    pub fn note_features(&self, node: NodeId, level: u32) {
        let mut guard = self.features.lock().unwrap_or_else(|p| p.into_inner());
        if guard.get(&node) != Some(&level) {
            guard.insert(node, level);
        }
    }

    /// Whether every node of `others` has answered, naming at least log features `level`. A
    /// node not heard from since this one started counts as not reading them.
    pub fn all_read(&self, others: impl IntoIterator<Item = NodeId>, level: u32) -> bool {
        let guard = self.features.lock().unwrap_or_else(|p| p.into_inner());
        others.into_iter().all(|n| guard.get(&n).is_some_and(|l| *l >= level))
    }

    /// Records this node's cluster id (it changes only when a node that knew none learns it).
    pub fn set_cluster_id(&self, id: Option<String>) {
        let mut guard = self.cluster_id.write().unwrap_or_else(|p| p.into_inner());
        if *guard != id {
            *guard = id;
        }
    }

    /// This node's cluster id, once known.
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_id.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The TLS the channels use.
    pub fn tls(&self) -> Arc<TlsState> {
        self.tls.clone()
    }

    /// The channel to `addr` (`host:port`): its Raft port or its API.
    pub fn channel(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut guard = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.tls.generation();
        if guard.0 != generation {
            *guard = (generation, HashMap::new());
        }
        if let Some(c) = guard.1.get(addr) {
            return Ok(c.clone());
        }
        let channel = endpoint(addr, &self.tls)?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        guard.1.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    /// A Raft-service client for `addr`, with message limits set.
    pub fn raft_client(&self, addr: &str) -> Result<RaftServiceClient<Channel>, tonic::transport::Error> {
        Ok(RaftServiceClient::new(self.channel(addr)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}

/// The endpoint of `addr` with this node's TLS: `https` with its certificate as the client
/// identity and the cluster CA as the only trust, or plain `http` without TLS.
fn endpoint(addr: &str, tls: &TlsState) -> Result<Endpoint, tonic::transport::Error> {
    match tls.client() {
        Some(config) => Endpoint::from_shared(format!("https://{addr}"))?.tls_config(config),
        None => Endpoint::from_shared(format!("http://{addr}")),
    }
}

/// Creates a [`PeerClient`] per target for openraft.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    peers: Peers,
    faults: Faults,
}

impl NetworkFactory {
    /// A factory sharing `peers` and consulting `faults` on every message.
    pub fn new(peers: Peers, faults: Faults) -> Self {
        Self { peers, faults }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &VarselNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.raft_addr.clone(),
            peers: self.peers.clone(),
            faults: self.faults.clone(),
        }
    }
}

/// openraft's view of one peer.
#[derive(Debug)]
pub struct PeerClient {
    target: NodeId,
    addr: String,
    peers: Peers,
    faults: Faults,
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, VarselNode, RaftError<NodeId, E>>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

impl PeerClient {
    /// Sends one RPC. `traced` calls get a client span whose context travels with the request;
    /// heartbeats (appends without entries) are not traced: ten root traces a second per
    /// follower would bury everything else.
    async fn call<Req, Resp, E>(
        &self,
        kind: RpcKind,
        req: &Req,
        timeout: Duration,
        traced: bool,
    ) -> Result<Resp, RpcErr<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let delay = self.faults.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self.faults.blocks_to(self.target) {
            return Err(RPCError::Unreachable(Unreachable::new(&TransportError(format!(
                "fault injection: link to node {} is cut",
                self.target
            )))));
        }
        let data = encode("raft request", req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client =
            self.peers.raft_client(&self.addr).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(timeout);
        if let Some(id) = self.peers.cluster_id()
            && let Ok(value) = id.parse()
        {
            request.metadata_mut().insert(CLUSTER_ID_HEADER, value);
        }
        let span = if traced {
            propagation::root_client_span(kind.name(), self.target)
        } else {
            tracing::Span::none()
        };
        propagation::inject(&span, &mut request);
        let fut = async {
            match kind {
                RpcKind::Append => client.append_entries(request).await,
                RpcKind::Vote => client.vote(request).await,
                RpcKind::Snapshot => client.install_snapshot(request).await,
            }
        };
        let reply = match tokio::time::timeout(timeout, fut.instrument(span.clone())).await {
            Ok(Ok(r)) => {
                let level = r.metadata().get(LOG_FEATURES_HEADER).and_then(|v| v.to_str().ok()?.parse().ok());
                self.peers.note_features(self.target, level.unwrap_or(0));
                r.into_inner()
            }
            Ok(Err(status)) => {
                propagation::record_error(&span);
                return Err(status_to_rpc_error(self.target, status));
            }
            Err(_) => {
                propagation::record_error(&span);
                let e = TransportError(format!("no reply from node {} within {timeout:?}", self.target));
                return Err(RPCError::Unreachable(Unreachable::new(&e)));
            }
        };
        let result: Result<Resp, RaftError<NodeId, E>> =
            decode("raft reply", &reply.data).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

#[derive(Debug, Clone, Copy)]
enum RpcKind {
    Append,
    Vote,
    Snapshot,
}

impl RpcKind {
    fn name(self) -> &'static str {
        match self {
            RpcKind::Append => "raft.append_entries",
            RpcKind::Vote => "raft.vote",
            RpcKind::Snapshot => "raft.install_snapshot",
        }
    }
}

fn status_to_rpc_error<E: std::error::Error>(target: NodeId, status: tonic::Status) -> RpcErr<E> {
    let e = TransportError(format!("node {target}: {}: {}", status.code(), status.message()));
    match status.code() {
        // Connection refused, reset, DNS failure: the peer is down or cut off.
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            RPCError::Unreachable(Unreachable::new(&e))
        }
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let traced = !rpc.entries.is_empty();
        self.call(RpcKind::Append, &rpc, option.hard_ttl(), traced).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        self.call(RpcKind::Snapshot, &rpc, option.hard_ttl(), true).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        self.call(RpcKind::Vote, &rpc, option.hard_ttl(), true).await
    }

    fn backoff(&self) -> openraft::network::Backoff {
        // Retry an unreachable peer every 200 ms at first, then every second: a site that comes
        // back is found again quickly without hammering one that stays down.
        let steps = [200u64, 400, 800].into_iter().chain(std::iter::repeat(1000)).map(Duration::from_millis);
        openraft::network::Backoff::new(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: batches are allowed only once every other member has named the log features
    /// they need; a member not heard from, or one of an older build (no header), holds them off.
    #[test]
    fn log_features_gate_needs_every_member() -> Result<(), Box<dyn std::error::Error>> {
        let config = varsel_config::tls::TlsConfig { insecure_plaintext: true, ..Default::default() };
        let peers = Peers::new(TlsState::load(1, &config)?);
        assert!(!peers.all_read([2, 3], 1), "nobody heard from yet");
        peers.note_features(2, 1);
        assert!(!peers.all_read([2, 3], 1), "node 3 not heard from");
        peers.note_features(3, 0);
        assert!(!peers.all_read([2, 3], 1), "node 3 names no features (an older build)");
        peers.note_features(3, 1);
        assert!(peers.all_read([2, 3], 1));
        assert!(!peers.all_read([2, 3], 2), "a level nobody named");
        assert!(peers.all_read([], 1), "a single-node cluster batches");
        Ok(())
    }
}
