//! Receipts and replies: batched, signed, to the right recipients, failing over between
//! nodes, and dropped visibly when no node answers.

use std::{collections::BTreeSet, time::Duration};

use anyhow::Result;
use varsel_sim::{Channel, Message, ProviderConfig, SimConfig, will_reply};

use crate::fixtures::{Inbound, SECRET, SEED, config, dead_url, send_ok, sms};

const WAIT: Duration = Duration::from_secs(20);

fn replying_sms() -> ProviderConfig {
    ProviderConfig {
        receipts: true,
        reply_rate: 0.3,
        reply_text: "OK".into(),
        ..ProviderConfig::new("sms-primary", Channel::Sms)
    }
}

fn with_callback(messages: impl Iterator<Item = Message<'static>>, url: &str) -> Vec<Message<'static>> {
    messages
        .map(|mut m| {
            m.callback = Some(url.to_owned().into());
            m
        })
        .collect()
}

/// Goal: every first acceptance gets one receipt and exactly the recipients `will_reply`
/// names get a reply, at the node's inbound paths, each request carrying a signature the
/// node can verify with the shared secret; repeats get nothing; `/admin/replies` lists who
/// replied. Method: a stand-in node records requests; its checks are independent of the
/// simulator's code (the HMAC is recomputed with the hmac crate).
#[tokio::test]
async fn receipts_and_replies_reach_the_node_signed() -> Result<()> {
    let node = Inbound::start().await?;
    let sim = varsel_sim::spawn(config(vec![replying_sms()])).await?;
    let messages = with_callback((1..=50).map(|c| sms(7, c)), &node.url());
    let results = send_ok(&sim.client, "sms-primary", &messages).await?;
    send_ok(&sim.client, "sms-primary", &messages[..10]).await?;
    let expected: BTreeSet<String> =
        messages.iter().filter(|m| will_reply(SEED, &m.key, 0.3)).map(|m| m.key.to_string()).collect();
    assert!(!expected.is_empty() && expected.len() < 50, "{}", expected.len());
    let done = |s: &varsel_sim::Stats| {
        let c = s.provider("sms-primary").counters;
        c.receipts_sent >= 50 && c.replies_sent >= expected.len() as u64 && s.callbacks_queued == 0
    };
    let stats = sim.client.wait_for(done, WAIT).await?;
    let counters = stats.provider("sms-primary").counters;
    assert_eq!((counters.receipts_sent, counters.replies_sent), (50, expected.len() as u64));

    let captured = node.captured();
    assert!(captured.iter().all(|c| c.signature_valid(SECRET)), "every request is signed");
    assert!(captured.iter().all(|c| !c.signature_valid("wrong-secret")));
    let mut receipts = Vec::new();
    let mut reply_numbers = BTreeSet::new();
    for request in &captured {
        let body = request.json()?;
        match request.path.as_str() {
            "/inbound/v1/sms-primary/receipts" => {
                receipts.extend(body["receipts"].as_array().cloned().unwrap_or_default())
            }
            "/inbound/v1/sms-primary/replies" => {
                for reply in body["replies"].as_array().cloned().unwrap_or_default() {
                    assert_eq!((reply["to"].as_str(), reply["text"].as_str()), (Some("VARSEL"), Some("OK")));
                    reply_numbers.insert(reply["from"].as_str().unwrap_or_default().to_owned());
                }
            }
            other => anyhow::bail!("unexpected path {other}"),
        }
    }
    assert_eq!(receipts.len(), 50);
    for (receipt, result) in receipts.iter().zip(&results) {
        assert_eq!(receipt["key"].as_str(), Some(result.key.as_ref()));
        assert_eq!(receipt["provider_id"].as_str(), result.provider_id.as_deref());
        assert_eq!((receipt["status"].as_str(), receipt["error"].is_null()), (Some("delivered"), true));
    }
    let expected_numbers: BTreeSet<String> =
        messages.iter().filter(|m| expected.contains(m.key.as_ref())).map(|m| m.to.to_string()).collect();
    assert_eq!(reply_numbers, expected_numbers);
    let listed: BTreeSet<String> = sim.client.replies().await?.replies.into_iter().map(|r| r.key).collect();
    assert_eq!(listed, expected);
    Ok(())
}

/// Goal: when the node a message came from is down, its receipts go to the next node in
/// `callback_urls` (any node accepts any callback), and the failed attempt is counted.
/// Method: the message's callback and the first configured URL point at a closed port.
#[tokio::test]
async fn callbacks_fail_over_to_another_node() -> Result<()> {
    let node = Inbound::start().await?;
    let dead = dead_url().await?;
    let provider = ProviderConfig { receipts: true, ..ProviderConfig::new("sms-primary", Channel::Sms) };
    let config = SimConfig { callback_urls: vec![dead.clone(), node.url()], ..config(vec![provider]) };
    let sim = varsel_sim::spawn(config).await?;
    let messages = with_callback((1..=5).map(|c| sms(8, c)), &dead);
    send_ok(&sim.client, "sms-primary", &messages).await?;
    let done = |s: &varsel_sim::Stats| s.provider("sms-primary").counters.receipts_sent == 5;
    let stats = sim.client.wait_for(done, WAIT).await?;
    assert!(stats.callback_failures >= 1, "{stats:?}");
    assert_eq!(stats.callbacks_dropped, 0);
    let keys: usize = node
        .captured()
        .iter()
        .map(|c| c.json().map(|b| b["receipts"].as_array().map_or(0, Vec::len)).unwrap_or(0))
        .sum();
    assert_eq!(keys, 5);
    Ok(())
}

/// Goal: with no node reachable, callbacks are retried a bounded number of times, then
/// dropped and counted; the simulator keeps serving.
#[tokio::test]
async fn unreachable_callbacks_are_dropped_and_counted() -> Result<()> {
    let dead = dead_url().await?;
    let provider = ProviderConfig { receipts: true, ..ProviderConfig::new("sms-primary", Channel::Sms) };
    let sim = varsel_sim::spawn(config(vec![provider])).await?;
    let messages = with_callback((1..=3).map(|c| sms(9, c)), &dead);
    send_ok(&sim.client, "sms-primary", &messages).await?;
    let no_callback = sms(9, 4);
    send_ok(&sim.client, "sms-primary", &[no_callback]).await?;
    let stats = sim.client.wait_for(|s| s.callbacks_dropped == 4, WAIT).await?;
    assert_eq!(stats.callback_failures, u64::from(varsel_sim::limits::CALLBACK_ATTEMPTS_MAX));
    assert_eq!(stats.provider("sms-primary").counters.receipts_sent, 0);
    Ok(())
}
