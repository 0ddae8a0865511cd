//! Runbook tests: the `sh` blocks of `docs/runbooks/*.md` run as written, in order, against
//! three real node processes, so the procedures a takeover team follows are known to work.
//!
//! `systemctl start|stop varsel` is the stand-in script next to this file, controlling the node
//! the runbook works on; every other command is the real `varsel` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{SETTLE, TestCluster, varsel_bin};

/// The `sh` blocks of a runbook, in order.
fn sh_blocks(runbook: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("docs/runbooks").join(runbook)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "{runbook}: unclosed code block");
    blocks
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The node process a runbook controls through the `systemctl` stand-in; killed on drop.
struct Controlled {
    pidfile: PathBuf,
}

impl Drop for Controlled {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let _ = std::process::Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

/// Hands node `id` over to the stand-in: its current process becomes the one the stand-in's
/// pid file names.
fn control(c: &TestCluster, id: u64, work: &Path) -> (Controlled, Vec<(String, String)>) {
    let node = c.lc.node(id).unwrap();
    let pidfile = work.join("node.pid");
    std::fs::write(&pidfile, node.pid().unwrap().to_string()).unwrap();
    let env = vec![
        ("SHIM_BIN".into(), varsel_bin().display().to_string()),
        ("SHIM_CONFIG".into(), node.config_path.display().to_string()),
        ("SHIM_PIDFILE".into(), pidfile.display().to_string()),
        ("SHIM_LOG".into(), node.log_path.display().to_string()),
        ("NODE_ID".into(), id.to_string()),
        ("DATA_DIR".into(), node.config.data_dir.display().to_string()),
        ("ENV_FILE".into(), work.join("node.env").display().to_string()),
    ];
    (Controlled { pidfile }, env)
}

/// Runs every `sh` block of `runbook` with `env`, failing with the script's output on error.
async fn run(runbook: &str, c: &TestCluster, work: &Path, env: &[(String, String)]) {
    let script = format!("set -euo pipefail\n{}", sh_blocks(runbook).join("\n"));
    let bin_dir = varsel_bin().parent().unwrap().to_path_buf();
    let shim_dir = repo().join("tests/runbooks");
    let path =
        format!("{}:{}:{}", shim_dir.display(), bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(work)
            .env("PATH", path)
            .env("VARSEL_ENDPOINTS", c.lc.endpoints().join(","))
            .env("VARSEL_TOKEN_FILE", &c.lc.superadmin_token_file)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("runbook took more than four minutes")
    .unwrap();
    assert!(
        out.status.success(),
        "{runbook} failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Goal: the site maintenance runbook drains, stops, restarts and checks a node as written.
/// Method: its `sh` blocks run on node 2 (the leader when possible, so the drain moves
/// leadership); afterwards node 2 is a follower again and the cluster has a leader.
#[tokio::test(flavor = "multi_thread")]
async fn site_maintenance() {
    let c = TestCluster::start(3, |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let id = c.leader().await;
    let (_guard, env) = control(&c, id, work.path());
    run("site-maintenance.md", &c, work.path(), &env).await;
    let s = c.lc.status(id, Duration::from_secs(2)).await.unwrap();
    assert_eq!(s.role, "follower");
}

/// Goal: replacing a node by a new host (new id) works as written.
/// Method: four nodes configured, three bootstrapped; node 4 started as the "new host"; the
/// runbook replaces node 1 with node 4.
#[tokio::test(flavor = "multi_thread")]
async fn replace_node() {
    let mut c = TestCluster::configure(4, |_| {});
    c.boot_members(&[1, 2, 3]).await;
    c.lc.start(4).unwrap();
    c.lc.wait_ready(4, SETTLE).await.unwrap();
    let n4 = c.lc.node(4).unwrap().config.clone();
    let work = tempfile::tempdir().unwrap();
    let env = vec![
        ("NODE_ID".to_string(), "1".to_string()),
        ("NEW_NODE_ID".into(), "4".into()),
        ("NEW_SITE".into(), n4.site.clone()),
        ("NEW_API".into(), n4.api_addr.to_string()),
        ("NEW_RAFT".into(), n4.raft_addr.to_string()),
    ];
    // The endpoints a client would be given: every node, old and new.
    run("replace-node.md", &c, work.path(), &env).await;
    assert!(c.lc.status(4, Duration::from_secs(2)).await.is_some_and(|s| s.members.len() == 3));
}

/// Goal: a node whose store is damaged is rebuilt from the others as written.
/// Method: node 3's process is handed to the stand-in; the runbook removes it, moves its data
/// aside, restarts it with id 5 and joins it again; node 5 then holds data written before.
#[tokio::test(flavor = "multi_thread")]
async fn recover_damaged_node() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let index = c.put(leader, "before", "damage").await.unwrap().log_index;
    c.wait_applied(3, index).await;
    // The runbook must not work on the leader's node in this test (removing the leader works,
    // but then the node's own API answers during its own removal).
    let victim = if leader == 3 { 2 } else { 3 };
    let work = tempfile::tempdir().unwrap();
    let (_guard, mut env) = control(&c, victim, work.path());
    let n = c.lc.node(victim).unwrap().config.clone();
    env.extend([
        ("NEW_NODE_ID".to_string(), "5".to_string()),
        ("NEW_SITE".into(), n.site.clone()),
        ("NEW_API".into(), n.api_addr.to_string()),
        ("NEW_RAFT".into(), n.raft_addr.to_string()),
    ]);
    run("recover-damaged-node.md", &c, work.path(), &env).await;
    assert_eq!(
        c.get_local(victim, "before").await.as_deref(),
        Some("damage"),
        "the rebuilt node holds the old data"
    );
}

/// Goal: the read-only checks of the site-lost and takeover runbooks run as written.
#[tokio::test(flavor = "multi_thread")]
async fn checks_of_site_lost_and_takeover() {
    let c = TestCluster::start(3, |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    run("site-lost.md", &c, work.path(), &[]).await;
    run("takeover.md", &c, work.path(), &[]).await;
}
