//! The node's side of the operator console (crate `varsel-console`): [`NodeView`], what the
//! console's health page shows, read from this node's own replica and metrics. (The admin
//! API's `Status` gives the same facts but needs the cluster's mTLS certificate; a browser
//! session has only a tenant's token.)

use std::sync::Arc;

use varsel_console::{CircuitState, ClusterHealth, ClusterView, MemberHealth, ProviderHealth};

use crate::metrics::Metrics;
use crate::replica::Replica;

/// The metric that holds each provider's circuit state on this node (crate `varsel-delivery`:
/// 0 closed, 0.5 half-open, 1 open).
const CIRCUIT_METRIC: &str = "varsel_provider_circuit_state";

/// This node's view of the cluster, for the console.
#[derive(Debug, Clone)]
pub struct NodeView {
    replica: Arc<Replica>,
    metrics: Metrics,
}

impl NodeView {
    /// The view of `replica`, with provider circuits from `metrics`.
    pub fn new(replica: Arc<Replica>, metrics: Metrics) -> Self {
        NodeView { replica, metrics }
    }
}

impl ClusterView for NodeView {
    fn health(&self) -> ClusterHealth {
        let status = self.replica.status();
        let ready = crate::health::readiness(&self.replica);
        let lag = |id: u64| status.replication.iter().find(|r| r.node_id == id).map(|r| r.lag_entries);
        let held = lease_holders(&self.replica);
        let members = status
            .members
            .iter()
            .filter_map(|m| {
                let a = m.address.as_ref()?;
                Some(MemberHealth {
                    id: a.id,
                    site: a.site.clone(),
                    api_addr: a.api_addr.clone(),
                    voter: m.voter,
                    lag_entries: lag(a.id),
                    shards_held: held.get(&a.id).copied().unwrap_or(0),
                })
            })
            .collect();
        let node = status.node.clone().unwrap_or_default();
        ClusterHealth {
            node_id: node.id,
            site: node.site,
            role: status.role.clone(),
            term: status.term,
            leader_id: status.has_leader.then_some(status.leader_id),
            ready: ready.ready,
            not_ready_reason: ready.reason,
            last_log_index: status.last_log_index,
            applied_index: status.applied_index,
            members,
            clock_offset_ms: status.clock_offset_ms,
            clock_skew_ms: status.clock_known.then_some(status.clock_skew_ms),
            clock_out_of_bounds: status.clock_out_of_bounds,
            disk_free_bytes: status.disk_free_bytes,
            disk_full: status.disk_full,
            providers: circuits(&self.metrics.encode()),
        }
    }
}

/// Per node, how many shards of unfinished alerts it holds the sending lease of, as this node
/// has applied the log. A read error leaves the counts out (the page shows 0), never the page.
fn lease_holders(replica: &Replica) -> std::collections::BTreeMap<u64, u64> {
    use varsel_raft_store::state_machine::delivery::query as dq;
    use varsel_raft_store::state_machine::domain::query;
    let txn = replica.state.read_txn();
    let mut held = std::collections::BTreeMap::new();
    for (alert, _) in query::open_alerts(&txn).unwrap_or_default() {
        let Ok(Some(a)) = dq::alert(&txn, alert) else { continue };
        for s in dq::shard_states(&txn, alert, a.shards).unwrap_or_default() {
            if let Some(owner) = s.owner.filter(|_| !s.done) {
                *held.entry(owner).or_insert(0) += 1;
            }
        }
    }
    held
}

/// The provider circuits in a Prometheus text exposition: lines such as
/// `varsel_provider_circuit_state{channel="sms",provider="sim-sms"} 0.5`.
fn circuits(exposition: &str) -> Vec<ProviderHealth> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix(CIRCUIT_METRIC)?.strip_prefix('{'))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once('}')?;
            let label = |name: &str| {
                labels.split(',').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
                })
            };
            let state = match value.trim().parse::<f64>().ok()? {
                v if v >= 1.0 => CircuitState::Open,
                v if v > 0.0 => CircuitState::HalfOpen,
                _ => CircuitState::Closed,
            };
            Some(ProviderHealth { channel: label("channel")?, provider: label("provider")?, state })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_circuits() {
        let text = "# HELP x\nvarsel_provider_circuit_state{channel=\"sms\",provider=\"a\"} 0\n\
                    varsel_provider_circuit_state{channel=\"voice\",provider=\"b\"} 0.5\n\
                    varsel_provider_circuit_state{channel=\"email\",provider=\"c\"} 1\n\
                    varsel_provider_circuit_opened_total{channel=\"sms\",provider=\"a\"} 3\n";
        let c = circuits(text);
        assert_eq!(c.len(), 3);
        assert_eq!(
            (c[0].channel.as_str(), c[0].provider.as_str(), c[0].state),
            ("sms", "a", CircuitState::Closed)
        );
        assert_eq!(c[1].state, CircuitState::HalfOpen);
        assert_eq!(c[2].state, CircuitState::Open);
    }
}
