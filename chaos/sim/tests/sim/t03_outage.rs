//! Outages: whole batches refused, health down, then back.

use anyhow::Result;
use varsel_sim::{ProviderSettings, ResultStatus, SendOutcome};

use crate::fixtures::{send_ok, sms, start_sms};

/// Goal: during an outage every batch is answered 503 and health is 503, nothing is
/// recorded, the other provider is unaffected, and service resumes when the outage ends.
/// Method: toggle `outage` through the admin API around sends and health checks.
#[tokio::test]
async fn outage_refuses_batches_then_heals() -> Result<()> {
    let sim = start_sms().await?;
    let down = ProviderSettings { outage: Some(true), ..Default::default() };
    sim.client.set("sms-primary", &down).await?;
    match sim.client.send("sms-primary", &[sms(1, 1)]).await? {
        SendOutcome::Unavailable(error) => assert!(error.contains("outage"), "{error}"),
        other => anyhow::bail!("expected 503, got {other:?}"),
    }
    assert!(!sim.client.healthy("sms-primary").await?);
    assert!(sim.client.healthy("sms-alt").await?);
    send_ok(&sim.client, "sms-alt", &[sms(1, 2)]).await?;
    let stats = sim.client.stats().await?;
    let primary = stats.provider("sms-primary");
    assert!(primary.outage);
    assert_eq!((primary.counters.batches_unavailable, primary.counters.received), (1, 0));
    assert_eq!(stats.distinct_keys, 1);

    let up = ProviderSettings { outage: Some(false), ..Default::default() };
    sim.client.set("sms-primary", &up).await?;
    assert!(sim.client.healthy("sms-primary").await?);
    let results = send_ok(&sim.client, "sms-primary", &[sms(1, 1)]).await?;
    assert_eq!(results[0].status, ResultStatus::Accepted);
    assert!(!sim.client.stats().await?.provider("sms-primary").outage);
    Ok(())
}
