//! Cluster administration on this node: bootstrap, membership changes, leader transfer,
//! snapshots and status.
//!
//! Membership changes and transfers must run on the leader; the API layer proxies them there.
//!
//! Leader transfer: openraft 0.9 has no transfer call, and a follower refuses to vote while its
//! leader lease (`election_timeout_max_ms`) is fresh. So the leader stops heartbeats, asks the
//! other followers to hold off their own elections for a bounded time, waits for the leases to
//! lapse, and then asks the target to start an election. Every suppression expires by itself,
//! so a transfer interrupted half-way cannot leave the cluster unable to elect a leader.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{ChangeMembers, ServerState};
use varsel_proto::admin::{MemberInfo, NodeAddress, NodeStatus, ReplicationLag};
use varsel_proto::raft::ElectionControl;
use varsel_raft_store::{NodeId, VarselNode};

use crate::error::{ApiError, ApiResult};
use crate::replica::Replica;

/// Time allowed for a membership change to commit (a learner added with `blocking` also waits
/// for it to catch up).
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(60);

/// Time allowed for a snapshot to be built on request.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Members and the log index of the membership entry.
#[derive(Debug, Clone)]
pub struct MembershipView {
    /// Voters.
    pub voters: BTreeSet<NodeId>,
    /// Learners (non-voting members).
    pub learners: BTreeSet<NodeId>,
    /// Index of the entry that set this membership.
    pub log_index: u64,
}

fn write_err(e: RaftError<NodeId, ClientWriteError<NodeId, VarselNode>>) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ApiError::Unavailable(format!(
            "not the leader; the leader is {}",
            f.leader_id.map_or("unknown".to_string(), |l| l.to_string())
        )),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            ApiError::FailedPrecondition(c.to_string())
        }
        RaftError::Fatal(f) => ApiError::Unavailable(format!("node is stopping: {f}")),
    }
}

async fn within<T>(what: &str, d: Duration, fut: impl Future<Output = ApiResult<T>>) -> ApiResult<T> {
    tokio::time::timeout(d, fut).await.unwrap_or_else(|_| {
        Err(ApiError::Unavailable(format!("{what} did not finish within {} s", d.as_secs())))
    })
}

impl Replica {
    /// The initial members: this node and its configured peers.
    pub fn configured_members(&self) -> BTreeMap<NodeId, VarselNode> {
        let mut m = BTreeMap::from([(self.id, self.self_node())]);
        for p in &self.config.peers {
            let node = VarselNode {
                site: p.site.clone(),
                api_addr: p.api_addr.clone(),
                raft_addr: p.raft_addr.clone(),
            };
            m.insert(p.id, node);
        }
        m
    }

    /// Bootstraps the cluster with `members`. Returns `true` when it was already initialised
    /// (then nothing changes).
    pub async fn initialize(&self, members: BTreeMap<NodeId, VarselNode>) -> ApiResult<bool> {
        if !members.contains_key(&self.id) {
            let message = format!("must include the node asked to initialise (node {})", self.id);
            return Err(ApiError::invalid("members", varsel_domain::Rule::Required, message));
        }
        match self.raft.initialize(members).await {
            Ok(()) => Ok(false),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(true),
            Err(RaftError::APIError(InitializeError::NotInMembers(e))) => {
                Err(ApiError::invalid("members", varsel_domain::Rule::Required, e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(ApiError::Unavailable(format!("node is stopping: {f}"))),
        }
    }

    /// Adds a non-voting member and waits for it to catch up.
    pub async fn add_learner(&self, id: NodeId, node: VarselNode) -> ApiResult<MembershipView> {
        within("adding the learner", MEMBERSHIP_TIMEOUT, async {
            self.raft.add_learner(id, node, true).await.map_err(write_err)?;
            Ok(self.membership())
        })
        .await
    }

    /// Makes a learner a voter.
    pub async fn promote(&self, id: NodeId) -> ApiResult<MembershipView> {
        let m = self.membership();
        if !m.learners.contains(&id) && !m.voters.contains(&id) {
            return Err(ApiError::NotFound(format!("node {id} is not a member; add it as a learner first")));
        }
        within("promoting the node", MEMBERSHIP_TIMEOUT, async {
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map_err(write_err)?;
            Ok(self.membership())
        })
        .await
    }

    /// Removes a member (voter or learner) from the cluster.
    pub async fn remove(&self, id: NodeId) -> ApiResult<MembershipView> {
        let m = self.membership();
        let change = if m.voters.contains(&id) {
            if m.voters.len() == 1 {
                return Err(ApiError::FailedPrecondition(format!("node {id} is the last voter")));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if m.learners.contains(&id) {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(ApiError::NotFound(format!("node {id} is not a member")));
        };
        within("removing the node", MEMBERSHIP_TIMEOUT, async {
            self.raft.change_membership(change, false).await.map_err(write_err)?;
            Ok(self.membership())
        })
        .await
    }

    /// The membership as this node knows it.
    pub fn membership(&self) -> MembershipView {
        let metrics = self.raft.metrics().borrow().clone();
        let stored = metrics.membership_config.clone();
        let voters: BTreeSet<NodeId> = stored.membership().voter_ids().collect();
        let learners = stored.membership().learner_ids().collect();
        MembershipView { voters, learners, log_index: stored.log_id().map_or(0, |l| l.index) }
    }

    /// Builds a snapshot now and purges the log up to it. Returns the snapshot's index.
    pub async fn snapshot_now(&self) -> ApiResult<u64> {
        let deadline = tokio::time::Instant::now() + SNAPSHOT_TIMEOUT;
        let applied = self.raft.metrics().borrow().last_applied.map_or(0, |l| l.index);
        // openraft ignores a trigger while a build runs (one it started itself, at
        // `raft.snapshot_every_entries`): that build may end below `applied`, so trigger again
        // after each new snapshot until one covers it.
        let index = loop {
            let before = self.raft.metrics().borrow().snapshot.map(|s| s.index);
            // openraft ignores a snapshot that is not newer than the one it has, so when that
            // one already covers `applied` (another caller's, or one taken after an erasure)
            // waiting for a new one would wait for nothing.
            if let Some(index) = before.filter(|b| *b >= applied) {
                break index;
            }
            self.raft.trigger().snapshot().await.map_err(|f| ApiError::Unavailable(f.to_string()))?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let waited = self
                .raft
                .wait(Some(left))
                .metrics(|m| m.snapshot.map(|s| s.index) != before, "a new snapshot")
                .await
                .map_err(|e| ApiError::Unavailable(format!("snapshot not built: {e}")))?;
            let index = waited.snapshot.map_or(0, |s| s.index);
            if index >= applied {
                break index;
            }
        };
        self.raft.trigger().purge_log(index).await.map_err(|f| ApiError::Unavailable(f.to_string()))?;
        Ok(index)
    }

    /// Moves leadership to `to`. Must be called on the leader.
    pub async fn transfer_leader(self: &Arc<Self>, to: NodeId) -> ApiResult<(NodeId, u64)> {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.id) {
            return Err(ApiError::Unavailable(format!("node {} is not the leader", self.id)));
        }
        if to == self.id {
            return Ok((self.id, m.current_term));
        }
        let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        let Some(target) =
            m.membership_config.membership().get_node(&to).cloned().filter(|_| voters.contains(&to))
        else {
            return Err(ApiError::FailedPrecondition(format!("node {to} is not a voter")));
        };
        let lease = Duration::from_millis(self.config.raft.election_timeout_max_ms);
        let hold = lease * 4 + Duration::from_secs(2);
        let others: Vec<VarselNode> = voters
            .iter()
            .filter(|v| **v != to && **v != self.id)
            .filter_map(|v| m.membership_config.membership().get_node(v).cloned())
            .collect();
        for node in &others {
            self.control_election(
                node,
                ElectionControl { suppress_ms: hold.as_millis() as u64, elect_now: false },
            )
            .await;
        }
        self.suppress_elections(hold);
        self.handing_over.store(true, std::sync::atomic::Ordering::Release);
        let outcome = match self.wait_caught_up(to, lease * 2).await {
            Ok(()) => {
                self.raft.runtime_config().heartbeat(false);
                let outcome = self.hand_over(to, &target, lease).await;
                self.raft.runtime_config().heartbeat(true);
                outcome
            }
            Err(e) => Err(e),
        };
        self.handing_over.store(false, std::sync::atomic::Ordering::Release);
        self.suppress_elections(Duration::ZERO);
        for node in &others {
            self.control_election(node, ElectionControl { suppress_ms: 0, elect_now: false }).await;
        }
        outcome
    }

    /// Waits until `to` holds every entry this leader has appended (new writes are held back
    /// meanwhile): a candidate with a shorter log than the others' would lose the election.
    async fn wait_caught_up(&self, to: NodeId, within: Duration) -> ApiResult<()> {
        let caught_up = |m: &openraft::RaftMetrics<NodeId, VarselNode>| {
            let matched = m.replication.as_ref().and_then(|r| r.get(&to).cloned().flatten()).map(|l| l.index);
            matched.is_some() && matched >= m.last_log_index
        };
        match self.raft.wait(Some(within)).metrics(caught_up, "the target has the whole log").await {
            Ok(_) => Ok(()),
            Err(_) => Err(ApiError::Unavailable(format!(
                "node {to} did not catch up with the leader's log within {} ms; leadership stays here",
                within.as_millis()
            ))),
        }
    }

    async fn hand_over(&self, to: NodeId, target: &VarselNode, lease: Duration) -> ApiResult<(NodeId, u64)> {
        // Followers' leases lapse once they have not heard from us for `lease`.
        tokio::time::sleep(lease + Duration::from_millis(self.config.raft.heartbeat_interval_ms)).await;
        self.control_election(target, ElectionControl { suppress_ms: 0, elect_now: true }).await;
        let waited = self
            .raft
            .wait(Some(lease * 2 + Duration::from_secs(2)))
            .metrics(|m| m.current_leader == Some(to), "leadership moved to the target")
            .await;
        match waited {
            Ok(m) => Ok((to, m.current_term)),
            Err(_) => {
                let m = self.raft.metrics().borrow().clone();
                Err(ApiError::Unavailable(format!(
                    "node {to} did not become leader (leader now {:?}, term {}); try again when writes are quieter",
                    m.current_leader, m.current_term
                )))
            }
        }
    }

    async fn control_election(&self, node: &VarselNode, ctl: ElectionControl) {
        let Ok(mut client) = self.peers.raft_client(&node.raft_addr) else { return };
        let mut req = tonic::Request::new(ctl);
        req.set_timeout(Duration::from_secs(2));
        // Part of the transfer-leader call's trace, when it has one.
        varsel_observe::trace::inject(&tracing::Span::current(), &mut req);
        if let Err(e) = client.control_election(req).await {
            tracing::warn!(addr = %node.raft_addr, error = %e, "election control not delivered");
        }
    }

    /// This node's view of the cluster.
    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        let fingerprints = self.tls.fingerprints();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, n)| MemberInfo { address: Some(address(*id, n)), voter: voters.contains(id) })
            .collect();
        let last_log_index = m.last_log_index.unwrap_or(0);
        let clock = self.clocks.last();
        let replication = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, matched)| ReplicationLag {
                        node_id: *id,
                        has_matched: matched.is_some(),
                        matched_index: matched.map_or(0, |l| l.index),
                        lag_entries: last_log_index.saturating_sub(matched.map_or(0, |l| l.index)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        NodeStatus {
            node: Some(address(self.id, &self.self_node())),
            role: role_name(m.state).to_string(),
            term: m.current_term,
            has_leader: m.current_leader.is_some(),
            leader_id: m.current_leader.unwrap_or(0),
            last_log_index,
            applied_index: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            purged_index: m.purged.map_or(0, |l| l.index),
            members,
            replication,
            initialized: m.membership_config.log_id().is_some(),
            storage_bytes: self.storage_bytes(),
            insecure_plaintext: self.tls.is_plaintext(),
            certificate_not_after_s: self.tls.not_after_s().unwrap_or(0),
            certificate_sha256: fingerprints.certificate,
            trusted_ca_sha256: fingerprints.trusted_cas,
            clock_offset_ms: self.clock_offset_ms(),
            clock_skew_ms: clock.map_or(0, |j| j.skew_ms),
            clock_known: clock.is_some(),
            clock_out_of_bounds: clock.is_some_and(|j| j.out_of_bounds),
            max_clock_skew_ms: self.clocks.max_skew_ms(),
            apply_wait_max_ms: self.state.longest_apply_wait_ms(),
            disk_free_bytes: self.disk.free_bytes(),
            disk_full: self.disk.is_full(),
            min_free_bytes: self.disk.min_free_bytes(),
            cluster_id: self.state.cluster_id().ok().flatten().unwrap_or_default(),
        }
    }

    /// Names the cluster, if it has no name yet, while this node leads: the first leader of a
    /// cluster proposes a random id once, and the first one committed stays (see
    /// `ClusterCommand::SetId`). Once a second, hands the id in the state to the Raft transport
    /// (see `peer_check::same_cluster`). Runs until the node stops.
    pub async fn name_cluster(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let known = self.state.cluster_id();
            if let Ok(id) = &known {
                // What the Raft messages carry and are checked against (a snapshot installed
                // from the cluster's leader brings it to a new node).
                self.peers.set_cluster_id(id.clone());
            }
            match known {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the cluster id is unreadable");
                    continue;
                }
            }
            if !self.is_leader() {
                continue;
            }
            let id = format!("{:032x}", rand::random::<u128>());
            let request =
                varsel_raft_store::Request::Cluster(varsel_raft_store::ClusterCommand::SetId { id });
            match self.write(request).await {
                Ok(w) => tracing::info!(response = ?w.response, "cluster named"),
                Err(e) => tracing::debug!(error = %e, "naming the cluster: will try again"),
            }
        }
    }
}

/// The proto form of a member.
pub fn address(id: NodeId, n: &VarselNode) -> NodeAddress {
    NodeAddress { id, site: n.site.clone(), api_addr: n.api_addr.clone(), raft_addr: n.raft_addr.clone() }
}

fn role_name(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}
