//! Bringing a freshly started project to a working cluster: wait until every node answers on
//! its admin API (over TLS, with the superadmin token, as every other call of the harness),
//! initialise the cluster through the lowest node id unless it already is, and
//! wait until the nodes agree on a leader. Every admin call is bounded in time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use varsel_client::admin_connected;
use varsel_proto::admin::{InitRequest, NodeStatus, StatusRequest};

use super::{ComposeBackend, ComposeNode};
use crate::backend::{Backend, BackendError};

/// Time allowed for every node to answer on its API after `up -d` (debug builds on a busy
/// machine open their stores in a few seconds).
const NODES_ANSWER_TIMEOUT: Duration = Duration::from_secs(90);
/// Time allowed, after init, for the nodes to agree on a leader (elections wait 1-2 s).
const LEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// Time one admin `Status` call may take, connection included.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// Time the admin `Init` call may take.
const INIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between polls of the nodes' status.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

impl ComposeBackend {
    /// Waits until every node answers, then bootstraps through the lowest id unless one of
    /// them already reports an initialised cluster.
    pub(super) async fn ensure_initialised(&self) -> Result<(), BackendError> {
        let deadline = Instant::now() + NODES_ANSWER_TIMEOUT;
        let mut statuses = BTreeMap::new();
        while statuses.len() < self.nodes.len() {
            let silent: Vec<&ComposeNode> =
                self.nodes.values().filter(|n| !statuses.contains_key(&n.id)).collect();
            for n in silent {
                if let Some(s) = status(self, n).await {
                    statuses.insert(n.id, s);
                }
            }
            if statuses.len() < self.nodes.len() {
                if Instant::now() >= deadline {
                    let silent: Vec<String> = self
                        .nodes
                        .values()
                        .filter(|n| !statuses.contains_key(&n.id))
                        .map(|n| format!("node {} ({}, {})", n.id, n.name, n.api))
                        .collect();
                    return Err(BackendError::new(format!(
                        "{} did not answer within {NODES_ANSWER_TIMEOUT:?}; see `docker logs`",
                        silent.join(", ")
                    )));
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        if statuses.values().any(|s| s.initialized) {
            return Ok(());
        }
        let first = self.nodes.values().next().ok_or_else(|| BackendError::new("no nodes"))?;
        init(self, first).await.map_err(|e| BackendError::new(format!("init through node {}: {e}", first.id)))
    }

    /// Waits until every node agrees on one leader.
    pub(super) async fn wait_leader(&self) -> Result<u64, BackendError> {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        loop {
            let mut seen = BTreeMap::new();
            for n in self.nodes.values() {
                let leader = status(self, n).await.filter(|s| s.has_leader).map(|s| s.leader_id);
                seen.insert(n.id, leader);
            }
            let first = seen.values().next().copied().flatten();
            if let Some(l) = first
                && seen.values().all(|x| *x == Some(l))
                && self.nodes.contains_key(&l)
            {
                return Ok(l);
            }
            if Instant::now() >= deadline {
                return Err(BackendError::new(format!(
                    "the nodes did not agree on a leader within {LEADER_TIMEOUT:?}: leader seen by node id {seen:?}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// A node's own status, if it answers within [`STATUS_TIMEOUT`], connecting included.
async fn status(b: &ComposeBackend, n: &ComposeNode) -> Option<NodeStatus> {
    let call = async {
        let mut c =
            admin_connected(&b.endpoint(n), &b.access().trust, &b.token, STATUS_TIMEOUT).await.ok()?;
        c.status(StatusRequest {}).await.ok().map(|r| r.into_inner())
    };
    tokio::time::timeout(STATUS_TIMEOUT, call).await.ok().flatten()
}

/// Initialises the cluster through node `n` (with the members of its configuration), within
/// [`INIT_TIMEOUT`].
async fn init(b: &ComposeBackend, n: &ComposeNode) -> Result<(), String> {
    let api = &n.api;
    let call = async {
        let mut c = admin_connected(&b.endpoint(n), &b.access().trust, &b.token, STATUS_TIMEOUT)
            .await
            .map_err(|e| format!("{api}: {e}"))?;
        c.init(InitRequest { members: vec![] })
            .await
            .map_err(|s| format!("{api}: {}: {}", s.code(), s.message()))?;
        Ok::<(), String>(())
    };
    tokio::time::timeout(INIT_TIMEOUT, call)
        .await
        .map_err(|_| format!("{api}: no answer within {INIT_TIMEOUT:?}"))?
}
