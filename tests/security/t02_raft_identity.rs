use std::time::{Duration, Instant};

use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use varsel_client::pki::{Ca, NodeNames, Pem};
use varsel_domain::model::Limits;
use varsel_proto::api::{ListTenantsRequest, Role};
use varsel_proto::raft::raft_service_client::RaftServiceClient;
use varsel_proto::raft::{ElectionControl, ForwardedWrite, ForwardedWrites, RaftPayload, forward_outcome};
use varsel_raft_store::delivery::{DeliveryCommand, LeaseRef, PackedProgress, ShardRef};
use varsel_raft_store::ops::{Caller, DomainRequest, Op};
use varsel_raft_store::{NodeId, Request};

use crate::common::{TestCluster, authed};

/// A certificate for `node_id` from `ca`, for 127.0.0.1.
fn node_cert(ca: &Ca, node_id: NodeId) -> Pem {
    let names = NodeNames {
        node_id,
        site: "test".into(),
        dns: vec![],
        ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
    };
    ca.node(&names, 1).unwrap()
}

/// A Raft-port client of node `target` presenting `identity` (none: no client certificate).
fn raft_client(c: &TestCluster, target: NodeId, identity: Option<&Pem>) -> RaftServiceClient<Channel> {
    let ca = &c.lc.ca.as_ref().unwrap().pem().cert;
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).assume_http2(true);
    if let Some(id) = identity {
        tls = tls.identity(Identity::from_pem(&id.cert, &id.key));
    }
    let addr = c.lc.node(target).unwrap().config.raft_addr;
    let channel =
        Endpoint::from_shared(format!("https://{addr}")).unwrap().tls_config(tls).unwrap().connect_lazy();
    RaftServiceClient::new(channel)
}

fn vote_from(candidate: NodeId) -> RaftPayload {
    let rpc = openraft::raft::VoteRequest::new(openraft::Vote::new(1_000, candidate), None);
    RaftPayload { data: varsel_raft_store::encode("vote", &rpc).unwrap() }
}

/// Goal: the Raft port serves the cluster's nodes only, each only as itself.
/// Method: vote requests to a follower from: no client certificate; a certificate for a member
/// from another CA; a member's certificate claiming another member's id; a certificate from the
/// right CA for a node that is not a member; a client certificate naming no node. Each is
/// refused (the handshake fails, UNAUTHENTICATED or PERMISSION_DENIED), and the cluster keeps
/// its leader and term.
#[tokio::test(flavor = "multi_thread")]
async fn only_members_as_themselves() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let other = c.ids().into_iter().find(|i| *i != leader && *i != follower).unwrap();
    let term = c.lc.status(follower, Duration::from_secs(2)).await.unwrap().term;
    let ca = c.lc.ca.as_ref().unwrap();
    let foreign = Ca::new("another cluster", 1).unwrap();

    let refused = |r: Result<tonic::Response<RaftPayload>, tonic::Status>| {
        r.err().map(|s| (s.code(), s.message().to_string()))
    };
    let no_cert = refused(raft_client(&c, follower, None).vote(vote_from(other)).await);
    assert!(no_cert.is_some(), "a caller without a certificate voted");
    let wrong_ca =
        refused(raft_client(&c, follower, Some(&node_cert(&foreign, other))).vote(vote_from(other)).await);
    assert!(wrong_ca.is_some(), "a certificate from another CA was accepted");
    let impostor =
        refused(raft_client(&c, follower, Some(&node_cert(ca, other))).vote(vote_from(leader)).await);
    assert!(
        matches!(&impostor, Some((Code::PermissionDenied, m)) if m.contains(&format!("names node {other}"))),
        "{impostor:?}"
    );
    let stranger = refused(raft_client(&c, follower, Some(&node_cert(ca, 9))).vote(vote_from(9)).await);
    assert!(
        matches!(&stranger, Some((Code::PermissionDenied, m)) if m.contains("not a member")),
        "{stranger:?}"
    );
    let tool = ca.client("tool", 1).unwrap();
    let tool = refused(raft_client(&c, follower, Some(&tool)).vote(vote_from(other)).await);
    assert!(matches!(&tool, Some((Code::Unauthenticated, _))), "{tool:?}");

    let after = c.lc.status(follower, Duration::from_secs(2)).await.unwrap();
    assert_eq!((after.leader_id, after.term), (leader, term), "a refused vote moved the term");
}

/// Goal: a write forwarded to the leader is authorised again there; nothing a node claims for
/// its caller is believed.
/// Method: from a member's valid certificate, forward to the leader a tenant create claiming the
/// superadmin (credential 0): without a token, with a made-up token, and with a viewer's real
/// token, one per call and then all three in one batch (ForwardWrites), together with one write
/// forwarded a second time. Each is refused, in a batch with its own code at its own place, and
/// no tenant of that name exists afterwards. Then a packed outcome record with bytes that do not
/// decode, from the member it names: refused as INVALID_ARGUMENT (only a leader packs records),
/// and the leader still commits writes after it.
#[tokio::test(flavor = "multi_thread")]
async fn forwarded_writes_are_authorised_again() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let (_, viewer) = c.tenant_with(leader, "kommune", Role::Viewer).await;
    let peer = node_cert(c.lc.ca.as_ref().unwrap(), follower);
    let op =
        Op::CreateTenant { name: "forged".into(), limits: Limits::default(), idempotency_key: String::new() };
    let request = Request::Domain(Box::new(DomainRequest { actor: Caller::SUPERADMIN, op }));
    let encoded = varsel_raft_store::encode("request", &request).unwrap();
    let mut client = raft_client(&c, leader, Some(&peer));
    for (bearer, want) in [
        ("", Code::Unauthenticated),
        ("vt_1_made-up", Code::Unauthenticated),
        (viewer.as_str(), Code::PermissionDenied),
    ] {
        let fw =
            ForwardedWrite { request: encoded.clone(), hops: 1, bearer: bearer.into(), ..Default::default() };
        let status = client.forward_write(fw).await.unwrap_err();
        assert_eq!(status.code(), want, "bearer {bearer:?}: {}", status.message());
    }
    let forged = |bearer: &str, hops| ForwardedWrite {
        request: encoded.clone(),
        hops,
        bearer: bearer.into(),
        ..Default::default()
    };
    let writes =
        vec![forged("", 1), forged("vt_1_made-up", 1), forged(&viewer, 1), forged(&c.superadmin(), 2)];
    let outcomes = client.forward_writes(ForwardedWrites { writes }).await.unwrap().into_inner().outcomes;
    let codes: Vec<Option<Code>> = outcomes
        .iter()
        .map(|o| match &o.outcome {
            Some(forward_outcome::Outcome::Failed(f)) => Some(Code::from_i32(f.code)),
            _ => None,
        })
        .collect();
    let want = [Code::Unauthenticated, Code::Unauthenticated, Code::PermissionDenied, Code::InvalidArgument];
    assert_eq!(codes, want.map(Some).to_vec(), "{outcomes:?}");
    let tenants =
        c.api(leader).tenants.list_tenants(authed(&c.superadmin(), ListTenantsRequest::default())).await;
    let names: Vec<String> = tenants.unwrap().into_inner().tenants.into_iter().map(|t| t.name).collect();
    assert!(!names.contains(&"forged".to_string()), "a forged write created a tenant: {names:?}");

    let item = PackedProgress {
        lease: LeaseRef { shard: ShardRef { alert: 1, shard: 0 }, epoch: 1 },
        step: 0,
        channel: varsel_domain::model::Channel::Sms,
        from: 0,
        to: 1,
        recipients: 1,
        outcomes: vec![1, 0xFF, 0xFF],
        skipped: vec![],
    };
    let packed =
        Request::Delivery(Box::new(DeliveryCommand::RecordPacked { node: follower, items: vec![item] }));
    let fw = ForwardedWrite {
        request: varsel_raft_store::encode("request", &packed).unwrap(),
        hops: 1,
        ..Default::default()
    };
    let status = client.forward_write(fw).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    assert!(status.message().contains("packed record is not forwarded"), "{}", status.message());
    let after = c.tenant_with(leader, "after-packed", Role::Viewer).await;
    assert!(!after.1.is_empty(), "the leader commits writes after the refusal");
}

/// Goal: one message cannot switch a node's elections off for long.
/// Method: as the leader (its own certificate), ask a follower to suppress elections for a
/// year; then kill the leader. The two survivors elect a new leader within the bound on a
/// transfer's suppression (4 x election_timeout_max + 2 s) plus an election, not a year later.
#[tokio::test(flavor = "multi_thread")]
async fn election_suppression_is_bounded() {
    let mut c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let survivors: Vec<NodeId> = c.ids().into_iter().filter(|i| *i != leader).collect();
    let as_leader = node_cert(c.lc.ca.as_ref().unwrap(), leader);
    let year_ms = 365 * 24 * 3_600 * 1_000;
    for s in &survivors {
        let ctl = ElectionControl { suppress_ms: year_ms, elect_now: false };
        raft_client(&c, *s, Some(&as_leader)).control_election(ctl).await.unwrap();
    }
    let killed = Instant::now();
    c.lc.kill(leader).await.unwrap();
    let max_ms = c.lc.node(survivors[0]).unwrap().config.raft.election_timeout_max_ms;
    let bound = Duration::from_millis(4 * max_ms + 2_000) + Duration::from_secs(30);
    let new_leader = c.lc.wait_leader(&survivors, bound).await.unwrap();
    assert!(survivors.contains(&new_leader));
    eprintln!("new leader after {:?} (suppression asked: one year)", killed.elapsed());
}
