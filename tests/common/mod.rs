//! Shared fixtures for the black-box tests: real `varsel` processes on loopback.
#![allow(dead_code, clippy::unwrap_used)]

pub mod http;
pub mod metrics;
pub mod python;
pub mod sim;

use std::time::Duration;

use tempfile::TempDir;
use varsel_client::local_cluster::{LocalCluster, Spec};
use varsel_client::{AdminClient, Authed, Bearer, Cluster};
use varsel_proto::kv::kv_client::KvClient;
use varsel_proto::kv::{GetRequest, PutReply, PutRequest, ReadConsistency};

/// Time allowed for nodes to start and elect a leader on a busy two-core machine.
pub const SETTLE: Duration = Duration::from_secs(60);

/// The `varsel` binary cargo built for these tests.
pub fn varsel_bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_varsel"))
}

/// A cluster of real node processes in a temporary directory, killed and removed on drop.
/// When a test fails, the tail of every node's log is printed.
pub struct TestCluster {
    pub lc: LocalCluster,
    pub dir: TempDir,
}

impl TestCluster {
    /// Configures `n` nodes without starting them; `adjust` may change the spec.
    pub fn configure(n: usize, adjust: impl FnOnce(&mut Spec)) -> Self {
        let dir = tempfile::Builder::new().prefix("varsel-test-").tempdir().unwrap();
        let mut spec = Spec::three(dir.path().to_path_buf(), varsel_bin());
        spec.nodes = n;
        spec.log_filter = "info,openraft=info".into();
        adjust(&mut spec);
        let lc = LocalCluster::create(&spec).unwrap();
        Self { lc, dir }
    }

    /// Starts `n` nodes, bootstraps them and waits for a leader.
    pub async fn start(n: usize, adjust: impl FnOnce(&mut Spec)) -> Self {
        let mut c = Self::configure(n, adjust);
        c.boot().await;
        c
    }

    /// Starts every configured node, bootstraps them and waits for a leader.
    pub async fn boot(&mut self) {
        self.lc.start_all().unwrap();
        for id in self.ids() {
            self.lc.wait_ready(id, SETTLE).await.unwrap();
        }
        self.lc.init().await.unwrap();
        self.leader().await;
    }

    /// Starts `members` of the configured nodes and bootstraps a cluster of only them (the
    /// other configured nodes are left to join later), then waits for their leader.
    pub async fn boot_members(&mut self, members: &[u64]) -> u64 {
        for id in members {
            self.lc.start(*id).unwrap();
        }
        for id in members {
            self.lc.wait_ready(*id, SETTLE).await.unwrap();
        }
        // The first node's configured peers include the others, so the members are named
        // explicitly through the admin API rather than by `lc.init()`.
        let addrs: Vec<_> = members
            .iter()
            .map(|id| {
                let n = &self.lc.node(*id).unwrap().config;
                varsel_proto::admin::NodeAddress {
                    id: *id,
                    site: n.site.clone(),
                    api_addr: n.api_addr.to_string(),
                    raft_addr: n.raft_addr.to_string(),
                }
            })
            .collect();
        let mut admin = self.lc.admin(members[0]).unwrap();
        admin.init(varsel_proto::admin::InitRequest { members: addrs }).await.unwrap();
        self.leader_among(members).await
    }

    /// All node ids.
    pub fn ids(&self) -> Vec<u64> {
        self.lc.nodes.keys().copied().collect()
    }

    /// The leader every running node agrees on.
    pub async fn leader(&self) -> u64 {
        self.leader_among(&self.ids()).await
    }

    /// The leader the given nodes agree on.
    pub async fn leader_among(&self, ids: &[u64]) -> u64 {
        self.lc.wait_leader(ids, SETTLE).await.unwrap()
    }

    /// A client of node `id` alone (no failover), trusting the cluster's CA.
    pub fn one(&self, id: u64) -> Cluster {
        Cluster::new(vec![self.lc.endpoint(id).unwrap()], &self.lc.trust).unwrap()
    }

    /// A key-value client of one node (no retry, no failover), with the superadmin token.
    pub async fn kv(&self, id: u64) -> KvClient<Authed> {
        KvClient::with_interceptor(
            self.one(id).channel(0).unwrap(),
            Bearer::new(&self.lc.superadmin_token).unwrap(),
        )
    }

    /// A cluster-administration client of node `id`, with the superadmin token.
    pub fn admin(&self, id: u64) -> AdminClient {
        self.lc.admin(id).unwrap()
    }

    /// `GET path` on node `id`'s HTTP listener (TLS with the cluster's CA).
    pub async fn http_get(&self, id: u64, path: &str) -> Option<http::HttpResponse> {
        let addr = self.lc.node(id).unwrap().http().expect("node has an http_addr");
        let ca = self.lc.ca.as_ref().map(|ca| ca.pem().cert.clone());
        http::get(ca.as_deref(), addr, path).await
    }

    /// `method path` on node `id`'s REST API with `token` (if any) as bearer, `headers`, and
    /// `body` (JSON when it parses as JSON, else sent as `text/csv`); panics (failing the test)
    /// when the node does not answer within 30 s.
    pub async fn rest(
        &self,
        id: u64,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> http::HttpResponse {
        let addr = self.lc.node(id).unwrap().http().expect("node has an http_addr");
        let ca = self.lc.ca.as_ref().map(|ca| ca.pem().cert.clone());
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(b) = &bearer {
            all.push(("Authorization", b));
        }
        if !body.is_empty() {
            let json = serde_json::from_str::<serde_json::Value>(body).is_ok();
            all.push(("Content-Type", if json { "application/json" } else { "text/csv" }));
        }
        let timeout = std::time::Duration::from_secs(30);
        http::send(ca.as_deref(), addr, method, path, &all, body.as_bytes(), timeout)
            .await
            .unwrap_or_else(|| panic!("node {id} did not answer {method} {path}"))
    }

    /// The CA certificate (PEM) the nodes' certificates are signed by, if the cluster has TLS.
    pub fn ca_pem(&self) -> Option<String> {
        self.lc.ca.as_ref().map(|ca| ca.pem().cert.clone())
    }

    /// Writes through node `id` only.
    pub async fn put(&self, id: u64, key: &str, value: &str) -> Result<PutReply, tonic::Status> {
        let req = PutRequest { key: key.into(), value: value.into() };
        self.kv(id).await.put(req).await.map(|r| r.into_inner())
    }

    /// Reads node `id`'s local state.
    pub async fn get_local(&self, id: u64, key: &str) -> Option<String> {
        let req = GetRequest { key: key.into(), consistency: ReadConsistency::Local as i32 };
        self.kv(id).await.get(req).await.unwrap().into_inner().value
    }

    /// Reads through node `id` with a linearizable read.
    pub async fn get_linearizable(&self, id: u64, key: &str) -> Result<Option<String>, tonic::Status> {
        let req = GetRequest { key: key.into(), consistency: ReadConsistency::Linearizable as i32 };
        Ok(self.kv(id).await.get(req).await?.into_inner().value)
    }

    /// Waits until node `id` has applied `index`.
    pub async fn wait_applied(&self, id: u64, index: u64) {
        self.lc.wait_applied(id, index, SETTLE).await.unwrap();
    }

    /// Runs the `varsel` command as this cluster's operator would after `varsel dev`: with
    /// `VARSEL_CA_FILE` and `VARSEL_TOKEN_FILE` (the superadmin's) set.
    pub async fn run_cli(&self, args: &[&str]) -> (bool, String, String) {
        let ca = self.lc.ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let token = self.lc.superadmin_token_file.display().to_string();
        run_varsel_env(args, &[("VARSEL_CA_FILE", &ca), ("VARSEL_TOKEN_FILE", &token)]).await
    }
}

/// Runs the `varsel` binary with `args` (bounded to two minutes) and returns
/// (success, stdout, stderr).
pub async fn run_varsel(args: &[&str]) -> (bool, String, String) {
    run_varsel_env(args, &[]).await
}

/// [`run_varsel`] with extra environment variables.
pub async fn run_varsel_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = tokio::process::Command::new(varsel_bin())
        .args(args)
        // Only what the test gives: not whatever the developer's shell exported.
        .env_remove("VARSEL_CA_FILE")
        .env_remove("VARSEL_TOKEN_FILE")
        .env_remove("VARSEL_TOKEN")
        .env_remove("VARSEL_ENDPOINTS")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("varsel did not finish within 2 minutes")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl TestCluster {
    /// Runs a `varsel` API command against every node of this cluster with `token`, trusting
    /// the cluster's CA; the connection options are added here (and only here), as every other
    /// connection of the tests is made by a helper of this fixture.
    pub async fn varsel(&self, token: &str, args: &[&str]) -> (bool, String, String) {
        let endpoints = self.lc.endpoints().join(",");
        let ca = self.lc.ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        run_varsel_env(
            args,
            &[("VARSEL_ENDPOINTS", &endpoints), ("VARSEL_CA_FILE", &ca), ("VARSEL_TOKEN", token)],
        )
        .await
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for id in self.ids() {
                eprintln!("----- node {id} log (tail) -----\n{}", self.lc.log_tail(id, 40));
            }
        }
    }
}

/// Adds `authorization: Bearer <token>` to a request.
pub fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// gRPC clients of the public API on one node.
pub struct ApiClients {
    pub tenants: varsel_proto::api::tenant_service_client::TenantServiceClient<tonic::transport::Channel>,
    pub contacts: varsel_proto::api::contact_service_client::ContactServiceClient<tonic::transport::Channel>,
    pub alerts: varsel_proto::api::alert_service_client::AlertServiceClient<tonic::transport::Channel>,
    pub audit: varsel_proto::api::audit_service_client::AuditServiceClient<tonic::transport::Channel>,
}

impl TestCluster {
    /// Public API clients of node `id` (no failover).
    pub fn api(&self, id: u64) -> ApiClients {
        let ch = self.one(id).channel(0).unwrap();
        ApiClients {
            tenants: varsel_proto::api::tenant_service_client::TenantServiceClient::new(ch.clone()),
            contacts: varsel_proto::api::contact_service_client::ContactServiceClient::new(ch.clone()),
            alerts: varsel_proto::api::alert_service_client::AlertServiceClient::new(ch.clone()),
            audit: varsel_proto::api::audit_service_client::AuditServiceClient::new(ch),
        }
    }

    /// The superadmin token of this cluster.
    pub fn superadmin(&self) -> String {
        self.lc.superadmin_token.clone()
    }

    /// Creates a tenant through node `via` and returns (tenant id, token of a credential with
    /// `role`).
    pub async fn tenant_with(&self, via: u64, name: &str, role: varsel_proto::api::Role) -> (u64, String) {
        use varsel_proto::api::{CreateCredentialRequest, CreateTenantRequest};
        let mut api = self.api(via);
        let t = api
            .tenants
            .create_tenant(authed(
                &self.superadmin(),
                CreateTenantRequest { name: name.into(), limits: None, ..Default::default() },
            ))
            .await
            .unwrap()
            .into_inner()
            .tenant
            .unwrap();
        let req = CreateCredentialRequest {
            tenant_id: t.id,
            name: "test".into(),
            role: role as i32,
            ..Default::default()
        };
        let token =
            api.tenants.create_credential(authed(&self.superadmin(), req)).await.unwrap().into_inner().token;
        (t.id, token)
    }

    /// Creates another credential of tenant `tenant` with `role` (as the superadmin, through
    /// node 1) and returns its token.
    pub async fn credential(&self, tenant: u64, role: varsel_proto::api::Role) -> String {
        let req = varsel_proto::api::CreateCredentialRequest {
            tenant_id: tenant,
            name: format!("{}-{}", role.as_str_name(), tenant),
            role: role as i32,
            ..Default::default()
        };
        self.api(1)
            .tenants
            .create_credential(authed(&self.superadmin(), req))
            .await
            .unwrap()
            .into_inner()
            .token
    }
}
