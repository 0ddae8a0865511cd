//! Goal: an entry the log store acknowledged survives `kill -9` of the writer, and the store
//! opens cleanly afterwards, whatever instant the kill lands on.
//!
//! Method: this file is its own harness (`harness = false`). Run normally, it is the parent: it
//! starts itself again as a writer child (`VARSEL_CRASH_WRITER_DIR` set) that appends entries
//! of random size through openraft's `append` with the flush callback, saves votes and purges,
//! and prints a line for each operation after it was acknowledged. The parent kills the child
//! with SIGKILL after a random number of acknowledgements, reopens the store, and checks every
//! acknowledged entry, vote and purge is there. Several iterations run on the same store, so
//! recovery from a crash is itself crashed into. The seed is printed; `VARSEL_CRASH_SEED=<n>`
//! replays a run.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, EntryPayload, LogId, RaftLogReader, Vote};
use rand::{Rng, SeedableRng, rngs::StdRng};
use varsel_raft_store::{Command as AppCommand, Entry, KvCommand, Request};

const ITERATIONS: usize = 8;
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

fn value_for(index: u64, len: usize) -> String {
    // Deterministic content, so the parent can check every byte without being told it.
    let unit = format!("{index:016x}");
    unit.repeat(len / 16 + 1)[..len].to_string()
}

fn entry(index: u64, len: usize) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(AppCommand {
            issued_at_ms: index,
            lease_at_ms: index,
            request: Request::Kv(KvCommand::Put { key: format!("k{index}"), value: value_for(index, len) }),
        }),
    }
}

fn len_for(index: u64, seed: u64) -> usize {
    // Sizes from a few bytes to 64 KiB, reproducible from the index and the seed alone.
    let mut r = StdRng::seed_from_u64(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    if r.random_bool(0.1) { r.random_range(16_000..65_536) } else { r.random_range(1..512) }
}

/// The child: append, vote and purge forever, printing each acknowledged operation.
async fn writer(dir: &Path, seed: u64) -> anyhow::Result<()> {
    let store = varsel_raft_store::open_sled(dir, &Default::default()).await?;
    let mut log = store.log;
    let state = log.get_log_state().await?;
    let mut next = state.last_log_id.map_or(1, |l| l.index + 1);
    let mut term = log.read_vote().await?.map_or(1, |v| v.leader_id.term);
    let mut rng = StdRng::seed_from_u64(seed ^ next);
    loop {
        let batch = rng.random_range(1..8u64);
        let entries: Vec<Entry> = (next..next + batch).map(|i| entry(i, len_for(i, seed))).collect();
        log.blocking_append(entries).await?;
        next += batch;
        println!("ACK {}", next - 1);
        if rng.random_bool(0.05) {
            term += 1;
            log.save_vote(&Vote::new(term, 1)).await?;
            println!("VOTE {term}");
        }
        if rng.random_bool(0.02) && next > 20 {
            let upto = next - 10;
            log.purge(LogId::new(CommittedLeaderId::new(1, 1), upto)).await?;
            println!("PURGED {upto}");
        }
    }
}

#[derive(Default, Debug)]
struct Acked {
    last_index: u64,
    vote_term: u64,
    purged: u64,
}

/// How the parent kills one child: after this many acknowledgements, plus a short delay so
/// the kill also lands in the middle of appends and flushes, not only between them.
struct KillPlan {
    after_acks: usize,
    delay: Duration,
}

fn run_child(exe: &Path, dir: &Path, seed: u64, plan: &KillPlan, acked: &mut Acked) -> anyhow::Result<()> {
    let mut child = Command::new(exe)
        .env("VARSEL_CRASH_WRITER_DIR", dir)
        .env("VARSEL_CRASH_SEED", seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no child stdout"))?;
    let started = Instant::now();
    let mut acks = 0;
    // The reader stays alive until after the kill: closing the pipe first would end the child
    // with a write error instead of SIGKILL.
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let (Some(kind), Some(n)) = (parts.next(), parts.next().and_then(|n| n.parse::<u64>().ok())) else {
            continue;
        };
        match kind {
            "ACK" => {
                acked.last_index = n;
                acks += 1;
            }
            "VOTE" => acked.vote_term = n,
            "PURGED" => acked.purged = n,
            _ => {}
        }
        if acks >= plan.after_acks || started.elapsed() > CHILD_DEADLINE {
            break;
        }
    }
    std::thread::sleep(plan.delay);
    child.kill()?; // SIGKILL on Unix: no destructor, no flush.
    let status = child.wait()?;
    drop(lines);
    anyhow::ensure!(status.signal() == Some(libc_sigkill()), "writer ended with {status}, not by SIGKILL");
    Ok(())
}

async fn check(dir: &Path, seed: u64, acked: &Acked) -> anyhow::Result<u64> {
    let store = varsel_raft_store::open_sled(dir, &Default::default()).await?;
    let mut log = store.log;
    let state = log.get_log_state().await?;
    let last = state.last_log_id.map_or(0, |l| l.index);
    anyhow::ensure!(
        last >= acked.last_index,
        "acknowledged up to {} but log ends at {last}",
        acked.last_index
    );
    let vote = log.read_vote().await?.map_or(0, |v| v.leader_id.term);
    anyhow::ensure!(vote >= acked.vote_term, "vote term {vote} < acknowledged {}", acked.vote_term);
    let purged = state.last_purged_log_id.map_or(0, |l| l.index);
    anyhow::ensure!(purged >= acked.purged, "purged {purged} < acknowledged {}", acked.purged);
    let entries = log.try_get_log_entries(purged + 1..=acked.last_index).await?;
    anyhow::ensure!(entries.len() as u64 == acked.last_index.saturating_sub(purged), "entries missing");
    for e in entries {
        let i = e.log_id.index;
        let EntryPayload::Normal(cmd) = e.payload else { anyhow::bail!("entry {i} lost its payload") };
        let Request::Kv(KvCommand::Put { value, .. }) = cmd.request else {
            anyhow::bail!("entry {i} changed")
        };
        anyhow::ensure!(value == value_for(i, len_for(i, seed)), "entry {i} content differs");
    }
    Ok(last)
}

const fn libc_sigkill() -> i32 {
    9
}

fn parent() -> anyhow::Result<()> {
    let seed =
        std::env::var("VARSEL_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("t02_crash_kill9: seed {seed} (replay with VARSEL_CRASH_SEED={seed})");
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Runtime::new()?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut acked = Acked::default();
    for i in 0..ITERATIONS {
        let plan = KillPlan {
            after_acks: rng.random_range(1..300),
            delay: Duration::from_micros(rng.random_range(0..5_000)),
        };
        run_child(&exe, dir.path(), seed, &plan, &mut acked)?;
        let last = rt.block_on(check(dir.path(), seed, &acked))?;
        eprintln!(
            "iteration {i}: killed {:?} after {} acks; acknowledged {acked:?}; log ends at {last}",
            plan.delay, plan.after_acks
        );
    }
    eprintln!("t02_crash_kill9: ok ({ITERATIONS} kills)");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if let Ok(dir) = std::env::var("VARSEL_CRASH_WRITER_DIR") {
        let seed: u64 = std::env::var("VARSEL_CRASH_SEED")?.parse()?;
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(writer(Path::new(&dir), seed));
    }
    // libtest-style arguments (e.g. a name filter from `cargo test <filter>`) are accepted and
    // ignored, except `--list`, so test runners can enumerate this file.
    if std::env::args().any(|a| a == "--list") {
        println!("crash_kill9: test");
        return Ok(());
    }
    parent()
}
