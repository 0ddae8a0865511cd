use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::stream;
use varsel_proto::api::{
    AlertStatus, ChannelContent, Content, CreateAlertRequest, CreateCredentialRequest, CreateTenantRequest,
    GetAlertRequest, ImportChunk, Priority, Role, Targets,
};

use crate::common::authed;
use crate::common::metrics::scrape;
use crate::common::sim::start_with_sim;
use crate::fixtures::{OtlpReceiver, SpanRecord, peers_python};

/// Goal: an alert accepted on one node whose shards other nodes send is one trace; the
/// delivery metrics count what was sent.
/// Method: a real OTLP receiver and three nodes sending through the simulator. The test creates
/// a 2,000-recipient alert through node 1 with its own `traceparent`, waits for completion, and
/// then for `delivery.batch` spans of that trace from at least one node other than node 1, each
/// a child of node 1's API span. Every node's `/metrics` (parsed by prometheus-client) must add
/// up to 2,000 SMS sent, and each node's open-alert gauge must come back to 0.
#[tokio::test(flavor = "multi_thread")]
async fn alert_sent_by_other_nodes_is_one_trace_and_counted() {
    let python = peers_python();
    let receiver = OtlpReceiver::start(&python);
    let env = vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_string(), receiver.endpoint())];
    let (c, _sim, _secrets) = start_with_sim(varsel_sim::SimConfig::demo(), 3, |s| {
        s.env = env;
        s.telemetry.export_interval_ms = 200;
    })
    .await;
    let mut api = c.api(1);
    let t = api
        .tenants
        .create_tenant(authed(
            &c.superadmin(),
            CreateTenantRequest { name: "traced".into(), limits: None, ..Default::default() },
        ))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    let req = CreateCredentialRequest {
        tenant_id: t.id,
        name: "ops".into(),
        role: Role::Operator as i32,
        ..Default::default()
    };
    let token = api.tenants.create_credential(authed(&c.superadmin(), req)).await.unwrap().into_inner().token;
    let mut csv = String::from("external_id,phone,groups\n");
    for i in 0..2_000 {
        csv.push_str(&format!("t{i},+4740{i:06},alle\n"));
    }
    let chunk = ImportChunk { data: csv.into_bytes(), ..Default::default() };
    api.contacts.import_contacts(authed(&token, stream::iter(vec![chunk]))).await.unwrap();

    let (trace_id, caller_span) = (hex(16), hex(8));
    let v = ChannelContent { sms_text: "Test".into(), ..Default::default() };
    let create = CreateAlertRequest {
        idempotency_key: "traced".into(),
        title: "traced".into(),
        priority: Priority::Crisis as i32,
        content: Some(Content { default_language: "nb".into(), variants: HashMap::from([("nb".into(), v)]) }),
        targets: Some(Targets { group_names: vec!["alle".into()], ..Default::default() }),
        ..Default::default()
    };
    let mut req = authed(&token, create);
    req.metadata_mut().insert("traceparent", format!("00-{trace_id}-{caller_span}-01").parse().unwrap());
    let alert = api.alerts.create_alert(req).await.unwrap().into_inner().alert.unwrap();
    wait_completed(&c, &token, alert.id).await;

    let spans = receiver
        .wait_for("delivery spans of the alert's trace from another node", Duration::from_secs(60), |spans| {
            spans.iter().any(|s| s.trace_id == trace_id && s.name == "delivery.batch" && s.node() != Some(1))
        })
        .await;
    let trace: Vec<&SpanRecord> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let by_id: BTreeMap<&str, &SpanRecord> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    let api_span = trace
        .iter()
        .find(|s| s.name == "varsel.v1.AlertService/CreateAlert" && s.node() == Some(1))
        .expect("API span");
    let senders: BTreeSet<Option<u64>> =
        trace.iter().filter(|s| s.name == "delivery.batch").map(|s| s.node()).collect();
    assert!(senders.iter().any(|n| *n != Some(1)), "no other node's delivery spans: {senders:?}");
    for batch in trace.iter().filter(|s| s.name == "delivery.batch") {
        assert_eq!(
            batch.parent_span_id,
            api_span.span_id,
            "batch on node {:?} is not under the API span",
            batch.node()
        );
        assert!(by_id.contains_key(batch.parent_span_id.as_str()));
    }

    let mut sent = 0.0;
    for id in c.ids() {
        let s = scrape(&c, &python, id).await;
        sent += s.sum("varsel_delivery_messages_total", &[("channel", "sms"), ("outcome", "sent")]);
        // Gauges are sampled by each node's scheduler tick: wait (bounded) for this one to see
        // the completion.
        let deadline = Instant::now() + Duration::from_secs(20);
        while scrape(&c, &python, id).await.one("varsel_alerts_active", &[]) != 0.0 {
            assert!(Instant::now() < deadline, "node {id} still counts the alert as active");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert_eq!(sent, 2_000.0, "SMS counted as sent over the three nodes");
}

async fn wait_completed(c: &crate::common::TestCluster, token: &str, id: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let a = c.api(2).alerts.get_alert(authed(token, GetAlertRequest { id, consistency: 0 })).await;
        if a.is_ok_and(|a| a.into_inner().alert.is_some_and(|a| a.status == AlertStatus::Completed as i32)) {
            return;
        }
        assert!(Instant::now() < deadline, "alert {id} did not complete");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}
