//! A circuit breaker per provider: stop sending to a provider that keeps failing, probe it,
//! and take it back when it heals.

use std::time::Duration;

use tokio::time::Instant;

/// Consecutive failed calls that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 3;
/// First time an open circuit stays open before a probe is allowed.
pub const OPEN_MIN: Duration = Duration::from_secs(2);
/// Longest time an open circuit stays open between probes.
pub const OPEN_MAX: Duration = Duration::from_secs(30);

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the instant; then one probe is allowed.
    Open,
    /// One probe call is under way.
    HalfOpen,
}

/// A circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    state: BreakerState,
    failures: u32,
    open_until: Instant,
    open_for: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Self { state: BreakerState::Closed, failures: 0, open_until: Instant::now(), open_for: OPEN_MIN }
    }
}

impl Breaker {
    /// The state now (an open circuit whose time is up reports half-open).
    pub fn state(&self) -> BreakerState {
        if self.state == BreakerState::Open && Instant::now() >= self.open_until {
            return BreakerState::HalfOpen;
        }
        self.state
    }

    /// Whether a call may go now; a half-open breaker lets exactly one through.
    pub fn try_acquire(&mut self) -> bool {
        match self.state() {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.state == BreakerState::HalfOpen => false,
            BreakerState::HalfOpen => {
                self.state = BreakerState::HalfOpen;
                true
            }
        }
    }

    /// A call succeeded: close, and forget earlier failures.
    pub fn success(&mut self) {
        self.state = BreakerState::Closed;
        self.failures = 0;
        self.open_for = OPEN_MIN;
    }

    /// Like [`Breaker::success`]; true when the circuit was not closed before (it closes now).
    pub fn success_closing(&mut self) -> bool {
        let was_open = self.state != BreakerState::Closed;
        self.success();
        was_open
    }

    /// A call failed (provider-level failure, not a message's own rejection). Returns true when
    /// this opened the circuit.
    pub fn failure(&mut self) -> bool {
        self.failures += 1;
        let reopen = self.state == BreakerState::HalfOpen;
        if reopen || self.failures >= FAILURES_TO_OPEN {
            if reopen {
                self.open_for = (self.open_for * 2).min(OPEN_MAX);
            }
            let was_open = self.state == BreakerState::Open;
            self.state = BreakerState::Open;
            self.open_until = Instant::now() + self.open_for;
            return !was_open;
        }
        false
    }

    /// A health probe succeeded while open: allow a real call at once.
    pub fn probe_ok(&mut self) {
        if self.state == BreakerState::Open {
            self.open_until = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: open after repeated failures, half-open after the wait, one probe at a time, closed
    /// on success, longer wait after a failed probe.
    #[tokio::test(start_paused = true)]
    async fn lifecycle() {
        let mut b = Breaker::default();
        assert!(!b.failure() && !b.failure());
        assert!(b.failure(), "third failure opens");
        assert!(!b.try_acquire());
        tokio::time::advance(OPEN_MIN).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire());
        assert!(!b.try_acquire(), "only one probe");
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(OPEN_MIN).await;
        assert_eq!(b.state(), BreakerState::Open, "the wait doubled");
        tokio::time::advance(OPEN_MIN).await;
        assert!(b.try_acquire());
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
