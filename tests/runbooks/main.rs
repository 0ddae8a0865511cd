//! Runbook tests: the `sh` blocks of `docs/runbooks/*.md` run as written, in order, against
//! three real node processes, so the procedures a takeover team follows are known to work.
//!
//! `systemctl start|stop varsel` is the stand-in script next to this file, controlling the node
//! the runbook works on; every other command is the real `varsel` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../delivery/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{SETTLE, TestCluster, varsel_bin};
use varsel_proto::api::{AlertStatus, Channel, Priority};
use varsel_sim::Channel as SimChannel;

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
    run_blocks(runbook, &sh_blocks(runbook), c, work, env).await;
}

/// Runs `blocks` of `runbook` (some of its `sh` blocks, in order) with `env`, as [`run`].
async fn run_blocks(
    runbook: &str,
    blocks: &[String],
    c: &TestCluster,
    work: &Path,
    env: &[(String, String)],
) {
    let script = format!("set -euo pipefail\n{}", blocks.join("\n"));
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
            .env("VARSEL_CA_FILE", c.lc.ca_file.as_ref().expect("the test clusters speak TLS"))
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
/// aside, gives id 5 a certificate, restarts the node with it and joins it again; node 5 then
/// holds data written before.
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
    // The local cluster keeps the CA and every node's TLS files in one directory.
    let tls_dir = c.lc.ca_file.as_ref().unwrap().parent().unwrap().display().to_string();
    env.extend([
        ("CA_DIR".to_string(), tls_dir.clone()),
        ("NODE_TLS_DIR".to_string(), tls_dir),
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

/// Goal: the checks of the site-lost runbook and the takeover runbook, including taking
/// ownership of the superadmin token on the live cluster, run as written.
/// Method: three nodes; the stand-in installer writes the nodes' token file. Afterwards every
/// node accepts the token the runbook made and refuses the one the cluster was started with.
#[tokio::test(flavor = "multi_thread")]
async fn checks_of_site_lost_and_takeover() {
    let c = TestCluster::start(3, |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    run("site-lost.md", &c, work.path(), &[]).await;
    let secrets = c.lc.superadmin_token_file.parent().unwrap().display().to_string();
    run("takeover.md", &c, work.path(), &[("NODE_SECRET_DIR".to_string(), secrets)]).await;
    let new_token = std::fs::read_to_string(work.path().join("new/superadmin.token")).unwrap();
    assert_ne!(new_token.trim(), c.superadmin(), "the runbook made no new token");
    for id in c.ids() {
        let mut admin =
            varsel_client::admin(&c.lc.endpoint(id).unwrap(), &c.lc.trust, new_token.trim()).unwrap();
        assert!(
            admin.status(varsel_proto::admin::StatusRequest {}).await.is_ok(),
            "node {id}: new token refused"
        );
        let refused = c.admin(id).status(varsel_proto::admin::StatusRequest {}).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "node {id}: old token still accepted");
    }
}

/// Goal: the certificate rotation runbook renews every node certificate and then replaces the
/// cluster CA on a live cluster, as written, while an alert is being sent, and nothing is lost.
/// Method: three nodes and the simulator (SMS at 150 messages/s per provider, so the alert of
/// 3,000 recipients sends through the whole rotation); the runbook runs with the CA copied to
/// an operator directory and the stand-in installer writing the nodes' TLS files. Afterwards
/// the alert has reached every recipient, a client trusting only the new CA is served, and one
/// trusting only the old CA is refused.
#[tokio::test(flavor = "multi_thread")]
async fn rotate_certificates_while_sending() {
    let mut sim = fixture::sim_config();
    for p in &mut sim.providers {
        p.rate_per_second = 150;
    }
    let mut f = fixture::Fixture::start(sim, |s| s.delivery.lease_ms = 6_000).await;
    f.contacts(3_000, "alle").await;
    let alert = f.alert("rotation", "alle", Priority::Crisis, fixture::at_once(&[Channel::Sms])).await;

    let work = tempfile::tempdir().unwrap();
    let tls_dir = f.c.lc.ca_file.as_ref().unwrap().parent().unwrap().to_path_buf();
    let ca_dir = work.path().join("operator-ca");
    std::fs::create_dir_all(&ca_dir).unwrap();
    for name in ["ca.pem", "ca.key"] {
        std::fs::copy(tls_dir.join(name), ca_dir.join(name)).unwrap();
    }
    let old_ca = std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap();
    let env = vec![
        ("CA_DIR".to_string(), ca_dir.display().to_string()),
        ("NODE_TLS_DIR".into(), tls_dir.display().to_string()),
    ];
    run("rotate-certificates.md", &f.c, work.path(), &env).await;

    // From here on the test's own clients trust the new CA alone, as the runbook tells clients.
    let new_ca = std::fs::read_to_string(work.path().join("new-ca/ca.pem")).unwrap();
    f.c.lc.trust = varsel_client::Trust::ca_pem(new_ca.clone());
    let done = f.wait_final(alert.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    let sms = f.sim.client.counts(alert.id).await.unwrap();
    assert_eq!(sms.channel(SimChannel::Sms).distinct_keys, 3_000, "every recipient reached");

    let status = |ca: String| {
        let endpoints = f.c.lc.endpoints();
        let token = f.c.superadmin();
        async move {
            let cluster = varsel_client::Cluster::new(endpoints, &varsel_client::Trust::ca_pem(ca))
                .unwrap()
                .with_deadline(Duration::from_secs(5));
            let bearer = varsel_client::Bearer::new(&token).unwrap();
            cluster
                .call(|ch| {
                    let mut admin =
                        varsel_proto::admin::cluster_admin_client::ClusterAdminClient::with_interceptor(
                            ch,
                            bearer.clone(),
                        );
                    async move { admin.status(varsel_proto::admin::StatusRequest {}).await }
                })
                .await
        }
    };
    assert!(status(new_ca).await.is_ok(), "a client trusting the new CA is refused");
    assert!(status(old_ca).await.is_err(), "a client trusting only the old CA is still served");
}

/// Each node of `c` as a "host" the `ssh` and `scp` stand-ins reach: `site-ID.env` files in
/// `work/hosts` with what the node's host shell would have (its configuration, data dir, the
/// binary its service runs: a copy of its own, and the `systemctl` stand-in's variables). A
/// running node's process is handed over to the stand-in. The guards kill whatever the
/// stand-in started.
fn hosts(c: &TestCluster, work: &Path) -> (Vec<Controlled>, Vec<(String, String)>) {
    let dir = work.join("hosts");
    std::fs::create_dir_all(&dir).unwrap();
    let mut guards = Vec::new();
    let mut names = Vec::new();
    for id in c.ids() {
        let node = c.lc.node(id).unwrap();
        let pidfile = dir.join(format!("site-{id}.pid"));
        if let Some(pid) = node.pid() {
            std::fs::write(&pidfile, pid.to_string()).unwrap();
        }
        let binary = dir.join(format!("site-{id}.varsel"));
        std::fs::copy(varsel_bin(), &binary).unwrap();
        let vars = [
            ("SHIM_BIN", binary.display().to_string()),
            ("NODE_BINARY", binary.display().to_string()),
            ("SHIM_CONFIG", node.config_path.display().to_string()),
            ("SHIM_PIDFILE", pidfile.display().to_string()),
            ("SHIM_LOG", node.log_path.display().to_string()),
            ("VARSEL_CONFIG", node.config_path.display().to_string()),
            ("DATA_DIR", node.config.data_dir.display().to_string()),
        ];
        let text: String = vars.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
        std::fs::write(dir.join(format!("site-{id}.env")), text).unwrap();
        guards.push(Controlled { pidfile });
        names.push(format!("site-{id}"));
    }
    let env =
        vec![("SHIM_HOSTS".to_string(), dir.display().to_string()), ("HOSTS".to_string(), names.join(" "))];
    (guards, env)
}

/// Goal: the backup-restore runbook works as written: a backup taken while an alert is being
/// sent, every site's data lost, the backup restored into a new cluster whose running alert is
/// held (nothing sent) until its tenant's operator resumes it, then finished; contacts and the
/// alert are back. Method: three nodes and the simulator (SMS at 200 messages/s, so the 3,000
/// recipients' alert is being sent when the backup is taken); part 1 of the runbook takes the
/// backup; the test kills every node and deletes every data dir; part 2 runs in two steps, with
/// the test checking between them that the restored alert is held and nothing more is sent.
#[tokio::test(flavor = "multi_thread")]
async fn backup_restore() {
    let mut sim = fixture::sim_config();
    for p in &mut sim.providers {
        p.rate_per_second = 200;
    }
    let mut f = fixture::Fixture::start(sim, |s| s.delivery.lease_ms = 3_000).await;
    f.contacts(3_000, "alle").await;
    let alert = f.alert("restore", "alle", Priority::Crisis, fixture::at_once(&[Channel::Sms])).await;
    let old_cluster = wait_cluster_id(&f.c).await;
    // Sending has begun (and will take about 15 s).
    let started = std::time::Instant::now();
    while f.sim.client.counts(alert.id).await.unwrap().channel(SimChannel::Sms).distinct_keys < 300 {
        assert!(started.elapsed() < Duration::from_secs(60), "the alert did not start sending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let work = tempfile::tempdir().unwrap();
    let (_hosts, mut env) = hosts(&f.c, work.path());
    let token_file = work.path().join("tenant.token");
    std::fs::write(&token_file, &f.token).unwrap();
    env.extend([
        ("BACKUP_DIR".to_string(), work.path().join("backups").display().to_string()),
        ("TENANT_TOKEN_FILE".into(), token_file.display().to_string()),
        ("STAGING_DIR".into(), work.path().display().to_string()),
    ]);
    let blocks = sh_blocks("backup-restore.md");
    assert_eq!(blocks.len(), 6, "part 1, then 2.1 to 2.5");
    run_blocks("backup-restore.md", &blocks[..1], &f.c, work.path(), &env).await;

    // Every site's data is lost.
    for id in f.c.ids() {
        f.c.lc.kill(id).await.unwrap();
        std::fs::remove_dir_all(&f.c.lc.node(id).unwrap().config.data_dir).unwrap();
    }
    let before = f.sim.client.counts(alert.id).await.unwrap();
    let (sent_before, receives_before) =
        (before.channel(SimChannel::Sms).distinct_keys, before.channel(SimChannel::Sms).receives);
    assert!(sent_before < 3_000, "the alert finished before the data was lost; the test proves nothing");

    run_blocks("backup-restore.md", &blocks[1..4], &f.c, work.path(), &env).await;
    let held = f.get(alert.id, 1).await;
    assert_eq!(held.status, AlertStatus::Held as i32, "a restored running alert must be held");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let counts = f.sim.client.counts(alert.id).await.unwrap();
    assert_eq!(
        counts.channel(SimChannel::Sms).receives,
        receives_before,
        "a held alert sent messages before anyone resumed it"
    );

    run_blocks("backup-restore.md", &blocks[4..], &f.c, work.path(), &env).await;
    let done = f.wait_final(alert.id, 2).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    let sms = f.sim.client.counts(alert.id).await.unwrap();
    assert_eq!(sms.channel(SimChannel::Sms).distinct_keys, 3_000, "every recipient reached");
    let new_cluster = wait_cluster_id(&f.c).await;
    assert_ne!(new_cluster, old_cluster, "the restored cluster kept the old id");
    for id in f.c.ids() {
        let s = f.c.lc.status(id, Duration::from_secs(2)).await.unwrap();
        assert_eq!(s.cluster_id, new_cluster, "node {id}");
        assert_eq!(s.members.len(), 3, "node {id}: {:?}", s.members);
    }
    let listed =
        f.c.api(3)
            .contacts
            .list_contacts(common::authed(
                &f.token,
                varsel_proto::api::ListContactsRequest { page_size: 1, ..Default::default() },
            ))
            .await;
    assert!(listed.is_ok_and(|r| !r.into_inner().contacts.is_empty()), "contacts are back on a joined site");
}

/// The cluster's id as node 1 reports it, once named (its leader names it within seconds).
async fn wait_cluster_id(c: &TestCluster) -> String {
    for _ in 0..100 {
        if let Some(s) = c.lc.status(1, Duration::from_secs(2)).await
            && !s.cluster_id.is_empty()
        {
            return s.cluster_id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cluster was not named within 10 s");
}

/// Goal: the majority-lost runbook works as written: with two of three sites killed for good,
/// the survivor is forced into a new one-node cluster (printing what may be lost), two new
/// sites join it, and the data written before is on them. Method: five nodes configured, three
/// bootstrapped; a key written and applied on node 1; nodes 2 and 3 SIGKILLed; the runbook
/// runs with node 1 as the survivor and nodes 4 and 5 as the new sites.
#[tokio::test(flavor = "multi_thread")]
async fn majority_lost() {
    let mut c = TestCluster::configure(5, |_| {});
    c.boot_members(&[1, 2, 3]).await;
    let old_cluster = wait_cluster_id(&c).await;
    let leader = c.leader_among(&[1, 2, 3]).await;
    let index = c.put(leader, "before", "the loss").await.unwrap().log_index;
    c.wait_applied(1, index).await;
    for id in [2, 3] {
        c.lc.kill(id).await.unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let (guards, mut env) = hosts(&c, work.path());
    let mut lines = String::new();
    for id in [4, 5] {
        let n = c.lc.node(id).unwrap().config.clone();
        lines.push_str(&format!("{id} {} {} {}\n", n.site, n.api_addr, n.raft_addr));
    }
    std::fs::write(work.path().join("new-sites.txt"), lines).unwrap();
    env.extend([
        ("SURVIVOR".to_string(), "site-1".to_string()),
        ("NEW_HOSTS".into(), "site-4 site-5".into()),
    ]);
    run("majority-lost.md", &c, work.path(), &env).await;

    let forced = std::fs::read_to_string(work.path().join("forced.txt")).unwrap();
    assert!(forced.contains("UNSAFE") && forced.contains("MAY BE LOST"), "{forced}");
    let data_dir = c.lc.node(1).unwrap().config.data_dir.clone();
    let mut aside = data_dir.into_os_string();
    aside.push(".before-new-cluster");
    assert!(std::path::Path::new(&aside).is_dir(), "the survivor's old data was not kept");
    for id in [1, 4, 5] {
        let s = c.lc.status(id, Duration::from_secs(2)).await.unwrap();
        assert!(!s.cluster_id.is_empty() && s.cluster_id != old_cluster, "node {id}: {}", s.cluster_id);
        let voters: Vec<u64> =
            s.members.iter().filter(|m| m.voter).filter_map(|m| m.address.as_ref().map(|a| a.id)).collect();
        assert_eq!(voters, vec![1, 4, 5], "node {id}");
    }
    let new = c.leader_among(&[1, 4, 5]).await;
    c.put(new, "after", "the loss").await.expect("the new cluster takes writes");
    for id in [4, 5] {
        let mut got = None;
        for _ in 0..50 {
            got = c.get_local(id, "before").await;
            if got.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(got.as_deref(), Some("the loss"), "node {id} lacks what was written before");
    }

    // A lost site that comes back with its old data anyway is refused by the new cluster:
    // node 2 asks node 1 for votes, and node 1 answers that they are of different clusters.
    c.lc.start(2).unwrap();
    let log = c.lc.node(2).unwrap().log_path.clone();
    let mut refused = false;
    for _ in 0..100 {
        if std::fs::read_to_string(&log).unwrap_or_default().contains("the sender to cluster") {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(refused, "node 1 did not refuse the old cluster's node 2:\n{}", c.lc.log_tail(2, 20));
    c.put(c.leader_among(&[1, 4, 5]).await, "still", "writable")
        .await
        .expect("the new cluster is unaffected");
    let s = c.lc.status(1, Duration::from_secs(2)).await.unwrap();
    let voters: Vec<u64> =
        s.members.iter().filter(|m| m.voter).filter_map(|m| m.address.as_ref().map(|a| a.id)).collect();
    assert_eq!(voters, vec![1, 4, 5]);
    drop(guards);
}

/// Goal: the rolling upgrade runbook replaces every site's binary, one site at a time, while an
/// alert is being sent, as written, and nothing is lost or sent twice. Method: three nodes and
/// the simulator (SMS at 30 messages/s per provider, so the 4,000 recipients' alert runs through the
/// upgrade); each host runs its own copy of the binary, which the runbook replaces by
/// `NEW_BINARY` (the same build: only the procedure is proven). Afterwards the alert is
/// complete, every recipient got the SMS exactly once, and every node runs the new copy.
#[tokio::test(flavor = "multi_thread")]
async fn rolling_upgrade_while_sending() {
    let mut sim = fixture::sim_config();
    for p in &mut sim.providers {
        p.rate_per_second = 30;
    }
    let f = fixture::Fixture::start(sim, |s| s.delivery.lease_ms = 3_000).await;
    f.contacts(4_000, "alle").await;
    let alert = f.alert("upgrade", "alle", Priority::Crisis, fixture::at_once(&[Channel::Sms])).await;
    let work = tempfile::tempdir().unwrap();
    let (_hosts, mut env) = hosts(&f.c, work.path());
    let new_binary = work.path().join("varsel-new");
    std::fs::copy(varsel_bin(), &new_binary).unwrap();
    env.extend([
        ("NEW_BINARY".to_string(), new_binary.display().to_string()),
        ("STAGING_DIR".into(), work.path().display().to_string()),
    ]);
    run("upgrade.md", &f.c, work.path(), &env).await;
    let upgraded = f.sim.client.counts(alert.id).await.unwrap().channel(SimChannel::Sms).distinct_keys;
    let done = f.wait_final(alert.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    let sms = f.sim.client.counts(alert.id).await.unwrap();
    let sms = sms.channel(SimChannel::Sms);
    assert!(
        upgraded < 4_000,
        "the alert was over before the last site was upgraded; the test proves nothing"
    );
    assert_eq!(sms.distinct_keys, 4_000, "every recipient reached");
    assert_eq!(sms.keys_delivered_more_than_once, 0, "a recipient got the SMS twice: {sms:?}");
    for id in f.c.ids() {
        let pid = std::fs::read_to_string(work.path().join(format!("hosts/site-{id}.pid"))).unwrap();
        let exe = std::fs::read_link(format!("/proc/{}/exe", pid.trim())).unwrap();
        assert_eq!(exe, work.path().join(format!("hosts/site-{id}.varsel")), "node {id} runs {exe:?}");
    }
}
