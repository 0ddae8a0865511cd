//! The throughput cap: whole batches beyond it get 429 with Retry-After.

use anyhow::Result;
use hyper::Method;
use varsel_sim::{Channel, ProviderConfig, ProviderSettings, SendOutcome, SubmitRequest};

use crate::fixtures::{config, send_ok, sms};

/// Goal: a provider capped at 100 messages a second takes a batch of 100, refuses the next
/// batch at once with 429 and a `Retry-After` of at least one second without recording it,
/// and takes it again once the cap is lifted.
/// Method: a fresh bucket holds one second of tokens, so the timing is deterministic.
#[tokio::test]
async fn over_the_cap_is_429_with_retry_after() -> Result<()> {
    let provider =
        ProviderConfig { rate_per_second: 100, ..ProviderConfig::new("sms-primary", Channel::Sms) };
    let sim = varsel_sim::spawn(config(vec![provider])).await?;
    let first: Vec<_> = (0..100).map(|contact| sms(5, contact)).collect();
    assert_eq!(send_ok(&sim.client, "sms-primary", &first).await?.len(), 100);

    let body = serde_json::to_vec(&SubmitRequest { messages: vec![sms(5, 100)] })?;
    let answer = sim.client.request(Method::POST, "/v1/providers/sms-primary/messages", Some(body)).await?;
    assert_eq!(answer.status, 429);
    assert!(answer.retry_after_s.is_some_and(|s| s >= 1), "{answer:?}");
    assert!(answer.error_text().contains("throughput"), "{}", answer.error_text());
    let counters = sim.client.stats().await?.provider("sms-primary").counters;
    assert_eq!((counters.received, counters.batches_throttled), (100, 1));

    let unlimited = ProviderSettings { rate_per_second: Some(0), ..Default::default() };
    sim.client.set("sms-primary", &unlimited).await?;
    match sim.client.send("sms-primary", &[sms(5, 100)]).await? {
        SendOutcome::Results(results) => assert_eq!(results.len(), 1),
        other => anyhow::bail!("expected 200, got {other:?}"),
    }
    Ok(())
}
