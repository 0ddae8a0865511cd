//! The REST part of `varsel bench` (`--only rest`): what the JSON path costs against gRPC.
//!
//! 64 clients spread over every node, for `--seconds` each, in one run: alerts created over
//! gRPC and over REST (`POST /api/v1/alerts`); contacts upserted over gRPC and over REST
//! (`POST /api/v1/contacts`). Each pair runs in the order gRPC, REST, REST, gRPC and each path's
//! two runs are added up, so what the state's growth during the run costs (every alert created
//! makes the next a little dearer) falls on both paths alike. Both paths end in the same service code; the difference is
//! JSON and HTTP/1.1 (one request per connection at a time) against protobuf and HTTP/2. Alerts
//! are scheduled a day ahead so nothing is sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::future::BoxFuture;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use varsel_client::local_cluster::LocalCluster;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::contact_service_client::ContactServiceClient;
use varsel_proto::api::{
    ChannelContent, Contact, Content, CreateAlertRequest, ImportChunk, Priority, Targets,
    UpsertContactRequest,
};

use super::bench_domain::{bench_tenant, contacts_csv, with_token};

/// Concurrent clients, as the issue's figure asks.
const CLIENTS: usize = 64;

pub(crate) type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One request of a client: its index and sequence number.
type Call = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Runs the four measurements and prints them with the REST/gRPC ratios.
pub async fn run(cluster: &LocalCluster, seconds: u64) -> anyhow::Result<()> {
    let all = cluster.cluster()?;
    let token = bench_tenant(&all, &cluster.superadmin_token).await?;
    let csv = contacts_csv(10, "bench-all");
    let chunk = ImportChunk { data: csv.into_bytes(), filename: "bench.csv".into(), ..Default::default() };
    ContactServiceClient::new(all.channel(0).context("no node")?)
        .import_contacts(with_token(&token, futures::stream::iter(vec![chunk]))?)
        .await?;
    let https = https_client(cluster)?;
    let http: Vec<SocketAddr> = cluster.nodes.values().filter_map(|n| n.http()).collect();
    anyhow::ensure!(!http.is_empty(), "the nodes have no http_addr");
    let duration = Duration::from_secs(seconds);
    let run_id = varsel_config::secret::new_secret()[..8].to_string();
    println!(
        "\nREST vs gRPC, {CLIENTS} clients over every node, 2 x {seconds} s each in the order gRPC, REST, REST, gRPC (same service code behind both)"
    );
    println!("{:<28} {:>10} {:>10} {:>10} {:>8}", "operation", "per s", "p50 ms", "p99 ms", "errors");
    let mut rates = Vec::new();
    let pairs = [
        (
            ("alert create, gRPC", grpc_alert(&all, &token, &run_id)?),
            ("alert create, REST", rest_post(&https, &http, &token, "/api/v1/alerts", alert_json(&run_id))),
        ),
        (
            ("contact upsert, gRPC", grpc_contact(&all, &token, &run_id)?),
            (
                "contact upsert, REST",
                rest_post(&https, &http, &token, "/api/v1/contacts", contact_json(&run_id)),
            ),
        ),
    ];
    for (grpc, rest) in pairs {
        let mut figures = Vec::new();
        for (round, call) in [&grpc.1, &rest.1, &rest.1, &grpc.1].into_iter().enumerate() {
            figures.push(load(call.clone(), duration, round as u64).await?);
        }
        let [g1, r1, r2, g2] = <[_; 4]>::try_from(figures).map_err(|_| anyhow::anyhow!("four runs"))?;
        for (name, a, b) in [(grpc.0, g1, g2), (rest.0, r1, r2)] {
            let (ok, errors, elapsed) = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            let mut hist = a.3;
            hist.add(b.3)?;
            let rate = ok as f64 / elapsed.as_secs_f64();
            let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
            println!("{name:<28} {rate:>10.0} {:>10.2} {:>10.2} {errors:>8}", ms(0.5), ms(0.99));
            rates.push(rate);
        }
    }
    if let [ag, ar, cg, cr] = rates[..] {
        println!(
            "REST/gRPC: alert create {:.2}, contact upsert {:.2} (1.00 = the JSON path costs nothing)",
            ar / ag,
            cr / cg
        );
    }
    Ok(())
}

pub(crate) fn https_client(cluster: &LocalCluster) -> anyhow::Result<Https> {
    use rustls::pki_types::pem::PemObject as _;
    let ca = cluster.ca.as_ref().context("the bench cluster has no CA (plaintext?)")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca.pem().cert.as_bytes()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).pool_max_idle_per_host(CLIENTS).build(connector))
}

/// An alert a day ahead to the ten contacts of `bench-small`; `{key}` is filled per request.
fn alert_request(run_id: &str, key: String) -> CreateAlertRequest {
    let variant = ChannelContent { sms_text: "Benchmark: ikke send.".into(), ..Default::default() };
    CreateAlertRequest {
        idempotency_key: format!("{run_id}-{key}"),
        title: "bench".into(),
        priority: Priority::Routine as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: [("nb".to_string(), variant)].into(),
        }),
        targets: Some(Targets { group_names: vec!["bench-small".into()], ..Default::default() }),
        send_at_ms: varsel_domain::clock::wall_ms() + 86_400_000,
        ..Default::default()
    }
}

fn alert_json(run_id: &str) -> impl Fn(usize, u64) -> String + Send + Sync + 'static {
    let run_id = run_id.to_string();
    move |c, i| serde_json::to_string(&alert_request(&run_id, format!("rest-{c}-{i}"))).unwrap_or_default()
}

fn contact(run_id: &str, c: usize, i: u64) -> Contact {
    Contact {
        external_id: format!("{run_id}-{c}-{}", i % 1000),
        name: format!("Person {c} {i}"),
        phone: format!("+4741{:06}", (c as u64 * 1000 + i % 1000) % 1_000_000),
        ..Default::default()
    }
}

fn contact_json(run_id: &str) -> impl Fn(usize, u64) -> String + Send + Sync + 'static {
    let run_id = run_id.to_string();
    move |c, i| serde_json::to_string(&contact(&format!("{run_id}r"), c, i)).unwrap_or_default()
}

fn grpc_alert(all: &varsel_client::Cluster, token: &str, run_id: &str) -> anyhow::Result<Call> {
    let channels: Vec<_> = (0..all.addrs().len()).filter_map(|i| all.channel(i)).collect();
    let (token, run_id) = (token.to_string(), run_id.to_string());
    Ok(Arc::new(move |c, i| {
        let mut client = AlertServiceClient::new(channels[c % channels.len()].clone());
        let req = with_token(&token, alert_request(&run_id, format!("grpc-{c}-{i}")));
        Box::pin(async move {
            client.create_alert(req.map_err(|e| e.to_string())?).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }))
}

fn grpc_contact(all: &varsel_client::Cluster, token: &str, run_id: &str) -> anyhow::Result<Call> {
    let channels: Vec<_> = (0..all.addrs().len()).filter_map(|i| all.channel(i)).collect();
    let (token, run_id) = (token.to_string(), format!("{run_id}g"));
    Ok(Arc::new(move |c, i| {
        let mut client = ContactServiceClient::new(channels[c % channels.len()].clone());
        let req = with_token(
            &token,
            UpsertContactRequest { contact: Some(contact(&run_id, c, i)), ..Default::default() },
        );
        Box::pin(async move {
            client
                .upsert_contact(req.map_err(|e| e.to_string())?)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }))
}

fn rest_post(
    https: &Https,
    http: &[SocketAddr],
    token: &str,
    path: &'static str,
    body: impl Fn(usize, u64) -> String + Send + Sync + 'static,
) -> Call {
    let (https, http, bearer) = (https.clone(), http.to_vec(), format!("Bearer {token}"));
    Arc::new(move |c, i| {
        let addr = http[c % http.len()];
        let req = hyper::Request::post(format!("https://{addr}{path}"))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body(c, i))));
        let https = https.clone();
        Box::pin(async move {
            let resp = https.request(req.map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let text = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("{status}: {}", String::from_utf8_lossy(&text)))
            }
        })
    })
}

/// [`CLIENTS`] tasks calling `call` back to back for `duration`: (successes, errors, elapsed,
/// latency histogram in microseconds). The first error is printed. Sequence numbers start at
/// `round` billion, so a second run of the same call makes new idempotency keys.
async fn load(
    call: Call,
    duration: Duration,
    round: u64,
) -> anyhow::Result<(u64, u64, Duration, Histogram<u64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (stop, errors, call) = (stop.clone(), errors.clone(), call.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut ok = 0u64;
            let mut i = round * 1_000_000_000;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match call(c, i).await {
                    Ok(()) => {
                        ok += 1;
                        hist.record(t.elapsed().as_micros() as u64)?;
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            println!("  first error: {e}");
                        }
                    }
                }
                i += 1;
            }
            anyhow::Ok((ok, hist))
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Histogram::<u64>::new(3)?;
    let mut ok = 0;
    for t in tasks {
        let (n, h) = t.await??;
        ok += n;
        total.add(h)?;
    }
    Ok((ok, errors.load(Ordering::Relaxed), started.elapsed(), total))
}
