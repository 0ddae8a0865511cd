//! The client load: clients that create alerts through the nodes, with retry on another node
//! exactly as the CLI does ([`varsel_client::Cluster`]), read them back linearizably,
//! and now and then repeat an earlier create (same idempotency key) as a client would after a
//! lost answer. Every operation is recorded with its invocation and return time for the
//! linearizability check and the availability figures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;
use varsel_client::{ClientError, Cluster};
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::{
    Channel, ChannelContent, Consistency, Content, CreateAlertRequest, EscalationStep, GetAlertRequest,
    Priority, Targets,
};

use crate::backend::NodeInfo;
use crate::scenario::Load;

/// How long one operation may take across all its retries: longer than the cluster's commit
/// timeout, so an operation that fails really found no node able to serve it.
pub const OP_DEADLINE: Duration = Duration::from_secs(20);

/// The contact group of number `g`. Alerts rotate over the groups, so that one recipient has
/// few open alerts at a time: an SMS reply is matched to the newest open alert to its number.
pub fn group(g: usize) -> String {
    format!("chaos-g{g}")
}

/// The phone number of contact `i` of group `g` (a Norwegian mobile number).
pub fn phone(g: usize, i: usize) -> String {
    format!("+474{g:03}{i:04}")
}

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum OpKind {
    /// CreateAlert with this idempotency key, to this group.
    Create {
        /// The key.
        key: String,
        /// The group.
        group: String,
    },
    /// GetAlert (linearizable) of the alert created with `key`, by its id.
    Get {
        /// The key the alert was created with.
        key: String,
        /// Its id.
        id: u64,
    },
}

/// What the client was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum OpResult {
    /// The alert was accepted, with this id.
    Created(u64),
    /// The alert exists.
    Found,
    /// The alert does not exist.
    NotFound,
    /// No node succeeded in time or one refused: the outcome is unknown.
    Failed(String),
}

/// One operation as the client saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Op {
    /// Which client.
    pub client: usize,
    /// What was asked.
    pub kind: OpKind,
    /// When it was invoked, ms since the run started.
    pub invoked_ms: u64,
    /// When it returned, ms since the run started.
    pub returned_ms: u64,
    /// What came back.
    pub result: OpResult,
    /// Attempts on a node that failed before the answer (any node).
    pub failed_attempts: u32,
}

impl Op {
    /// Whether the client got an answer.
    pub fn ok(&self) -> bool {
        !matches!(self.result, OpResult::Failed(_))
    }
}

/// Everything the clients did, shared between them.
#[derive(Debug, Clone, Default)]
pub struct History(Arc<Mutex<Vec<Op>>>);

impl History {
    fn push(&self, op: Op) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(op);
    }

    /// A copy of all operations so far.
    pub fn ops(&self) -> Vec<Op> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Adds the bearer token to a request.
pub fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        req.metadata_mut().insert("authorization", v);
    }
    req
}

/// A client of the cluster that starts with node `first` and goes round the others.
pub fn cluster_from(nodes: &[NodeInfo], first: usize) -> Result<Cluster, ClientError> {
    let n = nodes.len().max(1);
    let addrs = (0..nodes.len()).map(|k| nodes[(first + k) % n].api.clone()).collect();
    let trust = nodes.first().map(|n| n.access.trust.clone()).unwrap_or_default();
    Ok(Cluster::new(addrs, &trust)?.with_deadline(OP_DEADLINE))
}

/// The alert every client creates: SMS to the group, then a voice call to whoever has not
/// replied after `escalate_after_s` (none when 0).
pub fn alert_request(key: &str, group: &str, escalate_after_s: u32) -> CreateAlertRequest {
    let variant = ChannelContent {
        sms_text: "Varsel: evakuer nå. Svar OK.".into(),
        voice_script: "Dette er et varsel. Evakuer nå.".into(),
        ..Default::default()
    };
    let mut policy = vec![EscalationStep { channels: vec![Channel::Sms as i32], after_seconds: 0 }];
    if escalate_after_s > 0 {
        policy
            .push(EscalationStep { channels: vec![Channel::Voice as i32], after_seconds: escalate_after_s });
    }
    CreateAlertRequest {
        idempotency_key: key.into(),
        title: format!("chaos {key}"),
        priority: Priority::Crisis as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: HashMap::from([("nb".into(), variant)]),
        }),
        targets: Some(Targets { group_names: vec![group.into()], ..Default::default() }),
        policy,
        ..Default::default()
    }
}

/// One client's loop until `stop` is set.
#[derive(Debug)]
pub struct Client {
    /// Its index.
    pub index: usize,
    /// The nodes.
    pub nodes: Vec<NodeInfo>,
    /// Tenant operator token.
    pub token: String,
    /// The load settings.
    pub load: Load,
    /// Seed of this client's draws.
    pub seed: u64,
    /// Prefix of idempotency keys (unique per run).
    pub key_prefix: String,
    /// Where operations go.
    pub history: History,
    /// The run's start.
    pub t0: Instant,
}

impl Client {
    /// Creates and reads alerts until `stop` turns true.
    pub async fn run(self, stop: tokio::sync::watch::Receiver<bool>) {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut created: Vec<(String, String)> = Vec::new();
        let mut n = 0u64;
        while !*stop.borrow() {
            // Each operation starts at a node drawn from the seed, as independent clients would.
            let first = rng.random_range(0..self.nodes.len().max(1));
            let Ok(cluster) = cluster_from(&self.nodes, first) else { return };
            let repeat = !created.is_empty() && rng.random_bool(self.load.repeat_rate);
            let (key, group) = if repeat {
                created[rng.random_range(0..created.len())].clone()
            } else {
                n += 1;
                let g = (n as usize * self.load.clients + self.index) % self.load.groups;
                (format!("{}-c{}-{n}", self.key_prefix, self.index), group(g))
            };
            let op = self.create(&cluster, &key, &group).await;
            let id = match op.result {
                OpResult::Created(id) => Some(id),
                _ => None,
            };
            self.history.push(op);
            if let Some(id) = id {
                if !repeat {
                    created.push((key.clone(), group.clone()));
                }
                let other = cluster_from(&self.nodes, first + 1).unwrap_or(cluster);
                let op = self.get(&other, &key, id).await;
                self.history.push(op);
            }
            // The pause ends early when the run stops, so a long interval does not hold the
            // run (nor let this client create an alert after it was told to stop).
            let mut stop = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(self.load.interval_ms)) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
    }

    fn ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    async fn create(&self, cluster: &Cluster, key: &str, group: &str) -> Op {
        let invoked_ms = self.ms();
        let req = alert_request(key, group, self.load.escalate_after_s);
        let answer = cluster
            .call(|ch| {
                let req = authed(&self.token, req.clone());
                async move { AlertServiceClient::new(ch).create_alert(req).await }
            })
            .await;
        let (result, failed_attempts) = match answer {
            Ok(a) => match a.value.into_inner().alert {
                Some(alert) => (OpResult::Created(alert.id), a.failed_attempts),
                None => (OpResult::Failed("answer without an alert".into()), a.failed_attempts),
            },
            Err(e) => (OpResult::Failed(e.to_string()), attempts_of(&e)),
        };
        Op {
            client: self.index,
            kind: OpKind::Create { key: key.into(), group: group.into() },
            invoked_ms,
            returned_ms: self.ms(),
            result,
            failed_attempts,
        }
    }

    async fn get(&self, cluster: &Cluster, key: &str, id: u64) -> Op {
        let invoked_ms = self.ms();
        let answer = cluster
            .call(|ch| {
                let req = authed(
                    &self.token,
                    GetAlertRequest { id, consistency: Consistency::Linearizable as i32 },
                );
                async move { AlertServiceClient::new(ch).get_alert(req).await }
            })
            .await;
        let (result, failed_attempts) = match answer {
            Ok(a) => (OpResult::Found, a.failed_attempts),
            Err(ClientError::Rejected(s)) if s.code() == tonic::Code::NotFound => (OpResult::NotFound, 0),
            Err(e) => (OpResult::Failed(e.to_string()), attempts_of(&e)),
        };
        Op {
            client: self.index,
            kind: OpKind::Get { key: key.into(), id },
            invoked_ms,
            returned_ms: self.ms(),
            result,
            failed_attempts,
        }
    }
}

fn attempts_of(e: &ClientError) -> u32 {
    match e {
        ClientError::Exhausted { attempts, .. } => *attempts,
        _ => 1,
    }
}
