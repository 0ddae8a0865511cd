//! The compose backend against a running deployment. Ignored by default: it needs a Docker
//! engine and a project already up (about a minute). Run it with
//!
//! ```text
//! deploy/build-image.sh
//! docker-compose -p varsel-try -f deploy/compose.yaml up -d
//! VARSEL_COMPOSE_PROJECT=varsel-try cargo test -p varsel-chaos --test compose_backend -- --ignored --nocapture
//! docker-compose -p varsel-try -f deploy/compose.yaml down -v
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use varsel_chaos::backend::{Backend, NodeInfo};
use varsel_chaos::compose::ComposeBackend;
use varsel_proto::admin::cluster_admin_client::ClusterAdminClient;
use varsel_proto::admin::{NodeStatus, StatusRequest};

/// Time allowed for any one change of leadership or rejoin to show.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

async fn status(node: &NodeInfo) -> Option<NodeStatus> {
    let call = async {
        let mut c = ClusterAdminClient::connect(format!("http://{}", node.api)).await.ok()?;
        c.status(StatusRequest {}).await.ok().map(|r| r.into_inner())
    };
    tokio::time::timeout(Duration::from_secs(3), call).await.ok().flatten()
}

/// Waits until every node in `among` reports the same leader, itself one of `among`.
async fn agreed_leader(b: &ComposeBackend, among: &[u64]) -> Result<u64, String> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let mut seen = Vec::new();
        for n in b.nodes().iter().filter(|n| among.contains(&n.id)) {
            seen.push(status(n).await.filter(|s| s.has_leader).map(|s| s.leader_id));
        }
        if let Some(Some(l)) = seen.first()
            && seen.iter().all(|x| x == &Some(*l))
            && among.contains(l)
        {
            return Ok(*l);
        }
        if Instant::now() >= deadline {
            return Err(format!("no agreed leader among {among:?} within {SETTLE_TIMEOUT:?}: {seen:?}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Goal: every fault of the compose backend has the effect the harness relies on, and is
/// undone by its counterpart. Method: connect to a running project (initialising it), then
/// kill the leader (the other two elect one; the killed node rejoins after restart), cut the
/// new leader off intersite (the other two elect one; it rejoins after healing), pause and
/// thaw a node, try latency, and undo everything with `shutdown`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Docker engine and a running compose project (VARSEL_COMPOSE_PROJECT)"]
async fn faults_through_the_engine() -> Result<(), String> {
    let project =
        std::env::var("VARSEL_COMPOSE_PROJECT").map_err(|_| "set VARSEL_COMPOSE_PROJECT".to_string())?;
    let file = std::env::var("VARSEL_COMPOSE_FILE").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("deploy").join("compose.yaml")
    });
    let mut b = ComposeBackend::connect(&project, &file).await.map_err(|e| e.to_string())?;
    let all: Vec<u64> = b.nodes().iter().map(|n| n.id).collect();
    println!("nodes {:?}, sim {}", b.nodes(), b.sim().base_url());
    assert_eq!(b.mode(), "compose");
    assert!(b.access().superadmin.len() >= 32);
    b.sim().stats().await.map_err(|e| format!("simulator: {e}"))?;

    let leader = agreed_leader(&b, &all).await?;
    b.kill(leader).await.map_err(|e| e.to_string())?;
    let rest: Vec<u64> = all.iter().copied().filter(|i| *i != leader).collect();
    let second = agreed_leader(&b, &rest).await?;
    println!("killed leader {leader}; node {second} leads");
    b.restart(leader).await.map_err(|e| e.to_string())?;
    agreed_leader(&b, &all).await?;
    println!("node {leader} rejoined");

    b.partition(second, true).await.map_err(|e| e.to_string())?;
    let rest: Vec<u64> = all.iter().copied().filter(|i| *i != second).collect();
    let third = agreed_leader(&b, &rest).await?;
    println!("cut leader {second} off; node {third} leads");
    b.partition(second, false).await.map_err(|e| e.to_string())?;
    agreed_leader(&b, &all).await?;
    println!("node {second} rejoined after healing");

    b.pause(third, true).await.map_err(|e| e.to_string())?;
    b.pause(third, false).await.map_err(|e| e.to_string())?;
    let latency = b.set_latency(30).await.map_err(|e| e.to_string())?;
    println!("latency injection works here: {latency}");
    b.set_latency(0).await.map_err(|e| e.to_string())?;

    b.kill(third).await.map_err(|e| e.to_string())?;
    b.shutdown().await;
    agreed_leader(&b, &all).await?;
    println!("shutdown started the killed node {third} again");
    Ok(())
}
