//! Malformed input: 400 naming the field, 413 beyond the bounds, per-message problems as
//! `permanent`, and the admin API's own validation. Nothing here may crash the server.

use anyhow::Result;
use hyper::Method;
use varsel_sim::{Channel, Message, ProviderSettings, ResultStatus, limits};

use crate::fixtures::{send_ok, sms, start_sms};

const PATH: &str = "/v1/providers/sms-primary/messages";

/// Goal: each malformed body is a 400 whose message names the field at fault.
/// Method: one raw body per mistake; then a valid batch still works.
#[tokio::test]
async fn malformed_bodies_are_400_naming_the_field() -> Result<()> {
    let sim = start_sms().await?;
    let message = r#""key":"k","channel":"sms","to":"+4790000000","tenant":1"#;
    let cases: Vec<(String, &str)> = vec![
        ("{not json".to_owned(), "body"),
        (r#"{"messages":{}}"#.to_owned(), "messages"),
        (format!(r#"{{"messages":[{{{message}}}]}}"#), "missing field `alert`"),
        (format!(r#"{{"messages":[{{{message},"alert":"x"}}]}}"#), "messages[0].alert"),
        (
            r#"{"messages":[{"key":"k","channel":"fax","to":"+47","tenant":1,"alert":1}]}"#.to_owned(),
            "messages[0].channel",
        ),
        (format!(r#"{{"messages":[{{{message},"alert":1,"sms":{{}}}}]}}"#), "messages[0].sms"),
        (
            r#"{"messages":[{"key":"","channel":"sms","to":"+47","tenant":1,"alert":1}]}"#.to_owned(),
            "messages[0].key",
        ),
        (format!(r#"{{"messages":[{{{message},"alert":1}}]}} trailing"#), "body"),
    ];
    for (body, named) in cases {
        let answer = sim.client.request(Method::POST, PATH, Some(body.clone().into_bytes())).await?;
        assert_eq!(answer.status, 400, "{body}");
        let error = answer.error_text();
        assert!(error.contains(named), "{body} -> {error}");
    }
    assert_eq!(sim.client.stats().await?.totals.received, 0);
    assert_eq!(send_ok(&sim.client, "sms-primary", &[sms(1, 1)]).await?.len(), 1);
    Ok(())
}

/// Goal: more than 1,000 messages or more than 4 MiB is 413, and the connection survives
/// to carry the next request.
#[tokio::test]
async fn oversized_batches_are_413() -> Result<()> {
    let sim = start_sms().await?;
    let messages: Vec<_> = (0..=limits::BATCH_MESSAGES_MAX as u64).map(|c| sms(1, c)).collect();
    let body = serde_json::to_vec(&varsel_sim::SubmitRequest { messages })?;
    let answer = sim.client.request(Method::POST, PATH, Some(body)).await?;
    assert_eq!(answer.status, 413);
    assert!(answer.error_text().contains("1001"), "{}", answer.error_text());

    let mut huge = sms(1, 1);
    huge.sms =
        Some(varsel_sim::protocol::SmsContent { text: "x".repeat(limits::BATCH_BODY_BYTES_MAX).into() });
    let body = serde_json::to_vec(&varsel_sim::SubmitRequest { messages: vec![huge] })?;
    let answer = sim.client.request(Method::POST, PATH, Some(body)).await?;
    assert_eq!(answer.status, 413);
    assert!(answer.error_text().contains("body"), "{}", answer.error_text());
    assert_eq!(send_ok(&sim.client, "sms-primary", &[sms(1, 1)]).await?.len(), 1);
    Ok(())
}

/// Goal: a message of the wrong channel, or without its channel's content, or without a
/// recipient, is rejected `permanent` on its own with the field named; its neighbours pass.
#[tokio::test]
async fn per_message_problems_are_permanent() -> Result<()> {
    let sim = start_sms().await?;
    let email = Message::sample(1, 1, Channel::Email, 0);
    let mut no_content = sms(1, 2);
    no_content.sms = None;
    let mut no_recipient = sms(1, 3);
    no_recipient.to = "".into();
    let batch = [email, no_content, sms(1, 4), no_recipient];
    let results = send_ok(&sim.client, "sms-primary", &batch).await?;
    let errors: Vec<_> = results.iter().map(|r| (r.status, r.error.as_deref().unwrap_or(""))).collect();
    assert_eq!(errors[0].0, ResultStatus::Permanent);
    assert!(errors[0].1.contains("messages[0].channel"), "{:?}", errors[0]);
    assert!(errors[1].1.contains("messages[1].sms"), "{:?}", errors[1]);
    assert_eq!(errors[2], (ResultStatus::Accepted, ""));
    assert!(errors[3].1.contains("messages[3].to"), "{:?}", errors[3]);
    assert_eq!(sim.client.stats().await?.totals.rejected_permanent, 3);
    Ok(())
}

/// Goal: the admin API validates too: out-of-range settings and unknown fields are 400
/// naming the field, a missing alert is 400, an unknown route 404.
#[tokio::test]
async fn admin_input_is_validated() -> Result<()> {
    let sim = start_sms().await?;
    let bad = ProviderSettings { error_rate: Some(2.0), ..Default::default() };
    let error = sim.client.set("sms-primary", &bad).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("error_rate") && error.contains("400"), "{error}");
    let answer = sim
        .client
        .request(Method::POST, "/admin/providers/sms-primary", Some(br#"{"eror_rate":1}"#.to_vec()))
        .await?;
    assert_eq!(answer.status, 400);
    assert!(answer.error_text().contains("eror_rate"), "{}", answer.error_text());
    let answer = sim.client.request(Method::GET, "/admin/counts", None).await?;
    assert_eq!((answer.status, answer.error_text().contains("alert")), (400, true));
    let answer = sim.client.request(Method::GET, "/admin/keys?limit=x", None).await?;
    assert_eq!((answer.status, answer.error_text().contains("limit")), (400, true));
    assert_eq!(sim.client.request(Method::GET, "/nowhere", None).await?.status, 404);
    Ok(())
}
