//! Throughput of the SMPP provider (what the delivery engine calls) against the real Python
//! SMSC (`smpp/tests/peer/smsc.py`, PyPI `smpp34`), next to the SMSC's own ceiling.
//!
//! For each window size: a fresh SMSC that sends a delivery receipt for every accepted
//! message; one provider with one bind; N messages sent as batches of 500, several batches at
//! once (as the engine's sender workers do). Prints messages/s (until every batch has its
//! results) and receipts/s (until every receipt has been matched to its message key and handed
//! to the engine's sink). Then the SMSC driven alone by smpp34's own Python client. Prints
//! figures; asserts nothing about speed.
//!
//! ```text
//! cargo run --release -p varsel-delivery --example smpp_provider_bench -- [N] [WINDOW...]
//! ```

#[path = "../../smpp/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use varsel_config::providers::SmppProviderConfig;
use varsel_delivery::message::{MessageContent, OutboundMessage};
use varsel_delivery::providers::smpp::SmppProvider;
use varsel_delivery::providers::{InboundSink, Provider, SendResult};
use varsel_domain::model::{Channel, Priority};

/// Messages per provider call, as the engine's default `batch_max`.
const BATCH: usize = 500;
/// Calls in flight at once, as the engine's sender workers make them.
const CALLS_IN_FLIGHT: usize = 4;
/// Receipt map size: larger than any run, so every receipt can be matched.
const RECEIPT_MAP_ENTRIES: usize = 1_000_000;
/// Bound on one run, so the benchmark always ends.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Counts matched receipts.
#[derive(Debug, Default)]
struct Counter {
    receipts: AtomicU64,
    delivered: AtomicU64,
}

impl InboundSink for Counter {
    fn receipt(&self, _key: &str, delivered: bool, _provider_id: &str, _error: Option<String>) {
        self.receipts.fetch_add(1, Ordering::Relaxed);
        self.delivered.fetch_add(u64::from(delivered), Ordering::Relaxed);
    }
    fn reply(&self, _reply: varsel_delivery::providers::ReplyIn) {}
}

#[tokio::main]
async fn main() {
    // RUST_LOG=info shows binds and throttling.
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let count = args.first().copied().unwrap_or(5_000);
    let windows = if args.len() > 1 { args[1..].to_vec() } else { vec![10, 50] };
    let py = common::peer_python();
    println!(
        "SMPP provider bench: {count} messages per run, 1 bind, receipts on, peer = smpp34 (Python) on loopback"
    );
    for window in windows {
        match tokio::time::timeout(RUN_TIMEOUT, run(&py, count, window)).await {
            Ok(line) => println!("{line}"),
            Err(_) => println!("window {window:>3}: did not finish within {RUN_TIMEOUT:?}"),
        }
    }
    peer_ceiling(&py, count);
}

fn config(addr: String, window: usize) -> SmppProviderConfig {
    SmppProviderConfig {
        addr,
        system_id: "bench".into(),
        password_file: None,
        password_env: None,
        system_type: String::new(),
        binds: 1,
        window,
        enquire_link_interval_ms: 30_000,
        source_addr: "Kommunen".into(),
        source_ton: None,
        source_npi: None,
        long_message: Default::default(),
        registered_delivery: true,
        receipt_id_format: Default::default(),
        gsm7_data_coding: 0,
        receipt_map_entries: RECEIPT_MAP_ENTRIES,
    }
}

fn message(i: usize) -> OutboundMessage {
    OutboundMessage {
        key: format!("a1-c{i}-sms-0"),
        alert: 1,
        tenant: 1,
        contact: i as u64,
        channel: Channel::Sms,
        step: 0,
        priority: Priority::Crisis,
        to: format!("+4741{:06}", i % 1_000_000),
        content: MessageContent::Sms { text: "Varsel benchmark message".into() },
        senders: Default::default(),
    }
}

/// One run: returns the result line.
async fn run(py: &Path, count: usize, window: usize) -> String {
    let peer = common::Peer::spawn(py, common::free_port(), Path::new("-"), &["--auto-receipt"]);
    let sink = Arc::new(Counter::default());
    let cfg = config(peer.addr(), window);
    let provider = SmppProvider::start(
        "bench".into(),
        &cfg,
        "bench".into(),
        BATCH,
        Duration::from_secs(30),
        sink.clone(),
    )
    .expect("provider");
    let provider = Arc::new(provider);
    while provider.health().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let messages: Vec<OutboundMessage> = (0..count).map(message).collect();
    let batches: Vec<Vec<OutboundMessage>> = messages.chunks(BATCH).map(<[_]>::to_vec).collect();
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CALLS_IN_FLIGHT));
    let calls: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let (provider, semaphore) = (provider.clone(), semaphore.clone());
            tokio::spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let results = provider.send(&batch).await.unwrap_or_default();
                results.iter().filter(|r| matches!(r, SendResult::Accepted(_))).count()
            })
        })
        .collect();
    let mut accepted = 0;
    for call in calls {
        accepted += call.await.unwrap_or(0);
    }
    let send_time = started.elapsed();
    while sink.receipts.load(Ordering::Relaxed) < accepted as u64 && started.elapsed() < RUN_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let receipt_time = started.elapsed();
    let receipts = sink.receipts.load(Ordering::Relaxed);
    drop(provider);
    drop(peer);
    format!(
        "window {window:>3}: {accepted}/{count} accepted, {:>6.0} messages/s; {receipts} receipts matched, {:>6.0} receipts/s",
        accepted as f64 / send_time.as_secs_f64(),
        receipts as f64 / receipt_time.as_secs_f64(),
    )
}

/// The Python SMSC driven by its own library's client, without receipts.
fn peer_ceiling(py: &Path, count: usize) {
    let peer = common::Peer::spawn(py, common::free_port(), Path::new("-"), &[]);
    let script = common::peer_dir().join("bench_client.py");
    for window in [10, 50] {
        let args = [
            "--port",
            &peer.port.to_string(),
            "--count",
            &count.to_string(),
            "--window",
            &window.to_string(),
        ];
        match Command::new(py).arg(&script).args(args).output() {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                let result = text.lines().find(|l| l.starts_with("RESULT")).unwrap_or("no result");
                println!(
                    "SMSC ceiling (smpp34's own Python client, no receipts), window {window:>3}: {result}"
                );
            }
            Err(e) => println!("SMSC ceiling: could not run {}: {e}", script.display()),
        }
    }
}
