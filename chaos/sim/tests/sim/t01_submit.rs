//! A batch is accepted, answered in order and recorded.

use anyhow::Result;
use hyper::Method;
use varsel_sim::{ResultStatus, SendOutcome, SubmitRequest};

use crate::fixtures::{send_ok, sms, start_sms};

/// Goal: a batch of three SMS is accepted in order, each with a provider id, and recorded:
/// stats count it, `/admin/keys` lists the keys with their provider, health is 200.
/// Method: one batch over loopback to an in-process simulator.
#[tokio::test]
async fn batch_is_accepted_and_recorded() -> Result<()> {
    let sim = start_sms().await?;
    let messages: Vec<_> = (1..=3).map(|contact| sms(12, contact)).collect();
    let results = send_ok(&sim.client, "sms-primary", &messages).await?;
    assert_eq!(results.len(), 3);
    for (message, result) in messages.iter().zip(&results) {
        assert_eq!(result.key, message.key);
        assert_eq!(result.status, ResultStatus::Accepted);
        assert!(result.provider_id.as_deref().is_some_and(|id| id.starts_with("sms-primary-")), "{result:?}");
        assert_eq!(result.error, None);
    }
    let stats = sim.client.stats().await?;
    let counters = stats.provider("sms-primary").counters;
    assert_eq!((counters.received, counters.accepted, counters.batches), (3, 3, 1));
    assert_eq!((stats.totals.received, stats.distinct_keys, stats.seed), (3, 3, crate::fixtures::SEED));
    let keys = sim.client.keys("a12-").await?;
    assert_eq!(keys.keys.len(), 3);
    let info = &keys.keys["a12-c1-sms-0"];
    assert_eq!((info.count, info.delivered), (1, 1));
    assert_eq!(info.providers, vec!["sms-primary"]);
    assert!(sim.client.keys("a13-").await?.keys.is_empty());
    assert!(sim.client.healthy("sms-primary").await?);
    sim.stop().await?;
    Ok(())
}

/// Goal: the answer has exactly the wire shape the node's client parses.
/// Method: post a raw body and read the raw JSON.
#[tokio::test]
async fn answer_has_the_wire_shape() -> Result<()> {
    let sim = start_sms().await?;
    let body = serde_json::to_vec(&SubmitRequest { messages: vec![sms(1, 1)] })?;
    let answer = sim.client.request(Method::POST, "/v1/providers/sms-primary/messages", Some(body)).await?;
    assert_eq!(answer.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&answer.body)?;
    let result = &json["results"][0];
    assert_eq!(result["key"], "a1-c1-sms-0");
    assert_eq!(result["status"], "accepted");
    assert!(result["provider_id"].is_string());
    assert!(result.get("error").is_none());
    let health = sim.client.request(Method::GET, "/v1/providers/sms-primary/health", None).await?;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&health.body)?, serde_json::json!({"ok": true}));
    Ok(())
}

/// Goal: an unknown provider is a 404 that names it, and nothing is recorded.
#[tokio::test]
async fn unknown_provider_is_404() -> Result<()> {
    let sim = start_sms().await?;
    match sim.client.send("fax", &[sms(1, 1)]).await? {
        SendOutcome::Rejected { status, error } => {
            assert_eq!(status, 404);
            assert!(error.contains("fax"), "{error}");
        }
        other => anyhow::bail!("expected 404, got {other:?}"),
    }
    assert_eq!(sim.client.stats().await?.totals.received, 0);
    Ok(())
}
