//! Throughput of the SMPP client against the real Python SMSC (`tests/peer/smsc.py`).
//!
//! For each window size, twice (without, then with a delivery receipt for every
//! accepted message), starts a fresh peer that records nothing, submits N
//! messages through one bind, and prints submits/s (until every
//! `submit_sm_resp` is in) and receipts/s (until every receipt is in). Then measures the peer's own ceiling with smpp34's Python client.
//! Prints figures; asserts nothing about speed.
//!
//! ```text
//! cargo run --release -p varsel-smpp --example smpp_bench -- [N] [WINDOW...]
//! ```
//!
//! Installs the peer's Python environment on first use (`tests/peer/requirements.txt`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use varsel_smpp::{BindConfig, ClientConfig, InboundEvent, SmppClient, SubmitSm};

/// Bound on one whole run, so the benchmark always ends.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let count = args.first().copied().unwrap_or(5_000);
    let windows = if args.len() > 1 { args[1..].to_vec() } else { vec![10, 50] };
    let py = common::peer_python();
    println!("varsel-smpp bench: {count} messages per run, 1 bind, peer = smpp34 (Python) on loopback");
    for window in windows {
        for receipts in [false, true] {
            match tokio::time::timeout(RUN_TIMEOUT, run(&py, count, window, receipts)).await {
                Ok(line) => println!("{line}"),
                Err(_) => println!("window {window:>3}: did not finish within {RUN_TIMEOUT:?}"),
            }
        }
    }
    peer_ceiling(&py, count);
}

/// One run: returns the result line.
async fn run(py: &Path, count: usize, window: usize, receipts: bool) -> String {
    let extra: &[&str] = if receipts { &["--auto-receipt"] } else { &[] };
    let peer = common::Peer::spawn(py, common::free_port(), Path::new("-"), extra);
    let mut bind = BindConfig::new("bench", "bench");
    bind.window = window;
    let mut config = ClientConfig::new(peer.addr(), bind);
    config.inbound_queue = count.max(1);
    let (client, mut inbound) = SmppClient::start(config).expect("config");
    assert!(client.wait_bound(1, common::STEP_TIMEOUT).await, "bound");
    let sm = SubmitSm {
        source_addr: "VARSEL".into(),
        destination_addr: "4790000001".into(),
        registered_delivery: 1,
        short_message: b"Varsel benchmark message".to_vec(),
        ..SubmitSm::default()
    };
    let started = Instant::now();
    let wanted = if receipts { count } else { 0 };
    let receipts_done = tokio::spawn(async move {
        let mut n = 0;
        while n < wanted {
            match inbound.recv().await.map(|d| d.into_event()) {
                Some(InboundEvent::Receipt(_)) => n += 1,
                Some(_) => {}
                None => break,
            }
        }
        started.elapsed()
    });
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (client, sm) = (client.clone(), sm.clone());
            tokio::spawn(async move { client.submit(&sm).await.is_ok() })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += usize::from(task.await.unwrap_or(false));
    }
    let submit_time = started.elapsed();
    let receipt_time = receipts_done.await.unwrap_or_default();
    client.shutdown().await;
    drop(peer);
    let receipt_rate = match receipts {
        true => format!("{:>6.0} receipts/s", count as f64 / receipt_time.as_secs_f64()),
        false => "(no receipts)".to_string(),
    };
    format!(
        "window {window:>3}: {accepted}/{count} accepted, {:>6.0} submits/s, {receipt_rate}",
        count as f64 / submit_time.as_secs_f64(),
    )
}

/// The Python SMSC driven by its own library's client, without receipts.
fn peer_ceiling(py: &Path, count: usize) {
    let peer = common::Peer::spawn(py, common::free_port(), Path::new("-"), &[]);
    let script = common::peer_dir().join("bench_client.py");
    for window in [10, 50] {
        let output = Command::new(py)
            .arg(&script)
            .args([
                "--port",
                &peer.port.to_string(),
                "--count",
                &count.to_string(),
                "--window",
                &window.to_string(),
            ])
            .output();
        match output {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                let result = text.lines().find(|l| l.starts_with("RESULT")).unwrap_or("no result");
                println!("peer ceiling (smpp34 Python client), window {window:>3}: {result}");
            }
            Err(e) => println!("peer ceiling: could not run {}: {e}", script.display()),
        }
    }
}
