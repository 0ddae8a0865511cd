//! Serving a node: the API, Raft and HTTP listeners, the observers that keep metrics and health
//! current, and orderly shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use varsel_proto::admin::cluster_admin_server::ClusterAdminServer;
use varsel_proto::kv::kv_server::KvServer;
use varsel_proto::raft::raft_service_server::RaftServiceServer;

use varsel_proto::api::alert_service_server::AlertServiceServer;
use varsel_proto::api::audit_service_server::AuditServiceServer;
use varsel_proto::api::contact_service_server::ContactServiceServer;
use varsel_proto::api::tenant_service_server::TenantServiceServer;
use varsel_proto::api::webhook_service_server::WebhookServiceServer;

use crate::api::ApiContext;
use crate::api::admin::AdminService;
use crate::api::alerts::Alerts;
use crate::api::audit::Audit;
use crate::api::contacts::Contacts;
use crate::api::kv::KvService;
use crate::api::limits::BodyLimitLayer;
use crate::api::tenants::Tenants;
use crate::api::webhooks::Webhooks;
use crate::auth::Authenticator;
use crate::error::NodeError;
use crate::metrics::Metrics;
use crate::metrics::grpc::{GrpcLayer, Listener};
use crate::metrics::node::{follow_raft, register_raft, register_scraped};
use crate::raft::faults::Faults;
use crate::raft::network::MAX_MESSAGE_BYTES;
use crate::raft::service::RaftTransportService;
use crate::replica::Replica;
use crate::tls::{Incoming, ListenerKind, TlsState};
use varsel_config::NodeConfig;

/// Time open connections get to finish when the node stops, before they are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Most client connections the API listener serves at once (operators, integrators, the
/// other nodes' proxied administration).
pub const API_CONNECTIONS_MAX: usize = 1024;

/// Most API connections from one address (not loopback): a gRPC client multiplexes its calls
/// over one or a few connections, so this bounds a host that opens many and idles, leaving the
/// rest of [`API_CONNECTIONS_MAX`] to everyone else.
pub const API_CONNECTIONS_PER_SOURCE_MAX: usize = API_CONNECTIONS_MAX / 4;

/// Largest message the public API decodes (one import chunk, one alert): what one log entry
/// allows, with room for framing.
pub const API_MESSAGE_BYTES_MAX: usize = crate::api::limits::AUTHENTICATED_BYTES_MAX as usize;

/// Most connections the Raft listener serves at once: each peer keeps one channel, so this
/// is room for a large cluster and reconnections, and a bound for anything else.
pub const RAFT_CONNECTIONS_MAX: usize = 64;

/// Most Raft connections from one address (not loopback): a peer keeps one or two.
pub const RAFT_CONNECTIONS_PER_SOURCE_MAX: usize = RAFT_CONNECTIONS_MAX / 4;

/// Concurrent calls on one Raft connection (HTTP/2 streams): replication, votes, snapshot
/// chunks and forwarded writes of one peer.
pub const RAFT_STREAMS_PER_CONNECTION_MAX: u32 = 256;

type ServerTask = JoinHandle<Result<(), String>>;

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    /// Its replica, for in-process callers and tests.
    pub replica: Arc<Replica>,
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// Where the Raft transport listens.
    pub raft_addr: SocketAddr,
    /// Where the HTTP listener (metrics, health) listens, when `http_addr` is configured.
    pub http_addr: Option<SocketAddr>,
    /// The node's metrics; components started later register their families here.
    pub metrics: Metrics,
    /// The delivery engine, when enabled.
    pub engine: Option<varsel_delivery::Engine>,
    stop: watch::Sender<bool>,
    servers: Vec<(&'static str, ServerTask)>,
    observers: Vec<JoinHandle<()>>,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|source| NodeError::Bind { addr: addr.to_string(), source })
}

/// Binds every listener named in `config` and starts the node.
pub async fn bind_and_start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    let api = bind(config.api_addr).await?;
    let raft = bind(config.raft_addr).await?;
    let http = match config.http_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    start_with(config, api, raft, http).await
}

/// Starts a node on API and Raft listeners the caller already bound (tests bind `127.0.0.1:0`);
/// binds `http_addr` itself when configured.
pub async fn start(config: NodeConfig, api: TcpListener, raft: TcpListener) -> Result<NodeHandle, NodeError> {
    let http = match config.http_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    start_with(config, api, raft, http).await
}

/// Starts a node on listeners the caller already bound, the HTTP one optional.
pub async fn start_with(
    config: NodeConfig,
    api: TcpListener,
    raft: TcpListener,
    http: Option<TcpListener>,
) -> Result<NodeHandle, NodeError> {
    let local = |l: &TcpListener| l.local_addr().map_err(|e| NodeError::Server(e.to_string()));
    let (api_addr, raft_addr) = (local(&api)?, local(&raft)?);
    let http_addr = http.as_ref().map(local).transpose()?;
    let faults = if config.testing.fault_injection { Faults::enabled() } else { Faults::disabled() };
    let auth = Authenticator::load(config.auth.superadmin_token_file.as_deref())?;
    if config.auth.superadmin_token_file.is_none() {
        tracing::warn!(
            "no auth.superadmin_token_file: nobody can administer this node (cluster init, membership, \
             drain, kv) or create tenants; set it to the same token file on every node"
        );
    }
    let tls = TlsState::load(config.node_id, &config.tls)?;
    if tls.is_plaintext() {
        tracing::warn!(
            "tls.insecure_plaintext: every listener and every call to other nodes is unencrypted and \
             unauthenticated; anyone on the network can read tokens and personal data and claim to be a node"
        );
    }
    let reload_every = Duration::from_millis(config.tls.reload_check_interval_ms);
    let replica = crate::raft::start(Arc::new(config), faults, tls.clone()).await?;
    let metrics = Metrics::new();
    let ctx = ApiContext { replica: replica.clone(), auth: auth.clone() };
    let engine = start_engine(&replica, &metrics).await?;
    let (stop, stop_rx) = watch::channel(false);
    let health = HealthReporter::new();
    let health_service = HealthServer::new(HealthService::from_health_reporter(health.clone()));
    // Kv and the overall status follow readiness (see `health`); administration is always
    // served, so an operator can reach a node that is not ready, e.g. to initialise it.
    health.set_serving::<ClusterAdminServer<AdminService>>().await;
    health.set_not_serving::<KvServer<KvService>>().await;
    health.set_service_status("", ServingStatus::NotServing).await;

    let accept = |l: TcpListener, kind, max| {
        crate::tls::acceptor::accept(l, tls.clone(), kind, max, stop_rx.clone())
            .map_err(|e| NodeError::Server(e.to_string()))
    };
    let raft = accept(raft, ListenerKind::Raft, (RAFT_CONNECTIONS_MAX, RAFT_CONNECTIONS_PER_SOURCE_MAX))?;
    let api = accept(api, ListenerKind::Api, (API_CONNECTIONS_MAX, API_CONNECTIONS_PER_SOURCE_MAX))?;
    let raft_server = raft_server(&replica, &metrics, auth.clone(), raft, stop_rx.clone());
    let parts = ApiParts { ctx: ctx.clone(), engine: engine.as_ref().map(|e| e.shared.clone()) };
    let api_server = api_server(parts, &metrics, health_service, api, stop_rx.clone())?;
    let mut servers: Vec<(&'static str, ServerTask)> =
        vec![("raft", tokio::spawn(raft_server)), ("api", tokio::spawn(api_server))];
    match http {
        Some(listener) => {
            let rest = Arc::new(crate::http::RestBackend::new(&ctx));
            let view = Arc::new(crate::console_view::NodeView::new(replica.clone(), metrics.clone()));
            let mut router = crate::http::router(replica.clone(), metrics.clone())
                .merge(varsel_http::router(rest.clone()))
                .merge(crate::respond::router(replica.clone()))
                .merge(varsel_console::router(rest, view));
            if let Some(e) = &engine {
                let inbound = crate::inbound::InboundState::load(
                    &replica.config.providers,
                    e.inbound.clone(),
                    &metrics,
                )?;
                router = router.merge(crate::inbound::router(inbound));
            }
            let bounds = (crate::http::HTTP_CONNECTIONS_MAX, crate::http::HTTP_CONNECTIONS_PER_SOURCE_MAX);
            let incoming = accept(listener, ListenerKind::Http, bounds)?;
            let served = crate::http::serve(incoming, router, stopped(stop_rx.clone()));
            servers.push(("http", tokio::spawn(async move { served.await.map_err(|e| e.to_string()) })));
        }
        None => tracing::warn!(
            "no http_addr configured: the REST API, /metrics, /healthz and /readyz are not served"
        ),
    }
    let mut observers = start_observers(&replica, &metrics, health, &stop_rx);
    observers.push(crate::disk::spawn_watch(
        replica.clone(),
        engine.as_ref().map(|e| e.shared.clone()),
        stop_rx.clone(),
    ));
    observers.push(crate::tls::reloader::spawn(tls.clone(), auth, reload_every, stop_rx.clone()));
    let hooks = varsel_delivery::webhooks::WorkerConfig {
        allow_http_loopback: replica.config.testing.webhooks_allow_http_loopback,
        retry_ms: replica.config.testing.webhook_retry_ms,
    };
    observers.push(varsel_delivery::webhooks::spawn(replica.clone(), hooks, &metrics, stop_rx.clone()));
    tracing::info!(
        node = replica.id, site = %replica.config.site, %api_addr, %raft_addr, http_addr = ?http_addr,
        "node started"
    );
    Ok(NodeHandle { replica, api_addr, raft_addr, http_addr, metrics, engine, stop, servers, observers })
}

fn raft_server(
    replica: &Arc<Replica>,
    metrics: &Metrics,
    auth: Authenticator,
    incoming: Incoming,
    stop: watch::Receiver<bool>,
) -> impl Future<Output = Result<(), String>> + use<> {
    let service = RaftServiceServer::new(RaftTransportService::new(replica.clone(), auth))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let served = Server::builder()
        .max_concurrent_streams(RAFT_STREAMS_PER_CONNECTION_MAX)
        .layer(GrpcLayer::new(metrics, Listener::Raft))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming.into_stream(), stopped(stop));
    async move { served.await.map_err(|e| e.to_string()) }
}

/// Starts the delivery engine when the configuration enables it.
async fn start_engine(
    replica: &Arc<Replica>,
    metrics: &Metrics,
) -> Result<Option<varsel_delivery::Engine>, NodeError> {
    if !replica.config.delivery.enabled {
        return Ok(None);
    }
    let cfg = replica.config.clone();
    let engine = varsel_delivery::Engine::start(
        replica.clone(),
        cfg.delivery.clone(),
        &cfg.providers,
        &cfg.testing,
        metrics,
    )
    .await?;
    Ok(Some(engine))
}

/// What the API listener serves besides health.
struct ApiParts {
    ctx: ApiContext,
    engine: Option<Arc<varsel_delivery::Shared>>,
}

fn api_server(
    parts: ApiParts,
    metrics: &Metrics,
    health_service: HealthServer<HealthService>,
    incoming: Incoming,
    stop: watch::Receiver<bool>,
) -> Result<impl Future<Output = Result<(), String>> + use<>, NodeError> {
    let ApiParts { ctx, engine } = parts;
    let replica = &ctx.replica;
    let reflection = reflection_builder().build_v1().map_err(|e| NodeError::Server(e.to_string()))?;
    // v1alpha too: clients that only speak it (Python's grpcio-reflection, older grpcurl and
    // Postman) would otherwise get UNIMPLEMENTED. Both answer from the same descriptors.
    let reflection_v1alpha =
        reflection_builder().build_v1alpha().map_err(|e| NodeError::Server(e.to_string()))?;
    let served = Server::builder()
        .layer(GrpcLayer::new(metrics, Listener::Api))
        .layer(BodyLimitLayer::new(ctx.auth.clone(), replica.clone()))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(AdminService::server(replica.clone(), ctx.auth.clone(), engine))
        .add_service(KvService::server(replica.clone(), ctx.auth.clone()))
        .add_service(TenantServiceServer::new(Tenants::new(ctx.clone())))
        .add_service(
            ContactServiceServer::new(Contacts::new(ctx.clone()))
                .max_decoding_message_size(API_MESSAGE_BYTES_MAX),
        )
        .add_service(
            AlertServiceServer::new(Alerts::new(ctx.clone()))
                .max_decoding_message_size(API_MESSAGE_BYTES_MAX),
        )
        .add_service(AuditServiceServer::new(Audit::new(ctx.clone())))
        .add_service(
            varsel_proto::api::cap_service_server::CapServiceServer::new(crate::api::cap::Cap::new(
                ctx.clone(),
            ))
            .max_decoding_message_size(API_MESSAGE_BYTES_MAX),
        )
        .add_service(WebhookServiceServer::new(Webhooks::new(ctx.clone())))
        .serve_with_incoming_shutdown(incoming.into_stream(), stopped(stop));
    Ok(async move { served.await.map_err(|e| e.to_string()) })
}

/// The descriptors gRPC server reflection describes: the Varsel API and gRPC health.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(varsel_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Starts the tasks that copy Raft's state into metrics and readiness into gRPC health, and the
/// one that purges the log after an erasure ([`crate::replica::erasure`]).
fn start_observers(
    replica: &Arc<Replica>,
    metrics: &Metrics,
    health: HealthReporter,
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    register_scraped(metrics, replica);
    let transitions = register_raft(metrics, replica);
    let ready = metrics
        .gauge("varsel_node_ready", "1 when the node passes the readiness rule (see /readyz), else 0.");
    vec![
        tokio::spawn(follow_raft(replica.clone(), transitions, stop.clone())),
        tokio::spawn(crate::health::follow_readiness(replica.clone(), health, ready, stop.clone())),
        crate::raft::clock::spawn_probes(replica.clone(), stop.clone()),
        tokio::spawn({
            let (replica, stop) = (replica.clone(), stop.clone());
            async move {
                tokio::select! {
                    () = replica.name_cluster() => {}
                    () = stopped(stop) => {}
                }
            }
        }),
        tokio::spawn(crate::replica::erasure::purge_after_erasures(replica.clone(), stop.clone())),
        tokio::spawn(crate::replica::backup::run_schedule(replica.clone(), stop.clone())),
    ]
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // Either the flag turns true or the sender is gone; both mean stop.
    let _ = rx.wait_for(|s| *s).await;
}

impl NodeHandle {
    /// Hands shard leases back, stops serving, waits (bounded) for open calls, and shuts Raft
    /// down.
    pub async fn stop(self) -> Result<(), NodeError> {
        if let Some(engine) = self.engine {
            engine.stop().await;
        }
        let _ = self.stop.send(true);
        // One grace period for all servers together, not one each.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for (name, mut server) in self.servers {
            match tokio::time::timeout_at(deadline, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(server = name, error = %e, "server ended with an error"),
                Ok(Err(e)) => tracing::warn!(server = name, error = %e, "server task failed"),
                Err(_) => {
                    tracing::warn!(
                        server = name,
                        "connections still open after the grace period; closing them"
                    );
                    server.abort();
                }
            }
        }
        for observer in self.observers {
            // They stop on the flag at their next wake-up; nothing they hold needs finishing.
            observer.abort();
        }
        self.replica.raft.shutdown().await.map_err(|e| NodeError::Raft(e.to_string()))?;
        tracing::info!(node = self.replica.id, "node stopped");
        Ok(())
    }
}
