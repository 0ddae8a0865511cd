//! Callbacks redelivered as real providers do: after a failed round when asked to, and now
//! and then after a success; counted per kind.

use std::time::Duration;

use anyhow::Result;
use varsel_sim::{Channel, Message, ProviderConfig, limits::CALLBACK_ATTEMPTS_MAX};

use crate::fixtures::{Inbound, config, send_ok, sms};

const WAIT: Duration = Duration::from_secs(30);

fn with_callback(messages: impl Iterator<Item = Message<'static>>, url: &str) -> Vec<Message<'static>> {
    messages
        .map(|mut m| {
            m.callback = Some(url.to_owned().into());
            m
        })
        .collect()
}

fn receipts_delivered(node: &Inbound) -> usize {
    node.captured()
        .iter()
        .map(|c| c.json().map(|b| b["receipts"].as_array().map_or(0, Vec::len)).unwrap_or(0))
        .sum()
}

/// Goal: receipts whose every attempt of a round got no 2xx are given up by default, and
/// with `redeliver_callbacks` sent again in a later round until acknowledged; each is
/// counted sent per attempt, acknowledged once, redelivered once. Method: a node that answers
/// 503 to exactly one round of attempts, for two simulators (default and redelivering).
#[tokio::test]
async fn failed_callbacks_redelivered_only_when_asked() -> Result<()> {
    let attempts = CALLBACK_ATTEMPTS_MAX as usize;
    for redeliver in [false, true] {
        let node = Inbound::start_failing(attempts).await?;
        let provider = ProviderConfig {
            receipts: true,
            redeliver_callbacks: redeliver,
            ..ProviderConfig::new("sms-primary", Channel::Sms)
        };
        let sim = varsel_sim::spawn(config(vec![provider])).await?;
        send_ok(&sim.client, "sms-primary", &with_callback((1..=4).map(|c| sms(20, c)), &node.url())).await?;
        let settled = |s: &varsel_sim::Stats| s.receipts.given_up + s.receipts.acknowledged == 4;
        let stats = sim.client.wait_for(settled, WAIT).await?;
        let r = stats.receipts;
        if redeliver {
            assert_eq!((r.acknowledged, r.redelivered, r.given_up), (4, 4, 0), "{r:?}");
            assert_eq!(r.sent, 4 * (attempts as u64 + 1));
            assert_eq!(receipts_delivered(&node), 4);
        } else {
            assert_eq!((r.acknowledged, r.redelivered, r.given_up, r.sent), (0, 0, 4, 4 * attempts as u64));
            assert_eq!(stats.callbacks_dropped, 4);
            // Never re-sent: nothing reaches the node once it would answer.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            assert_eq!(receipts_delivered(&node), 0);
        }
    }
    Ok(())
}

/// Goal: with `duplicate_callback_rate = 1` every acknowledged receipt and reply is sent once
/// more (the receiver must be idempotent), counted as redelivered and acknowledged again,
/// while the distinct counts (`receipts_sent`, the replies log) stay one each.
/// Method: 10 messages, every recipient replies; the node keeps what it gets.
#[tokio::test]
async fn acknowledged_callbacks_duplicated_when_asked() -> Result<()> {
    let node = Inbound::start().await?;
    let provider = ProviderConfig {
        receipts: true,
        reply_rate: 1.0,
        duplicate_callback_rate: 1.0,
        ..ProviderConfig::new("sms-primary", Channel::Sms)
    };
    let sim = varsel_sim::spawn(config(vec![provider])).await?;
    send_ok(&sim.client, "sms-primary", &with_callback((1..=10).map(|c| sms(21, c)), &node.url())).await?;
    let done = |s: &varsel_sim::Stats| s.receipts.acknowledged == 20 && s.replies.acknowledged == 20;
    let stats = sim.client.wait_for(done, WAIT).await?;
    assert_eq!((stats.receipts.redelivered, stats.replies.redelivered), (10, 10));
    let counters = stats.provider("sms-primary").counters;
    assert_eq!((counters.receipts_sent, counters.replies_sent), (10, 10));
    assert_eq!(receipts_delivered(&node), 20);
    let replies = sim.client.replies().await?;
    assert_eq!(replies.total, 10);
    // Each reply has an id of its own, and a copy carries the same one.
    let ids: std::collections::BTreeSet<String> = replies.replies.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("mo-")), "{ids:?}");
    // The acknowledged receipts are listed once each, with the message they report on.
    let receipts = sim.client.receipts().await?;
    assert_eq!(receipts.total, 10);
    let keys: std::collections::BTreeSet<String> = receipts.receipts.into_iter().map(|r| r.key).collect();
    assert_eq!(keys.len(), 10);
    // A copy is not copied again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(sim.client.stats().await?.receipts.acknowledged, 20);
    Ok(())
}
