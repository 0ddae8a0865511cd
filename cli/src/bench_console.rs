//! The console part of `varsel bench` (`--only console`): what an operator's browser meets
//! while a big alert is being sent.
//!
//! `--fanout` contacts are imported, a console session is opened (the log-in form, as a browser
//! posts it), and an alert to all of them is created. While it is sent, one client loads the
//! console's alert page back to back (`GET /console/alerts/{id}`: the session check, `GetAlert`,
//! `ListReplies` and the HTML, over TLS on loopback) and one follows the page's event stream
//! (`/console/alerts/{id}/events`), counting the updates it gets. Printed: the page's load time
//! (p50, p99, max) and the stream's updates per second. Nothing is asserted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use varsel_client::local_cluster::LocalCluster;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::{AlertStatus, GetAlertRequest};

use super::bench_domain::with_token;
use super::bench_rest::{Https, https_client};

/// Longest the benchmark waits for the alert.
const DEADLINE: Duration = Duration::from_secs(1800);

/// Opens a console session with `token` on `addr`; the session cookie (`name=value`).
async fn log_in(https: &Https, addr: SocketAddr, token: &str) -> anyhow::Result<String> {
    let body = format!("token={}", token.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D"));
    let req = hyper::Request::post(format!("https://{addr}/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        // What a browser sends for a form on the page itself.
        .header("sec-fetch-site", "same-origin")
        .body(Full::new(Bytes::from(body)))?;
    let resp = https.request(req).await?;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("varsel_session"))
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    cookie.with_context(|| format!("the console log-in answered {} without a session", resp.status()))
}

async fn get(
    https: &Https,
    url: &str,
    cookie: &str,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
    let req = hyper::Request::get(url).header("cookie", cookie).body(Full::new(Bytes::new()))?;
    Ok(https.request(req).await?)
}

/// Runs the console measurement over `n` recipients and prints it.
pub async fn run(cluster: &LocalCluster, n: usize) -> anyhow::Result<()> {
    let all = cluster.cluster()?.with_deadline(Duration::from_secs(120));
    let token = super::bench_domain::bench_tenant(&all, &cluster.superadmin_token).await?;
    println!("\nconsole: importing {n} recipients…");
    let took = super::bench_fanout::import(all.channel(0).context("no node")?, &token, n).await?;
    println!("  imported in {:.1} s", took.as_secs_f64());
    let https = https_client(cluster)?;
    let addr = cluster.nodes.values().find_map(|node| node.http()).context("no node has an http_addr")?;
    let cookie = log_in(&https, addr, &token).await?;

    let req = super::bench_fanout::alert("console");
    let created = all
        .call(|c| {
            let (t, req) = (token.clone(), req.clone());
            async move { AlertServiceClient::new(c).create_alert(with_token(&t, req)?).await }
        })
        .await?
        .value
        .into_inner();
    let id = created.alert.context("no alert")?.id;
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let updates = Arc::new(AtomicU64::new(0));

    // The page's event stream, read as a browser would, until the alert is done.
    let stream = {
        let (https, cookie, done, updates) = (https.clone(), cookie.clone(), done.clone(), updates.clone());
        let url = format!("https://{addr}/console/alerts/{id}/events");
        tokio::spawn(async move {
            let mut body = get(&https, &url, &cookie).await?.into_body();
            while !done.load(Ordering::Relaxed) {
                let Ok(frame) = tokio::time::timeout(Duration::from_secs(1), body.frame()).await else {
                    continue;
                };
                let Some(frame) = frame else { break };
                if let Ok(data) = frame?.into_data() {
                    let n = data.windows(12).filter(|w| *w == b"event: alert").count();
                    updates.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        })
    };
    // Whether it is done, from the API.
    let watcher = {
        let all = cluster.cluster()?.with_deadline(Duration::from_secs(120));
        let (token, done) = (token.clone(), done.clone());
        tokio::spawn(async move {
            while started.elapsed() < DEADLINE {
                let r = all
                    .call(|c| {
                        let t = token.clone();
                        async move {
                            AlertServiceClient::new(c)
                                .get_alert(with_token(&t, GetAlertRequest { id, consistency: 0 })?)
                                .await
                        }
                    })
                    .await;
                if let Ok(r) = r
                    && r.value.into_inner().alert.is_some_and(|a| a.status != AlertStatus::Active as i32)
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            done.store(true, Ordering::Relaxed);
        })
    };

    let mut hist = Histogram::<u64>::new(3)?;
    let mut bytes = 0;
    let page = format!("https://{addr}/console/alerts/{id}");
    while !done.load(Ordering::Relaxed) {
        let asked = Instant::now();
        let resp = get(&https, &page, &cookie).await?;
        anyhow::ensure!(resp.status().is_success(), "the alert page answered {}", resp.status());
        bytes = resp.into_body().collect().await?.to_bytes().len();
        hist.record(asked.elapsed().as_micros() as u64)?;
    }
    let sending = started.elapsed();
    let _ = watcher.await;
    stream.await??;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "  alert page while {n} recipients were sent ({:.1} s): {} loads back to back, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({bytes} bytes)",
        sending.as_secs_f64(),
        hist.len(),
        ms(0.5),
        ms(0.99),
        hist.max() as f64 / 1000.0
    );
    let u = updates.load(Ordering::Relaxed);
    println!(
        "  its event stream: {u} updates in {:.1} s, {:.1} per second (the node sends at most 4 per second)",
        sending.as_secs_f64(),
        u as f64 / sending.as_secs_f64()
    );
    Ok(())
}
