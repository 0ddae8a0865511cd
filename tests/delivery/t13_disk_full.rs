//! A node whose data disk fills up stops what it cannot persist, hands its work over, and
//! comes back by itself once space is freed; the alert it was sending is finished by the
//! others, each recipient reached once.
//!
//! The data directory of node 3 is a 96 MiB tmpfs the test mounts (root is needed; CI runs as
//! root) and fills with a file mid-alert, leaving less than `storage.min_free_bytes`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use varsel_proto::admin::StatusRequest;
use varsel_proto::api::{AlertStatus, Channel, Priority};
use varsel_sim::Channel as SimChannel;

use crate::fixture::{Fixture, at_once, sim_config};

const RESERVE: u64 = 24 << 20;
const FULL_NODE: u64 = 3;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size_mib: u64) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount tmpfs at {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

async fn status(f: &Fixture, id: u64) -> varsel_proto::admin::NodeStatus {
    f.c.admin(id).status(StatusRequest {}).await.unwrap().into_inner()
}

/// Waits (bounded by `within`) until `ok` holds for node `id`'s status; returns how long it took.
async fn wait_status(
    f: &Fixture,
    id: u64,
    within: Duration,
    what: &str,
    ok: impl Fn(&varsel_proto::admin::NodeStatus) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let s = status(f, id).await;
        if ok(&s) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "node {id}: {what} not within {within:?}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes zeros to `path` until `bytes` are written.
fn fill(path: &Path, bytes: u64) {
    let mut file = std::fs::File::create(path).expect("filler");
    let block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).expect("fill the disk");
        left -= n as u64;
    }
    file.sync_all().expect("sync filler");
}

/// Goal: a full disk on one node (below `storage.min_free_bytes`) makes it refuse its clients'
/// writes with an error naming the disk and the setting, mark itself unready, give up its
/// leases and leadership, and take no log entries; the alert under way completes on the other
/// nodes with every recipient reached once; when the space is freed the node catches up with
/// the log by itself and takes sending work again.
/// Method: 5,000 SMS recipients at 900 messages/s; node 3's data directory is a 96 MiB tmpfs;
/// once 500 are sent, a file fills it to 8 MiB free (reserve 24 MiB); node 3 is made leader
/// first, so the hand-over of leadership is tested too. Handset counts from the simulator.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_stops_the_node_not_the_sending() {
    if not_root() {
        eprintln!("t13_disk_full: SKIPPED, mounting a tmpfs needs root (CI runs the tests as root)");
        return;
    }
    let mut mount = None;
    let f = Fixture::start(sim_config(), |spec| {
        spec.min_free_bytes = RESERVE;
        mount = Some(Tmpfs::mount(&spec.base_dir.join(format!("node-{FULL_NODE}")), 96));
    })
    .await;
    // Declared before the fixture and never moved: unmounted after the nodes are gone, even
    // when an assertion fails.
    assert!(mount.is_some(), "node {FULL_NODE}'s data directory was not mounted");
    if f.c.leader().await != FULL_NODE {
        let leader = f.c.leader().await;
        let req = varsel_proto::admin::TransferLeaderRequest { to_node_id: FULL_NODE };
        f.c.admin(leader).transfer_leader(req).await.expect("make node 3 the leader");
    }
    f.contacts(5_000, "alle").await;
    f.set_rate(900).await;
    let a = f.alert("disk-full", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.get(a.id, 1).await.progress.map_or(0, |p| p.recipients) < 500 {
        assert!(Instant::now() < deadline, "alert did not progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let data_dir = f.c.lc.node(FULL_NODE).unwrap().config.data_dir.clone();
    let free = status(&f, FULL_NODE).await.disk_free_bytes;
    let filler = data_dir.join("filler");
    fill(&filler, free.saturating_sub(8 << 20));
    let filled = Instant::now();
    let unready_after =
        wait_status(&f, FULL_NODE, Duration::from_secs(10), "disk full", |s| s.disk_full).await;

    // A client's write through it is refused, naming the disk and the setting.
    let refused = f.c.put(FULL_NODE, "disk", "full").await.expect_err("a write through a full node");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("data disk is full")
            && refused.message().contains("storage.min_free_bytes"),
        "{}",
        refused.message()
    );
    let ready = f.c.http_get(FULL_NODE, "/readyz").await.expect("readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("data disk is full"), "{}", ready.body);
    // Leadership and leases move away; writes through the others go on.
    let other = 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leader = f.c.leader_among(&[1, 2]).await;
        let held = f.shards(a.id, other).await.held_by_node.contains_key(&FULL_NODE);
        if leader != FULL_NODE && !held {
            break;
        }
        assert!(Instant::now() < deadline, "node {FULL_NODE} still leads or holds shards");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f.c.put(other, "disk", "elsewhere").await.expect("a write through another node");
    let done = f.wait_final(a.id, other).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    let c = f.sim.client.counts(a.id).await.unwrap().channel(SimChannel::Sms);
    assert_eq!(
        (c.distinct_keys, c.receives),
        (5_000, 5_000),
        "a full disk hands over without loss or repeats"
    );
    // Its log stopped growing while the others went on.
    let stuck = status(&f, FULL_NODE).await.last_log_index;
    let leader = f.c.leader_among(&[1, 2]).await;
    assert!(
        status(&f, leader).await.last_log_index > stuck,
        "the others' log did not move past node {FULL_NODE}'s"
    );

    // Space freed: it catches up by itself and takes work again.
    std::fs::remove_file(&filler).expect("free the space");
    let freed = Instant::now();
    wait_status(&f, FULL_NODE, Duration::from_secs(10), "disk not full", |s| !s.disk_full).await;
    let target = status(&f, leader).await.last_log_index;
    wait_status(&f, FULL_NODE, Duration::from_secs(60), "caught up", |s| s.applied_index >= target).await;
    let caught_up_after = freed.elapsed();
    assert_eq!(f.c.get_local(FULL_NODE, "disk").await.as_deref(), Some("elsewhere"));
    f.set_rate(900).await;
    let b = f.alert("after-disk-full", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = f.shards(b.id, other).await;
        if s.held_by_node.contains_key(&FULL_NODE) {
            break;
        }
        assert!(
            Instant::now() < deadline && s.status == "Active",
            "node {FULL_NODE} took no shard after recovering"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "disk full: node {FULL_NODE} unready {} ms after its disk filled; caught up {} ms after space was freed \
         (filled at +{} ms)",
        unready_after.as_millis(),
        caught_up_after.as_millis(),
        filled.elapsed().as_millis()
    );
}

/// Whether this process runs without root (mounting needs it).
fn not_root() -> bool {
    // `id -u` rather than libc: the workspace forbids unsafe code.
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map_or(true, |o| String::from_utf8_lossy(&o.stdout).trim() != "0")
}
