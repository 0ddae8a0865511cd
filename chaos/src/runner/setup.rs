//! The setup phase: a tenant of the run's own (so runs against one cluster never mix), an
//! operator credential, the contacts the load sends to, and the simulator told to reply.

use varsel_client::Cluster;
use varsel_proto::api::contact_service_client::ContactServiceClient;
use varsel_proto::api::tenant_service_client::TenantServiceClient;
use varsel_proto::api::{CreateCredentialRequest, CreateTenantRequest, ImportChunk, Limits, Role};
use varsel_sim::{ProviderSettings, SimClient};

use super::RunError;
use crate::backend::NodeInfo;
use crate::load::{self, authed, cluster_from};
use crate::scenario::{Load, SimSpec};

/// Bytes of CSV per import chunk (the contact import streams its file in chunks).
const IMPORT_CHUNK_BYTES: usize = 256 * 1024;

/// Contacts per import call: a debug build on two busy cores imports a few thousand a second,
/// so one slice stays well within the client's 20 s deadline (`load::OP_DEADLINE`).
const IMPORT_ROWS_PER_CALL: usize = 5_000;

/// Times one slice is sent before the run gives up: an election on a busy machine can take a
/// call's whole deadline, and rows upsert, so sending a slice again is harmless.
const IMPORT_TRIES: usize = 3;

/// Creates the run's tenant, an operator credential and the contacts; returns the token.
pub(super) async fn tenant(
    nodes: &[NodeInfo],
    superadmin: &str,
    tag: &str,
    load: &Load,
) -> Result<String, RunError> {
    let cluster = cluster_from(nodes, 0).map_err(|e| setup_err("endpoints", &e))?;
    let tenant_id = create_tenant(&cluster, superadmin, tag).await?;
    let token = create_operator(&cluster, superadmin, tenant_id).await?;
    import_contacts(&cluster, &token, load).await?;
    Ok(token)
}

/// Makes both SMS providers of the simulator reply as the scenario asks, so that
/// acknowledgements (and the voice step they cancel) are exercised.
pub(super) async fn simulator_replies(sim: &SimClient, load: &Load) -> Result<(), RunError> {
    let replies = ProviderSettings {
        reply_rate: Some(load.reply_rate),
        reply_text: Some("OK".into()),
        reply_delay_ms: Some(200),
        ..Default::default()
    };
    sim.set("sms-primary", &replies).await.map_err(|e| RunError::Setup(format!("simulator: {e}")))?;
    sim.set("sms-alt", &replies).await.map_err(|e| RunError::Setup(format!("simulator: {e}")))?;
    Ok(())
}

/// Applies the scenario's `[sim]` section; answers what each changed provider did before, for
/// [`restore_simulator`].
pub(super) async fn simulator_behaviour(
    sim: &SimClient,
    spec: &SimSpec,
) -> Result<Vec<(String, ProviderSettings)>, RunError> {
    let mut before = Vec::new();
    for (name, settings) in &spec.providers {
        let err = |e: varsel_sim::Error| RunError::Setup(format!("simulator: sim.providers.{name}: {e}"));
        // An empty change answers the behaviour in force.
        let current = sim.set(name, &ProviderSettings::default()).await.map_err(err)?;
        before.push((name.clone(), current.as_settings()));
        sim.set(name, settings).await.map_err(err)?;
    }
    Ok(before)
}

/// Puts back what [`simulator_behaviour`] changed (a compose-mode simulator outlives the run).
pub(super) async fn restore_simulator(sim: &SimClient, before: Vec<(String, ProviderSettings)>) {
    for (name, settings) in before {
        if let Err(e) = sim.set(&name, &settings).await {
            tracing::warn!(provider = %name, error = %e, "simulator behaviour not restored");
        }
    }
}

/// A setup error naming the step that failed.
fn setup_err(what: &str, e: &dyn std::fmt::Display) -> RunError {
    RunError::Setup(format!("{what}: {e}"))
}

/// Creates the tenant named `tag`, with limits high enough that the load never meets them
/// (the run measures faults, not rate limiting); returns its id.
async fn create_tenant(cluster: &Cluster, superadmin: &str, tag: &str) -> Result<u64, RunError> {
    let limits = Limits {
        max_recipients_per_alert: 1_000_000,
        max_alerts_per_minute: 100_000,
        max_messages_per_alert: 4_000_000,
        max_send_rate_per_second: 1_000_000,
        ..Default::default()
    };
    let tenant = cluster
        .call(|ch| {
            // The key makes a create retried after a fault answer the tenant it made, not
            // ALREADY_EXISTS.
            let req = CreateTenantRequest {
                name: tag.to_string(),
                limits: Some(limits),
                idempotency_key: format!("chaos-tenant-{tag}"),
            };
            let req = authed(superadmin, req);
            async move { TenantServiceClient::new(ch).create_tenant(req).await }
        })
        .await
        .map_err(|e| setup_err("create tenant", &e))?
        .value
        .into_inner()
        .tenant
        .ok_or_else(|| RunError::Setup("create tenant: no tenant in the answer".into()))?;
    Ok(tenant.id)
}

/// Creates an operator credential of the tenant (what the clients send with); returns its
/// token.
async fn create_operator(cluster: &Cluster, superadmin: &str, tenant_id: u64) -> Result<String, RunError> {
    let token = cluster
        .call(|ch| {
            let req = authed(
                superadmin,
                // No idempotency key: a retry whose first answer was lost makes a spare
                // credential, harmless here, where a keyed retry would be refused (its token
                // cannot be shown twice) and stop the run.
                CreateCredentialRequest {
                    tenant_id,
                    name: "chaos".into(),
                    role: Role::Operator as i32,
                    idempotency_key: String::new(),
                },
            );
            async move { TenantServiceClient::new(ch).create_credential(req).await }
        })
        .await
        .map_err(|e| setup_err("create credential", &e))?
        .value
        .into_inner()
        .token;
    Ok(token)
}

/// Imports `load.recipients` contacts into each of `load.groups` groups, and checks that
/// every one was stored: a missing contact would show up later as a lost message. The rows go
/// in slices of [`IMPORT_ROWS_PER_CALL`], each one call, so a large list (200,000 contacts)
/// is not one call that must beat the client's deadline.
async fn import_contacts(cluster: &Cluster, token: &str, load: &Load) -> Result<(), RunError> {
    let rows: Vec<String> = (0..load.groups)
        .flat_map(|g| {
            (0..load.recipients)
                .map(move |i| format!("g{g}p{i},Person {g}-{i},{},{}\n", load::phone(g, i), load::group(g)))
        })
        .collect();
    for slice in rows.chunks(IMPORT_ROWS_PER_CALL) {
        let mut tries = 1;
        while let Err(e) = import_slice(cluster, token, slice).await {
            if tries == IMPORT_TRIES {
                return Err(e);
            }
            tracing::warn!(error = %e, tries, "import slice failed; sending it again");
            tries += 1;
        }
    }
    Ok(())
}

/// Imports one slice of CSV rows in one call and checks that every row was stored.
async fn import_slice(cluster: &Cluster, token: &str, rows: &[String]) -> Result<(), RunError> {
    let mut csv = String::from("external_id,name,phone,groups\n");
    rows.iter().for_each(|r| csv.push_str(r));
    let data = csv.into_bytes();
    // Rows upsert by external id, so an import cut short by a fault is simply sent again.
    let report = cluster
        .call(|ch| {
            let chunks: Vec<ImportChunk> = data
                .chunks(IMPORT_CHUNK_BYTES)
                .map(|d| ImportChunk { data: d.to_vec(), filename: "chaos.csv".into(), ..Default::default() })
                .collect();
            let req = authed(token, futures::stream::iter(chunks));
            async move { ContactServiceClient::new(ch).import_contacts(req).await }
        })
        .await
        .map_err(|e| setup_err("import contacts", &e))?
        .value
        .into_inner();
    if report.created + report.updated != rows.len() as u64 {
        return Err(RunError::Setup(format!(
            "import contacts: {} of {} stored; first rejection: {:?}",
            report.created + report.updated,
            rows.len(),
            report.rejected.first()
        )));
    }
    Ok(())
}
