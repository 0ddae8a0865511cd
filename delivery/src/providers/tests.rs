//! Unit tests of failover, retries and throttling with scripted providers.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use varsel_domain::model::Priority;

use super::*;
use crate::message::MessageContent;

/// A provider that answers from a script, then with its default.
#[derive(Debug)]
struct Scripted {
    name: String,
    script: Mutex<VecDeque<Result<Vec<SendResult>, ProviderError>>>,
    down: std::sync::atomic::AtomicBool,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(name: &str) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            script: Mutex::default(),
            down: false.into(),
            calls: AtomicUsize::new(0),
        })
    }
}

impl Provider for Scripted {
    fn name(&self) -> &str {
        &self.name
    }
    fn channel(&self) -> Channel {
        Channel::Sms
    }
    fn batch_max(&self) -> usize {
        10
    }
    fn send<'a>(
        &'a self,
        batch: &'a [OutboundMessage],
    ) -> BoxFuture<'a, Result<Vec<SendResult>, ProviderError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = self.script.lock().unwrap().pop_front();
        let down = self.down.load(Ordering::SeqCst);
        Box::pin(async move {
            match next {
                Some(r) => r,
                None if down => Err(ProviderError::Unavailable("down".into())),
                None => Ok(batch
                    .iter()
                    .map(|m| SendResult::Accepted(format!("{}:{}", self.name, m.key)))
                    .collect()),
            }
        })
    }
    fn health(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        let down = self.down.load(Ordering::SeqCst);
        Box::pin(async move { if down { Err(ProviderError::Unavailable("down".into())) } else { Ok(()) } })
    }
}

fn msgs(n: usize) -> Vec<OutboundMessage> {
    (0..n)
        .map(|i| OutboundMessage {
            key: format!("a1-c{i}-sms-0"),
            alert: 1,
            tenant: 1,
            contact: i as u64,
            channel: Channel::Sms,
            step: 0,
            priority: Priority::Crisis,
            to: "+4790000000".into(),
            content: MessageContent::Sms { text: "x".into() },
            senders: Default::default(),
        })
        .collect()
}

fn set(providers: &[Arc<Scripted>]) -> ProviderSet {
    let slots = providers.iter().map(|p| Slot::new(p.clone() as Arc<dyn Provider>, 0, 4)).collect();
    ProviderSet::new(Channel::Sms, slots, RetryPolicy::default(), Arc::new(NoEvents))
}

fn providers_used(out: &[(Final, u64)]) -> Vec<String> {
    out.iter()
        .map(|(f, _)| match f {
            Final::Sent { provider, .. } => provider.clone(),
            Final::Failed { reason, .. } => format!("failed: {reason}"),
            Final::Dropped { reason } => format!("dropped: {reason}"),
        })
        .collect()
}

/// Goal: when the primary is down, traffic moves to the alternative, the circuit opens, and
/// traffic returns to the primary once it heals. Method: paused time, scripted providers.
#[tokio::test(start_paused = true)]
async fn failover_and_return() {
    let (primary, alt) = (Scripted::new("primary"), Scripted::new("alt"));
    let s = set(&[primary.clone(), alt.clone()]);
    primary.down.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        let out = s.deliver(&msgs(3)).await;
        assert_eq!(providers_used(&out), vec!["alt"; 3]);
    }
    assert_eq!(s.slots()[0].breaker_state(), BreakerState::Open);
    let calls_while_open = primary.calls.load(Ordering::SeqCst);
    assert_eq!(calls_while_open, 3, "once open, the primary is not called");
    primary.down.store(false, Ordering::SeqCst);
    s.probe_open().await;
    let out = s.deliver(&msgs(2)).await;
    assert_eq!(providers_used(&out), vec!["primary"; 2], "healed primary takes traffic back");
}

/// Goal: retryable results are retried (with backoff) until accepted; permanent ones fail
/// only their message; throttling waits without failing.
#[tokio::test(start_paused = true)]
async fn retries_permanent_and_throttle() {
    let p = Scripted::new("p");
    p.script.lock().unwrap().extend([
        Err(ProviderError::Throttled(Duration::from_secs(1))),
        Ok(vec![
            SendResult::Retryable("busy".into()),
            SendResult::Permanent("bad number".into()),
            SendResult::Accepted("ok".into()),
        ]),
    ]);
    let s = set(std::slice::from_ref(&p));
    let out = s.deliver(&msgs(3)).await;
    assert_eq!(providers_used(&out), vec!["p".to_string(), "failed: bad number".into(), "p".into()]);
    assert_eq!(p.calls.load(Ordering::SeqCst), 3);
}

/// Goal: a message that keeps failing is failed after the attempt bound, naming the error;
/// a channel without providers fails at once.
#[tokio::test(start_paused = true)]
async fn bounded_retries() {
    let p = Scripted::new("p");
    p.down.store(true, Ordering::SeqCst);
    let out = set(&[p]).deliver(&msgs(1)).await;
    let reason = providers_used(&out).remove(0);
    assert!(reason.starts_with("failed: gave up after"), "{reason}");
    let out = set(&[]).deliver(&msgs(2)).await;
    assert!(providers_used(&out).iter().all(|r| r.contains("no provider configured")));
}

/// A fence that closes once the provider has been called `open_for` times, and counts the
/// calls it was told began.
#[derive(Debug)]
struct ClosesAfter {
    provider: Arc<Scripted>,
    open_for: usize,
    begun: std::sync::atomic::AtomicUsize,
}

impl SendFence for ClosesAfter {
    fn check(&self) -> Result<(), String> {
        if self.provider.calls.load(Ordering::SeqCst) >= self.open_for {
            Err("lease lost".into())
        } else {
            Ok(())
        }
    }

    fn call_begins(&self) {
        // Told before the call reaches the provider, never after.
        assert_eq!(self.begun.load(Ordering::SeqCst), self.provider.calls.load(Ordering::SeqCst));
        self.begun.fetch_add(1, Ordering::SeqCst);
    }
}

/// Goal: a message waiting for a retry is not handed over once the fence closes, and a batch
/// whose fence closed before its first call is not handed over at all; both come back
/// `Dropped`, never `Failed` or `Sent`; the fence's audit hook is told of each call as it
/// begins, and of no fenced one. Method: one scripted provider; the fence closes after its
/// first call, which answers one message `retryable`.
#[tokio::test(start_paused = true)]
async fn closed_fence_stops_retries_and_queued_batches() {
    let p = Scripted::new("p");
    p.script
        .lock()
        .unwrap()
        .push_back(Ok(vec![SendResult::Accepted("ok".into()), SendResult::Retryable("throttled".into())]));
    let s = set(std::slice::from_ref(&p));
    let fence = ClosesAfter { provider: p.clone(), open_for: 1, begun: Default::default() };
    let out = s.deliver_prepaid(&msgs(2), Prepaid::default(), &fence).await;
    assert_eq!(providers_used(&out), vec!["p".to_string(), "dropped: lease lost".into()]);
    assert_eq!(p.calls.load(Ordering::SeqCst), 1, "the retry must not reach the provider");
    let out = s.deliver_prepaid(&msgs(3), Prepaid::default(), &fence).await;
    assert_eq!(providers_used(&out), vec!["dropped: lease lost"; 3]);
    assert_eq!(p.calls.load(Ordering::SeqCst), 1, "a fenced batch must not reach the provider");
    assert_eq!(fence.begun.load(Ordering::SeqCst), 1, "one call began, the fenced ones did not");
}

/// Counts possible duplicates per provider.
#[derive(Debug, Default)]
struct CountingEvents(Mutex<Vec<(String, usize)>>);

impl ProviderEvents for CountingEvents {
    fn circuit_opened(&self, _: Channel, _: &str) {}
    fn failover(&self, _: Channel, _: &str, _: &str) {}
    fn possible_duplicates(&self, _: Channel, provider: &str, n: usize) {
        self.0.lock().unwrap().push((provider.into(), n));
    }
}

/// Goal: when a provider gives no answer to a call (it may have taken the messages), the
/// failover that sends them elsewhere is counted as possible duplicates of that provider; a
/// provider that refused outright (unavailable) is not. Method: scripted providers.
#[tokio::test(start_paused = true)]
async fn failover_after_no_answer_counts_possible_duplicates() {
    let (primary, alt) = (Scripted::new("primary"), Scripted::new("alt"));
    primary.script.lock().unwrap().extend([
        Err(ProviderError::Ambiguous("no reply within 10s".into())),
        Err(ProviderError::Unavailable("HTTP 503".into())),
    ]);
    let events = Arc::new(CountingEvents::default());
    let slots = [&primary, &alt].iter().map(|p| Slot::new((*p).clone() as Arc<dyn Provider>, 0, 4)).collect();
    let s = ProviderSet::new(Channel::Sms, slots, RetryPolicy::default(), events.clone());
    assert_eq!(providers_used(&s.deliver(&msgs(3)).await), vec!["alt"; 3]);
    assert_eq!(*events.0.lock().unwrap(), vec![("primary".to_string(), 3)]);
    assert_eq!(providers_used(&s.deliver(&msgs(2)).await), vec!["alt"; 2]);
    assert_eq!(events.0.lock().unwrap().len(), 1, "a refusal is not a possible duplicate");
}

/// Goal: one message of a batch whose answer never came (an SMPP `submit_sm` without its
/// response, a push call that broke) is tried again and counted as a possible duplicate; a
/// message refused for now is tried again without being counted.
/// Method: the provider answers the first call with one ambiguous, one retryable and one
/// accepted message, then accepts everything.
#[tokio::test]
async fn a_message_without_an_answer_counts_when_tried_again() {
    let primary = Scripted::new("primary");
    primary.script.lock().unwrap().push_back(Ok(vec![
        SendResult::Ambiguous("no submit_sm_resp within 10s".into()),
        SendResult::Retryable("throttled".into()),
        SendResult::Accepted("p-2".into()),
    ]));
    let events = Arc::new(CountingEvents::default());
    let slots = vec![Slot::new(primary.clone() as Arc<dyn Provider>, 0, 4)];
    let retry = RetryPolicy { backoff_min: Duration::from_millis(1), ..RetryPolicy::default() };
    let s = ProviderSet::new(Channel::Sms, slots, retry, events.clone());
    assert_eq!(providers_used(&s.deliver(&msgs(3)).await), vec!["primary"; 3]);
    assert_eq!(*events.0.lock().unwrap(), vec![("primary".to_string(), 1)]);
}
