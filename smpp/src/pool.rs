//! A client of several binds to one SMSC, kept up with reconnects.
//!
//! ```text
//!                     ┌─ supervisor 0 ── Session ─┐
//!  SmppClient::submit ┼─ supervisor 1 ── Session ─┼──▶ merged Delivered channel
//!   (least-outstanding└─ supervisor N ── Session ─┘
//!    bound, unpaused)
//! ```
//!
//! Each supervisor keeps one bind up: connect, bind, wait for the session to
//! close, back off (exponential, with jitter), reconnect. A bind refused for bad
//! credentials backs off straight to the maximum and shows in [`SmppClient::health`].
//!
//! **Throttling.** When the SMSC answers `ESME_RTHROTTLED` or `ESME_RMSGQFUL`,
//! that bind pauses (starting at `throttle_backoff_min`, doubling per
//! consecutive throttle up to `throttle_backoff_max`, reset by a success) and
//! `submit` sends the message again, on the least-loaded unpaused bind, up to
//! `throttle_retries` times. A throttled message was not accepted, so resending
//! it cannot make a duplicate. Only when the retries are used up does the caller
//! see [`SubmitError::Throttled`], and should retry later.

use crate::config::ClientConfig;
use crate::error::{ConnectError, SubmitError};
use crate::pdu::SubmitSm;
use crate::session::{Delivered, Session, SessionHandle, SubmitOutcome};
use crate::status::CommandStatus;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};
use tracing::{info, warn};

/// What one bind of the client is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindStatus {
    /// Connecting and binding.
    Connecting,
    /// Bound and taking submits.
    Bound,
    /// Waiting before the next attempt, after the given error.
    Backoff {
        /// The error of the last attempt.
        last_error: String,
    },
    /// The SMSC refused our credentials; retrying at the maximum backoff.
    BadCredentials {
        /// The bind response status.
        status: CommandStatus,
    },
    /// Shut down.
    Stopped,
}

/// The state of one bind, for [`SmppClient::health`].
#[derive(Clone, Debug)]
pub struct BindHealth {
    /// Index of the bind, 0..binds.
    pub index: usize,
    /// What it is doing.
    pub status: BindStatus,
    /// Submits awaiting a response on it.
    pub outstanding: usize,
    /// `true` while paused after a throttle.
    pub paused: bool,
    /// Throttle responses seen on this bind since start.
    pub throttles: u64,
    /// Successful binds since start (1 = never reconnected).
    pub binds: u64,
}

/// The state of the client.
#[derive(Clone, Debug)]
pub struct ClientHealth {
    /// Configured binds.
    pub binds_configured: usize,
    /// Binds currently bound.
    pub binds_up: usize,
    /// Per bind.
    pub binds: Vec<BindHealth>,
}

/// A multi-bind SMPP client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SmppClient {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    config: ClientConfig,
    slots: Vec<Arc<Slot>>,
    /// Bumped whenever a bind comes up, to wake submits waiting for one.
    bound: watch::Receiver<u64>,
    shutdown: watch::Sender<bool>,
    supervisors: Mutex<Vec<JoinHandle<()>>>,
}

/// One bind's shared state.
#[derive(Debug)]
struct Slot {
    index: usize,
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    session: Option<SessionHandle>,
    status: BindStatus,
    pause_until: Option<Instant>,
    next_pause: Duration,
    throttles: u64,
    binds: u64,
}

impl Slot {
    /// Locks the state. A poisoned lock still holds consistent plain data (no
    /// code panics while holding it), so it is used as is.
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SmppClient {
    /// Validates the configuration and starts the bind supervisors. Returns at
    /// once; binds come up in the background (see [`SmppClient::wait_bound`]).
    pub fn start(config: ClientConfig) -> Result<(SmppClient, mpsc::Receiver<Delivered>), ConnectError> {
        config.validate()?;
        let (events_tx, events_rx) = mpsc::channel(config.inbound_queue);
        let (bound_tx, bound_rx) = watch::channel(0u64);
        let bound_tx = Arc::new(bound_tx);
        let (shutdown_tx, _) = watch::channel(false);
        let slots: Vec<Arc<Slot>> = (0..config.binds)
            .map(|index| {
                let state = SlotState {
                    session: None,
                    status: BindStatus::Connecting,
                    pause_until: None,
                    next_pause: config.throttle_backoff_min,
                    throttles: 0,
                    binds: 0,
                };
                Arc::new(Slot { index, state: Mutex::new(state) })
            })
            .collect();
        let supervisors = slots
            .iter()
            .map(|slot| {
                let sup = Supervisor {
                    slot: slot.clone(),
                    config: config.clone(),
                    events: events_tx.clone(),
                    bound: bound_tx.clone(),
                    shutdown: shutdown_tx.subscribe(),
                };
                tokio::spawn(sup.run())
            })
            .collect();
        let inner = ClientInner {
            config,
            slots,
            bound: bound_rx,
            shutdown: shutdown_tx,
            supervisors: Mutex::new(supervisors),
        };
        Ok((SmppClient { inner: Arc::new(inner) }, events_rx))
    }

    /// Submits one message on the least-loaded bound, unpaused bind; see the
    /// module documentation for how throttling is handled.
    pub async fn submit(&self, sm: &SubmitSm) -> Result<SubmitOutcome, SubmitError> {
        let config = &self.inner.config;
        let mut throttled = 0;
        let mut not_bound = 0;
        loop {
            let (slot, session) = self.pick().await?;
            let pause_until = slot.lock().pause_until;
            if let Some(until) = pause_until {
                sleep_until(until).await;
            }
            match session.submit(sm).await {
                Err(SubmitError::Throttled { status }) => {
                    self.on_throttled(&slot, status);
                    throttled += 1;
                    if throttled > config.throttle_retries {
                        return Err(SubmitError::Throttled { status });
                    }
                }
                // Never sent: another bind may take it, a bounded number of times.
                Err(SubmitError::NotBound) if not_bound < config.binds => not_bound += 1,
                result => {
                    if result.is_ok() {
                        slot.lock().next_pause = config.throttle_backoff_min;
                    }
                    return result;
                }
            }
        }
    }

    fn on_throttled(&self, slot: &Slot, status: CommandStatus) {
        let mut state = slot.lock();
        let pause = state.next_pause;
        state.pause_until = Some(Instant::now() + pause);
        state.next_pause = (pause * 2).min(self.inner.config.throttle_backoff_max);
        state.throttles += 1;
        warn!(bind = slot.index, %status, ?pause, "SMSC throttles: pausing this bind");
    }

    /// The bound slot with the fewest outstanding submits, preferring unpaused
    /// ones; waits up to `bound_wait` for any bind to come up.
    async fn pick(&self) -> Result<(Arc<Slot>, SessionHandle), SubmitError> {
        let deadline = Instant::now() + self.inner.config.bound_wait;
        let mut bound = self.inner.bound.clone();
        loop {
            bound.borrow_and_update();
            if let Some(choice) = self.try_pick() {
                return Ok(choice);
            }
            if *self.inner.shutdown.borrow() {
                return Err(SubmitError::NotBound);
            }
            // Woken by a bind coming up; polled as a fallback for binds that
            // recover without a new bind event (a pause ending).
            let _ = timeout_at(deadline.min(Instant::now() + PICK_POLL), bound.changed()).await;
            if Instant::now() >= deadline {
                return Err(SubmitError::NotBound);
            }
        }
    }

    fn try_pick(&self) -> Option<(Arc<Slot>, SessionHandle)> {
        let now = Instant::now();
        let mut best: Option<((bool, usize), Arc<Slot>, SessionHandle)> = None;
        for slot in &self.inner.slots {
            let state = slot.lock();
            let Some(session) = state.session.as_ref().filter(|s| s.is_bound()) else { continue };
            let key = (state.pause_until.is_some_and(|t| t > now), session.outstanding());
            if best.as_ref().is_none_or(|(k, _, _)| key < *k) {
                best = Some((key, slot.clone(), session.clone()));
            }
        }
        best.map(|(_, slot, session)| (slot, session))
    }

    /// Waits until at least `n` binds are up, or `within` passes. Returns whether they are.
    pub async fn wait_bound(&self, n: usize, within: Duration) -> bool {
        let mut bound = self.inner.bound.clone();
        let wait = async {
            while self.health().binds_up < n {
                let _ = timeout(PICK_POLL, bound.changed()).await;
            }
        };
        timeout(within, wait).await.is_ok()
    }

    /// How many binds are up, and what each is doing.
    pub fn health(&self) -> ClientHealth {
        let now = Instant::now();
        let binds: Vec<BindHealth> = self
            .inner
            .slots
            .iter()
            .map(|slot| {
                let s = slot.lock();
                let session = s.session.as_ref();
                BindHealth {
                    index: slot.index,
                    status: match session {
                        Some(h) if !h.is_bound() => BindStatus::Connecting,
                        _ => s.status.clone(),
                    },
                    outstanding: session.map_or(0, SessionHandle::outstanding),
                    paused: s.pause_until.is_some_and(|t| t > now),
                    throttles: s.throttles,
                    binds: s.binds,
                }
            })
            .collect();
        let binds_up = binds.iter().filter(|b| b.status == BindStatus::Bound).count();
        ClientHealth { binds_configured: binds.len(), binds_up, binds }
    }

    /// Unbinds every session and stops reconnecting. Submits made afterwards
    /// fail with `NotBound`.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        let handles: Vec<JoinHandle<()>> = match self.inner.supervisors.lock() {
            Ok(mut guard) => guard.drain(..).collect(),
            Err(poisoned) => poisoned.into_inner().drain(..).collect(),
        };
        let bind = &self.inner.config.bind;
        let grace = bind.unbind_timeout * 2 + crate::session::CLOSE_GRACE + Duration::from_secs(1);
        for mut handle in handles {
            if timeout(grace, &mut handle).await.is_err() {
                handle.abort();
            }
        }
        info!("SMPP client shut down");
    }
}

/// How often a waiting `submit` re-checks the binds even without a bind event.
const PICK_POLL: Duration = Duration::from_millis(50);

/// Keeps one bind up.
#[derive(Debug)]
struct Supervisor {
    slot: Arc<Slot>,
    config: ClientConfig,
    events: mpsc::Sender<Delivered>,
    bound: Arc<watch::Sender<u64>>,
    shutdown: watch::Receiver<bool>,
}

impl Supervisor {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.config.reconnect_backoff_min, self.config.reconnect_backoff_max);
        while !*self.shutdown.borrow_and_update() {
            self.set_status(BindStatus::Connecting);
            let connect =
                Session::connect_with_sender(&self.config.addr, &self.config.bind, self.events.clone());
            let result = tokio::select! {
                result = connect => result,
                _ = self.shutdown.changed() => break,
            };
            let delay = match result {
                Ok(session) => {
                    backoff.reset();
                    if self.serve(session).await.is_err() {
                        break;
                    }
                    backoff.next_delay()
                }
                Err(error) => self.on_connect_error(&error, &mut backoff),
            };
            tokio::select! {
                _ = sleep(delay) => {}
                _ = self.shutdown.changed() => break,
            }
        }
        self.slot.lock().session = None;
        self.set_status(BindStatus::Stopped);
    }

    /// Publishes a bound session and waits for it to close. `Err` means shutdown
    /// (the session has been unbound).
    async fn serve(&mut self, session: SessionHandle) -> Result<(), ()> {
        {
            let mut state = self.slot.lock();
            state.session = Some(session.clone());
            state.status = BindStatus::Bound;
            state.binds += 1;
        }
        self.bound.send_modify(|n| *n += 1);
        let outcome = tokio::select! {
            reason = session.closed() => {
                warn!(bind = self.slot.index, ?reason, "session closed, reconnecting");
                Ok(())
            }
            _ = self.shutdown.changed() => {
                let _ = session.unbind().await;
                Err(())
            }
        };
        self.slot.lock().session = None;
        outcome
    }

    fn on_connect_error(&self, error: &ConnectError, backoff: &mut Backoff) -> Duration {
        match error {
            ConnectError::BadCredentials { status } => {
                warn!(bind = self.slot.index, %status, "bind rejected: bad credentials; retrying at maximum backoff");
                self.set_status(BindStatus::BadCredentials { status: *status });
                backoff.max_delay()
            }
            _ => {
                let delay = backoff.next_delay();
                warn!(bind = self.slot.index, %error, ?delay, "connect failed");
                self.set_status(BindStatus::Backoff { last_error: error.to_string() });
                delay
            }
        }
    }

    fn set_status(&self, status: BindStatus) {
        self.slot.lock().status = status;
    }
}

/// Exponential backoff with "equal jitter": each delay is drawn from
/// [d/2, d] where d doubles from `min` up to `max`. Jitter keeps many binds (or
/// many nodes) from reconnecting to a recovering SMSC in lockstep.
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max, current: min }
    }

    fn reset(&mut self) {
        self.current = self.min;
    }

    fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (d * 2).min(self.max);
        jitter(d)
    }

    fn max_delay(&mut self) -> Duration {
        self.current = self.max;
        jitter(self.max)
    }
}

/// A duration uniformly in [d/2, d]. The randomness comes from std's randomly
/// keyed hasher, which is plenty for spreading reconnects.
fn jitter(d: Duration) -> Duration {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
    d / 2 + d.mul_f64(fraction / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: backoff doubles to its cap, stays within jitter bounds, and resets.
    /// Method: draw a sequence of delays.
    #[test]
    fn backoff_bounds() {
        let (min, max) = (Duration::from_millis(100), Duration::from_millis(1000));
        let mut b = Backoff::new(min, max);
        let caps = [100, 200, 400, 800, 1000, 1000];
        for cap in caps {
            let d = b.next_delay();
            let cap = Duration::from_millis(cap);
            assert!(d >= cap / 2 && d <= cap, "{d:?} outside [{:?}, {cap:?}]", cap / 2);
        }
        b.reset();
        assert!(b.next_delay() <= min);
        assert!(b.max_delay() >= max / 2);
    }
}
