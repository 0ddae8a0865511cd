//! Idempotency keys: honoured, not honoured, and across providers.

use anyhow::Result;
use varsel_sim::{Channel, ChannelCounts, ProviderSettings, ResultStatus};

use crate::fixtures::{send_ok, sms, start_sms, untimed};

/// Goal: with idempotency honoured, the same key twice is one delivery: the repeat is
/// `accepted` with the same provider id and counted as `duplicate_suppressed`, while the
/// per-key receive count still shows both arrivals.
/// Method: send one message twice, then once more inside a batch with itself.
#[tokio::test]
async fn honoured_key_is_suppressed() -> Result<()> {
    let sim = start_sms().await?;
    let message = sms(1, 1);
    let first = send_ok(&sim.client, "sms-primary", std::slice::from_ref(&message)).await?;
    let second = send_ok(&sim.client, "sms-primary", std::slice::from_ref(&message)).await?;
    assert_eq!(second[0].status, ResultStatus::Accepted);
    assert!(first[0].provider_id.is_some());
    assert_eq!(first[0].provider_id, second[0].provider_id);
    let counters = sim.client.stats().await?.provider("sms-primary").counters;
    assert_eq!((counters.received, counters.accepted), (2, 2));
    assert_eq!((counters.duplicate_suppressed, counters.duplicate_delivered), (1, 0));
    let info = &sim.client.keys("a1-c1-").await?.keys["a1-c1-sms-0"];
    assert_eq!((info.count, info.delivered), (2, 1));

    let twice = send_ok(&sim.client, "sms-primary", &[sms(1, 2), sms(1, 2)]).await?;
    assert_eq!(twice[0].provider_id, twice[1].provider_id);
    let counts = sim.client.counts(1).await?.channel(Channel::Sms);
    let expected = ChannelCounts {
        distinct_keys: 2,
        receives: 4,
        keys_received_more_than_once: 2,
        delivered_keys: 2,
        deliveries: 2,
        keys_delivered_more_than_once: 0,
        handsets: 2,
        handset_messages: 2,
        handset_duplicates: 0,
        handset_duplicates_after_unanswered: 0,
        orphan_fragments: 0,
        first_received_ms: 0,
        last_received_ms: 0,
    };
    assert_eq!(untimed(counts), expected);
    Ok(())
}

/// Goal: with idempotency off, a repeat is delivered again under a new provider id and
/// counted as `duplicate_delivered`, and the counts show a recipient messaged twice.
/// Method: switch honouring off through the admin API, send one message twice.
#[tokio::test]
async fn unhonoured_key_is_delivered_again() -> Result<()> {
    let sim = start_sms().await?;
    let off = ProviderSettings { honour_idempotency: Some(false), ..Default::default() };
    let settings = sim.client.set("sms-primary", &off).await?;
    assert!(!settings.honour_idempotency);
    let message = sms(2, 1);
    let first = send_ok(&sim.client, "sms-primary", std::slice::from_ref(&message)).await?;
    let second = send_ok(&sim.client, "sms-primary", &[message]).await?;
    assert_eq!(second[0].status, ResultStatus::Accepted);
    assert_ne!(first[0].provider_id, second[0].provider_id);
    let counters = sim.client.stats().await?.provider("sms-primary").counters;
    assert_eq!((counters.duplicate_suppressed, counters.duplicate_delivered), (0, 1));
    let counts = sim.client.counts(2).await?.channel(Channel::Sms);
    assert_eq!((counts.deliveries, counts.delivered_keys, counts.keys_delivered_more_than_once), (2, 1, 1));
    Ok(())
}

/// Goal: the same key accepted by two providers (a failover after a lost answer) is two
/// deliveries, each provider's first, and `/admin/keys` names both providers.
#[tokio::test]
async fn same_key_at_two_providers_is_two_deliveries() -> Result<()> {
    let sim = start_sms().await?;
    let message = sms(3, 1);
    let primary = send_ok(&sim.client, "sms-primary", std::slice::from_ref(&message)).await?;
    let alt = send_ok(&sim.client, "sms-alt", &[message]).await?;
    assert_ne!(primary[0].provider_id, alt[0].provider_id);
    let stats = sim.client.stats().await?;
    assert_eq!(stats.totals.duplicate_suppressed + stats.totals.duplicate_delivered, 0);
    let info = &sim.client.keys("a3-").await?.keys["a3-c1-sms-0"];
    assert_eq!((info.count, info.delivered), (2, 2));
    assert_eq!(info.providers, vec!["sms-primary", "sms-alt"]);
    assert_eq!(sim.client.counts(3).await?.channel(Channel::Sms).keys_delivered_more_than_once, 1);
    Ok(())
}
