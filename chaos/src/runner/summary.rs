//! The figures of a run's report: request counts and availability, the spread of the times
//! the cluster took to recover from each fault, and the verdicts.

use super::Run;
use super::judge::Judged;
use crate::invariants::sending_gap::SendingGaps;
use crate::load::Op;
use crate::report::{FaultRecord, Report, Requests, Spread};

/// What a run measured, once judged.
#[derive(Debug)]
pub(super) struct Outcome {
    /// Seconds from the start of the load until the faults stopped and the clients ended.
    pub(super) faulted_s: f64,
    /// Seconds the accepted alerts took to finish after that.
    pub(super) settled_s: f64,
    pub(super) faults: Vec<FaultRecord>,
    /// Every client operation.
    pub(super) ops: Vec<Op>,
    pub(super) alerts_accepted: u64,
    pub(super) judged: Judged,
    /// The sampled sending, when the run sampled it.
    pub(super) sending: Option<SendingGaps>,
}

/// The report of `run`, made in `mode`, with `replay` the command that repeats it. It passed
/// if every verdict held.
pub(super) fn report(run: &Run<'_>, mode: &str, replay: String, o: Outcome) -> Report {
    let requests = requests(&o.ops, o.alerts_accepted);
    let site_faults = || o.faults.iter().filter(|r| r.hit_site());
    let next_write = Spread::of(site_faults().filter_map(|r| r.next_write_ms).collect());
    let sending_resumed = Spread::of(site_faults().filter_map(|r| r.sending_resumed_ms).collect());
    let passed = o.judged.verdicts.iter().all(|v| v.ok);
    Report {
        scenario: run.scenario.name.clone(),
        mode: mode.into(),
        seed: run.seed,
        replay,
        duration_s: o.faulted_s,
        settled_s: o.settled_s,
        faults: o.faults,
        requests,
        next_write,
        sending_resumed,
        messages: o.judged.messages,
        handsets: o.judged.handsets,
        cancel: o.judged.cancel,
        replies: o.judged.replies,
        expiry: o.judged.expiry,
        late_handovers: o.judged.late_handovers,
        sending: o.sending,
        invariants: o.judged.verdicts,
        passed,
    }
}

/// Request counts and availability: how the clients fared while the faults were in force.
fn requests(ops: &[Op], alerts_accepted: u64) -> Requests {
    let total = ops.len() as u64;
    let succeeded = ops.iter().filter(|o| o.ok()).count() as u64;
    Requests {
        total,
        succeeded,
        succeeded_after_retry: ops.iter().filter(|o| o.ok() && o.failed_attempts > 0).count() as u64,
        failed: total - succeeded,
        failed_attempts: ops.iter().map(|o| u64::from(o.failed_attempts)).sum(),
        alerts_accepted,
        availability_pct: if total == 0 { 100.0 } else { succeeded as f64 * 100.0 / total as f64 },
    }
}
