//! One run: set up a tenant, drive the client load, inject the scenario's faults on their
//! schedule, stop faulting, let every accepted alert finish, check the invariants, report.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use varsel_proto::admin::cluster_admin_client::ClusterAdminClient;
use varsel_proto::admin::{DeliveryStatusRequest, ShardsRequest, StatusRequest};
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::contact_service_client::ContactServiceClient;
use varsel_proto::api::tenant_service_client::TenantServiceClient;
use varsel_proto::api::{
    Alert, AlertStatus, Consistency, CreateCredentialRequest, CreateTenantRequest, GetAlertRequest,
    ImportChunk, Limits, Role,
};
use varsel_sim::ProviderSettings;

use crate::backend::{Backend, BackendError, NodeInfo};
use crate::invariants::{self, Evidence, Verdict};
use crate::load::{self, Client, History, OpKind, OpResult, authed, cluster_from};
use crate::report::{FaultRecord, Report, Requests, Spread};
use crate::scenario::{FaultKind, Scenario, Target};

/// Why a run could not be carried out (as opposed to an invariant failing).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Setting the cluster up for the run failed.
    #[error("setup: {0}")]
    Setup(String),
    /// The backend failed to inject or undo a fault.
    #[error("fault: {0}")]
    Backend(#[from] BackendError),
}

/// A fault in force.
struct Active {
    record: usize,
    kind: FaultKind,
    node: Option<u64>,
    until_s: f64,
}

/// Runs `scenario` with `seed` against `backend`. `replay` is the command that repeats it.
pub async fn run<B: Backend>(
    scenario: &Scenario,
    backend: &mut B,
    seed: u64,
    replay: String,
) -> Result<Report, RunError> {
    let nodes = backend.nodes();
    let tag = format!("{}-{seed}-{}", scenario.name, std::process::id());
    let token = setup(&nodes, &backend.superadmin_token(), &tag, &scenario.load).await?;
    let sim = backend.sim();
    let replies = ProviderSettings {
        reply_rate: Some(scenario.load.reply_rate),
        reply_text: Some("OK".into()),
        reply_delay_ms: Some(200),
        ..Default::default()
    };
    sim.set("sms-primary", &replies).await.map_err(|e| RunError::Setup(format!("simulator: {e}")))?;
    sim.set("sms-alt", &replies).await.map_err(|e| RunError::Setup(format!("simulator: {e}")))?;
    let window = in_flight_window(&nodes).await;

    // Load.
    let t0 = Instant::now();
    let t0_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let history = History::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let clients: Vec<_> = (0..scenario.load.clients)
        .map(|index| {
            let c = Client {
                index,
                nodes: nodes.clone(),
                token: token.clone(),
                load: scenario.load.clone(),
                seed: seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                key_prefix: tag.clone(),
                history: history.clone(),
                t0,
            };
            tokio::spawn(c.run(stopped.clone()))
        })
        .collect();

    // Faults.
    let plan = scenario.plan(seed);
    let mut records: Vec<FaultRecord> = Vec::new();
    let mut active: Vec<Active> = Vec::new();
    let mut resumed_probes = Vec::new();
    let mut next = 0;
    let duration = scenario.duration_s as f64;
    loop {
        let now = t0.elapsed().as_secs_f64();
        let next_inject = plan.get(next).map(|p| p.at_s).filter(|at| *at < duration);
        let next_undo = active.iter().map(|a| a.until_s).min_by(f64::total_cmp);
        let wake = [next_inject, next_undo, Some(duration)]
            .into_iter()
            .flatten()
            .min_by(f64::total_cmp)
            .unwrap_or(duration);
        if wake > now {
            tokio::time::sleep(Duration::from_secs_f64(wake - now)).await;
            continue;
        }
        // Undo what is due first, so a site comes back before the next is taken.
        if let Some(i) = active.iter().position(|a| a.until_s <= now) {
            let a = active.swap_remove(i);
            undo(backend, &a, &mut records, t0).await?;
            continue;
        }
        if now >= duration {
            break;
        }
        let Some(p) = plan.get(next).copied() else { break };
        next += 1;
        let spec = &scenario.faults[p.spec];
        let mut record = FaultRecord {
            kind: kind_name(spec.kind).into(),
            node: None,
            detail: String::new(),
            at_s: now,
            undone_at_s: None,
            skipped: None,
            next_write_ms: None,
            sending_resumed_ms: None,
            shards_held: 0,
        };
        if spec.kind.hits_site()
            && let Some(a) = active.iter().find(|a| a.kind.hits_site())
        {
            record.skipped = Some(format!("node {} is still down; a quorum must stay", a.node.unwrap_or(0)));
            records.push(record);
            continue;
        }
        if active.iter().any(|a| a.kind == spec.kind) {
            record.skipped = Some("the same kind of fault is still in force".into());
            records.push(record);
            continue;
        }
        let recent = recent_alerts(&history, t0, scenario.load.escalate_after_s);
        let node = match spec.kind {
            FaultKind::KillLeader => Some(leader(&nodes).await?),
            k if k.hits_site() => Some(choose(&nodes, &spec.target, p.pick, &recent).await?),
            _ => None,
        };
        record.node = node;
        if let Some(victim) = node {
            let held = shards_held_by(&nodes, victim, &recent).await;
            record.shards_held = held.values().map(|v| v.len() as u32).sum();
            if !held.is_empty() {
                let probe_nodes: Vec<NodeInfo> = nodes.iter().filter(|n| n.id != victim).cloned().collect();
                resumed_probes
                    .push((records.len(), tokio::spawn(sending_resumed(probe_nodes, victim, held))));
            }
        }
        match spec.kind {
            FaultKind::KillSite | FaultKind::KillLeader => backend.kill(node.unwrap_or(0)).await?,
            FaultKind::StallSite => backend.pause(node.unwrap_or(0), true).await?,
            FaultKind::PartitionSite => backend.partition(node.unwrap_or(0), true).await?,
            FaultKind::ProviderDown => {
                record.detail = spec.provider.clone();
                let down = ProviderSettings { outage: Some(true), ..Default::default() };
                sim.set(&spec.provider, &down)
                    .await
                    .map_err(|e| BackendError::new(format!("simulator: {e}")))?;
            }
            FaultKind::Latency => {
                record.detail = format!("{} ms", spec.latency_ms);
                if !backend.set_latency(spec.latency_ms).await? {
                    record.skipped = Some(format!("{} mode cannot add latency", backend.mode()));
                    records.push(record);
                    continue;
                }
            }
        }
        tracing::info!(kind = %record.kind, node = ?record.node, at_s = record.at_s, "fault injected");
        active.push(Active { record: records.len(), kind: spec.kind, node, until_s: now + spec.lasts_s });
        records.push(record);
    }
    for a in std::mem::take(&mut active) {
        undo(backend, &a, &mut records, t0).await?;
    }
    let _ = stop.send(true);
    for c in clients {
        let _ = tokio::time::timeout(load::OP_DEADLINE * 3, c).await;
    }
    let faulted_s = t0.elapsed().as_secs_f64();
    for (i, probe) in resumed_probes {
        if let Ok(Ok(ms)) = tokio::time::timeout(Duration::from_secs(120), probe).await {
            records[i].sending_resumed_ms = ms;
        }
    }

    // Settle: every accepted alert finishes.
    let ops = history.ops();
    let accepted: BTreeSet<u64> = ops
        .iter()
        .filter_map(|o| match o.result {
            OpResult::Created(id) => Some(id),
            _ => None,
        })
        .collect();
    let settle_started = Instant::now();
    let (alerts, unfinished) =
        wait_finished(&nodes, &token, &accepted, Duration::from_secs(scenario.settle_s)).await;
    let settled_s = settle_started.elapsed().as_secs_f64();
    // Replies the simulator still has queued must land before acknowledgements are judged.
    drain_callbacks(&sim, Duration::from_secs(30)).await;
    let replies = sim.replies().await.map(|r| r.replies).unwrap_or_default();

    // Invariants.
    for r in &mut records {
        if r.skipped.is_none() && r.node.is_some() {
            r.next_write_ms = next_write_after(&ops, r.at_s);
        }
    }
    let site_faults = records.iter().filter(|r| r.skipped.is_none() && r.node.is_some()).count() as u64;
    let evidence = Evidence {
        ops: ops.clone(),
        alerts,
        nodes: nodes.clone(),
        token: token.clone(),
        sim: sim.clone(),
        replies,
        recipients: scenario.load.recipients as u64,
        escalate_after_s: scenario.load.escalate_after_s,
        window_per_node: window,
        site_faults,
        fault_windows: records
            .iter()
            .filter(|r| r.skipped.is_none() && r.node.is_some())
            .map(|r| {
                let unix = |s: f64| t0_unix_ms + (s * 1000.0) as u64;
                (unix(r.at_s), unix(r.undone_at_s.unwrap_or(faulted_s)))
            })
            .collect(),
    };
    let mut verdicts = vec![Verdict::new(
        "every accepted alert finished",
        unfinished.is_empty(),
        if unfinished.is_empty() {
            format!("{} alerts finished {settled_s:.1} s after the faults stopped", accepted.len())
        } else {
            format!(
                "{} of {} not finished within {} s: {}",
                unfinished.len(),
                accepted.len(),
                scenario.settle_s,
                invariants::first(&unfinished, 5)
            )
        },
    )];
    verdicts.push(invariants::accepted_exist::check(&evidence).await);
    let (loss, messages) = invariants::no_loss::check(&evidence).await;
    verdicts.push(loss);
    verdicts.push(invariants::no_message_after_ack::check(&evidence).await);
    verdicts.push(invariants::linearizable::check(&evidence).await);
    verdicts.push(invariants::converged::check(&evidence).await);

    let requests = requests(&ops, accepted.len() as u64);
    let next_write = Spread::of(records.iter().filter_map(|r| r.next_write_ms).collect());
    let sending_resumed = Spread::of(records.iter().filter_map(|r| r.sending_resumed_ms).collect());
    let passed = verdicts.iter().all(|v| v.ok);
    Ok(Report {
        scenario: scenario.name.clone(),
        mode: backend.mode().into(),
        seed,
        replay,
        duration_s: faulted_s,
        settled_s,
        faults: records,
        requests,
        next_write,
        sending_resumed,
        messages,
        invariants: verdicts,
        passed,
    })
}

fn kind_name(k: FaultKind) -> &'static str {
    match k {
        FaultKind::KillSite => "kill_site",
        FaultKind::StallSite => "stall_site",
        FaultKind::PartitionSite => "partition_site",
        FaultKind::KillLeader => "kill_leader",
        FaultKind::ProviderDown => "provider_down",
        FaultKind::Latency => "latency",
    }
}

async fn undo<B: Backend>(
    backend: &mut B,
    a: &Active,
    records: &mut [FaultRecord],
    t0: Instant,
) -> Result<(), RunError> {
    let node = a.node.unwrap_or(0);
    match a.kind {
        FaultKind::KillSite | FaultKind::KillLeader => backend.restart(node).await?,
        FaultKind::StallSite => backend.pause(node, false).await?,
        FaultKind::PartitionSite => backend.partition(node, false).await?,
        FaultKind::ProviderDown => {
            let provider = records[a.record].detail.clone();
            let up = ProviderSettings { outage: Some(false), ..Default::default() };
            backend
                .sim()
                .set(&provider, &up)
                .await
                .map_err(|e| BackendError::new(format!("simulator: {e}")))?;
        }
        FaultKind::Latency => {
            backend.set_latency(0).await?;
        }
    }
    records[a.record].undone_at_s = Some(t0.elapsed().as_secs_f64());
    tracing::info!(kind = %records[a.record].kind, node = ?a.node, "fault undone");
    Ok(())
}

/// Creates the run's tenant, an operator credential and the contacts; returns the token.
async fn setup(
    nodes: &[NodeInfo],
    superadmin: &str,
    tag: &str,
    load: &crate::scenario::Load,
) -> Result<String, RunError> {
    let setup_err = |what: &str, e: &dyn std::fmt::Display| RunError::Setup(format!("{what}: {e}"));
    let cluster = cluster_from(nodes, 0).map_err(|e| setup_err("endpoints", &e))?;
    let limits = Limits {
        max_recipients_per_alert: 1_000_000,
        max_alerts_per_minute: 100_000,
        max_messages_per_alert: 4_000_000,
        max_send_rate_per_second: 1_000_000,
        ..Default::default()
    };
    let tenant = cluster
        .call(|ch| {
            let req = authed(superadmin, CreateTenantRequest { name: tag.to_string(), limits: Some(limits) });
            async move { TenantServiceClient::new(ch).create_tenant(req).await }
        })
        .await
        .map_err(|e| setup_err("create tenant", &e))?
        .value
        .into_inner()
        .tenant
        .ok_or_else(|| RunError::Setup("create tenant: no tenant in the answer".into()))?;
    let token = cluster
        .call(|ch| {
            let req = authed(
                superadmin,
                CreateCredentialRequest {
                    tenant_id: tenant.id,
                    name: "chaos".into(),
                    role: Role::Operator as i32,
                },
            );
            async move { TenantServiceClient::new(ch).create_credential(req).await }
        })
        .await
        .map_err(|e| setup_err("create credential", &e))?
        .value
        .into_inner()
        .token;
    let mut csv = String::from("external_id,name,phone,groups\n");
    for g in 0..load.groups {
        for i in 0..load.recipients {
            csv.push_str(&format!("g{g}p{i},Person {g}-{i},{},{}\n", load::phone(g, i), load::group(g)));
        }
    }
    let recipients = load.groups * load.recipients;
    let data = csv.into_bytes();
    // Rows upsert by external id, so an import cut short by a fault is simply sent again.
    let report = cluster
        .call(|ch| {
            let chunks: Vec<ImportChunk> = data
                .chunks(256 * 1024)
                .map(|d| ImportChunk { data: d.to_vec(), filename: "chaos.csv".into() })
                .collect();
            let req = authed(&token, futures::stream::iter(chunks));
            async move { ContactServiceClient::new(ch).import_contacts(req).await }
        })
        .await
        .map_err(|e| setup_err("import contacts", &e))?
        .value
        .into_inner();
    if report.created + report.updated != recipients as u64 {
        return Err(RunError::Setup(format!(
            "import contacts: {} of {recipients} stored; first rejection: {:?}",
            report.created + report.updated,
            report.rejected.first()
        )));
    }
    Ok(token)
}

async fn admin(node: &NodeInfo) -> Option<ClusterAdminClient<tonic::transport::Channel>> {
    let fut = ClusterAdminClient::connect(format!("http://{}", node.api));
    tokio::time::timeout(Duration::from_secs(2), fut).await.ok()?.ok()
}

/// One node's in-flight window (messages handed to providers and not yet recorded).
async fn in_flight_window(nodes: &[NodeInfo]) -> u64 {
    for n in nodes {
        if let Some(mut a) = admin(n).await
            && let Ok(Ok(r)) =
                tokio::time::timeout(Duration::from_secs(5), a.delivery_status(DeliveryStatusRequest {}))
                    .await
        {
            return r.into_inner().in_flight_window;
        }
    }
    0
}

/// The leader, as the first node that answers sees it.
async fn leader(nodes: &[NodeInfo]) -> Result<u64, RunError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for n in nodes {
            if let Some(mut a) = admin(n).await
                && let Ok(Ok(s)) =
                    tokio::time::timeout(Duration::from_secs(2), a.status(StatusRequest {})).await
            {
                let s = s.into_inner();
                if s.has_leader {
                    return Ok(s.leader_id);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(BackendError::new("no node knows a leader within 30 s").into())
}

async fn choose(nodes: &[NodeInfo], target: &Target, pick: u64, recent: &[u64]) -> Result<u64, RunError> {
    let ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
    let any = |set: &[u64]| set[(pick % set.len().max(1) as u64) as usize];
    Ok(match target {
        Target::Node(id) if ids.contains(id) => *id,
        Target::Node(id) => {
            return Err(BackendError::new(format!("target node {id} is not in the cluster {ids:?}")).into());
        }
        Target::Random => any(&ids),
        Target::Leader => leader(nodes).await?,
        Target::Follower => {
            let l = leader(nodes).await?;
            let followers: Vec<u64> = ids.iter().copied().filter(|i| *i != l).collect();
            any(&followers)
        }
        Target::MostShards => {
            let mut count: BTreeMap<u64, usize> = BTreeMap::new();
            for id in &ids {
                count.insert(*id, shards_held_by(nodes, *id, recent).await.values().map(Vec::len).sum());
            }
            match count.iter().max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id))) {
                Some((id, n)) if *n > 0 => *id,
                _ => any(&ids),
            }
        }
    })
}

/// Alerts created recently enough to still be sending.
fn recent_alerts(history: &History, t0: Instant, escalate_after_s: u32) -> Vec<u64> {
    let horizon = u64::from(escalate_after_s) * 1000 + 30_000;
    let now = t0.elapsed().as_millis() as u64;
    let mut ids: Vec<u64> = history
        .ops()
        .into_iter()
        .filter(|o| o.returned_ms + horizon >= now)
        .filter_map(|o| match (o.kind, o.result) {
            (OpKind::Create { .. }, OpResult::Created(id)) => Some(id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The unfinished shards `node` holds, per alert, as some other node sees them.
async fn shards_held_by(nodes: &[NodeInfo], node: u64, alerts: &[u64]) -> BTreeMap<u64, Vec<u32>> {
    let mut held = BTreeMap::new();
    let Some(via) = nodes.iter().find(|n| n.id != node) else { return held };
    let Some(mut a) = admin(via).await else { return held };
    for id in alerts {
        let Ok(Ok(r)) =
            tokio::time::timeout(Duration::from_secs(2), a.shards(ShardsRequest { alert_id: *id })).await
        else {
            continue;
        };
        let r = r.into_inner();
        if r.status != "Active" {
            continue;
        }
        let mine: Vec<u32> =
            r.shards.iter().filter(|s| s.owner == node && !s.done).map(|s| s.shard).collect();
        if !mine.is_empty() {
            held.insert(*id, mine);
        }
    }
    held
}

/// Milliseconds until none of `held` is still held by `victim` (taken over, or finished),
/// seen through any of `nodes`; `None` if that did not happen within two minutes.
async fn sending_resumed(nodes: Vec<NodeInfo>, victim: u64, held: BTreeMap<u64, Vec<u32>>) -> Option<u64> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        for via in &nodes {
            let Some(mut a) = admin(via).await else { continue };
            let mut still = false;
            let mut answered = true;
            for (id, shards) in &held {
                match tokio::time::timeout(Duration::from_secs(2), a.shards(ShardsRequest { alert_id: *id }))
                    .await
                {
                    Ok(Ok(r)) => {
                        let r = r.into_inner();
                        still |= r.status == "Active"
                            && r.shards
                                .iter()
                                .any(|s| shards.contains(&s.shard) && s.owner == victim && !s.done);
                    }
                    _ => answered = false,
                }
            }
            if answered && !still {
                return Some(started.elapsed().as_millis() as u64);
            }
            if answered {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits until every alert in `ids` has finished; returns the alerts read and those that did
/// not finish.
async fn wait_finished(
    nodes: &[NodeInfo],
    token: &str,
    ids: &BTreeSet<u64>,
    within: Duration,
) -> (BTreeMap<u64, Alert>, Vec<u64>) {
    let deadline = Instant::now() + within;
    let done = [AlertStatus::Completed, AlertStatus::Cancelled, AlertStatus::Expired].map(|s| s as i32);
    let mut alerts = BTreeMap::new();
    let mut pending: Vec<u64> = ids.iter().copied().collect();
    let Ok(cluster) = cluster_from(nodes, 0) else { return (alerts, pending) };
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for id in pending {
            let got = cluster
                .call(|ch| {
                    let req =
                        authed(token, GetAlertRequest { id, consistency: Consistency::Linearizable as i32 });
                    async move { AlertServiceClient::new(ch).get_alert(req).await }
                })
                .await;
            match got.ok().and_then(|a| a.value.into_inner().alert) {
                Some(a) if done.contains(&a.status) => {
                    alerts.insert(id, a);
                }
                Some(a) => {
                    alerts.insert(id, a);
                    still.push(id);
                }
                None => still.push(id),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    (alerts, pending)
}

/// Waits (bounded) until the simulator has no receipt or reply left to deliver.
async fn drain_callbacks(sim: &varsel_sim::SimClient, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match sim.stats().await {
            Ok(s) if s.callbacks_queued == 0 => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => {
                tracing::warn!(error = %e, "simulator stats unreadable; judging the replies it has listed");
                return;
            }
        }
    }
    tracing::warn!("the simulator still had callbacks queued after {within:?}");
}

/// From `at_s` to the return of the first successful create invoked at or after it, ms.
fn next_write_after(ops: &[load::Op], at_s: f64) -> Option<u64> {
    let at = (at_s * 1000.0) as u64;
    ops.iter()
        .filter(|o| matches!(o.kind, OpKind::Create { .. }) && o.ok() && o.invoked_ms >= at)
        .map(|o| o.returned_ms - at)
        .min()
}

fn requests(ops: &[load::Op], alerts_accepted: u64) -> Requests {
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
