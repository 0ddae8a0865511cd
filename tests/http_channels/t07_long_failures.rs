use futures::stream;
use serde_json::{Value, json};
use varsel_config::ProviderKind;
use varsel_domain::Channel as C;
use varsel_proto::api::{Channel, ImportChunk};

use crate::common::authed;
use crate::fixture::{Channels, PEER_NETWORKS, batch_sms_config, counts, provider, step, write_secret};
use crate::peer::{Answer, Peer};

const N: usize = 10_000;

/// A gateway that refuses every message with an error code of 2,000 bytes, different
/// for each message (a provider's error text is whatever the provider chooses).
fn refusing_gateway(req: &crate::peer::Request) -> Answer {
    let results: Vec<Value> = req.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let reference = m["client_ref"].as_str().unwrap_or_default();
            json!({"state": "ERR", "code": format!("{reference}:{}", "Æ".repeat(1_000))})
        })
        .collect();
    Answer::json(200, json!({ "results": results }))
}

/// Goal: recording is bounded by bytes: 10,000 failures whose reasons are 2,000 bytes each
/// (20 MB of reasons, twenty log entries' worth) are all recorded and the alert completes;
/// before, batches of long failures exceeded the entry limit, every write failed and every
/// submitter resubmitted forever.
/// Method: record writes every second (outcomes pile up as under a national alert); an HTTP
/// SMS gateway that refuses every message with a long, distinct error code
/// (`unknown_errors = "permanent"`); 10,000 contacts imported; the report must count 10,000
/// failed.
#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_long_failures_are_recorded() {
    let sms = Peer::start(refusing_gateway).await;
    let url = sms.url("/api/sms");
    // Outcomes pile up for a second before each record write, as under a national alert.
    let slow_flush = |s: &mut varsel_client::local_cluster::Spec| s.delivery.record_flush_ms = 1_000;
    let f = Channels::start_tuned(
        PEER_NETWORKS,
        |dir| {
            let config = batch_sms_config(&url, &write_secret(dir, "sms.key", "key\n"), "permanent");
            let p = provider("sms-gw", C::Sms, dir, ProviderKind::HttpSms(config));
            vec![varsel_config::ProviderConfig { batch_max: 500, concurrency: 8, ..p }]
        },
        slow_flush,
    )
    .await;
    let mut csv = String::from("external_id,name,phone,groups\n");
    for i in 0..N {
        csv.push_str(&format!("p{i},Person {i},+4741{i:06},alle\n"));
    }
    let chunks: Vec<ImportChunk> = csv
        .as_bytes()
        .chunks(256 * 1024)
        .map(|d| ImportChunk { data: d.to_vec(), filename: String::new(), ..Default::default() })
        .collect();
    let report =
        f.c.api(1)
            .contacts
            .import_contacts(authed(&f.token, stream::iter(chunks)))
            .await
            .unwrap()
            .into_inner();
    assert_eq!(report.created, N as u64, "{:?}", report.rejected.first());
    let alert = f.alert("long-failures", "alle", vec![step(&[Channel::Sms], 0)]).await;
    let done = f.wait_completed(alert.id).await;
    let sms_counts = counts(&done.progress.unwrap(), Channel::Sms);
    assert_eq!((sms_counts.failed, sms_counts.sent), (N as u64, 0), "{sms_counts:?}");
    let handed: usize =
        sms.requests().iter().map(|r| r.json()["messages"].as_array().map_or(0, Vec::len)).sum();
    assert!(handed >= N, "the gateway saw {handed} messages");
}
