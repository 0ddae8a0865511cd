//! Who may call the Raft port, and what they may claim.
//!
//! With TLS, a caller's certificate chains to the cluster CA (the handshake checked that) and
//! names one node id ([`crate::tls::identity`]). A call is served only when that node is a
//! member of the cluster as this node knows it (voter or learner), and only when it is the node
//! the message claims to come from: the leader of an append or snapshot, the candidate of a
//! vote, the node a lease heartbeat or an outcome record names. A node that knows no
//! membership yet (it was never initialised, or is a fresh learner) accepts any node the CA
//! vouches for, so the leader can reach it. A domain write forwarded by a follower carries the
//! original caller's token, which is authenticated again here; a write whose caller the token
//! does not name is refused, whatever node sent it.
//!
//! Without TLS (`tls.insecure_plaintext`) nothing identifies a caller, so none of this can be
//! checked; the tokens of forwarded writes still are.

use std::collections::BTreeSet;

use tonic::Status;
use varsel_raft_store::delivery::DeliveryCommand;
use varsel_raft_store::ops::Caller;
use varsel_raft_store::{NodeId, Request};

use crate::auth::Authenticator;
use crate::replica::Replica;
use crate::tls::PeerInfo;

/// The caller of a Raft-port call: a node id when the connection proved one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A member node, proved by its certificate.
    Node(NodeId),
    /// Plaintext: nobody is proved.
    Unproved,
}

impl Peer {
    /// Refuses `claimed` unless it is this peer (any claim passes when nothing is proved).
    pub fn must_be(self, claimed: NodeId, what: &str) -> Result<(), Status> {
        match self {
            Peer::Node(id) if id != claimed => Err(Status::permission_denied(format!(
                "{what} claims to come from node {claimed}, but the caller's certificate names node {id}"
            ))),
            _ => Ok(()),
        }
    }
}

/// The peer of `req`, checked against this node's membership.
pub fn peer<T>(replica: &Replica, req: &tonic::Request<T>) -> Result<Peer, Status> {
    same_cluster(replica, req)?;
    let Some(info) = req.extensions().get::<PeerInfo>() else {
        // Requests built in-process (tests of the service) carry no connection.
        return Ok(if replica.tls.is_plaintext() { Peer::Unproved } else { Err(no_certificate())? });
    };
    if !info.tls {
        return Ok(Peer::Unproved);
    }
    let Some(id) = info.node else {
        let why = info.node_error.clone().unwrap_or_else(|| "no client certificate".into());
        return Err(Status::unauthenticated(format!("the Raft port serves cluster nodes only: {why}")));
    };
    let members = members(replica);
    if !members.is_empty() && !members.contains(&id) {
        return Err(Status::permission_denied(format!(
            "node {id} is not a member of this cluster (members: {members:?})"
        )));
    }
    Ok(Peer::Node(id))
}

/// Refuses a message from another cluster: a node of a cluster restored from a backup (or
/// forced into a new one) and a node of the old cluster never talk, whatever their ids. A
/// sender or receiver that does not know its cluster's id yet (a new node before it received
/// the state) is let through.
fn same_cluster<T>(replica: &Replica, req: &tonic::Request<T>) -> Result<(), Status> {
    let theirs = req.metadata().get(crate::raft::network::CLUSTER_ID_HEADER).and_then(|v| v.to_str().ok());
    match (replica.peers.cluster_id(), theirs) {
        (Some(mine), Some(theirs)) if mine != theirs => Err(Status::failed_precondition(format!(
            "node {} belongs to cluster {mine}, the sender to cluster {theirs}: a node of one cluster \
             never joins another (a site restored from a backup or forced into a new cluster must \
             have its data wiped before it joins)",
            replica.id
        ))),
        _ => Ok(()),
    }
}

fn no_certificate() -> Status {
    Status::unauthenticated("the Raft port serves cluster nodes only: no client certificate")
}

/// Voters and learners as this node knows them (empty before it knows any membership).
fn members(replica: &Replica) -> BTreeSet<NodeId> {
    let m = replica.raft.metrics().borrow().membership_config.clone();
    let membership = m.membership();
    membership.voter_ids().chain(membership.learner_ids()).collect()
}

/// Checks that `peer` may ask the leader to commit `request`, with `bearer` the token the
/// forwarding node says its caller gave.
pub async fn authorize_forwarded(
    replica: &Replica,
    auth: &Authenticator,
    peer: Peer,
    request: &Request,
    bearer: &str,
) -> Result<(), Status> {
    match request {
        Request::Domain(d) => {
            if bearer.is_empty() {
                return Err(Status::unauthenticated(
                    "a forwarded domain write must carry its caller's token",
                ));
            }
            let caller = auth.authenticate_token(bearer, replica).await.map_err(Status::from)?;
            same_caller(caller, d.actor)
        }
        // Packed records are made by the leader itself from a `Record` (whose outcomes it has
        // decoded), never forwarded: their packed bytes are only checked when applied.
        Request::Delivery(cmd) if matches!(**cmd, DeliveryCommand::RecordPacked { .. }) => {
            Err(Status::invalid_argument("a packed record is not forwarded: forward the plain Record"))
        }
        Request::Delivery(cmd) => match node_named(cmd) {
            Some(node) => peer.must_be(node, cmd.name()),
            None => Ok(()),
        },
        Request::Cluster(_) => match peer {
            Peer::Node(_) => Ok(()),
            Peer::Unproved if auth.is_superadmin(bearer) => Ok(()),
            Peer::Unproved => Err(Status::permission_denied(
                "a forwarded cluster setting needs a member node or the superadmin token",
            )),
        },
        // Batches are made by the leader itself, never forwarded.
        Request::Batch(_) => Err(Status::invalid_argument("a batch of writes is not forwarded")),
        Request::Kv(_) => {
            if auth.is_superadmin(bearer) {
                Ok(())
            } else {
                Err(Status::permission_denied("a forwarded key-value write needs the superadmin token"))
            }
        }
    }
}

fn same_caller(authenticated: Caller, claimed: Caller) -> Result<(), Status> {
    if authenticated == claimed {
        return Ok(());
    }
    Err(Status::permission_denied(format!(
        "the forwarded write claims credential {} of tenant {} ({}), but its token is credential {} of tenant {}",
        claimed.credential,
        claimed.tenant,
        claimed.role.as_str(),
        authenticated.credential,
        authenticated.tenant
    )))
}

/// The node a delivery command speaks for, when it names one.
fn node_named(cmd: &DeliveryCommand) -> Option<NodeId> {
    match cmd {
        DeliveryCommand::Heartbeat { node, .. }
        | DeliveryCommand::Record { node, .. }
        | DeliveryCommand::RecordPacked { node, .. }
        | DeliveryCommand::Release { node, .. } => Some(*node),
        _ => None,
    }
}

/// Refuses `peer` unless it is the leader this node knows (election control).
pub fn must_be_leader(replica: &Replica, peer: Peer) -> Result<(), Status> {
    let Peer::Node(id) = peer else { return Ok(()) };
    let leader = replica.raft.metrics().borrow().current_leader;
    if leader == Some(id) {
        return Ok(());
    }
    Err(Status::permission_denied(format!(
        "election control is taken from the leader only (node {id} is not; leader: {leader:?})"
    )))
}
