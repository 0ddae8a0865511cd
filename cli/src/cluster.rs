//! `varsel cluster …`: bootstrap, membership, leader transfer, snapshots and status.

use std::collections::BTreeMap;

use serde_json::json;
use varsel_proto::admin::cluster_admin_client::ClusterAdminClient;
use varsel_proto::admin::{
    AddLearnerRequest, DrainRequest, InitRequest, MembershipReply, NodeAddress, NodeIdRequest, NodeStatus,
    SnapshotRequest, StatusRequest, TransferLeaderRequest,
};

use crate::print_table;
use varsel_client::{AdminClient, Bearer, ClientError, Cluster, Trust};

/// Where and as whom the cluster commands run: the cluster, the CA it is trusted by, and the
/// superadmin token (cluster administration needs it).
#[derive(Debug)]
pub struct Admin {
    /// The nodes given on the command line.
    pub cluster: Cluster,
    trust: Trust,
    bearer: Bearer,
    plaintext: bool,
}

impl Admin {
    /// For `cluster` (reached with `trust`) and the token `bearer`. `plaintext` when the
    /// endpoints were given as `http://…`: members' addresses are then reached the same way.
    pub fn new(cluster: Cluster, trust: Trust, bearer: Bearer, plaintext: bool) -> Self {
        Self { cluster, trust, bearer, plaintext }
    }

    /// The administration client on a channel of the cluster.
    fn client(&self, ch: tonic::transport::Channel) -> AdminClient {
        ClusterAdminClient::with_interceptor(ch, self.bearer.clone())
    }

    /// The administration client on a channel of the cluster (for other command modules).
    pub fn client_of(&self, ch: tonic::transport::Channel) -> AdminClient {
        self.client(ch)
    }

    /// One member, by the API address the cluster reports for it.
    fn one(&self, api_addr: &str) -> Result<Cluster, ClientError> {
        let addr = if self.plaintext { format!("http://{api_addr}") } else { api_addr.to_string() };
        Cluster::new(vec![addr], &self.trust)
    }
}

/// A cluster operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClusterCommand {
    /// Bootstrap the cluster: the node asked and the peers in its configuration become the
    /// first members. Safe to repeat.
    Init,
    /// Add a node as a learner (non-voting); it receives the log and catches up.
    AddLearner {
        /// The new node's id.
        #[arg(long)]
        node_id: u64,
        /// Its site (data centre).
        #[arg(long)]
        site: String,
        /// Its API address (host:port).
        #[arg(long)]
        api_addr: String,
        /// Its Raft address (host:port).
        #[arg(long)]
        raft_addr: String,
    },
    /// Make a learner a voter.
    Promote {
        /// The node id.
        #[arg(long)]
        node_id: u64,
    },
    /// Remove a node from the membership; it stops receiving traffic.
    Remove {
        /// The node id.
        #[arg(long)]
        node_id: u64,
    },
    /// Move leadership to another voter.
    TransferLeader {
        /// The node that should become leader.
        #[arg(long)]
        to: u64,
    },
    /// Drain a node for maintenance: it hands its leadership and its shards to the other
    /// sites and takes no new work until `--resume` (or a restart).
    Drain {
        /// The node.
        #[arg(long)]
        node_id: u64,
        /// Take work again.
        #[arg(long)]
        resume: bool,
    },
    /// Build a snapshot and compact the log on every node.
    Snapshot,
    /// Show every member: site, role, leader, term, log and applied index, replication lag.
    Status,
}

fn print_membership(m: &MembershipReply, json_out: bool) {
    if json_out {
        println!("{}", json!({"voters": m.voters, "learners": m.learners, "log_index": m.log_index}));
    } else {
        println!(
            "voters: {:?}  learners: {:?}  (membership at log index {})",
            m.voters, m.learners, m.log_index
        );
    }
}

/// Runs one cluster command.
pub async fn run(a: &Admin, cmd: ClusterCommand, json_out: bool) -> Result<(), ClientError> {
    let cluster = &a.cluster;
    let admin = |c| a.client(c);
    match cmd {
        ClusterCommand::Init => {
            let r =
                cluster.call(|c| async move { admin(c).init(InitRequest { members: vec![] }).await }).await?;
            let r = r.value.into_inner();
            if json_out {
                let ids: Vec<u64> = r.members.iter().map(|m| m.id).collect();
                println!("{}", json!({"members": ids, "already_initialized": r.already_initialized}));
            } else if r.already_initialized {
                println!("already initialised; nothing changed");
            } else {
                println!("initialised with {} members", r.members.len());
                print_addresses(&r.members);
            }
        }
        ClusterCommand::AddLearner { node_id, site, api_addr, raft_addr } => {
            let node = NodeAddress { id: node_id, site, api_addr, raft_addr };
            let r = cluster
                .call(|c| {
                    let node = node.clone();
                    async move { admin(c).add_learner(AddLearnerRequest { node: Some(node) }).await }
                })
                .await?;
            print_membership(&r.value.into_inner(), json_out);
        }
        ClusterCommand::Promote { node_id } => {
            let r =
                cluster.call(|c| async move { admin(c).promote(NodeIdRequest { node_id }).await }).await?;
            print_membership(&r.value.into_inner(), json_out);
        }
        ClusterCommand::Remove { node_id } => {
            let r = cluster.call(|c| async move { admin(c).remove(NodeIdRequest { node_id }).await }).await?;
            print_membership(&r.value.into_inner(), json_out);
        }
        ClusterCommand::TransferLeader { to } => {
            let r =
                cluster
                    .call(|c| async move {
                        admin(c).transfer_leader(TransferLeaderRequest { to_node_id: to }).await
                    })
                    .await?
                    .value
                    .into_inner();
            if json_out {
                println!("{}", json!({"leader": r.leader_id, "term": r.term}));
            } else {
                println!("leader is now node {} (term {})", r.leader_id, r.term);
            }
        }
        ClusterCommand::Drain { node_id, resume } => {
            let r = cluster
                .call(|c| async move { admin(c).drain(DrainRequest { node_id, resume }).await })
                .await?
                .value
                .into_inner();
            if json_out {
                println!(
                    "{}",
                    json!({"node": node_id, "resumed": resume, "leases_released": r.leases_released, "leader": r.leader_id})
                );
            } else if resume {
                println!("node {node_id} takes work again");
            } else {
                println!(
                    "node {node_id} drained: {} shard leases handed back; leader is node {}",
                    r.leases_released, r.leader_id
                );
            }
        }
        ClusterCommand::Snapshot => snapshot_all(a, json_out).await?,
        ClusterCommand::Status => status(a, json_out).await?,
    }
    Ok(())
}

fn print_addresses(members: &[NodeAddress]) {
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| vec![m.id.to_string(), m.site.clone(), m.api_addr.clone(), m.raft_addr.clone()])
        .collect();
    print_table(&["id", "site", "api", "raft"], &rows);
}

async fn snapshot_all(a: &Admin, json_out: bool) -> Result<(), ClientError> {
    let statuses = gather(a).await?;
    let mut out = BTreeMap::new();
    for s in statuses.values() {
        let Some(n) = &s.node else { continue };
        let one = a.one(&n.api_addr)?;
        let r = one.call(|c| async move { a.client(c).snapshot(SnapshotRequest {}).await }).await;
        out.insert(n.id, r.map(|r| r.value.into_inner().snapshot_index).map_err(|e| e.to_string()));
    }
    for (id, r) in &out {
        match (json_out, r) {
            (true, Ok(i)) => println!("{}", json!({"node": id, "snapshot_index": i})),
            (true, Err(e)) => println!("{}", json!({"node": id, "error": e})),
            (false, Ok(i)) => println!("node {id}: snapshot at index {i}, log purged up to it"),
            (false, Err(e)) => println!("node {id}: {e}"),
        }
    }
    Ok(())
}

/// The status of one node, asked directly, within two seconds.
async fn status_of(a: &Admin, api_addr: &str) -> Option<NodeStatus> {
    let one = a.one(api_addr).ok()?.with_deadline(std::time::Duration::from_secs(2));
    one.call(|c| async move { a.client(c).status(StatusRequest {}).await })
        .await
        .ok()
        .map(|r| r.value.into_inner())
}

/// Asks the first node that answers which node leads, takes the membership from the leader
/// (a node that was removed keeps a stale view), then asks every member for its own status.
/// Members that do not answer are reported with role `unreachable`.
pub async fn gather(a: &Admin) -> Result<BTreeMap<u64, NodeStatus>, ClientError> {
    let first = a
        .cluster
        .call(|c| async move { a.client(c).status(StatusRequest {}).await })
        .await?
        .value
        .into_inner();
    let leader_addr = first
        .members
        .iter()
        .filter_map(|m| m.address.as_ref())
        .find(|a| {
            first.has_leader && a.id == first.leader_id && Some(a.id) != first.node.as_ref().map(|n| n.id)
        })
        .map(|a| a.api_addr.clone());
    let view = match leader_addr {
        Some(addr) => status_of(a, &addr).await.unwrap_or(first),
        None => first,
    };
    if view.members.is_empty() {
        println!("node answered but the cluster is not initialised yet (run `varsel cluster init`)");
    }
    let mut out = BTreeMap::new();
    for m in &view.members {
        let Some(a_addr) = &m.address else { continue };
        let status = status_of(a, &a_addr.api_addr).await.unwrap_or_else(|| NodeStatus {
            node: Some(a_addr.clone()),
            role: "unreachable".into(),
            ..Default::default()
        });
        out.insert(a_addr.id, status);
    }
    Ok(out)
}

/// When every reachable node's wall clock is further than this from the log's time, the log's
/// time itself is named in a warning.
pub const LOG_TIME_WARN_MS: u64 = 1_000;

/// The clock cell of a node: its skew against the cluster's median, `!` when out of bounds,
/// `?` when too few peers answered to tell.
fn clock_cell(s: &NodeStatus) -> String {
    match (s.clock_known, s.clock_out_of_bounds) {
        (false, _) => "?".into(),
        (true, true) => format!("{:+} ms !", s.clock_skew_ms),
        (true, false) => format!("{:+} ms", s.clock_skew_ms),
    }
}

async fn status(a: &Admin, json_out: bool) -> Result<(), ClientError> {
    let all = gather(a).await?;
    let leader = all.values().find(|s| s.role == "leader");
    let lag: BTreeMap<u64, u64> = leader
        .map(|l| l.replication.iter().map(|r| (r.node_id, r.lag_entries)).collect())
        .unwrap_or_default();
    if json_out {
        let nodes: Vec<_> = all
            .iter()
            .map(|(id, s)| {
                let n = s.node.clone().unwrap_or_default();
                json!({
                    "id": id, "site": n.site, "api_addr": n.api_addr, "raft_addr": n.raft_addr, "role": s.role,
                    "leader": if s.has_leader { Some(s.leader_id) } else { None },
                    "term": s.term, "last_log_index": s.last_log_index, "applied_index": s.applied_index,
                    "snapshot_index": s.snapshot_index, "lag_entries": lag.get(id),
                    "storage_bytes": s.storage_bytes, "insecure_plaintext": s.insecure_plaintext,
                    "certificate_not_after_s": s.certificate_not_after_s,
                    "certificate_sha256": s.certificate_sha256, "trusted_ca_sha256": s.trusted_ca_sha256,
                    "clock_offset_ms": s.clock_offset_ms,
                    "clock_skew_ms": if s.clock_known { Some(s.clock_skew_ms) } else { None },
                    "clock_out_of_bounds": s.clock_out_of_bounds, "max_clock_skew_ms": s.max_clock_skew_ms,
                    "disk_free_bytes": s.disk_free_bytes, "disk_full": s.disk_full,
                    "min_free_bytes": s.min_free_bytes,
                    "cluster_id": s.cluster_id,
                })
            })
            .collect();
        println!("{}", json!({ "nodes": nodes }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|(id, s)| {
            let n = s.node.clone().unwrap_or_default();
            let unreachable = s.role == "unreachable";
            let cell = |v: String| if unreachable { "-".to_string() } else { v };
            vec![
                id.to_string(),
                n.site,
                n.api_addr,
                s.role.clone(),
                cell(if s.has_leader { s.leader_id.to_string() } else { "none".into() }),
                cell(s.term.to_string()),
                cell(s.last_log_index.to_string()),
                cell(s.applied_index.to_string()),
                if s.role == "leader" {
                    "-".into()
                } else {
                    lag.get(id).map_or("?".into(), |l| l.to_string())
                },
                cell(clock_cell(s)),
            ]
        })
        .collect();
    print_table(
        &["id", "site", "api", "role", "leader", "term", "last log", "applied", "lag", "clock"],
        &rows,
    );
    let reachable: Vec<(&u64, &NodeStatus)> = all.iter().filter(|(_, s)| s.role != "unreachable").collect();
    let ids: std::collections::BTreeSet<&str> =
        reachable.iter().map(|(_, s)| s.cluster_id.as_str()).filter(|c| !c.is_empty()).collect();
    match ids.len() {
        0 => {}
        1 => println!("cluster {}", ids.iter().next().copied().unwrap_or_default()),
        _ => println!(
            "WARNING: these nodes belong to different clusters ({}): a node restored or forced into a new cluster must not be listed with the old one's",
            ids.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
    let skewed: Vec<String> = reachable
        .iter()
        .filter(|(_, s)| s.clock_out_of_bounds)
        .map(|(id, s)| format!("{id} ({:+} ms, at most {} allowed)", s.clock_skew_ms, s.max_clock_skew_ms))
        .collect();
    if !skewed.is_empty() {
        println!(
            "WARNING: node(s) {} have a wall clock out of bounds against the median of the cluster's clocks: they are unready, stand for no election and hand leadership over; fix NTP there",
            skewed.join(", ")
        );
    }
    let full: Vec<String> = reachable
        .iter()
        .filter(|(_, s)| s.disk_full)
        .map(|(id, s)| {
            format!(
                "{id} ({} MiB free, at least {} MiB required)",
                s.disk_free_bytes >> 20,
                s.min_free_bytes >> 20
            )
        })
        .collect();
    if !full.is_empty() {
        println!(
            "WARNING: node(s) {} have a full data disk: they refuse writes, take no log entries and send nothing until space is freed (storage.min_free_bytes)",
            full.join(", ")
        );
    }
    if !reachable.is_empty()
        && reachable.iter().all(|(_, s)| s.clock_offset_ms.unsigned_abs() > LOG_TIME_WARN_MS)
    {
        let offsets: Vec<String> =
            reachable.iter().map(|(id, s)| format!("{id}: {:+} ms", s.clock_offset_ms)).collect();
        println!(
            "WARNING: every node's wall clock is more than {LOG_TIME_WARN_MS} ms from the log's time ({}): the log's time steps forward to the cluster's median, never back, so it ran ahead of the clocks",
            offsets.join(", ")
        );
    }
    let plaintext: Vec<String> =
        all.iter().filter(|(_, s)| s.insecure_plaintext).map(|(id, _)| id.to_string()).collect();
    if !plaintext.is_empty() {
        println!(
            "WARNING: node(s) {} run with tls.insecure_plaintext: tokens and personal data cross the network unencrypted",
            plaintext.join(", ")
        );
    }
    Ok(())
}
