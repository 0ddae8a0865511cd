use varsel_proto::api::{AlertStatus, Channel, Priority};

use crate::fixture::{Fixture, at_once, sim_config};

/// The tenant's `max_send_rate_per_second`, over the cluster (each of the three nodes gets a
/// third).
const LIMIT: u32 = 300;
/// Recipients: 15 s of sending at the limit, so the measured window (below) holds thousands of
/// messages and the granularity of one chunk per node is a few per cent of it.
const N: usize = 4_500;
/// Recipients per chunk: a node takes its tenant budget a chunk at a time, so a chunk is the
/// largest step by which a node can run ahead of its share at any instant. The default (256) is
/// most of a node's whole second (100); 50 makes the measurement fine-grained without changing
/// what is measured.
const CHUNK: usize = 50;
/// Arrivals before this long after the first one are left out: every node's budget starts full
/// (one second's worth, the token bucket's burst), so the first second may carry up to twice
/// the limit by design.
const WARM_UP_MS: u64 = 2_000;
/// The window ends when this share of the messages has arrived: at the end the nodes run out
/// of shards one after the other, and a node with nothing to send uses none of its share.
const WINDOW_END_SHARE: f64 = 0.9;
/// Tolerance above the limit. Over the window, three nodes can exceed `LIMIT x seconds` only by
/// what their buckets held when it began plus one chunk each: with work always waiting the
/// buckets stay near empty, so 3 x 50 messages over a window of ~11 s, under 5 %; the rest
/// covers the millisecond granularity of arrival times. A limit not shared among the nodes
/// would measure ~3x, a limit not applied far more.
const ABOVE: f64 = 1.15;
/// Tolerance below the limit: the tenant must get its rate, not a fraction of it. A node left
/// without work would cost a third (0.67); the two shared cores have run 900 messages/s through
/// three debug nodes in the site-loss test, so the machine is not what holds this back.
const BELOW: f64 = 0.80;

/// Goal: `max_send_rate_per_second` holds for a tenant across the three nodes: the rate its
/// messages reach the handsets stays at the limit (within the tolerances above), and every
/// node takes part.
/// Method: a tenant held to 300/s sends one SMS alert to 4,500 recipients. The simulator's
/// inbox gives the arrival time of every message; the rate is the number that arrived between
/// 2 s after the first and the 90 % mark, divided by that time. Each node's sent-messages
/// metric shows it sent some.
#[tokio::test(flavor = "multi_thread")]
async fn tenant_send_rate_holds_across_three_nodes() {
    let f = Fixture::start(sim_config(), |s| s.delivery.chunk_recipients = CHUNK).await;
    f.contacts(N, "alle").await;
    f.set_rate(LIMIT).await;
    let a = f.alert("fart", "alle", Priority::Routine, at_once(&[Channel::Sms])).await;
    let done = f.wait_final(a.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);

    let inbox = f.sim.client.inbox(a.id).await.unwrap();
    assert_eq!((inbox.messages.len(), inbox.not_kept), (N, 0));
    let mut times: Vec<u64> = inbox.messages.iter().map(|m| m.at_ms).collect();
    times.sort_unstable();
    let first = times[0];
    let start = first + WARM_UP_MS;
    let end = times[(N as f64 * WINDOW_END_SHARE) as usize];
    let in_window = times.iter().filter(|t| **t >= start && **t < end).count();
    let seconds = (end - start) as f64 / 1000.0;
    let rate = in_window as f64 / seconds;
    let warm_up = times.iter().filter(|t| **t < start).count();
    let whole = N as f64 / ((times[N - 1] - first) as f64 / 1000.0);
    eprintln!(
        "send rate: {rate:.1} messages/s over {seconds:.1} s ({in_window} messages) against a limit of {LIMIT}/s \
         ({:.2}x); first {WARM_UP_MS} ms: {warm_up} messages; whole alert: {whole:.1}/s over {:.1} s",
        rate / f64::from(LIMIT),
        (times[N - 1] - first) as f64 / 1000.0
    );
    assert!(seconds >= 8.0, "the window is too short to measure a rate: {seconds:.1} s");
    assert!(rate <= f64::from(LIMIT) * ABOVE, "{rate:.1}/s is above the limit of {LIMIT}/s");
    assert!(rate >= f64::from(LIMIT) * BELOW, "{rate:.1}/s is well below the limit of {LIMIT}/s");
    for id in f.c.ids() {
        assert!(f.sent_by_node(id).await > 0, "node {id} sent nothing");
    }
}
