//! Every alert a client was told was accepted exists afterwards, on every node (read from the
//! node's own state, after the nodes converged).

use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::{Consistency, GetAlertRequest};

use super::{Evidence, Verdict, first};
use crate::load::{authed, cluster_from};

/// Name in reports.
pub const NAME: &str = "accepted alerts exist on every node";

/// Checks it.
pub async fn check(e: &Evidence) -> Verdict {
    let accepted = e.accepted();
    let mut missing = Vec::new();
    let mut unreadable = Vec::new();
    for (i, node) in e.nodes.iter().enumerate() {
        let Ok(cluster) = cluster_from(&e.nodes[i..=i], 0) else { continue };
        for (id, key) in &accepted {
            let got = cluster
                .call(|ch| {
                    let req =
                        authed(&e.token, GetAlertRequest { id: *id, consistency: Consistency::Local as i32 });
                    async move { AlertServiceClient::new(ch).get_alert(req).await }
                })
                .await;
            match got {
                Ok(a) if a.value.get_ref().alert.as_ref().is_some_and(|a| a.idempotency_key == *key) => {}
                Ok(_) => missing.push(format!("node {}: alert {id} has another key than {key}", node.id)),
                Err(err) if err.status().is_some_and(|s| s.code() == tonic::Code::NotFound) => {
                    missing.push(format!("node {}: alert {id} ({key})", node.id))
                }
                Err(err) => unreadable.push(format!("node {}: alert {id}: {err}", node.id)),
            }
        }
    }
    let checked = accepted.len() * e.nodes.len();
    if !missing.is_empty() || !unreadable.is_empty() {
        return Verdict::new(
            NAME,
            false,
            format!(
                "{} missing, {} unreadable of {checked} checks: {} {}",
                missing.len(),
                unreadable.len(),
                first(&missing, 5),
                first(&unreadable, 3)
            ),
        );
    }
    Verdict::new(
        NAME,
        true,
        format!("{} accepted alerts found on each of {} nodes", accepted.len(), e.nodes.len()),
    )
}
