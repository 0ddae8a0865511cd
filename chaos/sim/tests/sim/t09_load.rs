//! Load: many concurrent senders, every message recorded and counted exactly.

use std::time::Instant;

use anyhow::Result;
use varsel_sim::{Channel, ChannelCounts, ProviderConfig, ResultStatus};

use crate::fixtures::{config, send_ok, sms, untimed};

const TASKS: u64 = 8;
const MESSAGES: u64 = 200_000;
const BATCH: u64 = 500;

/// Goal: 200,000 messages in batches of 500 from 8 concurrent tasks are all accepted,
/// recorded and counted exactly, with keys beyond the listing bound still counted.
/// Method: each task sends its own contiguous range of contacts; the rate (including the
/// client's own encoding, in whatever profile the test runs) is printed, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_messages_counted_exactly() -> Result<()> {
    let sim = varsel_sim::spawn(config(vec![ProviderConfig::new("sms-primary", Channel::Sms)])).await?;
    let per_task = MESSAGES / TASKS;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let client = sim.client.clone();
        tasks.spawn(async move {
            let mut accepted = 0usize;
            for start in (task * per_task..(task + 1) * per_task).step_by(BATCH as usize) {
                let batch: Vec<_> = (start..start + BATCH).map(|contact| sms(99, contact)).collect();
                let results = send_ok(&client, "sms-primary", &batch).await?;
                accepted += results.iter().filter(|r| r.status == ResultStatus::Accepted).count();
            }
            anyhow::Ok(accepted)
        });
    }
    let mut accepted = 0;
    while let Some(joined) = tasks.join_next().await {
        accepted += joined??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "load: {MESSAGES} messages from {TASKS} tasks in batches of {BATCH}: {elapsed:.2} s, {:.0} msg/s",
        MESSAGES as f64 / elapsed
    );
    assert_eq!(accepted as u64, MESSAGES);
    let stats = sim.client.stats().await?;
    assert_eq!(
        (stats.totals.received, stats.totals.accepted, stats.totals.batches),
        (MESSAGES, MESSAGES, MESSAGES / BATCH)
    );
    assert_eq!(stats.distinct_keys, MESSAGES);
    let listed = varsel_sim::limits::KEYS_RECORDED_DEFAULT as u64;
    assert_eq!(stats.keys_not_listed, MESSAGES - listed);
    let expected = ChannelCounts {
        distinct_keys: MESSAGES,
        receives: MESSAGES,
        keys_received_more_than_once: 0,
        delivered_keys: MESSAGES,
        deliveries: MESSAGES,
        keys_delivered_more_than_once: 0,
        handsets: MESSAGES,
        handset_messages: MESSAGES,
        handset_duplicates: 0,
        handset_duplicates_after_unanswered: 0,
        orphan_fragments: 0,
        first_received_ms: 0,
        last_received_ms: 0,
    };
    assert_eq!(untimed(sim.client.counts(99).await?.channel(Channel::Sms)), expected);
    Ok(())
}
