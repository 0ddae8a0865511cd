//! The fan-out part of `varsel bench`: one alert to N simulated recipients.
//!
//! Prints the time from the alert being accepted to the last message handed to a provider (the
//! project's target: 5,000,000 in under 60 s on three sites), messages per second, each node's
//! resident memory (now and peak), and bytes on disk per delivery. The providers are the
//! simulator, in this process. Nothing is asserted.

use std::time::{Duration, Instant};

use anyhow::Context;
use tonic::transport::Channel;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::contact_service_client::ContactServiceClient;
use varsel_proto::api::{
    ChannelContent, Content, CreateAlertRequest, EscalationStep, GetAlertRequest, ImportChunk, Priority,
    Targets,
};

use super::bench_domain::with_token;
use varsel_client::local_cluster::LocalCluster;

/// How often progress is polled.
const POLL: Duration = Duration::from_millis(250);
/// Times a slice of the import is sent before the benchmark gives up. A commit that outlasts
/// the write timeout (a busy machine, a snapshot being built) fails the slice; its rows upsert
/// by external id, so sending it again doubles nothing.
const IMPORT_ATTEMPTS: u32 = 10;
/// Longest the benchmark waits for the alert.
const ALERT_DEADLINE: Duration = Duration::from_secs(1800);

fn authed<T>(token: &str, m: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

/// Imports `n` contacts in slices of 200,000 rows, so no upload is huge: row `i` is phone
/// `+479{i:07}` in group `fanout`.
pub(crate) async fn import(ch: Channel, token: &str, n: usize) -> anyhow::Result<Duration> {
    import_rows(ch, token, n, "external_id,phone,groups", |i, csv| {
        csv.push_str(&format!("f{i},+479{i:07},fanout\n"));
    })
    .await
}

/// Imports `n` contacts in slices of 200,000 rows under the CSV `header`; `row(i, csv)` appends
/// row `i` (with its newline).
pub(crate) async fn import_rows(
    ch: Channel,
    token: &str,
    n: usize,
    header: &str,
    row: impl Fn(usize, &mut String),
) -> anyhow::Result<Duration> {
    const SLICE: usize = 200_000;
    let started = Instant::now();
    let mut c = ContactServiceClient::new(ch).max_decoding_message_size(64 << 20);
    for from in (0..n).step_by(SLICE) {
        let slice_started = Instant::now();
        let mut csv = String::with_capacity(SLICE * 40);
        csv.push_str(header);
        csv.push('\n');
        for i in from..(from + SLICE).min(n) {
            row(i, &mut csv);
        }
        let chunks: Vec<ImportChunk> = csv
            .into_bytes()
            .chunks(1 << 20)
            .map(|d| ImportChunk { data: d.to_vec(), filename: String::new(), ..Default::default() })
            .collect();
        // Rows upsert by external id: a slice cut by a slow commit is simply sent again.
        let mut attempt = 1;
        let r = loop {
            match c.import_contacts(authed(token, futures::stream::iter(chunks.clone()))?).await {
                Ok(r) => break r.into_inner(),
                Err(e) if attempt < IMPORT_ATTEMPTS && e.code() == tonic::Code::Unavailable => {
                    println!(
                        "  import of rows {from}.. attempt {attempt} failed ({}); sending them again",
                        e.message()
                    );
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        anyhow::ensure!(r.rejected.is_empty(), "import rejected rows: {:?}", r.rejected.first());
        let (to, took) = ((from + SLICE).min(n), slice_started.elapsed().as_secs_f64());
        if n > SLICE {
            println!("  rows {from}..{to}: {took:.1} s ({:.0} contacts/s)", (to - from) as f64 / took);
        }
    }
    Ok(started.elapsed())
}

pub(crate) fn alert(key: &str) -> CreateAlertRequest {
    let v = ChannelContent { sms_text: "Nasjonalt varsel: test.".into(), ..Default::default() };
    CreateAlertRequest {
        idempotency_key: key.into(),
        title: "fan-out benchmark".into(),
        priority: Priority::Crisis as i32,
        content: Some(Content { default_language: "nb".into(), variants: [("nb".to_string(), v)].into() }),
        targets: Some(Targets { group_names: vec!["fanout".into()], ..Default::default() }),
        policy: vec![EscalationStep {
            channels: vec![varsel_proto::api::Channel::Sms as i32],
            after_seconds: 0,
        }],
        ..Default::default()
    }
}

/// Resident and peak memory of a process, in MiB, from /proc.
pub(crate) fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

async fn storage_bytes(cluster: &LocalCluster) -> u64 {
    let mut total = 0;
    for id in cluster.nodes.keys() {
        total += cluster.status(*id, Duration::from_secs(5)).await.map_or(0, |s| s.storage_bytes);
    }
    total
}

/// Runs the fan-out measurement for `n` recipients and prints it; returns messages/s from the
/// alert's acceptance to the last message handed to a provider.
pub async fn run(cluster: &LocalCluster, n: usize) -> anyhow::Result<Fanout> {
    let all = cluster.cluster()?.with_deadline(Duration::from_secs(120));
    let ch = all.channel(0).context("no node")?;
    let token = super::bench_domain::bench_tenant(&all, &cluster.superadmin_token).await?;
    println!("\nfan-out: importing {n} recipients…");
    let took = import(ch.clone(), &token, n).await?;
    println!("  imported in {:.1} s ({:.0} contacts/s)", took.as_secs_f64(), n as f64 / took.as_secs_f64());
    let rate = send(cluster, &token, n, "fanout").await?;
    Ok(Fanout { rate, n, token })
}

/// A fan-out that ran: its rate, and what another alert to the same recipients needs.
#[derive(Debug, Clone)]
pub struct Fanout {
    /// Messages per second, accepted to last handed over.
    pub rate: f64,
    /// Recipients.
    pub n: usize,
    token: String,
}

impl Fanout {
    /// Sends another alert (idempotency key `key`) to the same recipients; returns its rate.
    pub async fn again(&self, cluster: &LocalCluster, key: &str) -> anyhow::Result<f64> {
        send(cluster, &self.token, self.n, key).await
    }
}

/// Sends an alert (idempotency key `key`) to the `n` imported recipients, waits until every
/// message is handed over, prints the figures and returns messages per second.
async fn send(cluster: &LocalCluster, token: &str, n: usize, key: &str) -> anyhow::Result<f64> {
    Ok(send_alert(cluster, token, n, alert(key)).await?.rate)
}

/// An alert of the benchmark that ran to its end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// The `CreateAlert` call, as the client saw it (the alert's entry committed and applied).
    pub accept: Duration,
    /// From the alert's acceptance to the last message handed to a provider, by the nodes'
    /// clocks.
    pub to_last: Duration,
    /// Messages per second over `to_last`.
    pub rate: f64,
    /// Recipients the alert planned when accepted.
    pub planned: u64,
}

/// Creates the alert `req` for `n` recipients among the imported contacts, waits until every
/// message is handed over, and prints the figures.
pub(crate) async fn send_alert(
    cluster: &LocalCluster,
    token: &str,
    n: usize,
    req: CreateAlertRequest,
) -> anyhow::Result<Sent> {
    let all = cluster.cluster()?.with_deadline(Duration::from_secs(300));
    let token = token.to_string();
    let disk_before = storage_bytes(cluster).await;
    let asked = Instant::now();
    let created = all
        .call(|c| {
            let (t, req) = (token.clone(), req.clone());
            async move { AlertServiceClient::new(c).create_alert(with_token(&t, req)?).await }
        })
        .await?
        .value
        .into_inner();
    let accept = asked.elapsed();
    let a = created.alert.context("no alert")?;
    let planned = a.recipients_planned;
    println!(
        "  accepted in {:.3} s (CreateAlert, as the client saw it), {planned} recipients planned",
        accept.as_secs_f64()
    );
    let started = Instant::now();
    let mut peak_rss = vec![0.0f64; cluster.nodes.len()];
    let done = loop {
        let got = all
            .call(|c| {
                let (t, req) = (token.clone(), GetAlertRequest { id: a.id, consistency: 0 });
                async move { AlertServiceClient::new(c).get_alert(with_token(&t, req)?).await }
            })
            .await?;
        let alert = got.value.into_inner().alert.context("no alert")?;
        for (i, node) in cluster.nodes.values().enumerate() {
            peak_rss[i] = peak_rss[i].max(node.pid().map_or(0.0, |p| rss_mib(p).0));
        }
        let p = alert.progress.clone().unwrap_or_default();
        let handled: u64 = p.channels.iter().map(|c| c.sent + c.failed).sum();
        if handled >= n as u64 || alert.status != varsel_proto::api::AlertStatus::Active as i32 {
            break alert;
        }
        anyhow::ensure!(started.elapsed() < ALERT_DEADLINE, "alert not done after {ALERT_DEADLINE:?}: {p:?}");
        tokio::time::sleep(POLL).await;
    };
    let (rate, to_last) = report(cluster, n, &done, started.elapsed(), disk_before, &peak_rss).await;
    Ok(Sent { accept, to_last, rate, planned })
}

async fn report(
    cluster: &LocalCluster,
    n: usize,
    a: &varsel_proto::api::Alert,
    wall: Duration,
    disk_before: u64,
    peak: &[f64],
) -> (f64, Duration) {
    let p = a.progress.clone().unwrap_or_default();
    let server_ms = p.last_sent_at_ms.saturating_sub(a.created_at_ms);
    let rate = n as f64 / (server_ms.max(1) as f64 / 1000.0);
    let sent: u64 = p.channels.iter().map(|c| c.sent).sum();
    let failed: u64 = p.channels.iter().map(|c| c.failed).sum();
    println!(
        "  accepted -> last message handed to a provider: {:.2} s ({:.0} messages/s); seen by the client after {:.1} s",
        server_ms as f64 / 1000.0,
        rate,
        wall.as_secs_f64()
    );
    println!("  sent {sent}, failed {failed}, shards {}", p.shards);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let disk_after = storage_bytes(cluster).await;
    let per = disk_after.saturating_sub(disk_before) as f64 / cluster.nodes.len() as f64 / n as f64;
    println!("  disk: {per:.0} bytes per delivery per node (sled and the Raft log, before log compaction)");
    for ((id, node), peak) in cluster.nodes.iter().zip(peak) {
        let (rss, hwm) = node.pid().map_or((0.0, 0.0), rss_mib);
        println!(
            "  node {id}: RSS {rss:.0} MiB now, {:.0} MiB peak during the alert (process peak {hwm:.0} MiB)",
            peak
        );
    }
    (rate, Duration::from_millis(server_ms))
}
