//! Serving a node: the API and Raft listeners, and orderly shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use varsel_proto::admin::cluster_admin_server::ClusterAdminServer;
use varsel_proto::kv::kv_server::KvServer;
use varsel_proto::raft::raft_service_server::RaftServiceServer;

use varsel_proto::api::alert_service_server::AlertServiceServer;
use varsel_proto::api::audit_service_server::AuditServiceServer;
use varsel_proto::api::contact_service_server::ContactServiceServer;
use varsel_proto::api::tenant_service_server::TenantServiceServer;

use crate::api::ApiContext;
use crate::api::admin::AdminService;
use crate::api::alerts::Alerts;
use crate::api::audit::Audit;
use crate::api::contacts::Contacts;
use crate::api::kv::KvService;
use crate::api::tenants::Tenants;
use crate::auth::Authenticator;
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::raft::faults::Faults;
use crate::raft::network::MAX_MESSAGE_BYTES;
use crate::raft::service::RaftTransportService;
use crate::replica::Replica;

/// Time open connections get to finish when the node stops, before they are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    /// Its replica, for in-process callers and tests.
    pub replica: Arc<Replica>,
    /// Where the API listens.
    pub api_addr: std::net::SocketAddr,
    /// Where the Raft transport listens.
    pub raft_addr: std::net::SocketAddr,
    /// The delivery engine, when enabled.
    pub engine: Option<crate::delivery::Engine>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<Result<(), tonic::transport::Error>>>,
}

/// Binds both listeners named in `config` and starts the node.
pub async fn bind_and_start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    let bind = |addr: std::net::SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|source| NodeError::Bind { addr: addr.to_string(), source })
    };
    let api = bind(config.api_addr).await?;
    let raft = bind(config.raft_addr).await?;
    start(config, api, raft).await
}

/// Starts a node on listeners the caller already bound (tests bind `127.0.0.1:0`).
pub async fn start(config: NodeConfig, api: TcpListener, raft: TcpListener) -> Result<NodeHandle, NodeError> {
    let api_addr = api.local_addr().map_err(|e| NodeError::Server(e.to_string()))?;
    let raft_addr = raft.local_addr().map_err(|e| NodeError::Server(e.to_string()))?;
    let faults = if config.testing.fault_injection { Faults::enabled() } else { Faults::disabled() };
    let auth = Authenticator::load(config.auth.superadmin_token_file.as_deref())?;
    let replica = crate::raft::start(Arc::new(config), faults).await?;
    let ctx = ApiContext { replica: replica.clone(), auth };
    let engine = if replica.config.delivery.enabled {
        let cfg = replica.config.clone();
        let e = crate::delivery::Engine::start(
            replica.clone(),
            cfg.delivery.clone(),
            &cfg.providers,
            &cfg.testing,
        )
        .await
        .map_err(NodeError::Server)?;
        Some(e)
    } else {
        None
    };
    let (stop, stop_rx) = watch::channel(false);

    let raft_service = RaftServiceServer::new(RaftTransportService::new(replica.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let raft_server = Server::builder()
        .add_service(raft_service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(raft), stopped(stop_rx.clone()));

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ClusterAdminServer<AdminService>>().await;
    health.set_serving::<KvServer<KvService>>().await;
    health.set_serving::<TenantServiceServer<Tenants>>().await;
    health.set_serving::<ContactServiceServer<Contacts>>().await;
    health.set_serving::<AlertServiceServer<Alerts>>().await;
    health.set_serving::<AuditServiceServer<Audit>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(varsel_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| NodeError::Server(e.to_string()))?;
    let api_server = Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(ClusterAdminServer::new(AdminService::new(
            replica.clone(),
            engine.as_ref().map(|e| e.shared.clone()),
        )))
        .add_service(KvServer::new(KvService::new(replica.clone())))
        .add_service(TenantServiceServer::new(Tenants::new(ctx.clone())))
        .add_service(
            ContactServiceServer::new(Contacts::new(ctx.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            AlertServiceServer::new(Alerts::new(ctx.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(AuditServiceServer::new(Audit::new(ctx)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(api), stopped(stop_rx));

    let servers = vec![tokio::spawn(raft_server), tokio::spawn(api_server)];
    tracing::info!(node = replica.id, site = %replica.config.site, %api_addr, %raft_addr, "node started");
    Ok(NodeHandle { replica, api_addr, raft_addr, engine, stop, servers })
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
        for mut server in self.servers {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server ended with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "server task failed"),
                Err(_) => {
                    tracing::warn!("connections still open after the grace period; closing them");
                    server.abort();
                }
            }
        }
        self.replica.raft.shutdown().await.map_err(|e| NodeError::Raft(e.to_string()))?;
        tracing::info!(node = self.replica.id, "node stopped");
        Ok(())
    }
}
