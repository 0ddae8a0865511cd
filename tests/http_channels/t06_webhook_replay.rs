use std::time::Duration;

use serde_json::{Value, json};
use varsel_config::ProviderKind;
use varsel_config::providers::HttpSmsConfig;
use varsel_domain::Channel as C;
use varsel_proto::api::Channel;

use crate::common::metrics::{parser_python, scrape};
use crate::fixture::{Channels, WEBHOOK_SECRET, counts, provider, step};
use crate::peer::{Answer, Peer, Request};

/// The SMS gateway: accepts every message, its id `m-<our key>`.
fn gateway(req: &Request) -> Answer {
    let results: Vec<Value> = req.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"id": format!("m-{}", m["reference"].as_str().unwrap())}))
        .collect();
    Answer::json(200, json!({ "results": results }))
}

/// Goal: a signed webhook posted twice to the same node is applied once: the second copy is
/// answered 200, handed nothing to the delivery engine, and counted as a replay; the memory is
/// per node, so a copy to another node is applied there again, which the state machine absorbs
/// (a receipt is recorded once per message, an acknowledgement once per recipient).
/// Method: one SMS recipient, an alert kept open by a second step (push, which the recipient
/// lacks) two minutes on, so the "OK" has an open alert to acknowledge; the gateway's
/// receipt (Varsel's layout) posted twice to node 1 and once to node 2, the recipient's "OK"
/// posted twice to node 3 (the fixture derives the webhook id from the body, so a repeated
/// body is a replay). Then the alert's counts (one delivered, one acknowledged) and each
/// node's metrics: replays, and receipts and replies handed to its engine.
#[tokio::test(flavor = "multi_thread")]
async fn replayed_webhooks_record_nothing() {
    let python = tokio::task::spawn_blocking(parser_python);
    let sms = Peer::start(gateway).await;
    let url = sms.url("/sms");
    let f = Channels::start(|dir| {
        let text = format!("url = \"{url}\"\nmode = \"batch\"\n[response]\nresults = \"results\"");
        let config = toml::from_str::<HttpSmsConfig>(&text).unwrap();
        vec![provider("sms-gw", C::Sms, dir, ProviderKind::HttpSms(config))]
    })
    .await;
    let contact = f.contact("r1", Some("+4790000001"), None, "alle").await;
    let alert = f.alert("replay", "alle", vec![step(&[Channel::Sms], 0), step(&[Channel::Push], 120)]).await;
    let key = format!("a{}-c{contact}-sms-0", alert.id);
    sms.wait_for("the SMS at the gateway", Duration::from_secs(60), |rs| !rs.is_empty()).await;
    f.wait_progress(alert.id, 2, "the SMS recorded as sent", |p| counts(p, Channel::Sms).sent == 1).await;

    let hook = |node: u64, kind: &str| format!("{}/inbound/v1/sms-gw/{kind}", f.http(node));
    let receipt =
        json!({"receipts": [{"key": key, "provider_id": format!("m-{key}"), "status": "delivered"}]});
    let reply = json!({"replies": [{"from": "+4790000001", "text": "OK"}]});
    for (node, kind, body) in
        [(1, "receipts", &receipt), (1, "receipts", &receipt), (2, "receipts", &receipt)]
    {
        assert_eq!(
            f.post_signed(&hook(node, kind), WEBHOOK_SECRET, body).await,
            200,
            "{kind} to node {node}"
        );
    }
    for _ in 0..2 {
        assert_eq!(f.post_signed(&hook(3, "replies"), WEBHOOK_SECRET, &reply).await, 200, "reply to node 3");
    }
    f.wait_progress(alert.id, 2, "the receipt and the acknowledgement", |p| {
        p.acknowledged == 1 && counts(p, Channel::Sms).delivered == 1
    })
    .await;

    let python = python.await.unwrap();
    let replays = [("provider", "sms-gw")];
    let expected = [
        // (node, replays, receipts handed to the engine, replies handed to the engine)
        (1, 1.0, 1.0, 0.0),
        (2, 0.0, 1.0, 0.0),
        (3, 1.0, 0.0, 1.0),
    ];
    for (node, replayed, receipts, replies) in expected {
        let m = scrape(&f.c, &python, node).await;
        let got = (
            m.sum("varsel_inbound_replays_total", &replays),
            m.sum("varsel_delivery_inbound_total", &[("kind", "receipt_delivered")]),
            m.sum("varsel_delivery_inbound_total", &[("kind", "reply")]),
        );
        assert_eq!(got, (replayed, receipts, replies), "node {node}: (replays, receipts, replies)");
    }
    let p = f.get(alert.id, 1).await.progress.unwrap();
    assert_eq!((counts(&p, Channel::Sms).delivered, p.acknowledged), (1, 1), "applied once: {p:?}");
}
