//! The domain part of `varsel bench`: bulk contact import and alert creation.
//!
//! - **import**: a CSV of N contacts (100,000 by default) streamed to one node, which parses
//!   it and commits it in bounded batches; contacts per second from the first byte sent to the
//!   report.
//! - **alerts**: 64 clients creating alerts (each with its own idempotency key) through every
//!   node for a fixed time; alerts per second and latency. The alerts are scheduled a day ahead
//!   so nothing is sent while the benchmark runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::contact_service_client::ContactServiceClient;
use varsel_proto::api::tenant_service_client::TenantServiceClient;
use varsel_proto::api::{
    ChannelContent, Content, CreateAlertRequest, CreateCredentialRequest, CreateTenantRequest, ImportChunk,
    Limits, Priority, Role, Targets,
};

use varsel_client::Cluster;
use varsel_client::local_cluster::LocalCluster;

/// Size of the chunks the CSV is streamed in.
const CHUNK_BYTES: usize = 256 * 1024;

fn authed<T>(token: &str, m: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

/// Creates a tenant with limits high enough for the benchmark; returns an operator token.
/// Retries on another node like a client does: a loaded machine can delay a commit.
pub async fn bench_tenant(all: &Cluster, superadmin: &str) -> anyhow::Result<String> {
    let limits = Limits {
        max_recipients_per_alert: 10_000_000,
        max_alerts_per_minute: 1_000_000,
        max_messages_per_alert: 40_000_000,
        max_contacts: 10_000_000,
        // The standard customer's 2,000 messages/s would be the fan-out figure, not the
        // cluster's.
        max_send_rate_per_second: 1_000_000,
        ..Default::default()
    };
    let name = format!("bench-{}", &varsel_config::secret::new_secret()[..8]);
    let req = CreateTenantRequest {
        name,
        limits: Some(limits),
        idempotency_key: crate::parse::new_idempotency_key(),
    };
    let t = all
        .call(|ch| {
            let req = req.clone();
            async move { TenantServiceClient::new(ch).create_tenant(with_token(superadmin, req)?).await }
        })
        .await?
        .value
        .into_inner()
        .tenant
        .context("no tenant")?;
    // Not keyed: a spare credential after a lost answer is harmless here (see `demo`).
    let req = CreateCredentialRequest {
        tenant_id: t.id,
        name: "bench".into(),
        role: Role::Operator as i32,
        idempotency_key: String::new(),
    };
    let cred = all
        .call(|ch| {
            let req = req.clone();
            async move { TenantServiceClient::new(ch).create_credential(with_token(superadmin, req)?).await }
        })
        .await?;
    Ok(cred.value.into_inner().token)
}

/// A request with the bearer token, as a gRPC status error when the token cannot be a header.
pub fn with_token<T>(token: &str, m: T) -> Result<tonic::Request<T>, tonic::Status> {
    authed(token, m).map_err(|e| tonic::Status::invalid_argument(e.to_string()))
}

/// A contacts CSV with `n` rows; the first ten are also in group `bench-small`.
pub fn contacts_csv(n: usize, group: &str) -> String {
    let mut csv = String::with_capacity(n * 90);
    csv.push_str("external_id,name,phone,email,language,groups\n");
    for i in 0..n {
        let extra = if i < 10 { ";bench-small" } else { "" };
        csv.push_str(&format!("b{i},Person {i},+4740{i:06},p{i}@example.no,nb,{group}{extra}\n"));
    }
    csv
}

/// Runs both measurements and prints them. `plain_writes_per_s` is the key-value figure with
/// 64 clients, printed alongside for comparison.
pub async fn run(
    cluster: &LocalCluster,
    contacts: usize,
    seconds: u64,
    plain_writes_per_s: Option<f64>,
) -> anyhow::Result<()> {
    let all = cluster.cluster()?;
    let first = all.channel(0).context("no node")?;
    let token = bench_tenant(&all, &cluster.superadmin_token).await?;

    let csv = contacts_csv(contacts, "bench-all");
    let chunks: Vec<ImportChunk> = csv
        .as_bytes()
        .chunks(CHUNK_BYTES)
        .map(|d| ImportChunk { data: d.to_vec(), filename: "bench.csv".into(), ..Default::default() })
        .collect();
    let started = Instant::now();
    // Rows are upserted by external id, so a stream cut by a slow commit is simply sent again,
    // as an operator would; the retries are printed.
    let mut attempt = 0;
    let report = loop {
        attempt += 1;
        let result = ContactServiceClient::new(first.clone())
            .max_decoding_message_size(64 << 20)
            .import_contacts(authed(&token, futures::stream::iter(chunks.clone()))?)
            .await;
        match result {
            Ok(r) => break r.into_inner(),
            Err(e) if attempt < 3 && e.code() == tonic::Code::Unavailable => {
                println!(
                    "  contact import attempt {attempt} failed ({}); sending the file again",
                    e.message()
                );
            }
            Err(e) => return Err(e.into()),
        }
    };
    let took = started.elapsed();
    println!(
        "contact import: {} contacts ({:.1} MiB CSV) through one node in {:.2} s = {:.0} contacts/s ({} raft entries, {} rejected)",
        report.created + report.updated,
        csv.len() as f64 / (1 << 20) as f64,
        took.as_secs_f64(),
        (report.created + report.updated) as f64 / took.as_secs_f64(),
        report.raft_entries,
        report.rejected.len()
    );

    let (n, errors, elapsed, hist) = create_alerts(&all, &token, 64, Duration::from_secs(seconds)).await?;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "alert creation: 64 clients over every node: {rate:.0} alerts/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
        ms(0.5),
        ms(0.99)
    );
    if let Some(plain) = plain_writes_per_s {
        println!(
            "  (plain key-value writes with 64 clients: {plain:.0} writes/s; an alert is one write plus checks)"
        );
    }
    Ok(())
}

async fn create_alerts(
    all: &Cluster,
    token: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<(u64, u64, Duration, Histogram<u64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let day_ahead = varsel_domain::clock::wall_ms() + 86_400_000;
    let variant = ChannelContent { sms_text: "Benchmark: ikke send.".into(), ..Default::default() };
    let template = CreateAlertRequest {
        title: "bench".into(),
        priority: Priority::Routine as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: [("nb".to_string(), variant)].into(),
        }),
        targets: Some(Targets { group_names: vec!["bench-small".into()], ..Default::default() }),
        send_at_ms: day_ahead,
        ..Default::default()
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = AlertServiceClient::new(all.channel(c % all.addrs().len()).context("no channel")?);
        let (stop, token, template) = (stop.clone(), token.to_string(), template.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let (mut ok, mut errors) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let req = CreateAlertRequest {
                    idempotency_key: format!("bench-{c}-{ok}-{errors}"),
                    ..template.clone()
                };
                let t = Instant::now();
                match client.create_alert(authed(&token, req)?).await {
                    Ok(_) => {
                        hist.record(t.elapsed().as_micros() as u64)?;
                        ok += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            Ok::<_, anyhow::Error>((ok, errors, hist))
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Histogram::<u64>::new(3)?;
    let (mut n, mut errors) = (0, 0);
    for t in tasks {
        let (ok, e, h) = t.await??;
        n += ok;
        errors += e;
        total.add(h)?;
    }
    Ok((n, errors, started.elapsed(), total))
}
