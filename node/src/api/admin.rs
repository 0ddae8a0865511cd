//! `ClusterAdmin`: the gRPC face of cluster administration (`varsel cluster …`).
//!
//! Calls that change the membership or move leadership are served by the leader; any other
//! node passes them on to the leader's API and relays the answer, so an operator can point the
//! CLI at any node.

use std::collections::BTreeMap;
use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;
use varsel_proto::admin::cluster_admin_client::ClusterAdminClient;
use varsel_proto::admin::cluster_admin_server::{ClusterAdmin, ClusterAdminServer};
use varsel_proto::admin::{
    AddLearnerRequest, BackupChunk, BackupRequest, DeliveryStatusReply, DeliveryStatusRequest, DigestReply,
    DigestRequest, DrainReply, DrainRequest, InitReply, InitRequest, MembershipReply, NodeIdRequest,
    NodeStatus, SearchStateReply, SearchStateRequest, SetFaultsReply, SetFaultsRequest, ShardInfo,
    ShardsReply, ShardsRequest, SnapshotReply, SnapshotRequest, StatusRequest, TransferLeaderReply,
    TransferLeaderRequest,
};
use varsel_raft_store::VarselNode;

use varsel_domain::Rule;

use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::replica::Replica;
use crate::replica::admin::{MembershipView, address};
use varsel_observe::trace as propagation;

/// The cluster administration service of one node. Every call needs the superadmin token
/// ([`AdminService::server`] checks it before the call is decoded further).
#[derive(Debug, Clone)]
pub struct AdminService {
    replica: Arc<Replica>,
    engine: Option<Arc<varsel_delivery::Shared>>,
}

impl AdminService {
    /// A service for `replica` and its delivery engine, if it runs one, behind the superadmin
    /// check of `auth`.
    pub fn server(
        replica: Arc<Replica>,
        auth: Authenticator,
        engine: Option<Arc<varsel_delivery::Shared>>,
    ) -> InterceptedService<ClusterAdminServer<Self>, impl Interceptor + Clone> {
        let check = move |req: Request<()>| -> Result<Request<()>, Status> {
            auth.require_superadmin(req.metadata())?;
            Ok(req)
        };
        ClusterAdminServer::with_interceptor(Self { replica, engine }, check)
    }

    /// A client of the leader's API and a client span for the proxied call, or `None` when this
    /// node is the leader.
    async fn leader_client(&self) -> Result<Option<(LeaderClient, tracing::Span)>, Status> {
        let (id, leader) =
            self.replica.wait_for_leader(self.replica.write_timeout()).await.map_err(ApiError::from)?;
        if id == self.replica.id {
            return Ok(None);
        }
        let channel = self
            .replica
            .peers
            .channel(&leader.api_addr)
            .map_err(|e| Status::internal(format!("bad address for leader {id}: {e}")))?;
        Ok(Some((ClusterAdminClient::new(channel), propagation::client_span("admin.proxy", id))))
    }
}

type LeaderClient = ClusterAdminClient<tonic::transport::Channel>;

/// A backup as it streams: its header, then the snapshot's bytes.
type BackupStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<BackupChunk, Status>> + Send>>;

/// Bytes per message of a backup stream.
const BACKUP_CHUNK_BYTES: usize = 1 << 20;

/// Sends `header`, then `file` from its start in chunks, until the end or the receiver is gone
/// (the client gave up). Runs on a blocking thread.
fn stream_backup(
    header: varsel_proto::admin::BackupHeader,
    mut file: std::fs::File,
    tx: &tokio::sync::mpsc::Sender<Result<BackupChunk, Status>>,
) {
    use std::io::{Read, Seek};
    use varsel_proto::admin::backup_chunk::Part;
    let expected = header.snapshot_bytes;
    if tx.blocking_send(Ok(BackupChunk { part: Some(Part::Header(header)) })).is_err() {
        return;
    }
    if let Err(e) = file.seek(std::io::SeekFrom::Start(0)) {
        let _ = tx.blocking_send(Err(Status::internal(format!("backup: {e}"))));
        return;
    }
    let mut sent = 0u64;
    let mut buf = vec![0u8; BACKUP_CHUNK_BYTES];
    while sent < expected {
        let want = BACKUP_CHUNK_BYTES.min((expected - sent) as usize);
        match file.read(&mut buf[..want]) {
            Ok(0) => {
                let m = format!("backup: the snapshot ended after {sent} of {expected} bytes");
                let _ = tx.blocking_send(Err(Status::internal(m)));
                return;
            }
            Ok(n) => {
                sent += n as u64;
                if tx.blocking_send(Ok(BackupChunk { part: Some(Part::Data(buf[..n].to_vec())) })).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(Status::internal(format!("backup: {e}"))));
                return;
            }
        }
    }
}

/// The request passed on to another node: the caller's token (checked there again) and the
/// proxy span's context.
fn proxied<T>(span: &tracing::Span, original: Request<T>) -> Request<T> {
    let token = original.metadata().get(AUTHORIZATION).cloned();
    let mut req = Request::new(original.into_inner());
    if let Some(token) = token {
        req.metadata_mut().insert(AUTHORIZATION, token);
    }
    propagation::inject(span, &mut req);
    req
}

/// The metadata key of the bearer token.
const AUTHORIZATION: &str = "authorization";

fn membership_reply(m: MembershipView) -> Response<MembershipReply> {
    Response::new(MembershipReply {
        voters: m.voters.into_iter().collect(),
        learners: m.learners.into_iter().collect(),
        log_index: m.log_index,
    })
}

fn node_from(a: &varsel_proto::admin::NodeAddress) -> Result<VarselNode, ApiError> {
    let field_ok = |name: &str, v: &str| {
        if v.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) {
            Ok(())
        } else {
            Err(ApiError::invalid(
                &format!("node.{name}"),
                Rule::Value,
                format!("must be host:port, got {v:?}"),
            ))
        }
    };
    if a.id == 0 {
        return Err(ApiError::invalid("node.id", Rule::Range, "must be positive"));
    }
    if a.site.is_empty() {
        return Err(ApiError::invalid("node.site", Rule::Required, "must not be empty"));
    }
    field_ok("api_addr", &a.api_addr)?;
    field_ok("raft_addr", &a.raft_addr)?;
    Ok(VarselNode { site: a.site.clone(), api_addr: a.api_addr.clone(), raft_addr: a.raft_addr.clone() })
}

#[tonic::async_trait]
impl ClusterAdmin for AdminService {
    async fn init(&self, req: Request<InitRequest>) -> Result<Response<InitReply>, Status> {
        let req = req.into_inner();
        let members = if req.members.is_empty() {
            self.replica.configured_members()
        } else {
            req.members
                .iter()
                .map(|a| Ok((a.id, node_from(a)?)))
                .collect::<Result<BTreeMap<_, _>, ApiError>>()?
        };
        let already = self.replica.initialize(members.clone()).await?;
        Ok(Response::new(InitReply {
            members: members.iter().map(|(id, n)| address(*id, n)).collect(),
            already_initialized: already,
        }))
    }

    async fn add_learner(
        &self,
        req: Request<AddLearnerRequest>,
    ) -> Result<Response<MembershipReply>, Status> {
        if let Some((mut leader, span)) = self.leader_client().await? {
            return leader.add_learner(proxied(&span, req)).instrument(span).await;
        }
        let a = req.into_inner().node.ok_or_else(|| Status::invalid_argument("node: required"))?;
        let node = node_from(&a)?;
        Ok(membership_reply(self.replica.add_learner(a.id, node).await?))
    }

    async fn promote(&self, req: Request<NodeIdRequest>) -> Result<Response<MembershipReply>, Status> {
        if let Some((mut leader, span)) = self.leader_client().await? {
            return leader.promote(proxied(&span, req)).instrument(span).await;
        }
        Ok(membership_reply(self.replica.promote(req.into_inner().node_id).await?))
    }

    async fn remove(&self, req: Request<NodeIdRequest>) -> Result<Response<MembershipReply>, Status> {
        if let Some((mut leader, span)) = self.leader_client().await? {
            return leader.remove(proxied(&span, req)).instrument(span).await;
        }
        Ok(membership_reply(self.replica.remove(req.into_inner().node_id).await?))
    }

    async fn transfer_leader(
        &self,
        req: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderReply>, Status> {
        if let Some((mut leader, span)) = self.leader_client().await? {
            return leader.transfer_leader(proxied(&span, req)).instrument(span).await;
        }
        let (leader_id, term) = self.replica.transfer_leader(req.into_inner().to_node_id).await?;
        Ok(Response::new(TransferLeaderReply { leader_id, term }))
    }

    async fn drain(&self, req: Request<DrainRequest>) -> Result<Response<DrainReply>, Status> {
        let target = req.get_ref().node_id;
        if target != self.replica.id {
            let m = self.replica.raft.metrics().borrow().clone();
            let node = m.membership_config.membership().get_node(&target).cloned();
            let node = node.ok_or_else(|| ApiError::NotFound(format!("node {target} is not a member")))?;
            let channel =
                self.replica.peers.channel(&node.api_addr).map_err(|e| Status::internal(e.to_string()))?;
            let span = propagation::client_span("admin.proxy", target);
            return ClusterAdminClient::new(channel).drain(proxied(&span, req)).instrument(span).await;
        }
        let r = req.into_inner();
        let engine = self
            .engine
            .as_ref()
            .ok_or_else(|| ApiError::FailedPrecondition("delivery is not enabled on this node".into()))?;
        let released = engine.drain(!r.resume).await.map_err(ApiError::Unavailable)?;
        if !r.resume && self.replica.is_leader() {
            let to = self.replica.membership().voters.into_iter().find(|v| *v != self.replica.id);
            if let Some(to) = to {
                self.replica.transfer_leader(to).await?;
            }
        }
        let leader_id = self.replica.known_leader().map_or(0, |(id, _)| id);
        Ok(Response::new(DrainReply { leases_released: released as u64, leader_id }))
    }

    async fn status(&self, _req: Request<StatusRequest>) -> Result<Response<NodeStatus>, Status> {
        Ok(Response::new(self.replica.status()))
    }

    type BackupStream = BackupStream;

    async fn backup(&self, _req: Request<BackupRequest>) -> Result<Response<BackupStream>, Status> {
        let (h, file) = self.replica.backup_source().await?;
        let (index, snapshot_bytes) = (h.log_index, h.snapshot_bytes);
        let header = varsel_proto::admin::BackupHeader {
            cluster_id: h.cluster_id,
            log_index: h.log_index,
            log_term: h.log_term,
            snapshot_id: h.snapshot_id,
            created_at_ms: h.created_at_ms,
            node_id: h.node_id,
            site: h.site,
            varsel_version: h.varsel_version,
            snapshot_bytes: h.snapshot_bytes,
        };
        tracing::info!(index, bytes = snapshot_bytes, "backup streaming");
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || stream_backup(header, file, &tx));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn snapshot(&self, _req: Request<SnapshotRequest>) -> Result<Response<SnapshotReply>, Status> {
        let snapshot_index = self.replica.snapshot_now().await?;
        Ok(Response::new(SnapshotReply { snapshot_index }))
    }

    async fn shards(&self, req: Request<ShardsRequest>) -> Result<Response<ShardsReply>, Status> {
        use varsel_raft_store::state_machine::delivery::query as dq;
        let id = req.into_inner().alert_id;
        let txn = self.replica.state.read_txn();
        let alert = dq::alert(&txn, id)
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("alert {id} does not exist")))?;
        let states = dq::shard_states(&txn, id, alert.shards).map_err(ApiError::from)?;
        let mut held_by_node = std::collections::HashMap::new();
        let mut shards = Vec::with_capacity(states.len());
        for (i, s) in states.into_iter().enumerate() {
            if let Some(owner) = s.owner {
                *held_by_node.entry(owner).or_insert(0u32) += 1;
            }
            let range = dq::shard_range(&alert, i as u32);
            shards.push(ShardInfo {
                shard: i as u32,
                owner: s.owner.unwrap_or(0),
                epoch: s.epoch,
                lease_expires_ms: s.expires_ms,
                step: u32::from(s.step),
                cursors: s.cursors,
                done: s.done,
                range_start: range.as_ref().map_or(0, dq::range_start),
                range_end: range.as_ref().map_or(0, dq::range_end),
            });
        }
        Ok(Response::new(ShardsReply { shards, held_by_node, status: format!("{:?}", alert.status) }))
    }

    async fn delivery_status(
        &self,
        _req: Request<DeliveryStatusRequest>,
    ) -> Result<Response<DeliveryStatusReply>, Status> {
        let Some(e) = &self.engine else {
            return Ok(Response::new(DeliveryStatusReply { enabled: false, ..Default::default() }));
        };
        let c = &e.config;
        let window = (c.shard_workers * 4 * c.window_chunks * c.chunk_recipients) as u64;
        Ok(Response::new(DeliveryStatusReply {
            enabled: true,
            unhealthy: e.unhealthy(),
            actor_restarts: e.counters.actor_restarts.load(std::sync::atomic::Ordering::Relaxed),
            in_flight_window: window,
            queued: e.queues.iter().map(|(ch, q)| (ch.to_string(), q.queued() as u64)).collect(),
            live_nodes: e.live_nodes(),
            lease_now_ms: e.lease_now_ms(),
            heartbeats: varsel_raft_store::state_machine::delivery::query::heartbeats(
                &self.replica.state.read_txn(),
            )
            .map_err(ApiError::from)?
            .into_iter()
            .collect(),
        }))
    }

    async fn set_faults(&self, req: Request<SetFaultsRequest>) -> Result<Response<SetFaultsReply>, Status> {
        let r = req.into_inner();
        let faults = &self.replica.faults;
        if !faults.is_enabled() {
            return Err(ApiError::FailedPrecondition(format!(
                "fault injection is not enabled on node {} (testing.fault_injection = false)",
                self.replica.id
            ))
            .into());
        }
        if r.cut.contains(&self.replica.id) {
            return Err(ApiError::invalid(
                "cut",
                Rule::Value,
                format!("node {} cannot cut its link to itself", self.replica.id),
            )
            .into());
        }
        const OFFSET_MAX_MS: i64 = 30 * 86_400_000;
        if !(-OFFSET_MAX_MS..=OFFSET_MAX_MS).contains(&r.clock_offset_ms) {
            let rule = format!("{} ms is more than 30 days either way", r.clock_offset_ms);
            return Err(ApiError::invalid("clock_offset_ms", Rule::Value, rule).into());
        }
        faults.set_cut(r.cut.iter().copied().collect());
        faults.set_delay(r.delay_ms);
        varsel_domain::clock::set_offset_ms(r.clock_offset_ms);
        tracing::warn!(cut = ?r.cut, delay_ms = r.delay_ms, clock_offset_ms = r.clock_offset_ms, "fault injection changed");
        Ok(Response::new(SetFaultsReply {
            cut: faults.cut_links().into_iter().collect(),
            delay_ms: faults.delay().as_millis() as u32,
            clock_offset_ms: varsel_domain::clock::offset_ms(),
        }))
    }

    async fn digest(&self, _req: Request<DigestRequest>) -> Result<Response<DigestReply>, Status> {
        let applied = |r: &Replica| r.state.applied().last_applied.map_or(0, |l| l.index);
        let replica = self.replica.clone();
        let reply = tokio::task::spawn_blocking(move || {
            let applied_before = applied(&replica);
            let (records, crc32) = replica.state.digest()?;
            Ok::<_, varsel_raft_store::error::EngineError>(DigestReply {
                applied_before,
                applied_after: applied(&replica),
                records,
                crc32,
            })
        })
        .await
        .map_err(|e| Status::internal(format!("digest task failed: {e}")))?
        .map_err(ApiError::from)?;
        Ok(Response::new(reply))
    }

    async fn search_state(
        &self,
        req: Request<SearchStateRequest>,
    ) -> Result<Response<SearchStateReply>, Status> {
        let needle = req.into_inner().needle;
        if !SEARCH_NEEDLE_BYTES.contains(&needle.len()) {
            let m = format!(
                "must be {} to {} bytes, got {}",
                SEARCH_NEEDLE_BYTES.start(),
                SEARCH_NEEDLE_BYTES.end(),
                needle.len()
            );
            return Err(ApiError::invalid("needle", Rule::Range, m).into());
        }
        let replica = self.replica.clone();
        let reply = tokio::task::spawn_blocking(move || {
            let applied = replica.state.applied().last_applied.map_or(0, |l| l.index);
            let (records, by_table) = replica.state.search(&needle)?;
            let (log_entries, log_matches) = replica.search_log(&needle)?;
            Ok::<_, varsel_raft_store::error::EngineError>(SearchStateReply {
                records,
                matches: by_table.values().sum(),
                matches_by_table: by_table.into_iter().map(|(t, n)| (u32::from(t), n)).collect(),
                log_entries,
                log_matches,
                applied,
            })
        })
        .await
        .map_err(|e| Status::internal(format!("search task failed: {e}")))?
        .map_err(ApiError::from)?;
        Ok(Response::new(reply))
    }
}

/// Lengths of a byte string `SearchState` looks for: shorter ones match by chance, and
/// each record is compared against it.
const SEARCH_NEEDLE_BYTES: std::ops::RangeInclusive<usize> = 4..=256;
