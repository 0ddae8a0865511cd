use varsel_domain::clock::wall_ms;
use varsel_proto::api::{AlertStatus, Channel, CreateAlertRequest, Priority};
use varsel_sim::Channel as SimChannel;

use crate::fixture::{Fixture, alert_request, at_once, sim_config};

/// Recipients of the scheduled alert.
const N: usize = 300;
/// How far ahead the alert is scheduled: long enough for a leader to be killed and another
/// elected while it waits (about two election timeouts under the tests' relaxed Raft timing, a
/// few seconds on a busy machine), checked below.
const AHEAD_MS: u64 = 15_000;
/// How much earlier than `send_at_ms` a message may reach a handset. The log clock is the
/// largest leader timestamp in the log, and no shard is leased before it reaches `send_at_ms`;
/// across sites a message can leave early by the skew between the leader's clock and the
/// provider's. Here every node and the simulator read one machine's clock, so: none.
const EARLY_MS_ALLOWED: u64 = 0;
/// How soon after `send_at_ms` the first message must reach a handset: a heartbeat interval
/// (750 ms) to lease a shard by the log clock, a scheduler tick (250 ms) and a send; a busy
/// two-core machine running three nodes gets ten times that.
const START_WITHIN_MS: u64 = 10_000;

/// Goal: a scheduled alert sends nothing before `send_at_ms` (by the log clock), starts
/// sending when it is due, and keeps its schedule through a leader change while it waits:
/// every recipient is reached once, on every channel.
/// Method: an alert to 300 recipients (SMS and e-mail) is scheduled 15 s ahead; right after it
/// is accepted the leader is SIGKILLed, and the test waits for the survivors to elect another
/// (still before the start), checks the alert is still SCHEDULED and no handset got anything.
/// Once it completes, the simulator's inbox gives the time each message reached its recipient:
/// the first is compared with `send_at_ms`, and so is the first send the log recorded.
#[tokio::test(flavor = "multi_thread")]
async fn scheduled_alert_starts_when_due_and_survives_a_leader_change() {
    let mut f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(N, "alle").await;
    let send_at = wall_ms() + AHEAD_MS;
    let policy = at_once(&[Channel::Sms, Channel::Email]);
    let req = CreateAlertRequest {
        send_at_ms: send_at,
        ..alert_request("senere", "alle", Priority::Crisis, policy)
    };
    let a = f.create(req, 2).await;
    assert_eq!((a.status, a.send_at_ms), (AlertStatus::Scheduled as i32, send_at));

    let leader = f.c.leader().await;
    f.c.lc.kill(leader).await.unwrap();
    let survivors: Vec<u64> = f.c.ids().into_iter().filter(|id| *id != leader).collect();
    let new_leader = f.c.leader_among(&survivors).await;
    let waiting = f.get(a.id, survivors[0]).await;
    let elected_at = wall_ms();
    assert!(
        elected_at < send_at,
        "node {new_leader} took over from node {leader} only at {elected_at}, after the start at {send_at}: \
         the test did not check waiting through a leader change; schedule further ahead"
    );
    assert_eq!(waiting.status, AlertStatus::Scheduled as i32, "{waiting:?}");
    assert!(f.sim.client.inbox(a.id).await.unwrap().messages.is_empty(), "sent before its time");

    let done = f.wait_final(a.id, survivors[1]).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    let inbox = f.sim.client.inbox(a.id).await.unwrap();
    assert_eq!((inbox.messages.len(), inbox.not_kept), (2 * N, 0));
    let first = inbox.messages.iter().map(|m| m.at_ms).min().unwrap();
    let last = inbox.messages.iter().map(|m| m.at_ms).max().unwrap();
    eprintln!(
        "scheduled: leader {leader} killed, {new_leader} elected {} ms before the start; first message {} ms \
         after send_at, last {} ms after",
        send_at - elected_at,
        first as i64 - send_at as i64,
        last as i64 - send_at as i64
    );
    assert!(first + EARLY_MS_ALLOWED >= send_at, "a message reached a handset {} ms early", send_at - first);
    assert!(
        first <= send_at + START_WITHIN_MS,
        "the first message came {} ms after the start",
        first - send_at
    );
    let logged = done.progress.as_ref().unwrap().first_sent_at_ms;
    assert!(logged + EARLY_MS_ALLOWED >= send_at, "the log says it started {} ms early", send_at - logged);
    for channel in [SimChannel::Sms, SimChannel::Email] {
        let c = f.sim.client.counts(a.id).await.unwrap().channel(channel);
        assert_eq!((c.delivered_keys, c.keys_delivered_more_than_once), (N as u64, 0), "{channel:?}");
    }
    let seen = f.get(a.id, survivors[0]).await;
    assert_eq!(seen.progress, done.progress, "the survivors agree on the outcome");
}
