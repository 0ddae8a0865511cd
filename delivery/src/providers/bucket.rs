//! A token bucket: a provider's (or tenant's) throughput limit.

use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Mutex;

/// Refills `rate` tokens per second up to `burst`. A rate of 0 means unlimited.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

/// Longest single wait for tokens; a caller needing more waits in several steps, so a change
/// of circumstances (shutdown, lease loss) is noticed.
pub const WAIT_STEP_MAX: Duration = Duration::from_millis(500);

impl TokenBucket {
    /// A bucket of `rate_per_second` with a burst of one second's worth.
    pub fn new(rate_per_second: u32) -> Self {
        let rate = f64::from(rate_per_second);
        Self { rate, burst: rate.max(1.0), state: Mutex::new((rate.max(1.0), Instant::now())) }
    }

    /// Whether the bucket limits anything.
    pub fn is_unlimited(&self) -> bool {
        self.rate <= 0.0
    }

    /// Whether `n` tokens (at most a burst) could be taken now, without taking them.
    pub fn has(&self, n: usize) -> bool {
        if self.is_unlimited() {
            return true;
        }
        let Ok(s) = self.state.try_lock() else { return false };
        let now = Instant::now();
        let tokens = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(self.burst);
        tokens >= (n as f64).min(self.burst)
    }

    /// Takes `n` tokens if they are available now (never waits). More than a burst is
    /// allowed when the bucket is full, so a large batch is not refused forever.
    pub fn try_take(&self, n: usize) -> bool {
        if self.is_unlimited() {
            return true;
        }
        let Ok(mut s) = self.state.try_lock() else { return false };
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(self.burst);
        s.1 = now;
        let want = (n as f64).min(self.burst);
        if s.0 >= want {
            s.0 -= n as f64;
            true
        } else {
            false
        }
    }

    /// Takes `n` tokens, waiting until they are available. More than a burst is taken in
    /// pieces.
    pub async fn take(&self, n: usize) {
        if self.is_unlimited() {
            return;
        }
        let mut want = n as f64;
        while want > 0.0 {
            let piece = want.min(self.burst);
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(self.burst);
                s.1 = now;
                if s.0 >= piece {
                    s.0 -= piece;
                    want -= piece;
                    None
                } else {
                    Some(Duration::from_secs_f64((piece - s.0) / self.rate).min(WAIT_STEP_MAX))
                }
            };
            if let Some(w) = wait {
                tokio::time::sleep(w).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the bucket holds callers to its rate. Method: paused time; take 3 seconds'
    /// worth at 100/s and check the virtual clock advanced by about 2 s (one burst is free).
    #[tokio::test(start_paused = true)]
    async fn limits_rate() {
        let b = TokenBucket::new(100);
        let t = tokio::time::Instant::now();
        b.take(300).await;
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(1900) && took <= Duration::from_millis(2600), "{took:?}");
        let unlimited = TokenBucket::new(0);
        unlimited.take(1_000_000).await;
    }
}
