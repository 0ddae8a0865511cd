//! The delivery engine: turns accepted alerts into messages to people, from every site at once.
//!
//! # Layout
//!
//! - [`actors`]: the supervised actor tree (scheduler, shard workers, channel senders, recorder,
//!   receipts); its doc draws the tree and the bounds.
//! - [`providers`]: the provider trait, failover between providers, breakers, rate limits,
//!   and the provider kinds.
//! - [`recipients`]: who a range of a shard reaches (frozen memberships, duplicates).
//! - [`render`]: personalising content per recipient and channel.
//! - [`message`]: a message ready for a provider.
//!
//! The replicated side (leases, cursors, outcomes) is in `varsel_raft_store::delivery` and the
//! state machine; this module is what each node runs against it.

pub mod actors;
pub mod message;
pub mod metrics;
pub mod providers;
pub mod recipients;
pub mod render;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorRef};
use varsel_domain::model::{Channel, TenantId};
use varsel_raft_store::delivery::PushGoneItem;

use crate::config::{DeliveryConfig, ProviderConfig};
use crate::replica::Replica;
use actors::receipts::ReceiptsMsg;
use actors::recorder::RecorderMsg;
use actors::scheduler::SchedulerMsg;
use actors::sender::ChannelQueue;
use actors::{Delivery, DeliveryMsg};
use providers::bucket::TokenBucket;
use providers::http_sms::HttpSmsProvider;
use providers::simulator::SimulatorProvider;
use providers::voice::VoiceProvider;
use providers::webpush::WebPushProvider;
use providers::{InboundSink, Provider, ProviderEvents, ProviderSet, RetryPolicy, Slot};

/// Wall-clock time in ms since the Unix epoch (for due times compared with the log's clock).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

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

/// Test-only failpoints: actors named here panic once (see `testing.panic_actors`).
#[derive(Debug, Default)]
pub struct Failpoints(Mutex<std::collections::BTreeSet<String>>);

impl Failpoints {
    /// Armed with `names`.
    pub fn new(names: &[String]) -> Self {
        Self(Mutex::new(names.iter().cloned().collect()))
    }

    /// Panics the first time `name` comes by, if it is armed.
    pub fn check(&self, name: &str) {
        let hit = self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
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
    pub replica: Arc<Replica>,
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
    /// The current recorder (it changes when restarted).
    pub fn recorder(&self) -> Option<ActorRef<RecorderMsg>> {
        read(&self.recorder)
    }
    fn set_recorder(&self, r: Option<ActorRef<RecorderMsg>>) {
        write(&self.recorder, r)
    }
    /// The current receipts actor.
    pub fn receipts(&self) -> Option<ActorRef<ReceiptsMsg>> {
        read(&self.receipts)
    }
    fn set_receipts(&self, r: Option<ActorRef<ReceiptsMsg>>) {
        write(&self.receipts, r)
    }
    /// The current scheduler.
    pub fn scheduler(&self) -> Option<ActorRef<SchedulerMsg>> {
        read(&self.scheduler)
    }
    fn set_scheduler(&self, r: Option<ActorRef<SchedulerMsg>>) {
        write(&self.scheduler, r)
    }
    fn set_unhealthy(&self, child: String) {
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

    /// Actors that failed too often and were left down.
    pub fn unhealthy(&self) -> Vec<String> {
        self.unhealthy.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes `n` messages from the tenant's sending budget on this node, if available now.
    /// The tenant's limit is shared evenly by the nodes, so the limit holds over the cluster.
    pub fn tenant_budget(&self, tenant: TenantId, n: usize) -> bool {
        let txn = self.replica.state.read_txn();
        let limit = varsel_raft_store::state_machine::domain::query::tenant(&txn, tenant)
            .ok()
            .flatten()
            .map_or(0, |t| t.limits.max_send_rate_per_second);
        if limit == 0 {
            return true;
        }
        let voters = self.replica.membership().voters.len().max(1) as u32;
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

/// The engine's [`InboundSink`]: hands receipts and replies to the receipts actor. Bound to
/// the engine after it starts (providers are built first).
#[derive(Debug, Default)]
pub struct EngineInbound {
    shared: std::sync::OnceLock<std::sync::Weak<Shared>>,
}

impl EngineInbound {
    fn send(&self, msg: ReceiptsMsg) {
        let actor = self.shared.get().and_then(std::sync::Weak::upgrade).and_then(|s| s.receipts());
        match actor {
            Some(a) => {
                if a.cast(msg).is_err() {
                    tracing::warn!("receipts actor not running; a receipt or reply was dropped");
                }
            }
            None => tracing::warn!("engine not started; a receipt or reply was dropped"),
        }
    }
}

impl InboundSink for EngineInbound {
    fn receipt(&self, key: &str, delivered: bool, provider_id: &str, error: Option<String>) {
        if let Some(s) = self.shared.get().and_then(std::sync::Weak::upgrade) {
            s.metrics.inbound.with(&[if delivered { "receipt_delivered" } else { "receipt_failed" }]).inc();
        }
        match actors::receipts::receipt_from_key(key, delivered, provider_id.to_string(), error) {
            Some(r) => self.send(ReceiptsMsg::Receipt(r)),
            None => tracing::debug!("receipt for a key that is not ours ignored"),
        }
    }

    fn reply(&self, from: &str, text: &str, channel: Channel, sent_at_ms: Option<u64>) {
        if let Some(s) = self.shared.get().and_then(std::sync::Weak::upgrade) {
            s.metrics.inbound.with(&["reply"]).inc();
        }
        self.send(ReceiptsMsg::Reply { from: from.to_string(), text: text.to_string(), channel, sent_at_ms });
    }

    fn ack(&self, key: &str, channel: Channel) {
        match varsel_raft_store::delivery::parse_message_key(key) {
            Some((alert, contact, _, _)) => self.send(ReceiptsMsg::Ack(alert, contact, channel)),
            None => tracing::debug!("acknowledgement for a key that is not ours ignored"),
        }
    }

    fn push_gone(&self, key: &str, subscription: &str) {
        match varsel_raft_store::delivery::parse_message_key(key) {
            Some((alert, contact, _, _)) => {
                let item = PushGoneItem { alert, contact, subscription: subscription.to_string() };
                self.send(ReceiptsMsg::PushGone(item))
            }
            None => tracing::debug!("gone push subscription for a key that is not ours ignored"),
        }
    }
}

/// Builds the providers of every channel from the configuration, in configured order.
/// Providers that receive receipts or replies on their own connections hand them to `inbound`.
/// Fails when a provider's key or credential file cannot be read.
pub fn build_providers(
    configs: &[ProviderConfig],
    delivery: &DeliveryConfig,
    events: Arc<dyn ProviderEvents>,
    inbound: Arc<dyn InboundSink>,
) -> Result<BTreeMap<Channel, Arc<ProviderSet>>, String> {
    let retry = RetryPolicy {
        attempts_max: delivery.retry_attempts_max,
        budget: Duration::from_millis(delivery.retry_budget_ms),
        ..RetryPolicy::default()
    };
    let mut slots: BTreeMap<Channel, Vec<Slot>> = Channel::ALL.iter().map(|c| (*c, Vec::new())).collect();
    for p in configs {
        let timeout = Duration::from_millis(p.timeout_ms);
        let provider: Arc<dyn Provider> = match (&p.simulator, &p.http_sms, &p.webpush, &p.voice_http) {
            (Some(sim), ..) => Arc::new(SimulatorProvider::new(
                p.name.clone(),
                sim.remote_name.clone().unwrap_or_else(|| p.name.clone()),
                p.channel,
                sim.url.clone(),
                delivery.callback_url.clone(),
                p.batch_max,
                timeout,
            )),
            (_, Some(c), ..) => {
                Arc::new(HttpSmsProvider::new(&p.name, c, p.batch_max, timeout).map_err(|e| e.to_string())?)
            }
            (_, _, Some(c), _) => Arc::new(
                WebPushProvider::new(&p.name, c, p.batch_max, timeout, inbound.clone())
                    .map_err(|e| e.to_string())?,
            ),
            (.., Some(c)) => Arc::new(voice_provider(p, c, delivery)?),
            _ => match build_own_protocol(p, &inbound)? {
                Some(provider) => provider,
                None => continue,
            },
        };
        slots.entry(p.channel).or_default().push(Slot::new(provider, p.rate_per_second, p.concurrency));
    }
    Ok(slots.into_iter().map(|(c, s)| (c, Arc::new(ProviderSet::new(c, s, retry, events.clone())))).collect())
}

/// A voice provider: it must be able to call us back, signed.
fn voice_provider(
    p: &ProviderConfig,
    c: &providers::voice::VoiceHttpConfig,
    delivery: &DeliveryConfig,
) -> Result<VoiceProvider, String> {
    let Some(base) = c.callback_url.as_ref().or(delivery.callback_url.as_ref()) else {
        return Err(format!(
            "provider {}: a voice provider reports calls through a callback; set delivery.callback_url or \
             providers.voice_http.callback_url",
            p.name
        ));
    };
    if p.inbound_secret_file.is_none() {
        return Err(format!(
            "provider {}: a voice provider's callbacks are signed; set its inbound_secret_file",
            p.name
        ));
    }
    VoiceProvider::new(&p.name, c, base, p.batch_max, Duration::from_millis(p.timeout_ms))
        .map_err(|e| e.to_string())
}

/// Providers that speak a delivery protocol themselves (SMPP, SMTP) rather than the
/// simulator's; `Ok(None)` when `p` is of another kind. Secrets are read here (configuration
/// validation read them once already, so an error means the file changed since).
fn build_own_protocol(
    p: &ProviderConfig,
    inbound: &Arc<dyn InboundSink>,
) -> Result<Option<Arc<dyn Provider>>, String> {
    use crate::config::secret::{SecretSource, read_secret};
    let timeout = Duration::from_millis(p.timeout_ms);
    if let Some(smpp) = &p.smpp {
        let password = read_secret("smpp.password", smpp.password_source()).map_err(|e| e.to_string())?;
        let provider = providers::smpp::SmppProvider::start(
            p.name.clone(),
            smpp,
            password,
            p.batch_max,
            timeout,
            inbound.clone(),
        )?;
        return Ok(Some(Arc::new(provider)));
    }
    if let Some(smtp) = &p.smtp {
        let read = |field: &str, source| read_secret(field, source).map_err(|e| e.to_string());
        let secrets = providers::smtp::SmtpSecrets {
            password: smtp
                .username
                .as_ref()
                .map(|_| read("smtp.password", smtp.password_source()))
                .transpose()?,
            unsubscribe_secret: smtp
                .list_unsubscribe_secret_file
                .as_deref()
                .map(|f| read("smtp.list_unsubscribe_secret_file", SecretSource { file: Some(f), env: None }))
                .transpose()?,
            ca_pem: smtp
                .ca_file
                .as_ref()
                .map(|f| std::fs::read(f).map_err(|e| format!("smtp.ca_file {}: {e}", f.display())))
                .transpose()?,
        };
        let provider =
            providers::smtp::SmtpProvider::new(p.name.clone(), smtp, secrets, p.batch_max, timeout)?;
        return Ok(Some(Arc::new(provider)));
    }
    Ok(None)
}

/// A running delivery engine.
#[derive(Debug)]
pub struct Engine {
    /// What the actors share.
    pub shared: Arc<Shared>,
    /// Where receipts and replies are handed to the engine.
    pub inbound: Arc<dyn InboundSink>,
    root: ActorRef<DeliveryMsg>,
    handle: tokio::task::JoinHandle<()>,
}

impl Engine {
    /// Starts the engine for `replica`.
    pub async fn start(
        replica: Arc<Replica>,
        config: DeliveryConfig,
        providers: &[ProviderConfig],
        testing: &crate::config::TestingConfig,
        registry: &crate::metrics::Metrics,
    ) -> Result<Self, String> {
        let inbound = Arc::new(EngineInbound::default());
        let metrics = metrics::DeliveryMetrics::new(registry);
        let providers = build_providers(providers, &config, Arc::new(metrics.clone()), inbound.clone())?;
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
            failpoints: Arc::new(Failpoints::new(&testing.panic_actors)),
            metrics,
            recorder: RwLock::new(None),
            receipts: RwLock::new(None),
            scheduler: RwLock::new(None),
            tenant_buckets: Mutex::new(HashMap::new()),
            unhealthy: Mutex::new(Vec::new()),
        });
        let _ = inbound.shared.set(Arc::downgrade(&shared));
        let (root, handle) = Actor::spawn(None, Delivery, shared.clone()).await.map_err(|e| e.to_string())?;
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
