//! A three-node cluster with HTTP channel providers and a tenant, and helpers for contacts,
//! alerts, progress and signed webhooks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use varsel_config::{ProviderConfig, ProviderKind};
use varsel_proto::api::{
    Alert, AlertStatus, ChannelContent, ChannelCounts, Consistency, Contact, Content, CreateAlertRequest,
    EscalationStep, GetAlertRequest, GetContactRequest, Priority, Progress, Role, Targets,
    UpsertContactRequest, get_contact_request,
};

use crate::common::{TestCluster, authed};

/// Time an alert of these tests is given to complete on a busy two-core machine.
pub const COMPLETE_WITHIN: Duration = Duration::from_secs(120);

/// Time a receipt, reply or acknowledgement is given to reach the alert.
pub const RECORDED_WITHIN: Duration = Duration::from_secs(30);

/// The webhook secret every provider of these tests signs with.
pub const WEBHOOK_SECRET: &str = "http-channels-webhook-secret-0123456789";

/// The SMS text of the tests' alerts (personalised with the contact's name).
pub const SMS_TEXT: &str = "Evakuer {{name}} nå. Svar OK.";
/// The voice script of the tests' alerts.
pub const VOICE_SCRIPT: &str = "Dette er et varsel fra kommunen. Trykk 1 for å bekrefte.";

/// The cluster and a tenant's operator token.
pub struct Channels {
    pub c: TestCluster,
    pub token: String,
    _secrets: tempfile::TempDir,
}

/// A provider of `channel` with no kind yet, signing its webhooks with [`WEBHOOK_SECRET`]
/// (`secrets` is where its secret file goes).
pub fn provider(
    name: &str,
    channel: varsel_domain::Channel,
    secrets: &Path,
    kind: ProviderKind,
) -> ProviderConfig {
    ProviderConfig {
        concurrency: 4,
        batch_max: 50,
        timeout_ms: 5_000,
        inbound_secret_file: Some(write_secret(secrets, "webhook.secret", WEBHOOK_SECRET)),
        ..ProviderConfig::new(name, channel, kind)
    }
}

/// Writes a secret file and returns its path.
pub fn write_secret(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// The networks the tests' peers listen on (loopback), which URLs from tenants' data (Web Push
/// endpoints) may reach in these tests; a production node refuses them.
pub const PEER_NETWORKS: &[&str] = &["127.0.0.0/8"];

impl Channels {
    /// Starts three nodes with `providers` (made with the secrets directory given to `make`),
    /// allowing tenants' URLs to reach the tests' peers ([`PEER_NETWORKS`]), and creates a
    /// tenant.
    pub async fn start(make: impl FnOnce(&Path) -> Vec<ProviderConfig>) -> Self {
        Self::start_allowing(PEER_NETWORKS, make).await
    }

    /// As [`Channels::start`], with `allowed` as `delivery.tenant_url_allowed_networks`.
    pub async fn start_allowing(allowed: &[&str], make: impl FnOnce(&Path) -> Vec<ProviderConfig>) -> Self {
        Self::start_tuned(allowed, make, |_| {}).await
    }

    /// As [`Channels::start_allowing`], with `adjust` applied to the cluster's spec last.
    pub async fn start_tuned(
        allowed: &[&str],
        make: impl FnOnce(&Path) -> Vec<ProviderConfig>,
        adjust: impl FnOnce(&mut varsel_client::local_cluster::Spec),
    ) -> Self {
        let secrets = tempfile::tempdir().unwrap();
        let providers = make(secrets.path());
        let allowed: Vec<String> = allowed.iter().map(|n| n.to_string()).collect();
        let c = TestCluster::start(3, |s| {
            s.providers = providers;
            s.delivery.tenant_url_allowed_networks = allowed;
            adjust(s);
        })
        .await;
        let (_, token) = c.tenant_with(1, "kommune", Role::Operator).await;
        Self { c, token, _secrets: secrets }
    }

    /// Creates a contact in `group`; returns its id.
    pub async fn contact(
        &self,
        external_id: &str,
        phone: Option<&str>,
        push: Option<&str>,
        group: &str,
    ) -> u64 {
        self.contact_as(&self.token, external_id, phone, push, group).await
    }

    /// [`Channels::contact`] in the tenant of `token`.
    pub async fn contact_as(
        &self,
        token: &str,
        external_id: &str,
        phone: Option<&str>,
        push: Option<&str>,
        group: &str,
    ) -> u64 {
        let contact = Contact {
            external_id: external_id.into(),
            name: format!("Person {external_id}"),
            phone: phone.unwrap_or_default().into(),
            push_subscription: push.unwrap_or_default().into(),
            groups: vec![group.into()],
            ..Default::default()
        };
        let req = UpsertContactRequest { contact: Some(contact), ..Default::default() };
        let reply = self.c.api(1).contacts.upsert_contact(authed(token, req)).await.unwrap().into_inner();
        reply.contact.unwrap().id
    }

    /// A contact, read through node 2 (linearizable).
    pub async fn get_contact(&self, id: u64) -> Contact {
        let req = GetContactRequest {
            key: Some(get_contact_request::Key::Id(id)),
            consistency: Consistency::Linearizable as i32,
        };
        self.c
            .api(2)
            .contacts
            .get_contact(authed(&self.token, req))
            .await
            .unwrap()
            .into_inner()
            .contact
            .unwrap()
    }

    /// Creates a crisis alert to `group` with `policy` (content for every channel).
    pub async fn alert(&self, key: &str, group: &str, policy: Vec<EscalationStep>) -> Alert {
        self.alert_as(&self.token, key, group, policy).await
    }

    /// [`Channels::alert`] in the tenant of `token`.
    pub async fn alert_as(&self, token: &str, key: &str, group: &str, policy: Vec<EscalationStep>) -> Alert {
        let variant = ChannelContent {
            sms_text: SMS_TEXT.into(),
            voice_script: VOICE_SCRIPT.into(),
            push_title: "Varsel".into(),
            push_body: "Evakuer nå – følg instruksene.".into(),
            ..Default::default()
        };
        let req = CreateAlertRequest {
            idempotency_key: key.into(),
            title: format!("test {key}"),
            priority: Priority::Crisis as i32,
            content: Some(Content {
                default_language: "nb".into(),
                variants: HashMap::from([("nb".into(), variant)]),
            }),
            targets: Some(Targets { group_names: vec![group.into()], ..Default::default() }),
            policy,
            ..Default::default()
        };
        self.c.api(2).alerts.create_alert(authed(token, req)).await.unwrap().into_inner().alert.unwrap()
    }

    /// The alert, read through node `via` with a linearizable read: a follower's own state may
    /// lag the writes the test has seen acknowledged. A node that answers UNAVAILABLE (an
    /// election) is asked again, within a bound.
    pub async fn get(&self, id: u64, via: u64) -> Alert {
        self.get_as(&self.token, id, via).await
    }

    /// [`Channels::get`] in the tenant of `token`.
    pub async fn get_as(&self, token: &str, id: u64, via: u64) -> Alert {
        let deadline = Instant::now() + RECORDED_WITHIN;
        loop {
            let req = GetAlertRequest { id, consistency: Consistency::Linearizable as i32 };
            match self.c.api(via).alerts.get_alert(authed(token, req)).await {
                Ok(r) => return r.into_inner().alert.unwrap(),
                Err(e) if e.code() == tonic::Code::Unavailable && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("GetAlert {id} through node {via}: {e:?}"),
            }
        }
    }

    /// Waits until the alert is completed (seen through node 2).
    pub async fn wait_completed(&self, id: u64) -> Alert {
        let deadline = Instant::now() + COMPLETE_WITHIN;
        loop {
            let a = self.get(id, 2).await;
            if a.status == AlertStatus::Completed as i32 {
                return a;
            }
            assert!(Instant::now() < deadline, "alert {id} not completed in time: {a:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the alert's progress (through node `via`) satisfies `done`.
    pub async fn wait_progress(
        &self,
        id: u64,
        via: u64,
        what: &str,
        done: impl Fn(&Progress) -> bool,
    ) -> Progress {
        let deadline = Instant::now() + RECORDED_WITHIN;
        loop {
            let p = self.get(id, via).await.progress.unwrap_or_default();
            if done(&p) {
                return p;
            }
            assert!(Instant::now() < deadline, "{what}: not within {RECORDED_WITHIN:?}: {p:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The base URL of node `id`'s HTTP listener.
    pub fn http(&self, id: u64) -> String {
        format!("https://{}", self.c.lc.node(id).unwrap().http().unwrap())
    }

    /// Posts `body` to `url` (a node's webhook, over TLS) signed with `secret` as providers
    /// sign webhooks; returns the status. The webhook id is derived from the body (as the
    /// simulator derives it), so posting the same body again is a replay of the same webhook.
    pub async fn post_signed(&self, url: &str, secret: &str, body: &serde_json::Value) -> u16 {
        let bytes = serde_json::to_vec(body).unwrap();
        let headers = signed_headers(secret, &bytes);
        let ca = self.c.lc.ca.as_ref().map(|ca| ca.pem().cert.clone());
        crate::common::http::post(ca.as_deref(), url, &headers, &bytes)
            .await
            .expect("the node answers")
            .status
    }
}

/// The counts of one channel (zeros when absent).
pub fn counts(p: &Progress, channel: varsel_proto::api::Channel) -> ChannelCounts {
    p.channels.iter().find(|c| c.channel == channel as i32).cloned().unwrap_or_default()
}

/// One escalation step.
pub fn step(channels: &[varsel_proto::api::Channel], after_seconds: u32) -> EscalationStep {
    EscalationStep { channels: channels.iter().map(|c| *c as i32).collect(), after_seconds }
}

/// The headers a provider signs a webhook body with: an id derived from the body, the time, and
/// the HMAC of `id "." timestamp "." body`.
fn signed_headers(secret: &str, bytes: &[u8]) -> Vec<(&'static str, String)> {
    let ts =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let id = format!("test-{}", &hex::encode(Sha256::digest(bytes))[..32]);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for part in [id.as_bytes(), b".", ts.as_bytes(), b".", bytes] {
        mac.update(part);
    }
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    vec![("x-varsel-webhook-id", id), ("x-varsel-timestamp", ts), ("x-varsel-signature", signature)]
}

/// A batch-mode HTTP SMS gateway's layout: messages under `messages` (`msisdn`, `body`,
/// `client_ref`), one result per message under `results` (`id`, `state` = `OK`, `code`).
/// Codes are failures of the kind `unknown_errors` names (`"permanent"` or `"retryable"`).
pub fn batch_sms_config(
    url: &str,
    auth_file: &Path,
    unknown_errors: &str,
) -> varsel_config::providers::HttpSmsConfig {
    let text = format!(
        r#"
url = "{url}"
auth_header = "X-Api-Key"
auth_file = "{}"
mode = "batch"
unknown_errors = "{unknown_errors}"
[request]
to = "msisdn"
text = "body"
reference = "client_ref"
messages = "messages"
[response]
results = "results"
id = "id"
status = "state"
accepted = ["OK"]
error = "code"
"#,
        auth_file.display()
    );
    toml::from_str(&text).unwrap()
}
