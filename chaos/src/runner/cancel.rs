//! The `cancel` fault: an operator cancels the alerts being sent, through the same retrying
//! client the load uses. Each cancel carries an idempotency key, so a retry after a lost
//! answer cancels once; an alert that already finished answers FAILED_PRECONDITION and is
//! simply not counted. The judge later measures how long after each cancel committed the
//! simulator still received messages of that alert.

use futures::future::join_all;
use varsel_proto::api::CancelAlertRequest;
use varsel_proto::api::alert_service_client::AlertServiceClient;

use super::Run;
use super::faults::recent_alerts;
use crate::load::{authed, cluster_from};

/// What a cancel fault did.
#[derive(Debug, Default)]
pub(super) struct Cancelled {
    /// Alerts this fault cancelled (committed now, not before).
    pub(super) alerts: Vec<u64>,
    /// Alerts that had already finished or been cancelled.
    pub(super) finished: usize,
    /// Alerts whose cancel failed (no node answered in time): their outcome is unknown.
    pub(super) failed: usize,
}

/// Cancels every alert created recently enough to still be sending, all at once, each
/// starting at the node `pick` chooses.
pub(super) async fn cancel_running(run: &Run<'_>, pick: u64) -> Cancelled {
    let recent = recent_alerts(&run.history, run.t0, run.scenario.load.escalate_after_s);
    let first = (pick % run.nodes.len().max(1) as u64) as usize;
    let answers = join_all(recent.iter().map(|id| cancel_one(run, first, *id))).await;
    let mut done = Cancelled::default();
    for (id, answer) in recent.into_iter().zip(answers) {
        match answer {
            Answer::Cancelled => done.alerts.push(id),
            Answer::AlreadyOver => done.finished += 1,
            Answer::Failed(e) => {
                tracing::warn!(alert = id, error = %e, "cancel failed");
                done.failed += 1;
            }
        }
    }
    done
}

enum Answer {
    Cancelled,
    AlreadyOver,
    Failed(String),
}

async fn cancel_one(run: &Run<'_>, first: usize, id: u64) -> Answer {
    let cluster = match cluster_from(&run.nodes, first) {
        Ok(c) => c,
        Err(e) => return Answer::Failed(e.to_string()),
    };
    let key = format!("{}-cancel-{id}", run.tag);
    let answer = cluster
        .call(|ch| {
            let req = authed(&run.token, CancelAlertRequest { id, idempotency_key: key.clone() });
            async move { AlertServiceClient::new(ch).cancel_alert(req).await }
        })
        .await;
    match answer {
        Ok(_) => Answer::Cancelled,
        Err(varsel_client::ClientError::Rejected(s)) if s.code() == tonic::Code::FailedPrecondition => {
            Answer::AlreadyOver
        }
        Err(e) => Answer::Failed(e.to_string()),
    }
}
