//! The inbox: what each recipient received, with its arrival time.

use anyhow::Result;
use varsel_sim::{Channel, Message, ProviderSettings, SimConfig};

use crate::fixtures::{config, send_ok, sms, start_sms};

/// Goal: `/admin/inbox` lists each delivery once with its address, text and arrival time,
/// filters by alert and address, leaves out suppressed repeats and rejected messages, counts
/// what it does not keep, and is emptied by a reset.
/// Method: send messages of two alerts (one twice, one to a failing provider), then list.
#[tokio::test]
async fn lists_what_each_recipient_received() -> Result<()> {
    let sim = start_sms().await?;
    let before = wall_ms();
    send_ok(&sim.client, "sms-primary", &[sms(1, 1), sms(1, 2), sms(2, 1)]).await?;
    send_ok(&sim.client, "sms-primary", &[sms(1, 1)]).await?;
    let permanent = ProviderSettings { permanent_error_rate: Some(1.0), ..Default::default() };
    sim.client.set("sms-alt", &permanent).await?;
    send_ok(&sim.client, "sms-alt", &[sms(3, 1)]).await?;

    let one = sim.client.inbox(1).await?;
    let keys: Vec<&str> = one.messages.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["a1-c1-sms-0", "a1-c2-sms-0"], "the suppressed repeat is no second delivery");
    assert_eq!(one.total, 3);
    let m = &one.messages[0];
    assert_eq!(
        (m.channel, m.provider.as_str(), m.text.as_str()),
        (Channel::Sms, "sms-primary", "Evacuate now.")
    );
    assert!(m.at_ms >= before && m.at_ms <= wall_ms(), "{m:?}");
    assert!(sim.client.inbox(3).await?.messages.is_empty(), "a rejected message reached no one");
    let to = sms(2, 1).to.to_string();
    let theirs = sim.client.inbox_of(&to).await?;
    assert_eq!(theirs.messages.len(), 2, "contact 1 of alerts 1 and 2 has the same number: {theirs:?}");

    sim.client.reset().await?;
    assert_eq!(sim.client.inbox(1).await?.total, 0);
    sim.stop().await?;
    Ok(())
}

/// Goal: beyond `inbox_max` deliveries are counted, not kept, and a listing says so.
/// Method: an inbox of two, three deliveries.
#[tokio::test]
async fn bounded_by_inbox_max() -> Result<()> {
    let providers = vec![varsel_sim::ProviderConfig::new("email", Channel::Email)];
    let sim = varsel_sim::spawn(SimConfig { inbox_max: 2, ..config(providers) }).await?;
    let messages: Vec<Message<'_>> = (1..=3).map(|c| Message::sample(5, c, Channel::Email, 0)).collect();
    send_ok(&sim.client, "email", &messages).await?;
    let listing = sim.client.inbox(5).await?;
    assert_eq!((listing.messages.len(), listing.total, listing.not_kept), (2, 3, 1));
    assert_eq!(listing.messages[0].title.as_deref(), Some("Alert"));
    let email = varsel_sim::ProviderConfig::new("email", Channel::Email);
    let too_big = SimConfig { inbox_max: varsel_sim::limits::INBOX_MAX + 1, ..config(vec![email]) };
    let Err(e) = too_big.validate() else { anyhow::bail!("an inbox_max over the cap was accepted") };
    assert!(e.to_string().contains("inbox_max"), "{e}");
    sim.stop().await?;
    Ok(())
}

/// Now in ms since the Unix epoch, read the way the simulator reads it.
fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
