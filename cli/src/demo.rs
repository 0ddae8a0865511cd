//! The alert `varsel dev` sends: a demo tenant, 10,000 simulated recipients, one crisis alert
//! (SMS and push at once, a voice call after 20 s to those who have not answered "OK"),
//! followed live until it completes. The tenant also gets a catch-all CAP route to its group
//! (so a CAP file posted to `/api/v1/cap` reaches the inhabitants) and a webhook subscription
//! to the receiver `varsel dev` runs (`dev_webhooks`).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tonic::transport::Channel;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::contact_service_client::ContactServiceClient;
use varsel_proto::api::tenant_service_client::TenantServiceClient;
use varsel_proto::api::{
    Channel as PbChannel, ChannelContent, Content, CreateAlertRequest, CreateCredentialRequest,
    CreateTenantRequest, EscalationStep, ImportChunk, Limits, ListTenantsRequest, Priority, Role, Targets,
};

use crate::auth::TokenArgs;
use crate::session::{ApiArgs, Session};
use varsel_client::Cluster;
use varsel_client::local_cluster::LocalCluster;

/// Recipients of the demo alert.
pub const DEMO_RECIPIENTS: usize = 10_000;
/// Name of the demo tenant.
pub const DEMO_TENANT: &str = "demo-kommune";
/// Name of the demo group.
pub const DEMO_GROUP: &str = "innbyggere";

fn authed<T>(token: &str, m: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

/// Calls the tenant service through any node, retrying on the next one like the CLI does.
async fn tenants<T, F, Fut>(all: &Cluster, f: F) -> anyhow::Result<T>
where
    F: Fn(TenantServiceClient<Channel>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    Ok(all.call(|ch| f(TenantServiceClient::new(ch))).await?.value.into_inner())
}

/// The demo tenant (created when missing) and fresh operator and admin tokens for it, written
/// to `dir/demo.token` and `dir/demo-admin.token`.
async fn demo_operator(all: &Cluster, superadmin: &str, dir: &Path) -> anyhow::Result<(String, String)> {
    let list = tenants(all, |mut c| async move {
        c.list_tenants(authed(superadmin, ListTenantsRequest { consistency: 1 }).map_err(bad)?).await
    })
    .await?;
    let id = match list.tenants.iter().find(|t| t.name == DEMO_TENANT) {
        Some(t) => t.id,
        None => {
            let limits = Limits {
                max_recipients_per_alert: 1_000_000,
                max_send_rate_per_second: 5_000,
                ..Default::default()
            };
            // Keyed, so a create retried after a lost answer finds the tenant it made.
            let req = CreateTenantRequest {
                name: DEMO_TENANT.into(),
                limits: Some(limits),
                idempotency_key: crate::parse::new_idempotency_key(),
            };
            let created = tenants(all, |mut c| {
                let req = req.clone();
                async move { c.create_tenant(authed(superadmin, req).map_err(bad)?).await }
            })
            .await?;
            created.tenant.context("no tenant")?.id
        }
    };
    // Not keyed: a retry whose first answer was lost makes a spare credential, which is
    // harmless for a demo, where a keyed retry would be refused (its token cannot be shown
    // twice).
    let mut tokens = Vec::new();
    for (name, role, file) in
        [("dev operator", Role::Operator, "demo.token"), ("dev admin", Role::Admin, "demo-admin.token")]
    {
        let req = CreateCredentialRequest {
            tenant_id: id,
            name: name.into(),
            role: role as i32,
            idempotency_key: String::new(),
        };
        let cred = tenants(all, |mut c| {
            let req = req.clone();
            async move { c.create_credential(authed(superadmin, req).map_err(bad)?).await }
        })
        .await?;
        std::fs::write(dir.join(file), &cred.token)?;
        tokens.push(cred.token);
    }
    let admin = tokens.pop().context("no admin token")?;
    Ok((tokens.pop().context("no operator token")?, admin))
}

/// The demo tenant's catch-all CAP route (any sender, any event, to its group) and its webhook
/// subscription to the dev receiver at `hook_url`; returns the subscription's secret.
async fn integrations(all: &Cluster, admin: &str, hook_url: &str) -> anyhow::Result<String> {
    use varsel_proto::api::cap_service_client::CapServiceClient;
    use varsel_proto::api::webhook_service_client::WebhookServiceClient;
    use varsel_proto::api::{CapConfig, CapRoute, CreateWebhookRequest, PutCapConfigRequest};
    let config = CapConfig {
        routes: vec![CapRoute { groups: vec![DEMO_GROUP.into()], ..Default::default() }],
        exercise_group: String::new(),
    };
    all.call(|ch| {
        let req = PutCapConfigRequest { config: Some(config.clone()) };
        async move { CapServiceClient::new(ch).put_cap_config(authed(admin, req).map_err(bad)?).await }
    })
    .await?;
    let events =
        ["alert.created", "alert.step_started", "alert.completed", "alert.cancelled", "alert.acknowledged"];
    let req = CreateWebhookRequest {
        url: hook_url.into(),
        events: events.iter().map(|e| (*e).to_string()).collect(),
        description: "varsel dev receiver".into(),
        allow_insecure: true,
        idempotency_key: crate::parse::new_idempotency_key(),
    };
    let reply = all
        .call(|ch| {
            let req = req.clone();
            async move { WebhookServiceClient::new(ch).create_webhook(authed(admin, req).map_err(bad)?).await }
        })
        .await?
        .value
        .into_inner();
    reply.webhook.map(|w| w.secret).filter(|s| !s.is_empty()).context("the webhook answer carries no secret")
}

fn bad(e: anyhow::Error) -> tonic::Status {
    tonic::Status::internal(e.to_string())
}

/// A CSV of simulated inhabitants: phone, e-mail, push subscription, mostly Norwegian, each
/// living on a 100-column grid over Bergen (60.36-60.42°N, 5.28-5.38°E), so an area alert
/// (`docs/examples/flood.cap.xml` covers Sentrum) reaches some of them and not the others.
fn residents_csv(n: usize) -> String {
    let mut csv = String::with_capacity(n * 170);
    csv.push_str("external_id,name,phone,email,language,push,groups,lat,lon\n");
    for i in 0..n {
        let lang = if i % 10 == 0 { "en" } else { "nb" };
        let push = format!("\"{{\"\"endpoint\"\":\"\"https://push.example/{i}\"\"}}\"");
        let lat = varsel_domain::location::DegreesE7(603_600_000 + (i / 100) as i32 % 100 * 6_000);
        let lon = varsel_domain::location::DegreesE7(52_800_000 + (i % 100) as i32 * 10_000);
        csv.push_str(&format!(
            "r{i},Innbygger {i},+4795{i:06},innbygger{i}@example.no,{lang},{push},{DEMO_GROUP},{lat},{lon}\n"
        ));
    }
    csv
}

fn demo_alert(key: &str) -> CreateAlertRequest {
    let nb = ChannelContent {
        sms_text: "Flomvarsel: evakuer lavtliggende områder i sentrum innen kl. 18. Svar OK når du er trygg."
            .into(),
        push_title: "Flomvarsel".into(),
        push_body: "Evakuer lavtliggende områder i sentrum innen kl. 18.".into(),
        voice_script:
            "Dette er et flomvarsel fra kommunen. Evakuer lavtliggende områder. Trykk 1 når du er trygg."
                .into(),
        ..Default::default()
    };
    let en = ChannelContent {
        sms_text: "Flood warning: leave low-lying parts of the centre by 6 pm. Reply OK when safe.".into(),
        push_title: "Flood warning".into(),
        push_body: "Leave low-lying parts of the centre by 6 pm.".into(),
        voice_script: "This is a flood warning from the municipality. Press 1 when you are safe.".into(),
        ..Default::default()
    };
    let step = |channels: &[PbChannel], after_seconds| EscalationStep {
        channels: channels.iter().map(|c| *c as i32).collect(),
        after_seconds,
    };
    CreateAlertRequest {
        idempotency_key: key.into(),
        title: "Flomvarsel sentrum".into(),
        priority: Priority::Crisis as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: HashMap::from([("nb".into(), nb), ("en".into(), en)]),
        }),
        targets: Some(Targets { group_names: vec![DEMO_GROUP.into()], ..Default::default() }),
        policy: vec![step(&[PbChannel::Sms, PbChannel::Push], 0), step(&[PbChannel::Voice], 20)],
        ..Default::default()
    }
}

/// Creates the tenant and recipients, sends the alert and follows it to the end.
pub async fn run(cluster: &LocalCluster, dir: &Path) -> anyhow::Result<()> {
    let (hook_addr, received) = crate::dev_webhooks::start(dir.join("webhooks.log")).await?;
    // Imports of 10,000 rows take a while on a debug build: generous per-attempt time.
    let all = cluster
        .cluster()?
        .with_deadline(Duration::from_secs(180))
        .with_attempt_timeout(Duration::from_secs(120));
    let (token, admin) = demo_operator(&all, &cluster.superadmin_token, dir).await?;
    println!(
        "\nDemo tenant {DEMO_TENANT:?}; its operator token is in {}, its admin token in {}.",
        dir.join("demo.token").display(),
        dir.join("demo-admin.token").display()
    );
    let hook_url = format!("http://{hook_addr}{}", crate::dev_webhooks::HOOK_PATH);
    let secret = integrations(&all, &admin, &hook_url).await?;
    let _ = received.secret.set(secret);
    println!(
        "CAP messages posted to /api/v1/cap go to group {DEMO_GROUP:?}; webhooks go to {hook_url} (logged in {}).",
        dir.join("webhooks.log").display()
    );
    let csv = residents_csv(DEMO_RECIPIENTS);
    let chunks: Vec<ImportChunk> = csv
        .as_bytes()
        .chunks(256 * 1024)
        .map(|d| ImportChunk { data: d.to_vec(), filename: "innbyggere.csv".into(), ..Default::default() })
        .collect();
    let report = all
        .call(|ch| {
            let (chunks, token) = (chunks.clone(), token.clone());
            async move {
                let req = authed(&token, futures::stream::iter(chunks)).map_err(bad)?;
                ContactServiceClient::new(ch).import_contacts(req).await
            }
        })
        .await?
        .value
        .into_inner();
    println!(
        "Imported {} simulated inhabitants into group {DEMO_GROUP:?} ({} Raft entries).",
        report.created + report.updated,
        report.raft_entries
    );
    let key = format!("dev-demo-{}", varsel_domain::clock::wall_ms());
    let reply = all
        .call(|ch| {
            let (req, token) = (demo_alert(&key), token.clone());
            async move { AlertServiceClient::new(ch).create_alert(authed(&token, req).map_err(bad)?).await }
        })
        .await?
        .value
        .into_inner();
    let alert = reply.alert.context("no alert")?;
    println!(
        "Sent alert {} to {} recipients: SMS and push now, a voice call after 20 s to those who have not answered OK.\n",
        alert.id, alert.recipients_planned
    );
    let console_token = token.clone();
    let args = ApiArgs { token: TokenArgs { token: Some(token), token_file: None }, linearizable: false };
    let session = Session::new(&cluster.endpoints().join(","), cluster.trust.clone(), false, &args)?;
    crate::watch::watch(&session, alert.id).await?;
    // The completion event is delivered after the alert completes: give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received.verified.load(std::sync::atomic::Ordering::Relaxed) < 3
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "\nWebhook receiver: {} signed events verified, {} refused (see {}).",
        received.verified.load(std::sync::atomic::Ordering::Relaxed),
        received.refused.load(std::sync::atomic::Ordering::Relaxed),
        dir.join("webhooks.log").display()
    );
    print_console(cluster, dir, &console_token);
    if let Some(http) = cluster.nodes.values().find_map(|n| n.http()) {
        let ca = cluster
            .ca
            .as_ref()
            .map_or(String::new(), |_| format!("--cacert {} ", dir.join("tls/ca.pem").display()));
        println!("Over REST (any node), e.g.:");
        println!(
            "  curl -s {ca}-H \"Authorization: Bearer $(cat {})\" https://{http}/api/v1/alerts",
            dir.join("demo.token").display()
        );
        println!(
            "  curl -s {ca}-H \"Authorization: Bearer $(cat {})\" -H 'Content-Type: application/cap+xml' --data-binary @docs/examples/flood.cap.xml https://{http}/api/v1/cap",
            dir.join("demo.token").display()
        );
        println!("Who an area would reach, before sending (the inhabitants live round Bergen):");
        println!(
            "  VARSEL_TOKEN_FILE={} varsel alert preview --area-circle \"60.395,5.325 1\"",
            dir.join("demo.token").display()
        );
    }
    Ok(())
}

/// Where the operator console is (every node serves it) and the token to log in with.
fn print_console(cluster: &LocalCluster, dir: &Path, token: &str) {
    let scheme = if cluster.ca.is_some() { "https" } else { "http" };
    let urls: Vec<String> =
        cluster.nodes.values().filter_map(|n| n.http()).map(|a| format!("{scheme}://{a}/console/")).collect();
    let Some(first) = urls.first() else { return };
    println!("\nOperator console (every node serves it; use any site's): {first}");
    for other in &urls[1..] {
        println!("  also {other}");
    }
    println!("  log in with the demo tenant's operator token: {token}");
    if cluster.ca.is_some() {
        println!(
            "  (the nodes' certificates come from this cluster's own CA, {}: import it into the browser's \
             trusted authorities, or accept the browser's warning for a local demo)",
            dir.join("tls/ca.pem").display()
        );
    }
}
