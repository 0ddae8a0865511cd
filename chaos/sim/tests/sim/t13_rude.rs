//! Rude providers: timeouts after acceptance, throttling mid-batch, and their settings.

use std::time::{Duration, Instant};

use anyhow::Result;
use varsel_sim::{Channel, ProviderConfig, ProviderSettings, ResultStatus, SimConfig};

use crate::fixtures::{config, send_ok, sms, start_sms};

/// Goal: with `timeout_after_accept_ms = 0` the provider takes the batch (the handsets get it)
/// and closes the connection without answering: the client sees a failure.
/// Method: rate 1.0; the send must fail, the counts must show the deliveries.
#[tokio::test]
async fn timeout_after_accept_closes_without_answer() -> Result<()> {
    let sim = start_sms().await?;
    let rude = ProviderSettings { timeout_after_accept_rate: Some(1.0), ..Default::default() };
    sim.client.set("sms-primary", &rude).await?;
    let batch: Vec<_> = (1..=4).map(|c| sms(3, c)).collect();
    let sent = sim.client.send("sms-primary", &batch).await;
    assert!(sent.is_err(), "the client must see a failure: {sent:?}");
    let counts = sim.client.counts(3).await?.channel(Channel::Sms);
    assert_eq!((counts.handsets, counts.handset_messages), (4, 4));
    let counters = sim.client.stats().await?.provider("sms-primary").counters;
    assert_eq!((counters.batches_unanswered, counters.messages_unanswered, counters.accepted), (1, 4, 4));
    assert_eq!(counts.handset_duplicates_after_unanswered, 0, "first copies are no duplicates");

    // The client, not knowing, sends two of them again to a polite provider that ignores
    // keys: the handsets show them twice, and the copies are put down to the unanswered
    // acceptance. A copy of a message that was answered is not.
    let polite = ProviderSettings {
        timeout_after_accept_rate: Some(0.0),
        honour_idempotency: Some(false),
        ..Default::default()
    };
    sim.client.set("sms-primary", &polite).await?;
    send_ok(&sim.client, "sms-primary", &batch[..2]).await?;
    let answered = vec![sms(3, 9)];
    send_ok(&sim.client, "sms-primary", &answered).await?;
    send_ok(&sim.client, "sms-primary", &answered).await?;
    let counts = sim.client.counts(3).await?.channel(Channel::Sms);
    assert_eq!((counts.handset_duplicates, counts.handset_duplicates_after_unanswered), (3, 2));
    Ok(())
}

/// Goal: with `timeout_after_accept_ms` > 0 the answer comes only after that long, later than
/// the client waits, although the handsets already have the messages.
/// Method: hold 2 s, the client gives up after 300 ms; the counts are read at once.
#[tokio::test]
async fn timeout_after_accept_holds_the_answer() -> Result<()> {
    let sim = start_sms().await?;
    let rude = ProviderSettings {
        timeout_after_accept_rate: Some(1.0),
        timeout_after_accept_ms: Some(2_000),
        ..Default::default()
    };
    sim.client.set("sms-primary", &rude).await?;
    let started = Instant::now();
    let client = sim.client.clone();
    let batch = vec![sms(4, 1)];
    let sent = tokio::time::timeout(Duration::from_millis(300), client.send("sms-primary", &batch)).await;
    assert!(sent.is_err(), "no answer within the client's timeout");
    assert_eq!(sim.client.counts(4).await?.channel(Channel::Sms).handsets, 1);
    // The held answer does come, as a late 200.
    let late = send_ok(&sim.client, "sms-primary", &[sms(4, 2)]).await?;
    assert!(started.elapsed() >= Duration::from_millis(2_000));
    assert_eq!(late[0].status, ResultStatus::Accepted);
    Ok(())
}

/// Goal: the mid-batch throttle is a function of the seed and the keys' history: two
/// simulators with the same seed cut the same batches at the same place; single messages are
/// never cut; the counters say how many were throttled. Method: 40 batches of 5 at rate 0.5
/// to two simulators.
#[tokio::test]
async fn throttle_mid_batch_is_deterministic() -> Result<()> {
    let provider =
        ProviderConfig { throttle_mid_batch_rate: 0.5, ..ProviderConfig::new("sms-primary", Channel::Sms) };
    let a = varsel_sim::spawn(config(vec![provider.clone()])).await?;
    let b = varsel_sim::spawn(config(vec![provider])).await?;
    let (mut cut_batches, mut refused) = (0, 0u64);
    for batch in 0..40u64 {
        let messages: Vec<_> = (0..5).map(|c| sms(2, batch * 5 + c)).collect();
        let ra = send_ok(&a.client, "sms-primary", &messages).await?;
        let rb = send_ok(&b.client, "sms-primary", &messages).await?;
        let status = |r: &[varsel_sim::MessageResult<'_>]| r.iter().map(|m| m.status).collect::<Vec<_>>();
        assert_eq!(status(&ra), status(&rb), "batch {batch}");
        let taken = ra.iter().take_while(|r| r.status == ResultStatus::Accepted).count();
        assert!(ra[taken..].iter().all(|r| r.status == ResultStatus::Retryable), "a prefix is taken");
        if taken < 5 {
            assert!(taken >= 1, "at least one message of a cut batch is taken");
            cut_batches += 1;
            refused += (5 - taken) as u64;
        }
    }
    assert!((8..=32).contains(&cut_batches), "about half of 40 batches: {cut_batches}");
    let counters = a.client.stats().await?.provider("sms-primary").counters;
    assert_eq!((counters.throttled_mid_batch, counters.rejected_retryable), (refused, refused));
    for single in 0..20 {
        let results = send_ok(&a.client, "sms-primary", &[sms(8, single)]).await?;
        assert_eq!(results[0].status, ResultStatus::Accepted, "a single message is never cut");
    }
    Ok(())
}

/// Goal: the rude settings default to today's polite behaviour and refuse bad values naming
/// the field, in the TOML configuration and in `POST /admin/providers/{p}`.
#[tokio::test]
async fn rude_settings_defaults_and_errors() -> Result<()> {
    let polite = ProviderConfig::new("p", Channel::Sms);
    assert_eq!((polite.timeout_after_accept_rate, polite.timeout_after_accept_ms), (0.0, 0));
    assert_eq!((polite.throttle_mid_batch_rate, polite.duplicate_callback_rate), (0.0, 0.0));
    assert!(polite.honour_idempotency && !polite.redeliver_callbacks);

    let toml = "[[providers]]\nname = \"p\"\nthrottle_mid_batch_rate = 2.0\n";
    let err = SimConfig::from_toml(toml).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("providers[0].throttle_mid_batch_rate") && err.contains("0.0..=1.0"), "{err}");

    let sim = start_sms().await?;
    let bad = [
        (
            ProviderSettings { timeout_after_accept_rate: Some(-0.1), ..Default::default() },
            "timeout_after_accept_rate",
        ),
        (
            ProviderSettings { timeout_after_accept_ms: Some(400_000), ..Default::default() },
            "timeout_after_accept_ms",
        ),
        (
            ProviderSettings { duplicate_callback_rate: Some(1.5), ..Default::default() },
            "duplicate_callback_rate",
        ),
    ];
    for (settings, field) in bad {
        let err =
            sim.client.set("sms-primary", &settings).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(&format!("body.{field}")), "{field}: {err}");
    }
    let applied = sim
        .client
        .set("sms-primary", &ProviderSettings { redeliver_callbacks: Some(true), ..Default::default() })
        .await?;
    assert!(applied.redeliver_callbacks);
    assert_eq!(applied.as_settings().redeliver_callbacks, Some(true));
    Ok(())
}
