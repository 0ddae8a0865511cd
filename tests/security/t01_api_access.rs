use std::time::Duration;

use tonic::Code;
use varsel_client::{Bearer, Cluster, Trust};
use varsel_proto::admin::cluster_admin_client::ClusterAdminClient;
use varsel_proto::admin::{
    AddLearnerRequest, DeliveryStatusRequest, DigestRequest, DrainRequest, InitRequest, NodeAddress,
    NodeIdRequest, SetFaultsRequest, ShardsRequest, SnapshotRequest, StatusRequest, TransferLeaderRequest,
};
use varsel_proto::api::Role;
use varsel_proto::kv::kv_client::KvClient;
use varsel_proto::kv::{GetRequest, PutRequest};

use crate::common::TestCluster;

/// Every `ClusterAdmin` call, made with `client`; the codes they answered.
async fn every_admin_call<T>(client: &mut ClusterAdminClient<T>) -> Vec<(&'static str, Code)>
where
    T: tonic::client::GrpcService<tonic::body::Body> + Clone,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let node = NodeAddress {
        id: 9,
        site: "x".into(),
        api_addr: "127.0.0.1:1".into(),
        raft_addr: "127.0.0.1:2".into(),
    };
    let code = |r: Result<(), tonic::Status>| r.err().map_or(Code::Ok, |s| s.code());
    vec![
        ("init", code(client.init(InitRequest { members: vec![] }).await.map(drop))),
        ("add_learner", code(client.add_learner(AddLearnerRequest { node: Some(node) }).await.map(drop))),
        ("promote", code(client.promote(NodeIdRequest { node_id: 9 }).await.map(drop))),
        ("remove", code(client.remove(NodeIdRequest { node_id: 2 }).await.map(drop))),
        (
            "transfer_leader",
            code(client.transfer_leader(TransferLeaderRequest { to_node_id: 2 }).await.map(drop)),
        ),
        ("drain", code(client.drain(DrainRequest { node_id: 2, resume: false }).await.map(drop))),
        ("status", code(client.status(StatusRequest {}).await.map(drop))),
        ("snapshot", code(client.snapshot(SnapshotRequest {}).await.map(drop))),
        ("shards", code(client.shards(ShardsRequest { alert_id: 1 }).await.map(drop))),
        ("delivery_status", code(client.delivery_status(DeliveryStatusRequest {}).await.map(drop))),
        (
            "set_faults",
            code(
                client
                    .set_faults(SetFaultsRequest { cut: vec![2], delay_ms: 0, clock_offset_ms: 0 })
                    .await
                    .map(drop),
            ),
        ),
        ("digest", code(client.digest(DigestRequest {}).await.map(drop))),
    ]
}

/// Goal: nobody administers the cluster or touches the key-value service without the
/// superadmin token, and a tenant credential is not enough.
/// Method: every ClusterAdmin call and both Kv calls, through a follower, with the CA but no
/// token (UNAUTHENTICATED each), then with a tenant admin's and a viewer's token
/// (PERMISSION_DENIED each); the membership is unchanged afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn administration_needs_the_superadmin_token() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let (_, viewer) = c.tenant_with(leader, "kommune", Role::Viewer).await;
    let (_, admin) = c.tenant_with(leader, "kommune-2", Role::Admin).await;
    let channel = c.one(follower).channel(0).unwrap();

    let mut anonymous = ClusterAdminClient::new(channel.clone());
    for (call, code) in every_admin_call(&mut anonymous).await {
        assert_eq!(code, Code::Unauthenticated, "{call} without a token");
    }
    for token in [&viewer, &admin] {
        let mut tenant = ClusterAdminClient::with_interceptor(channel.clone(), Bearer::new(token).unwrap());
        for (call, code) in every_admin_call(&mut tenant).await {
            assert_eq!(code, Code::PermissionDenied, "{call} with a tenant credential");
        }
    }
    let mut kv = KvClient::new(channel.clone());
    let put = kv.put(PutRequest { key: "k".into(), value: "v".into() }).await.unwrap_err();
    let get = kv.get(GetRequest { key: "k".into(), consistency: 0 }).await.unwrap_err();
    assert_eq!((put.code(), get.code()), (Code::Unauthenticated, Code::Unauthenticated));
    let mut kv = KvClient::with_interceptor(channel, Bearer::new(&viewer).unwrap());
    let put = kv.put(PutRequest { key: "k".into(), value: "v".into() }).await.unwrap_err();
    assert_eq!(put.code(), Code::PermissionDenied);

    let status = c.admin(leader).status(StatusRequest {}).await.unwrap().into_inner();
    let voters: Vec<u64> =
        status.members.iter().filter(|m| m.voter).filter_map(|m| m.address.as_ref().map(|a| a.id)).collect();
    assert_eq!(voters, vec![1, 2, 3], "an unauthenticated call changed the membership");
    assert!(!status.insecure_plaintext && status.certificate_not_after_s > 0);
}

/// Goal: the API is TLS only, and a client trusts only the cluster's CA.
/// Method: a plaintext gRPC client against a node's API port; a TLS client that trusts another
/// CA; a node's HTTP listener asked in plaintext. None gets an answer; the same calls with the
/// cluster's CA succeed.
#[tokio::test(flavor = "multi_thread")]
async fn plaintext_and_foreign_trust_are_refused() {
    let c = TestCluster::start(3, |_| {}).await;
    let api = c.lc.node(1).unwrap().api();
    let deadline = Duration::from_secs(5);
    let bearer = Bearer::new(&c.superadmin()).unwrap();
    let plain = Cluster::new(vec![format!("http://{api}")], &Trust::none()).unwrap().with_deadline(deadline);
    let r = plain
        .call(|ch| {
            let bearer = bearer.clone();
            async move { ClusterAdminClient::with_interceptor(ch, bearer).status(StatusRequest {}).await }
        })
        .await;
    assert!(r.is_err(), "a plaintext call was answered: {r:?}");

    let other_ca = varsel_client::pki::Ca::new("someone else", 1).unwrap();
    let foreign = Cluster::new(vec![api.clone()], &Trust::ca_pem(other_ca.pem().cert.clone()))
        .unwrap()
        .with_deadline(deadline);
    let r = foreign
        .call(|ch| {
            let bearer = bearer.clone();
            async move { ClusterAdminClient::with_interceptor(ch, bearer).status(StatusRequest {}).await }
        })
        .await;
    assert!(r.is_err(), "a client trusting another CA reached the node: {r:?}");

    let http = c.lc.node(1).unwrap().http().unwrap();
    assert!(
        crate::common::http::get(None, http, "/healthz").await.is_none(),
        "HTTP listener answered plaintext"
    );
    assert_eq!(c.http_get(1, "/healthz").await.map(|r| r.status), Some(200));
    assert!(c.admin(1).status(StatusRequest {}).await.is_ok());
}
