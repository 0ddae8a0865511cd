//! `counts(alert)` reports duplicates exactly, per channel and per alert.

use anyhow::Result;
use varsel_sim::{Channel, ChannelCounts, Message, ProviderConfig, ProviderSettings};

use crate::fixtures::{config, send_ok, sms, untimed};

/// Goal: for a scripted mix of first sends, suppressed repeats, re-deliveries and
/// failover duplicates on two channels and two alerts, every count is exact.
/// Method: alert 12 gets SMS to 100 contacts, repeats of 10 at the same provider
/// (suppressed), 5 at the other provider (delivered twice), 3 at a provider not honouring
/// idempotency after its first delivery, and 20 e-mails; alert 13 gets 5 SMS that must not
/// leak into alert 12.
#[tokio::test]
async fn counts_report_duplicates_exactly() -> Result<()> {
    let providers = vec![
        ProviderConfig::new("sms-primary", Channel::Sms),
        ProviderConfig::new("sms-alt", Channel::Sms),
        ProviderConfig::new("email", Channel::Email),
    ];
    let sim = varsel_sim::spawn(config(providers)).await?;
    let client = &sim.client;
    let all: Vec<_> = (1..=100).map(|c| sms(12, c)).collect();
    send_ok(client, "sms-primary", &all).await?;
    send_ok(client, "sms-primary", &all[..10]).await?;
    send_ok(client, "sms-alt", &all[10..15]).await?;
    send_ok(client, "sms-alt", &all[10..13]).await?;
    client
        .set("sms-alt", &ProviderSettings { honour_idempotency: Some(false), ..Default::default() })
        .await?;
    send_ok(client, "sms-alt", &all[10..13]).await?;
    let emails: Vec<_> = (1..=20).map(|c| Message::sample(12, c, Channel::Email, 0)).collect();
    send_ok(client, "email", &emails).await?;
    send_ok(client, "sms-primary", &(1..=5).map(|c| sms(13, c)).collect::<Vec<_>>()).await?;

    let counts = client.counts(12).await?;
    let expected_sms = ChannelCounts {
        distinct_keys: 100,
        receives: 100 + 10 + 5 + 3 + 3,
        keys_received_more_than_once: 15,
        delivered_keys: 100,
        deliveries: 100 + 5 + 3,
        keys_delivered_more_than_once: 5,
        // What the handsets show agrees: 8 recipients got a second copy.
        handsets: 100,
        handset_messages: 108,
        handset_duplicates: 8,
        handset_duplicates_after_unanswered: 0,
        orphan_fragments: 0,
        first_received_ms: 0,
        last_received_ms: 0,
    };
    assert_eq!(untimed(counts.channel(Channel::Sms)), expected_sms);
    assert!(counts.channel(Channel::Sms).first_received_ms > 0);
    assert!(counts.last_received_ms >= counts.channel(Channel::Sms).first_received_ms);
    assert_eq!((counts.handset_duplicates, counts.orphan_fragments), (8, 0));
    let sms_counts = counts.channel(Channel::Sms);
    assert_eq!(sms_counts.receives - sms_counts.distinct_keys, 21, "repeats");
    assert_eq!(sms_counts.deliveries - sms_counts.delivered_keys, 8, "extra messages to recipients");
    let expected_email = ChannelCounts {
        distinct_keys: 20,
        receives: 20,
        keys_received_more_than_once: 0,
        delivered_keys: 20,
        deliveries: 20,
        keys_delivered_more_than_once: 0,
        handsets: 20,
        handset_messages: 20,
        handset_duplicates: 0,
        handset_duplicates_after_unanswered: 0,
        orphan_fragments: 0,
        first_received_ms: 0,
        last_received_ms: 0,
    };
    assert_eq!(untimed(counts.channel(Channel::Email)), expected_email);
    assert_eq!(counts.channels.len(), 2);
    assert_eq!(client.counts(13).await?.channel(Channel::Sms).distinct_keys, 5);
    assert!(client.counts(14).await?.channels.is_empty());
    let totals = client.stats().await?.totals;
    assert_eq!((totals.duplicate_suppressed, totals.duplicate_delivered), (13, 3));
    Ok(())
}
