use crate::common::run_varsel;

async fn start_with(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    let (ok, out, err) = run_varsel(&["start", "--config", path.to_str().unwrap()]).await;
    assert!(!ok, "node started with a bad configuration:\n{config}\n{out}");
    err
}

fn base(dir: &str) -> String {
    format!(
        "node_id = 1\nsite = \"oslo\"\napi_addr = \"127.0.0.1:0\"\nraft_addr = \"127.0.0.2:0\"\ndata_dir = \"{dir}\"\n"
    )
}

/// Goal: `varsel start` refuses a malformed configuration with a message naming the field.
/// Method: run the real binary on configurations with an unknown field, a missing node id and
/// duplicate ports; it must exit non-zero and name the field.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_config_is_refused_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().display().to_string();
    let err = start_with(&format!("{}colour = \"blue\"\n", base(&dir))).await;
    assert!(err.contains("colour"), "{err}");
    let err = start_with(&base(&dir).replace("node_id = 1\n", "")).await;
    assert!(err.contains("node_id"), "{err}");
    let dup = base(&dir)
        .replace("api_addr = \"127.0.0.1:0\"", "api_addr = \"127.0.0.1:7001\"")
        .replace("raft_addr = \"127.0.0.2:0\"", "raft_addr = \"127.0.0.1:7001\"");
    let err = start_with(&dup).await;
    assert!(err.contains("raft_addr"), "{err}");
    let err = start_with(&format!("{}[raft]\nelection_timeout_min_ms = 50\n", base(&dir))).await;
    assert!(err.contains("raft.election_timeout_min_ms"), "{err}");
}

/// Goal: a bad endpoint list or an unreachable cluster gives a clear CLI error, not a hang.
/// Method: the CLI with no valid endpoint, and with only closed ports.
#[tokio::test(flavor = "multi_thread")]
async fn cli_reports_unreachable_cluster() {
    let (ok, _, err) = run_varsel(&["cluster", "status", "--endpoints", ","]).await;
    assert!(!ok && err.contains("endpoints"), "{err}");
    let port = varsel_client::local_cluster::free_port().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, varsel_client::pki::Ca::new("test", 1).unwrap().pem().cert.as_bytes()).unwrap();
    let endpoint = format!("127.0.0.1:{port}");
    let args =
        ["kv", "get", "x", "--endpoints", &endpoint, "--ca-file", ca.to_str().unwrap(), "--token", "t"];
    let (ok, _, err) = run_varsel(&args).await;
    assert!(!ok && err.contains("no node succeeded"), "{err}");
    // Without the cluster's CA the CLI says what to give, before trying anything.
    let (ok, _, err) = run_varsel(&["kv", "get", "x", "--endpoints", &endpoint, "--token", "t"]).await;
    assert!(!ok && err.contains("--ca-file"), "{err}");
}

/// Goal: a node restarted on a port something else took meanwhile exits naming the address, and
/// the harness says so at once rather than after its readiness timeout.
/// Method: stop a follower of a real cluster, bind its API address ourselves, start it again;
/// `wait_ready` must fail with "exited while starting" and the node's own error in the log tail.
#[tokio::test(flavor = "multi_thread")]
async fn restart_on_a_taken_port_is_reported_at_once() {
    let mut c = crate::common::TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let id = c.ids().into_iter().find(|i| *i != leader).unwrap();
    c.lc.stop(id, std::time::Duration::from_secs(10)).await.unwrap();
    let api = c.lc.node(id).unwrap().api();
    let _squatter = std::net::TcpListener::bind(&api).unwrap();
    c.lc.start(id).unwrap();
    let err = c.lc.wait_ready(id, crate::common::SETTLE).await.unwrap_err().to_string();
    assert!(err.contains("exited while starting"), "{err}");
    assert!(err.contains(&api), "the node's error does not name {api}: {err}");
}
