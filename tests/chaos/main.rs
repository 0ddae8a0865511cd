//! Process-mode chaos scenarios: three real `varsel` processes on loopback, the provider
//! simulator in the test, client load through the CLI's retrying client, and faults from
//! `chaos/scenarios/*.toml`. Each test runs one shipped scenario with a fixed seed and fails
//! on any broken invariant, printing the report (which includes the replay command).
//!
//! The scenarios run one at a time (each starts three nodes; two at once on a two-core
//! machine would measure the machine, not the cluster).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use varsel_chaos::scenario::Scenario;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scenario(name: &str) -> (PathBuf, Scenario) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../chaos/scenarios").join(format!("{name}.toml"));
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (path, s)
}

/// Runs the shipped scenario `name` with `seed` and checks the report.
async fn run(name: &str, seed: u64) -> varsel_chaos::report::Report {
    let report = run_unchecked(name, seed).await;
    assert!(report.passed, "{name}: an invariant failed (report above)");
    assert!(report.requests.alerts_accepted > 0, "{name}: no alert was accepted");
    assert_eq!(report.messages.lost, 0);
    report
}

/// Runs the shipped scenario `name` with `seed` and prints its report.
async fn run_unchecked(name: &str, seed: u64) -> varsel_chaos::report::Report {
    let _one = ONE_AT_A_TIME.lock().await;
    let (path, s) = scenario(name);
    let replay = format!("varsel-chaos run --scenario {} --seed {seed}", path.display());
    let report =
        varsel_chaos::run_processes(&s, seed, PathBuf::from(env!("CARGO_BIN_EXE_varsel")), None, replay)
            .await
            .unwrap_or_else(|e| panic!("{name}: the run could not be carried out: {e}"));
    eprintln!("{}", report.table());
    report
}

/// Goal: losing the site that sends most of the alerts in progress loses no message, and
/// its shards are sending again on the survivors.
#[tokio::test(flavor = "multi_thread")]
async fn site_kill_mid_alert() {
    let r = run("site-kill", 11).await;
    let kill = &r.faults[0];
    assert!(kill.skipped.is_none() && kill.node.is_some());
    assert!(kill.next_write_ms.is_some(), "no write committed after the kill");
    if kill.shards_held > 0 {
        assert!(kill.sending_resumed_ms.is_some(), "the dead site's shards never moved");
    }
}

/// Goal: killing whichever node leads, again and again, loses nothing and the cluster keeps
/// taking writes.
#[tokio::test(flavor = "multi_thread")]
async fn leader_kill_loop() {
    let r = run("leader-kill-loop", 12).await;
    let kills = r.faults.iter().filter(|f| f.skipped.is_none()).count();
    assert!(kills >= 3, "expected three leader kills: {:?}", r.faults);
    assert_eq!(r.next_write.n, kills, "a write committed after every kill");
}

/// Goal: a site cut off from the others keeps running but cannot commit; its work moves to the
/// majority and nothing is lost or sent after an acknowledgement; it converges after healing.
#[tokio::test(flavor = "multi_thread")]
async fn partition_of_a_minority_site() {
    let r = run("partition-minority", 13).await;
    assert!(r.faults[0].undone_at_s.is_some(), "the partition was healed");
}

/// Goal: a frozen leader (longer than the election timeout) is replaced; when it thaws, its
/// stale leases do not lose or duplicate beyond the window.
#[tokio::test(flavor = "multi_thread")]
async fn stalled_leader() {
    run("stall", 14).await;
}

/// Goal: the primary SMS provider going down moves SMS to the alternative without loss, and
/// back when it returns.
#[tokio::test(flavor = "multi_thread")]
async fn provider_outage() {
    run("provider-outage", 15).await;
}

/// Goal: with providers that ignore keys (as SMPP does), freezing the lease holder for two
/// lease lengths mid-alert puts no more than 1,000 duplicates per million messages on the
/// handsets, every one explained by the stall, none after the thaw's stale queue; and a cancel
/// mid-alert stops the handing over of its messages within 1 s. Method: the shipped
/// `send-fencing` scenario; the handset figures come from the simulator's handset records,
/// not from idempotency keys. The scenario must really have caught alerts mid-send.
#[tokio::test(flavor = "multi_thread")]
async fn send_fencing() {
    let r = run_unchecked("send-fencing", 16).await;
    let stall = r.faults.iter().find(|f| f.kind == "stall_site").expect("the scenario stalls a node");
    assert!(stall.skipped.is_none() && stall.node.is_some(), "{stall:?}");
    assert!(r.handsets.keys_ignored, "the scenario's providers ignore keys");
    let cancel = r.cancel.as_ref().expect("the scenario cancels alerts");
    assert!(cancel.alerts > 0, "no alert was being sent at the cancel: {:?}", r.faults);
    assert!(r.passed, "send-fencing: an invariant failed (report above)");
    assert_eq!(r.messages.lost, 0);
}

/// Goal: receipts and replies are durable once a node answered them, even when the node
/// answering most of them is SIGKILLed mid-burst (and later the leader): every one the
/// providers were answered with success for is in the cluster, none counts twice though
/// providers redeliver and copy them, and none is placed with the other tenant's alert,
/// though two tenants' open alerts reach the same numbers. Method: the shipped `reply-storm`
/// scenario; the simulator's records of what it was answered are compared with the replies
/// the cluster keeps (`ListReplies`) and the receipts it counted.
#[tokio::test(flavor = "multi_thread")]
async fn reply_storm() {
    let r = run("reply-storm", 18).await;
    let kills = r.faults.iter().filter(|f| f.skipped.is_none() && f.node.is_some()).count();
    assert_eq!(kills, 2, "both sites were killed: {:?}", r.faults);
    let replies = &r.replies;
    assert!(replies.answered >= 1_000, "a storm, not a drizzle: {replies:?}");
    assert!(replies.receipts_answered >= 1_000, "{replies:?}");
    assert_eq!((replies.lost, replies.twice, replies.wrong_tenant, replies.receipts_lost), (0, 0, 0, 0));
}

/// Goal: wrong clocks do not stop, hasten or duplicate sending (issue 14): a leader 90 s ahead
/// is told it is out of bounds and hands leadership over; a follower 90 s behind is out of
/// bounds while the busiest site is killed; a leader whose clock jumps 25 h ahead (past the
/// alerts' 24 h lifetime) and back steps down too. No alert expires early, no provider call
/// begins after its lease's deadline on any node, nobody who acknowledged is called, nothing
/// is lost. Method: the shipped `clock-skew` scenario (clocks set through the nodes'
/// fault-injection layer, `SetFaults.clock_offset_ms`); the report's figures of each clock
/// fault come from the nodes' `Status`.
#[tokio::test(flavor = "multi_thread")]
async fn clock_skew() {
    let r = run("clock-skew", 21).await;
    let injected = |kind: &str| -> Vec<&varsel_chaos::report::FaultRecord> {
        r.faults.iter().filter(|f| f.kind == kind && f.skipped.is_none()).collect()
    };
    let skews = injected("clock_skew");
    assert_eq!(skews.len(), 2, "both skews were set: {:?}", r.faults);
    assert_eq!(injected("kill_site").len(), 1, "{:?}", r.faults);
    let jump = injected("clock_jump");
    assert_eq!(jump.len(), 1, "{:?}", r.faults);
    for (what, f) in [("the leader 90 s ahead", skews[0]), ("the leader 25 h ahead", jump[0])] {
        assert!(f.out_of_bounds_ms.is_some(), "{what} was not told it is out of bounds: {f:?}");
        assert!(f.leader_moved_ms.is_some(), "{what} did not hand leadership over: {f:?}");
    }
    assert!(r.expiry.alerts > 0 && r.expiry.expired == 0, "{:?}", r.expiry);
    assert_eq!(r.late_handovers.total, 0);
    assert_eq!(r.late_handovers.kills_sampled, 1, "the victim's count was read before the kill");
}

/// Goal: a snapshot forced on the leader and then on each follower in the middle of a large
/// fan-out stops no site's sending for longer than a lease (issue 14). Method: the shipped
/// `snapshot-during-fanout` scenario (one SMS alert to 100,000 recipients over providers that
/// answer each batch after about a second); the harness samples every node's
/// `varsel_delivery_messages_total` and the shards it holds every 100 ms, and the scenario's
/// `sending_gap_ms_max` (the 3 s process-mode lease) is an invariant of the run. The test first
/// checks that the snapshots really were built while the sites were sending.
#[tokio::test(flavor = "multi_thread")]
async fn snapshot_during_fanout() {
    let r = run_unchecked("snapshot-during-fanout", 23).await;
    let snap = r.faults.iter().find(|f| f.kind == "snapshot").expect("the scenario forces snapshots");
    assert!(snap.skipped.is_none(), "{snap:?}");
    assert_eq!(snap.snapshots.len(), 3, "the leader, then each follower: {snap:?}");
    assert_eq!(snap.node, Some(snap.snapshots[0].node), "the leader first: {snap:?}");
    assert!(snap.snapshots.iter().all(|c| c.error.is_none() && c.snapshot_index.is_some()), "{snap:?}");
    let sending = r.sending.as_ref().expect("a snapshot run samples the sending");
    assert_eq!(sending.sites.len(), 3);
    assert!(sending.sites.iter().all(|s| s.handed_over > 0), "every site sent: {sending:?}");
    let sending_ended_s = sending.sites.iter().filter_map(|s| s.last_work_s).fold(0.0, f64::max);
    let last = snap.snapshots.last().unwrap();
    assert!(
        last.at_s < sending_ended_s,
        "the last snapshot began at {:.1} s, after the fan-out ended at {sending_ended_s:.1} s",
        last.at_s
    );
    assert!(r.passed, "snapshot-during-fanout: an invariant failed (report above)");
    assert_eq!(r.messages.lost, 0);
    assert_eq!(r.messages.required, 100_000);
}

/// Goal: a node whose data disk fills (the one sending most, then the leader) says so, gives
/// its leases and its leadership up, loses nothing it had accepted, and catches up by itself
/// once space is freed; the alerts it was sending are finished by the others, nobody who
/// acknowledged is called (issue 14). Method: the shipped `disk-full` scenario; each node's
/// data dir is a tmpfs the harness mounts and fills with one file (root is needed: CI runs as
/// root).
#[tokio::test(flavor = "multi_thread")]
async fn disk_full() {
    if not_root() {
        eprintln!("disk_full: SKIPPED, mounting a tmpfs per node needs root (CI runs the tests as root)");
        return;
    }
    let r = run("disk-full", 27).await;
    let fills: Vec<_> = r.faults.iter().filter(|f| f.kind == "disk_full").collect();
    assert_eq!(fills.len(), 2, "{:?}", r.faults);
    for f in fills {
        assert!(f.skipped.is_none(), "{f:?}");
        assert!(f.disk_full_ms.is_some(), "the node never said its disk was full: {f:?}");
        assert!(f.caught_up_ms.is_some(), "the node did not catch up once freed: {f:?}");
        assert!(f.next_write_ms.is_some(), "no write committed after the disk filled: {f:?}");
    }
    assert!(r.invariants.iter().any(|v| v.name.contains("converge") && v.ok), "{:?}", r.invariants);
}

/// Whether this process runs without root (mounting needs it).
fn not_root() -> bool {
    // `id -u` rather than libc: the workspace forbids unsafe code.
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map_or(true, |o| String::from_utf8_lossy(&o.stdout).trim() != "0")
}
