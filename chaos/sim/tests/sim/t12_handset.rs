//! Handset truth: copies per recipient whatever the keys, and multipart reassembly with orphan
//! fragments.

use std::borrow::Cow;

use anyhow::Result;
use varsel_sim::{Channel, Message, Part, ProviderSettings, ResultStatus, SendOutcome};

use crate::fixtures::{send_ok, sms, start_sms};

/// Segment `index` of `total` of a multipart SMS to contact 1 of `alert`, under `reference`,
/// with a key of its own (a client sending segments separately keys each).
fn segment(alert: u64, reference: u16, index: u8, total: u8) -> Message<'static> {
    let mut m = sms(alert, 1);
    m.key = Cow::Owned(format!("{}-r{reference}-p{index}", m.key));
    m.part = Some(Part { reference, index, total });
    m
}

/// Goal: the handset count sees every copy the keys hide: the same key at another provider,
/// a provider that ignores keys, and a new key to the same number; a suppressed repeat is no
/// copy. Method: scripted sends to one number; the key-based count is compared too, to show
/// what it misses.
#[tokio::test]
async fn copies_counted_whatever_the_keys() -> Result<()> {
    let sim = start_sms().await?;
    let client = &sim.client;
    let first = sms(1, 1);
    send_ok(client, "sms-primary", std::slice::from_ref(&first)).await?;
    send_ok(client, "sms-primary", std::slice::from_ref(&first)).await?; // suppressed
    assert_eq!(client.counts(1).await?.handset_duplicates, 0);
    send_ok(client, "sms-alt", std::slice::from_ref(&first)).await?; // same key, other provider
    let keys_off = ProviderSettings { honour_idempotency: Some(false), ..Default::default() };
    client.set("sms-primary", &keys_off).await?;
    send_ok(client, "sms-primary", std::slice::from_ref(&first)).await?; // key ignored
    let mut rekeyed = first.clone();
    rekeyed.key = Cow::Borrowed("a1-c1-sms-0-retry");
    send_ok(client, "sms-primary", &[rekeyed]).await?; // new key, same number
    send_ok(client, "sms-primary", &[sms(1, 2)]).await?; // another recipient

    let counts = client.counts(1).await?;
    let sms = counts.channel(Channel::Sms);
    assert_eq!((sms.handsets, sms.handset_messages, sms.handset_duplicates), (2, 5, 3));
    assert_eq!(counts.handset_duplicates, 3);
    // The key-based count sees two deliveries beyond the first of "a1-c1-sms-0", not the new key's.
    assert_eq!((sms.delivered_keys, sms.keys_delivered_more_than_once), (3, 1));
    Ok(())
}

/// Goal: parts make a message only when every part of their reference is in; until then they
/// are orphan fragments. A batch throttled mid-message leaves the accepted parts orphaned
/// when the client re-sends the whole message under a new reference (an orphan and a full
/// copy, the multipart failure), but not when it re-sends only the refused parts
/// under the same reference. Method: scripted segments to one number, the throttle at 100 %.
#[tokio::test]
async fn multipart_reassembly_and_orphans() -> Result<()> {
    let sim = start_sms().await?;
    let client = &sim.client;
    send_ok(client, "sms-primary", &[segment(5, 7, 1, 3), segment(5, 7, 3, 3)]).await?;
    let waiting = client.counts(5).await?;
    assert_eq!((waiting.orphan_fragments, waiting.channel(Channel::Sms).handset_messages), (2, 0));
    send_ok(client, "sms-primary", &[segment(5, 7, 2, 3)]).await?;
    let whole = client.counts(5).await?;
    assert_eq!((whole.orphan_fragments, whole.channel(Channel::Sms).handset_messages), (0, 1));

    // Alert 6, throttled part-way: k of 3 parts taken.
    let throttle = ProviderSettings { throttle_mid_batch_rate: Some(1.0), ..Default::default() };
    client.set("sms-primary", &throttle).await?;
    let parts = [segment(6, 8, 1, 3), segment(6, 8, 2, 3), segment(6, 8, 3, 3)];
    let results = send_ok(client, "sms-primary", &parts).await?;
    let taken = results.iter().take_while(|r| r.status == ResultStatus::Accepted).count();
    assert!((1..3).contains(&taken), "{results:?}");
    assert!(results[taken..].iter().all(|r| r.status == ResultStatus::Retryable));
    assert!(results[taken].error.as_deref().is_some_and(|e| e.contains("throttling")));
    assert_eq!(client.counts(6).await?.orphan_fragments, taken as u64);
    client
        .set("sms-primary", &ProviderSettings { throttle_mid_batch_rate: Some(0.0), ..Default::default() })
        .await?;

    // Alert 7 like alert 6, the client doing it right: only the refused parts, same reference.
    let parts7 = [segment(7, 9, 1, 3), segment(7, 9, 2, 3), segment(7, 9, 3, 3)];
    send_ok(client, "sms-primary", &parts7[..taken]).await?;
    send_ok(client, "sms-primary", &parts7[taken..]).await?;
    let right = client.counts(7).await?;
    assert_eq!((right.orphan_fragments, right.handset_duplicates), (0, 0));

    // Alert 6, the client doing it wrong: the whole message again under a new reference.
    send_ok(client, "sms-primary", &[segment(6, 10, 1, 3), segment(6, 10, 2, 3), segment(6, 10, 3, 3)])
        .await?;
    let wrong = client.counts(6).await?;
    assert_eq!(wrong.orphan_fragments, taken as u64, "the first try's parts stay orphaned");
    assert_eq!(wrong.channel(Channel::Sms).handset_messages, 1);
    Ok(())
}

/// Goal: a part that does not say which of how many it is is refused naming the field.
#[tokio::test]
async fn malformed_parts_name_the_field() -> Result<()> {
    let sim = start_sms().await?;
    for (part, field) in [
        (Part { reference: 1, index: 0, total: 2 }, "messages[0].part.index"),
        (Part { reference: 1, index: 3, total: 2 }, "messages[0].part.index"),
        (Part { reference: 1, index: 1, total: 0 }, "messages[0].part.total"),
    ] {
        let mut m = sms(9, 1);
        m.part = Some(part);
        match sim.client.send("sms-primary", &[m]).await? {
            SendOutcome::Rejected { status: 400, error } => assert!(error.starts_with(field), "{error}"),
            other => anyhow::bail!("{part:?}: expected 400, got {other:?}"),
        }
    }
    assert_eq!(sim.client.stats().await?.totals.received, 0);
    Ok(())
}
