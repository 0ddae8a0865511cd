//! The running engine: what its actors share, and starting and stopping it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorRef};
use varsel_config::{DeliveryConfig, ProviderConfig, TestingConfig};
use varsel_domain::model::{Channel, TenantId};

use crate::actors::receipts::ReceiptsMsg;
use crate::actors::recorder::RecorderMsg;
use crate::actors::scheduler::SchedulerMsg;
use crate::actors::sender::ChannelQueue;
use crate::actors::{Root, RootMsg};
use crate::inbound::EngineInbound;
use crate::metrics;
use crate::providers::bucket::TokenBucket;
use crate::providers::build::BuildError;
use crate::providers::{InboundSink, ProviderSet, build_providers};
use crate::replica::Replica;

/// A monotonic clock in ms since the engine started: leases are judged by it on this node,
/// so a wall-clock jump cannot extend one.
#[derive(Debug)]
pub struct EngineClock(Instant);

impl EngineClock {
    /// Milliseconds since the engine started.
    pub fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// The log's clocks as this node can tell them now: the latest stamps it has applied, plus the
/// time its own monotonic clock says has passed since it applied them. There are two:
///
/// - the **log's time** ([`LogClock::now_ms`]): start times, escalation steps, expiry, reply
///   windows and everything shown to people. Leaders stamp it from their own log clock and
///   step it forward to the cluster's median wall clock when that is ahead (see
///   `docs/architecture.md`, "Time");
/// - the **lease time** ([`LogClock::lease_now_ms`]): leases and node liveness. Leaders stamp it
///   from their own lease clock only; it is never stepped, so no correction of the log's time
///   can make a lease lapse early.
///
/// Both are compared with these, never with this node's wall clock: a node whose clock is
/// wrong still claims its share of the work, takes over a dead node's shards when their leases
/// lapse, and escalates on time. Neither ever goes back.
#[derive(Debug)]
pub struct LogClock {
    applied: tokio::sync::watch::Receiver<varsel_raft_store::state_machine::AppliedState>,
    log: Mutex<(u64, Instant)>,
    lease: Mutex<(u64, Instant)>,
}

/// The stamp `applied` if it is ahead of the estimate `last` carried forward by monotonic time
/// (and then it becomes the new base), else the estimate: never back.
fn follow(last: &Mutex<(u64, Instant)>, applied: u64) -> u64 {
    let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
    let estimate = last.0 + last.1.elapsed().as_millis() as u64;
    if applied > estimate {
        *last = (applied, Instant::now());
        return applied;
    }
    estimate
}

impl LogClock {
    /// A clock that follows the applied state of `state`.
    pub fn new(state: &varsel_raft_store::StateReader<varsel_raft_store::engine::SledTree>) -> Self {
        let applied = state.subscribe();
        let (clock, lease) = {
            let a = applied.borrow();
            (a.clock_ms, a.lease_ms)
        };
        let now = Instant::now();
        Self { applied, log: Mutex::new((clock, now)), lease: Mutex::new((lease, now)) }
    }

    /// The log's time now, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        let applied = self.applied.borrow().clock_ms;
        follow(&self.log, applied)
    }

    /// The lease time now, ms (its origin is the cluster's first entry, not the epoch).
    pub fn lease_now_ms(&self) -> u64 {
        let applied = self.applied.borrow().lease_ms;
        follow(&self.lease, applied)
    }

    /// The latest log time applied, ms (no estimate).
    pub fn applied_ms(&self) -> u64 {
        self.applied.borrow().clock_ms
    }
}

/// Test-only failpoints: actors named here panic once (see `testing.panic_actors`), reads
/// named here fail once (see `testing.fail_reads`).
#[derive(Debug, Default)]
pub struct Failpoints {
    panics: Mutex<std::collections::BTreeSet<String>>,
    reads: Mutex<std::collections::BTreeSet<String>>,
}

impl Failpoints {
    /// Armed with actors that panic once.
    pub fn new(names: &[String]) -> Self {
        Self { panics: Mutex::new(names.iter().cloned().collect()), reads: Mutex::default() }
    }

    /// Also arms reads that fail once.
    pub fn with_failing_reads(self, names: &[String]) -> Self {
        *self.reads.lock().unwrap_or_else(|p| p.into_inner()) = names.iter().cloned().collect();
        self
    }

    /// True the first time the read `name` comes by, if it is armed: the caller treats the read
    /// as failed.
    pub fn fail_read(&self, name: &str) -> bool {
        self.reads.lock().unwrap_or_else(|p| p.into_inner()).remove(name)
    }

    /// Panics the first time `name` comes by, if it is armed.
    pub fn check(&self, name: &str) {
        let hit = self.panics.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        if hit {
            panic!("failpoint: {name} panics once (testing.panic_actors)");
        }
    }
}

/// Counters the engine keeps for metrics and tests.
#[derive(Debug, Default)]
pub struct Counters {
    /// Actor restarts by the root supervisor.
    pub actor_restarts: Arc<AtomicU64>,
    /// Receipts and replies dropped because too many were waiting.
    pub receipts_dropped: Arc<AtomicU64>,
}

/// What every actor of the engine shares.
#[derive(Debug)]
pub struct Shared {
    /// This node's replica.
    pub replica: Arc<dyn Replica>,
    /// Settings.
    pub config: DeliveryConfig,
    /// Per channel, the bounded queue in front of its sender.
    pub queues: BTreeMap<Channel, Arc<ChannelQueue>>,
    /// Per channel, its providers.
    pub providers: BTreeMap<Channel, Arc<ProviderSet>>,
    /// The engine's monotonic clock.
    pub clock: EngineClock,
    /// Counters.
    pub counters: Counters,
    /// Test-only failpoints.
    pub failpoints: Arc<Failpoints>,
    /// Metrics.
    pub metrics: metrics::DeliveryMetrics,
    recorder: RwLock<Option<ActorRef<RecorderMsg>>>,
    receipts: RwLock<Option<ActorRef<ReceiptsMsg>>>,
    scheduler: RwLock<Option<ActorRef<SchedulerMsg>>>,
    tenant_buckets: Mutex<HashMap<TenantId, (u32, Arc<TokenBucket>)>>,
    unhealthy: Mutex<Vec<String>>,
}

fn read<T: Clone>(lock: &RwLock<Option<T>>) -> Option<T> {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

fn write<T>(lock: &RwLock<Option<T>>, value: Option<T>) {
    *lock.write().unwrap_or_else(|p| p.into_inner()) = value;
}

impl Shared {
    /// The log's time now as this node can tell it ([`LogClock`]): what log times (starts,
    /// leases, escalation steps, expiry) are compared with.
    pub fn log_now_ms(&self) -> u64 {
        self.replica.log_clock().now_ms()
    }

    /// The lease time now as this node can tell it ([`LogClock::lease_now_ms`]): what leases
    /// and heartbeats are compared with.
    pub fn lease_now_ms(&self) -> u64 {
        self.replica.log_clock().lease_now_ms()
    }

    /// The nodes this node counts as live when it splits an alert's shards over the sites:
    /// those whose latest heartbeat in the log is at most `NODE_LIVE_LEASES` leases older than
    /// the newest one (log times, so no node's clock matters), the voters that have sent none
    /// yet, and itself; in id order. A cluster that has just started (or a node just added) has
    /// not heartbeated through the log; counting only the nodes that have gave the first node
    /// to beat every shard of an alert created then. A voter that never beats costs its share
    /// one lease length, as a node that stopped does. After the log's clock jumps forward (a
    /// leader whose clock runs ahead), the others count as live again with their next
    /// heartbeat.
    pub fn live_nodes(&self) -> Vec<varsel_raft_store::NodeId> {
        use varsel_raft_store::delivery::NODE_LIVE_LEASES;
        use varsel_raft_store::state_machine::delivery::query as dq;
        let me = self.replica.id();
        let beats = dq::heartbeats(&self.replica.state().read_txn()).unwrap_or_default();
        let newest = beats.iter().map(|(_, t)| *t).max().unwrap_or(0);
        let mut live: std::collections::BTreeSet<_> = beats
            .iter()
            .filter(|(_, t)| t + NODE_LIVE_LEASES * self.config.lease_ms >= newest)
            .map(|(n, _)| *n)
            .collect();
        let beaten: std::collections::BTreeSet<_> = beats.iter().map(|(n, _)| *n).collect();
        live.extend(self.replica.voters().into_iter().filter(|v| !beaten.contains(v)));
        live.insert(me);
        live.into_iter().collect()
    }

    /// The current recorder (it changes when restarted).
    pub fn recorder(&self) -> Option<ActorRef<RecorderMsg>> {
        read(&self.recorder)
    }
    pub(crate) fn set_recorder(&self, r: Option<ActorRef<RecorderMsg>>) {
        write(&self.recorder, r)
    }
    /// The current receipts actor.
    pub fn receipts(&self) -> Option<ActorRef<ReceiptsMsg>> {
        read(&self.receipts)
    }
    pub(crate) fn set_receipts(&self, r: Option<ActorRef<ReceiptsMsg>>) {
        write(&self.receipts, r)
    }
    /// The current scheduler.
    pub fn scheduler(&self) -> Option<ActorRef<SchedulerMsg>> {
        read(&self.scheduler)
    }
    pub(crate) fn set_scheduler(&self, r: Option<ActorRef<SchedulerMsg>>) {
        write(&self.scheduler, r)
    }
    pub(crate) fn set_unhealthy(&self, child: String) {
        self.unhealthy.lock().unwrap_or_else(|p| p.into_inner()).push(child);
    }
    /// Stops taking work and hands this node's leases back (`true`), or takes work again
    /// (`false`). Returns the leases released.
    pub async fn drain(&self, drain: bool) -> Result<usize, String> {
        let s = self.scheduler().ok_or("the scheduler is not running")?;
        if drain {
            ractor::call_t!(s, SchedulerMsg::Drain, 10_000).map_err(|e| e.to_string())
        } else {
            s.cast(SchedulerMsg::Resume).map_err(|e| e.to_string())?;
            Ok(0)
        }
    }

    /// A read of the applied state failed in `actor`: logged and counted. The caller tries again
    /// later; it never takes the failure for "nothing there".
    pub fn read_failed(&self, actor: &str, error: &str) {
        tracing::warn!(actor, error, "reading the applied state failed; trying again");
        self.metrics.read_errors.with(&[actor]).inc();
    }

    /// Actors that failed too often and were left down.
    pub fn unhealthy(&self) -> Vec<String> {
        self.unhealthy.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes `n` messages from the tenant's sending budget on this node, if available now.
    /// The tenant's limit is shared evenly by the nodes, so the limit holds over the cluster.
    pub fn tenant_budget(&self, tenant: TenantId, n: usize) -> bool {
        let txn = self.replica.state().read_txn();
        let limit = varsel_raft_store::state_machine::domain::query::tenant(&txn, tenant)
            .ok()
            .flatten()
            .map_or(0, |t| t.limits.max_send_rate_per_second);
        if limit == 0 {
            return true;
        }
        let voters = self.replica.voters().len().max(1) as u32;
        let share = limit.div_ceil(voters);
        let bucket = {
            let mut map = self.tenant_buckets.lock().unwrap_or_else(|p| p.into_inner());
            let entry = map.entry(tenant).or_insert_with(|| (share, Arc::new(TokenBucket::new(share))));
            if entry.0 != share {
                *entry = (share, Arc::new(TokenBucket::new(share)));
            }
            entry.1.clone()
        };
        bucket.try_take(n)
    }
}

/// Why the engine could not start; the node does not start either.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A provider could not be built.
    #[error(transparent)]
    Provider(#[from] BuildError),
    /// The root actor could not be spawned.
    #[error("cannot start the delivery actors: {0}")]
    Spawn(String),
}

/// A running delivery engine.
#[derive(Debug)]
pub struct Engine {
    /// What the actors share.
    pub shared: Arc<Shared>,
    /// Where receipts and replies are handed to the engine.
    pub inbound: Arc<dyn InboundSink>,
    root: ActorRef<RootMsg>,
    handle: tokio::task::JoinHandle<()>,
}

impl Engine {
    /// Starts the engine for `replica`.
    pub async fn start(
        replica: Arc<dyn Replica>,
        config: DeliveryConfig,
        providers: &[ProviderConfig],
        testing: &TestingConfig,
        registry: &varsel_observe::metrics::Metrics,
    ) -> Result<Self, StartError> {
        let inbound = Arc::new(EngineInbound::default());
        let metrics = metrics::DeliveryMetrics::new(registry);
        let events = crate::webhooks::CircuitReporter::start(Arc::new(metrics.clone()), replica.clone());
        let providers = build_providers(providers, &config, events, inbound.clone())?;
        let queues = Channel::ALL
            .iter()
            .map(|c| (*c, Arc::new(ChannelQueue::new(*c, config.queue_messages))))
            .collect();
        let shared = Arc::new(Shared {
            replica,
            config,
            queues,
            providers,
            clock: EngineClock(Instant::now()),
            counters: Counters::default(),
            failpoints: Arc::new(
                Failpoints::new(&testing.panic_actors).with_failing_reads(&testing.fail_reads),
            ),
            metrics,
            recorder: RwLock::new(None),
            receipts: RwLock::new(None),
            scheduler: RwLock::new(None),
            tenant_buckets: Mutex::new(HashMap::new()),
            unhealthy: Mutex::new(Vec::new()),
        });
        inbound.bind(&shared);
        let (root, handle) =
            Actor::spawn(None, Root, shared.clone()).await.map_err(|e| StartError::Spawn(e.to_string()))?;
        Ok(Self { shared, inbound, root, handle })
    }

    /// Gives this node's leases back (so other sites take its shards at once) and stops.
    pub async fn stop(self) {
        if let Some(s) = self.shared.scheduler() {
            match ractor::call_t!(s, SchedulerMsg::Drain, 5_000) {
                Ok(n) if n > 0 => tracing::info!(leases = n, "shard leases released"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not release shard leases; they will expire"),
            }
        }
        self.root.stop(Some("node stopping".into()));
        let _ = tokio::time::timeout(Duration::from_secs(5), self.handle).await;
    }
}
