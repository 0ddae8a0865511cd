//! A client of the cluster that tries the next node when one is down.
//!
//! Operators and integrators are given every node's address. A call goes to the node that
//! answered last; when it fails with a retryable error (the node is down, has no leader, or the
//! write's outcome is unknown) the next node is tried, round after round with a growing pause,
//! until the call's deadline. Errors that retrying cannot fix (invalid argument, not found,
//! permission denied) are returned at once.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tonic::transport::Channel;

use crate::access::Trust;

/// Deadline of one call across all retries, unless the caller sets another.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(20);

/// Time allowed for one attempt on one node.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);

/// Time allowed to connect to one node.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);

/// Pause after every node of a round failed; doubles each round up to [`ROUND_PAUSE_MAX`].
const ROUND_PAUSE_MIN: Duration = Duration::from_millis(100);
const ROUND_PAUSE_MAX: Duration = Duration::from_millis(1000);

/// Why a call failed on every node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint list is empty or malformed.
    #[error("endpoints: {0}")]
    Endpoints(String),
    /// A node answered with an error that retrying cannot fix.
    #[error("{}: {}", .0.code(), .0.message())]
    Rejected(tonic::Status),
    /// No node answered successfully before the deadline.
    #[error("no node succeeded within {deadline:?} after {attempts} attempts; last error: {last}")]
    Exhausted {
        /// The deadline.
        deadline: Duration,
        /// Attempts made.
        attempts: u32,
        /// The last error seen.
        last: String,
    },
}

impl ClientError {
    /// The gRPC status when a node rejected the call.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            ClientError::Rejected(s) => Some(s),
            _ => None,
        }
    }
}

/// A successful call and how many attempts failed before it.
#[derive(Debug, Clone)]
pub struct Answered<T> {
    /// The reply.
    pub value: T,
    /// Failed attempts before the one that succeeded.
    pub failed_attempts: u32,
    /// The node that answered.
    pub endpoint: String,
}

/// The nodes of a cluster, as given by the operator.
#[derive(Debug)]
pub struct Cluster {
    endpoints: Vec<(String, Channel)>,
    preferred: AtomicUsize,
    deadline: Duration,
    attempt_timeout: Duration,
}

/// Whether a failed call may succeed on another node or later.
pub fn retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Unknown
            | tonic::Code::Aborted
    )
}

impl Cluster {
    /// Parses a comma-separated list of `host:port` (TLS, verified against `trust`) or
    /// `http://host:port` (a plaintext cluster).
    pub fn parse(list: &str, trust: &Trust) -> Result<Self, ClientError> {
        let addrs: Vec<String> =
            list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        Self::new(addrs, trust)
    }

    /// A cluster reached through `addrs`, each as in [`Cluster::parse`].
    pub fn new(addrs: Vec<String>, trust: &Trust) -> Result<Self, ClientError> {
        if addrs.is_empty() {
            return Err(ClientError::Endpoints("give at least one node as host:port".into()));
        }
        let mut endpoints = Vec::with_capacity(addrs.len());
        for a in addrs {
            let channel = trust.channel(&a)?;
            endpoints.push((a, channel));
        }
        Ok(Self {
            endpoints,
            preferred: AtomicUsize::new(0),
            deadline: DEFAULT_CALL_DEADLINE,
            attempt_timeout: ATTEMPT_TIMEOUT,
        })
    }

    /// Sets the deadline of each call across all retries.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets the time allowed for one attempt on one node (default [`ATTEMPT_TIMEOUT`]). Calls
    /// that stream a large upload in one attempt (a CSV import) need more than the default.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The endpoints, in the order given.
    pub fn addrs(&self) -> Vec<String> {
        self.endpoints.iter().map(|(a, _)| a.clone()).collect()
    }

    /// The channel to one endpoint by position.
    pub fn channel(&self, i: usize) -> Option<Channel> {
        self.endpoints.get(i).map(|(_, c)| c.clone())
    }

    /// Calls `f` on one node after another until one succeeds, a node rejects the call for
    /// good, or the deadline passes.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<Answered<T>, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let started = Instant::now();
        let n = self.endpoints.len();
        let mut attempts = 0u32;
        let mut pause = ROUND_PAUSE_MIN;
        let mut last = String::from("none");
        loop {
            let first = self.preferred.load(Ordering::Relaxed) % n;
            for k in 0..n {
                let i = (first + k) % n;
                let (addr, channel) = &self.endpoints[i];
                let left = self.deadline.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(ClientError::Exhausted { deadline: self.deadline, attempts, last });
                }
                let attempt = self.attempt_timeout.min(left);
                match tokio::time::timeout(attempt, f(channel.clone())).await {
                    Ok(Ok(value)) => {
                        self.preferred.store(i, Ordering::Relaxed);
                        return Ok(Answered { value, failed_attempts: attempts, endpoint: addr.clone() });
                    }
                    Ok(Err(status)) if !retryable(&status) => return Err(ClientError::Rejected(status)),
                    Ok(Err(status)) => last = format!("{addr}: {}: {}", status.code(), status.message()),
                    Err(_) => last = format!("{addr}: no answer within {attempt:?}"),
                }
                attempts += 1;
            }
            tokio::time::sleep(pause.min(self.deadline.saturating_sub(started.elapsed()))).await;
            pause = (pause * 2).min(ROUND_PAUSE_MAX);
        }
    }
}
