//! Signed outbound webhooks, end to end: three real nodes, the provider simulator, and a
//! receiver in Python that verifies every request with PyPI `standardwebhooks`
//! (`tests/delivery/webhooks/receiver.py`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use varsel_client::local_cluster::Spec;
use varsel_proto::api::webhook_service_client::WebhookServiceClient;
use varsel_proto::api::{
    Channel, CreateWebhookRequest, GetWebhookRequest, ListAuditRequest, ListWebhookDeliveriesRequest,
    Priority, Role, WebhookState, WhoAmIRequest,
};

use crate::common::authed;
use crate::fixture::{Fixture, alert_request, at_once, sim_config};

/// Time the tests give webhook events to arrive.
const ARRIVE_WITHIN: Duration = Duration::from_secs(120);

/// The retry delay the nodes use instead of the hour-long schedule (`testing.webhook_retry_ms`).
const RETRY_MS: u64 = 300;

/// The event types an alert sent at once to SMS goes through, in order.
const LIFE: [&str; 3] = ["alert.created", "alert.step_started", "alert.completed"];

fn adjust(s: &mut Spec) {
    s.webhooks_http_loopback = true;
    s.webhook_retry_ms = RETRY_MS;
}

/// The Python receiver, killed when dropped.
struct Receiver {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

impl Receiver {
    fn start(mode: &str) -> Self {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/delivery/webhooks");
        let python = crate::common::python::ensure_venv(&here.join("requirements.txt"));
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(python)
            .arg(here.join("receiver.py"))
            .arg(dir.path())
            .arg(mode)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let port_file = dir.path().join("port");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !port_file.exists() {
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        Self { child, url: format!("http://127.0.0.1:{}/hook", port.trim()), dir }
    }

    fn set_secret(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secret"), secret).unwrap();
    }

    /// Every request so far, in arrival order.
    fn events(&self) -> Vec<Value> {
        let path: PathBuf = self.dir.path().join("events.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The first request answered 200 of each (alert, type), in arrival order.
    fn accepted(&self) -> Vec<(u64, String, Value)> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        let mut rows = self.events();
        rows.retain(|e| e["status"] == 200 && e["stalled"].is_null());
        rows.sort_by_key(|e| e["n"].as_u64());
        for e in rows {
            let key = (e["alert_id"].as_u64().unwrap_or(0), e["type"].as_str().unwrap_or("").to_string());
            if seen.insert(key.clone()) {
                out.push((key.0, key.1, e));
            }
        }
        out
    }

    /// Waits until every alert in `alerts` has had every type of [`LIFE`] accepted.
    async fn wait_lives(&self, alerts: &[u64]) -> Vec<(u64, String, Value)> {
        let deadline = Instant::now() + ARRIVE_WITHIN;
        loop {
            let accepted = self.accepted();
            let complete =
                alerts.iter().all(|a| LIFE.iter().all(|t| accepted.iter().any(|(x, y, _)| x == a && y == t)));
            if complete {
                return accepted;
            }
            assert!(Instant::now() < deadline, "events missing after {ARRIVE_WITHIN:?}: {accepted:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An admin token of the fixture's tenant, and the tenant's id.
async fn admin(f: &Fixture) -> (String, u64) {
    let who = f.c.api(1).tenants.who_am_i(authed(&f.token, WhoAmIRequest {})).await.unwrap().into_inner();
    (f.c.credential(who.tenant_id, Role::Admin).await, who.tenant_id)
}

fn hooks(f: &Fixture, via: u64) -> WebhookServiceClient<tonic::transport::Channel> {
    WebhookServiceClient::new(f.c.one(via).channel(0).unwrap())
}

/// Subscribes `r` to `events` through node 1 and hands it the secret.
async fn subscribe(f: &Fixture, token: &str, r: &Receiver, events: &[&str]) -> u64 {
    let req = CreateWebhookRequest {
        url: r.url.clone(),
        events: events.iter().map(|e| e.to_string()).collect(),
        allow_insecure: true,
        idempotency_key: "hook-1".into(),
        ..Default::default()
    };
    let w = hooks(f, 1).create_webhook(authed(token, req)).await.unwrap().into_inner().webhook.unwrap();
    assert!(w.secret.starts_with("whsec_"), "{}", w.secret);
    r.set_secret(&w.secret);
    w.id
}

fn assert_ordered(accepted: &[(u64, String, Value)], alert: u64) {
    let order: Vec<&str> =
        accepted.iter().filter(|(a, _, _)| *a == alert).map(|(_, t, _)| t.as_str()).collect();
    let life: Vec<&str> = order.iter().copied().filter(|t| LIFE.contains(t)).collect();
    assert_eq!(life, LIFE, "alert {alert}: events out of order: {order:?}");
}

/// Goal: an alert's events reach a subscribed endpoint signed (every request verifies with
/// `standardwebhooks`) and in order per alert, and killing the node that was delivering loses
/// none of them. Method: the receiver holds the very first request for 30 s (past the node's
/// call timeout); while it is held the leader, the node delivering, is killed; a second alert
/// is sent through a surviving node; then every event of both alerts must be accepted, the
/// held one again from the new leader, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_signed_in_order_and_survive_the_delivering_node() {
    let mut f = Fixture::start(sim_config(), adjust).await;
    let receiver = Receiver::start("stall-first");
    let (token, _) = admin(&f).await;
    let hook = subscribe(&f, &token, &receiver, &["*"]).await;
    f.contacts(4, "vakt").await;
    let first = f.alert("wh-1", "vakt", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + ARRIVE_WITHIN;
    while !receiver.events().iter().any(|e| e["stalled"] == true) {
        assert!(Instant::now() < deadline, "no delivery started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = receiver.events()[0]["id"].as_str().unwrap().to_string();
    let leader = f.c.leader().await;
    f.c.lc.kill(leader).await.unwrap();
    let via = f.c.ids().into_iter().find(|i| *i != leader).unwrap();
    let second =
        f.create(alert_request("wh-2", "vakt", Priority::Crisis, at_once(&[Channel::Sms])), via).await;
    let accepted = receiver.wait_lives(&[first.id, second.id]).await;
    for alert in [first.id, second.id] {
        assert_ordered(&accepted, alert);
    }
    let all = receiver.events();
    assert!(all.iter().all(|e| e["verified"] == true), "a request did not verify: {all:?}");
    let again = all.iter().any(|e| e["id"] == held.as_str() && e["status"] == 200 && e["stalled"].is_null());
    assert!(again, "the held event {held} was not sent again after node {leader} was killed");
    let completed = accepted.iter().find(|(a, t, _)| *a == first.id && t == "alert.completed").unwrap();
    assert_eq!(completed.2["data"]["recipients"], 4, "{:?}", completed.2);
    // The attempts are listed, newest first, with the node that made them.
    // The last result may still be on its way through the log; the outbox empties.
    let deadline = Instant::now() + ARRIVE_WITHIN;
    let listed = loop {
        let req = ListWebhookDeliveriesRequest { webhook_id: hook, ..Default::default() };
        let listed = hooks(&f, via).list_webhook_deliveries(authed(&token, req)).await.unwrap().into_inner();
        if listed.waiting == 0 {
            break listed;
        }
        assert!(Instant::now() < deadline, "outbox not empty: {listed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(listed.deliveries.iter().filter(|d| d.ok).count() >= 6, "{listed:?}");
    assert!(listed.deliveries.iter().all(|d| d.node_id != leader || d.ok), "{listed:?}");
}

/// Goal: an endpoint that always fails is disabled after the documented number of consecutive
/// failures (8), and that is reported: `GetWebhook` shows it disabled with the reason, the
/// audit trail has `webhook.disable`; only admins manage webhooks. Method: a receiver that
/// answers 500 to every (verified) request, retries every 300 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_is_disabled_after_eight_failures() {
    let f = Fixture::start(sim_config(), adjust).await;
    let receiver = Receiver::start("always-500");
    let (token, tenant) = admin(&f).await;
    let denied = hooks(&f, 2)
        .create_webhook(authed(
            &f.token,
            CreateWebhookRequest { url: receiver.url.clone(), ..Default::default() },
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let hook = subscribe(&f, &token, &receiver, &["alert.created"]).await;
    f.contacts(1, "vakt").await;
    f.alert("dead-1", "vakt", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + ARRIVE_WITHIN;
    let w = loop {
        let req = GetWebhookRequest { id: hook, consistency: 0 };
        let w = hooks(&f, 3).get_webhook(authed(&token, req)).await.unwrap().into_inner().webhook.unwrap();
        if w.state == WebhookState::Disabled as i32 {
            break w;
        }
        assert!(Instant::now() < deadline, "not disabled: {w:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(w.consecutive_failures, 8, "{w:?}");
    assert!(w.disabled_reason.starts_with("8 consecutive failed attempts"), "{}", w.disabled_reason);
    let seen = receiver.events();
    assert!(seen.len() >= 8 && seen.iter().all(|e| e["verified"] == true), "{seen:?}");
    let audit = f.c.api(1).audit.list_audit(authed(&token, ListAuditRequest::default())).await.unwrap();
    let disabled = audit.into_inner().records.into_iter().filter(|r| r.action == "webhook.disable").count();
    assert_eq!(disabled, 1);
    // Nothing more is sent to it.
    tokio::time::sleep(Duration::from_millis(RETRY_MS * 5)).await;
    assert_eq!(receiver.events().len(), seen.len());
    // The CLI shows it, to a viewer too, and lists the failed attempts.
    let viewer = f.c.credential(tenant, Role::Viewer).await;
    let (ok, out, err) = f.c.varsel(&viewer, &["webhook", "list"]).await;
    assert!(ok && out.contains("disabled") && out.contains("8 consecutive failed attempts"), "{out}{err}");
    let id = hook.to_string();
    let (ok, out, err) = f.c.varsel(&viewer, &["webhook", "deliveries", &id, "--json"]).await;
    assert!(ok, "{err}");
    let rows: Vec<Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(rows.len(), 8, "{out}");
    assert!(rows.iter().all(|r| r["status"] == 500 && r["ok"] == false), "{out}");
    let (ok, _, err) = f.c.varsel(&viewer, &["webhook", "enable", &id]).await;
    assert!(!ok && err.contains("admin"), "{err}");
    let (ok, out, err) = f.c.varsel(&token, &["webhook", "enable", &id]).await;
    assert!(ok && out.contains("enabled"), "{out}{err}");
}

/// Goal: figures: webhook delivery rate and the lag from an event to its delivery at p99.
/// Method: `ALERTS` alerts of 5 recipients each, created concurrently through the three nodes,
/// to an endpoint subscribed to everything that answers at once; the lag is the receiver's
/// arrival time minus the event's `timestamp` (both this host's clock), the rate is the events
/// accepted over the time from the first event to the last arrival. Printed, not asserted
/// (run with `--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_figures() {
    const ALERTS: usize = 50;
    let f = Fixture::start(sim_config(), adjust).await;
    let receiver = Receiver::start("ok");
    let (token, _) = admin(&f).await;
    subscribe(&f, &token, &receiver, &["*"]).await;
    f.contacts(5, "vakt").await;
    let creates = (0..ALERTS).map(|i| {
        let req = alert_request(&format!("fig-{i}"), "vakt", Priority::Crisis, at_once(&[Channel::Sms]));
        f.create(req, (i % 3) as u64 + 1)
    });
    let ids: Vec<u64> = futures::future::join_all(creates).await.into_iter().map(|a| a.id).collect();
    let accepted = receiver.wait_lives(&ids).await;
    for id in &ids {
        assert_ordered(&accepted, *id);
    }
    let times: Vec<(i64, i64)> = accepted
        .iter()
        .filter_map(|(_, _, e)| {
            let at = chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str()?).ok()?;
            Some((at.timestamp_millis(), e["received_ms"].as_i64()?))
        })
        .collect();
    let mut lags: Vec<i64> = times.iter().map(|(at, rx)| rx - at).collect();
    lags.sort_unstable();
    let p = |q: f64| lags[((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len()) - 1];
    let first = times.iter().map(|t| t.0).min().unwrap_or(0);
    let last = times.iter().map(|t| t.1).max().unwrap_or(0);
    let span_s = (last - first).max(1) as f64 / 1000.0;
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, t, _) in &accepted {
        *per_type.entry(t.as_str()).or_default() += 1;
    }
    println!(
        "webhooks: {} events ({per_type:?}) of {ALERTS} alerts, first event to last delivery {span_s:.2} s: \
         {:.1} events/s; lag event->delivered p50 {} ms, p99 {} ms, max {} ms",
        accepted.len(),
        accepted.len() as f64 / span_s,
        p(0.50),
        p(0.99),
        p(1.0),
    );
}
