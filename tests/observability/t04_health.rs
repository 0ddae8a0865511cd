use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::common::{SETTLE, TestCluster};

/// Time a node gets to notice it lost its quorum: the leader lease of the test timing (2 s) plus
/// the readiness poll, with room for a loaded machine.
const NOT_READY_WITHIN: Duration = Duration::from_secs(60);

const KV: &str = "varsel.kv.v1.Kv";
const ADMIN: &str = "varsel.admin.v1.ClusterAdmin";

/// The gRPC health status node `id` reports for `service`.
async fn grpc_health(c: &TestCluster, id: u64, service: &str) -> ServingStatus {
    let cluster = c.one(id);
    let mut client = HealthClient::new(cluster.channel(0).unwrap());
    let reply =
        client.check(HealthCheckRequest { service: service.into() }).await.expect("health check answers");
    ServingStatus::try_from(reply.into_inner().status).expect("a known status")
}

/// `/readyz` of node `id`: (status code, JSON body).
async fn readyz(c: &TestCluster, id: u64) -> (u16, serde_json::Value) {
    let resp = c.http_get(id, "/readyz").await.expect("/readyz answers");
    assert_eq!(resp.content_type, "application/json");
    (resp.status, serde_json::from_str(&resp.body).expect("/readyz body is JSON"))
}

async fn assert_alive(c: &TestCluster, id: u64) {
    let resp = c.http_get(id, "/healthz").await.expect("/healthz answers");
    assert_eq!((resp.status, resp.body.as_str()), (200, "ok\n"));
}

/// Polls `/readyz` of node `id` until its status is `want`, then checks gRPC health agrees.
async fn wait_ready_state(c: &TestCluster, id: u64, want: u16, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = readyz(c, id).await;
        let serving = grpc_health(c, id, KV).await;
        let want_serving = if want == 200 { ServingStatus::Serving } else { ServingStatus::NotServing };
        if status == want && serving == want_serving && grpc_health(c, id, "").await == want_serving {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "node {id}: /readyz {status} {body}, gRPC health {serving:?}; wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Goal: a node is alive but not ready until the cluster is initialised and has a leader, then
/// every node is ready; gRPC health follows the same rule for the data API while cluster
/// administration stays serving (an operator must reach a node that is not ready).
/// Method: start three nodes without initialising; /healthz 200, /readyz 503 naming the missing
/// initialisation, gRPC Kv NOT_SERVING and ClusterAdmin SERVING; initialise; wait for every node
/// to turn ready on both interfaces.
#[tokio::test(flavor = "multi_thread")]
async fn ready_only_in_an_initialised_cluster_with_a_leader() {
    let mut c = TestCluster::configure(3, |_| {});
    c.lc.start_all().unwrap();
    for id in c.ids() {
        c.lc.wait_ready(id, SETTLE).await.unwrap();
    }
    for id in c.ids() {
        assert_alive(&c, id).await;
        let body = wait_ready_state(&c, id, 503, SETTLE).await;
        assert_eq!(body["ready"], false);
        assert!(body["reason"].as_str().unwrap().contains("not initialised"), "{body}");
        assert_eq!(grpc_health(&c, id, ADMIN).await, ServingStatus::Serving);
    }
    c.lc.init().await.unwrap();
    let leader = c.leader().await;
    for id in c.ids() {
        let body = wait_ready_state(&c, id, 200, SETTLE).await;
        assert_eq!(body["ready"], true);
        assert_eq!(body["leader_id"], leader);
        assert_eq!(body["node_id"], id);
    }
}

/// Goal: a leader whose peers both die stops being ready within bounded time (it keeps its role
/// in openraft, but no quorum acknowledges it), while it stays alive.
/// Method: three ready nodes; SIGKILL both followers; poll the leader's /readyz and gRPC health
/// until both say not ready, within the lease plus slack; /healthz still answers 200.
#[tokio::test(flavor = "multi_thread")]
async fn leader_without_its_peers_becomes_not_ready() {
    let mut c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    wait_ready_state(&c, leader, 200, SETTLE).await;
    for id in c.ids().into_iter().filter(|i| *i != leader) {
        c.lc.kill(id).await.unwrap();
    }
    let body = wait_ready_state(&c, leader, 503, NOT_READY_WITHIN).await;
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("quorum") || reason.contains("leader"), "unclear reason: {reason}");
    assert_alive(&c, leader).await;
    assert_eq!(grpc_health(&c, leader, ADMIN).await, ServingStatus::Serving);
}
