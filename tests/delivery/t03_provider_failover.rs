use std::time::{Duration, Instant};

use varsel_proto::api::{AlertStatus, Channel, Priority};
use varsel_sim::{Channel as SimChannel, ProviderSettings};

use crate::fixture::{Fixture, at_once, sim_config};

/// Goal: when the primary SMS provider goes down mid-alert, the rest goes through the
/// alternative subcontractor and nobody is missed; when the primary heals, traffic returns.
/// Method: a rate-limited alert to 5,000; after 1,000 the simulator puts `sms-primary` in an
/// outage; the alert completes; counts per provider show the alternative took over. Then the
/// primary comes back and a second alert goes through it again.
#[tokio::test(flavor = "multi_thread")]
async fn primary_down_mid_alert_then_back() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(5_000, "alle").await;
    f.set_rate(900).await;
    let a = f.alert("failover", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.get(a.id, 1).await.progress.map_or(0, |p| p.recipients) < 1_000 {
        assert!(Instant::now() < deadline, "alert did not progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let down = ProviderSettings { outage: Some(true), ..Default::default() };
    f.sim.client.set("sms-primary", &down).await.unwrap();
    let before = f.sim.client.stats().await.unwrap();
    let done = f.wait_final(a.id, 2).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    let after = f.sim.client.stats().await.unwrap();
    let alt_took =
        after.providers["sms-alt"].counters.accepted - before.providers["sms-alt"].counters.accepted;
    assert!(alt_took > 0, "the alternative provider took no traffic");
    let c = f.sim.client.counts(a.id).await.unwrap().channel(SimChannel::Sms);
    assert_eq!(c.distinct_keys, 5_000, "every recipient reached across both providers");
    assert_eq!(done.progress.unwrap().channels[0].failed, 0);

    let up = ProviderSettings { outage: Some(false), ..Default::default() };
    f.sim.client.set("sms-primary", &up).await.unwrap();
    // Circuits probe the healed provider (health checks every second, then one half-open
    // call); once a probe succeeds, traffic goes back to the primary. The next alert runs at
    // the same rate, so most of it must go through the primary again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let accepted = |s: &varsel_sim::Stats, p: &str| s.providers[p].counters.accepted;
    let before = f.sim.client.stats().await.unwrap();
    let b = f.alert("after-heal", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    f.wait_final(b.id, 3).await;
    let after = f.sim.client.stats().await.unwrap();
    let (primary, alt) = (
        accepted(&after, "sms-primary") - accepted(&before, "sms-primary"),
        accepted(&after, "sms-alt") - accepted(&before, "sms-alt"),
    );
    assert_eq!(primary + alt, 5_000);
    assert!(
        primary > 4 * alt,
        "traffic did not return to the healed primary: primary {primary}, alternative {alt}"
    );
}
