//! A three-node cluster wired to an in-process provider simulator, with a tenant ready to send.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::stream;
use varsel_client::local_cluster::Spec;
use varsel_proto::admin::{ShardsReply, ShardsRequest};
use varsel_proto::api::{
    Alert, AlertStatus, ChannelContent, Consistency, Contact, Content, CreateAlertRequest,
    CreateCredentialRequest, CreateTenantRequest, EscalationStep, GetAlertRequest, ImportChunk, Limits,
    Priority, Role, SetLimitsRequest, Targets, UpsertContactRequest, WhoAmIRequest,
};
use varsel_sim::{Channel as SimChannel, InboxListing, ProviderConfig as SimProvider, SimConfig};

use crate::common::sim::SimProc;
use crate::common::{TestCluster, authed};

/// Time an alert of the tests' size is given to complete on a busy two-core machine.
pub const COMPLETE_WITHIN: Duration = Duration::from_secs(180);

/// The cluster, the simulator and a tenant.
pub struct Fixture {
    pub c: TestCluster,
    pub sim: SimProc,
    pub token: String,
    _secret_dir: tempfile::TempDir,
}

/// Simulator providers: two SMS (primary, alternative), voice, e-mail, push; fast by default.
pub fn sim_config() -> SimConfig {
    let p = |name: &str, channel| SimProvider {
        latency_ms: 2,
        latency_jitter_ms: 2,
        ..SimProvider::new(name, channel)
    };
    SimConfig::with_providers(vec![
        p("sms-primary", SimChannel::Sms),
        p("sms-alt", SimChannel::Sms),
        p("voice", SimChannel::Voice),
        p("email", SimChannel::Email),
        p("push", SimChannel::Push),
    ])
}

impl Fixture {
    /// Starts the simulator and three nodes; creates a tenant with generous limits.
    pub async fn start(sim: SimConfig, adjust: impl FnOnce(&mut Spec)) -> Self {
        let (c, sim, secret_dir) = crate::common::sim::start_with_sim(sim, 3, adjust).await;
        let mut api = c.api(1);
        let limits = Limits {
            max_recipients_per_alert: 1_000_000,
            max_alerts_per_minute: 1_000,
            max_messages_per_alert: 4_000_000,
            max_send_rate_per_second: 1_000_000,
            ..Default::default()
        };
        let t = api
            .tenants
            .create_tenant(authed(
                &c.superadmin(),
                CreateTenantRequest { name: "kommune".into(), limits: Some(limits), ..Default::default() },
            ))
            .await
            .unwrap()
            .into_inner()
            .tenant
            .unwrap();
        let req = CreateCredentialRequest {
            tenant_id: t.id,
            name: "ops".into(),
            role: Role::Operator as i32,
            ..Default::default()
        };
        let token =
            api.tenants.create_credential(authed(&c.superadmin(), req)).await.unwrap().into_inner().token;
        Self { c, sim, token, _secret_dir: secret_dir }
    }

    /// Imports `n` contacts into `group`, each with a phone, an e-mail and a push subscription.
    pub async fn contacts(&self, n: usize, group: &str) {
        let mut csv = String::from("external_id,name,phone,email,push,groups\n");
        for i in 0..n {
            let push = format!("\"{{\"\"endpoint\"\":\"\"https://push.example/{i}\"\"}}\"");
            csv.push_str(&format!("{group}-{i},Person {i},+4741{i:06},p{i}@example.no,{push},{group}\n"));
        }
        let report = self.import_csv(&csv).await;
        assert_eq!(report.created + report.updated, n as u64, "{:?}", report.rejected.first());
    }

    /// Imports a contacts file through node 1, in chunks as the CLI sends it.
    pub async fn import_csv(&self, csv: &str) -> varsel_proto::api::ImportReport {
        let chunks: Vec<ImportChunk> = csv
            .as_bytes()
            .chunks(256 * 1024)
            .map(|d| ImportChunk { data: d.to_vec(), filename: String::new(), ..Default::default() })
            .collect();
        self.c
            .api(1)
            .contacts
            .import_contacts(authed(&self.token, stream::iter(chunks)))
            .await
            .unwrap_or_else(|e| panic!("import through node 1: {e:?}"))
            .into_inner()
    }

    /// Creates an alert to `group` with the given policy; returns it.
    pub async fn alert(
        &self,
        key: &str,
        group: &str,
        priority: Priority,
        policy: Vec<EscalationStep>,
    ) -> Alert {
        self.create(alert_request(key, group, priority, policy), 2).await
    }

    /// Creates the alert `req` through node `via`; returns it.
    pub async fn create(&self, req: CreateAlertRequest, via: u64) -> Alert {
        self.c
            .api(via)
            .alerts
            .create_alert(authed(&self.token, req))
            .await
            .unwrap()
            .into_inner()
            .alert
            .unwrap()
    }

    /// Adds (or replaces) one contact through node 1; returns it as stored.
    pub async fn upsert(&self, contact: Contact) -> Contact {
        let req = UpsertContactRequest { contact: Some(contact), ..Default::default() };
        let reply = self.c.api(1).contacts.upsert_contact(authed(&self.token, req)).await.unwrap();
        reply.into_inner().contact.unwrap()
    }

    /// Holds the fixture's tenant to `per_second` messages over the cluster.
    pub async fn set_rate(&self, per_second: u32) {
        let mut api = self.c.api(1);
        let who = api.tenants.who_am_i(authed(&self.token, WhoAmIRequest {})).await.unwrap().into_inner();
        let limits = Limits { max_send_rate_per_second: per_second, ..Default::default() };
        let req = SetLimitsRequest { tenant_id: who.tenant_id, limits: Some(limits) };
        api.tenants.set_limits(authed(&self.c.superadmin(), req)).await.unwrap();
    }

    /// Waits until `predicate` holds for what the recipients of alert `id` received so far
    /// (the simulator's inbox), for at most `within`; returns that inbox.
    pub async fn wait_inbox(
        &self,
        id: u64,
        within: Duration,
        predicate: impl Fn(&InboxListing) -> bool,
    ) -> InboxListing {
        let deadline = Instant::now() + within;
        loop {
            let inbox = self.sim.client.inbox(id).await.unwrap();
            if predicate(&inbox) {
                return inbox;
            }
            let n = inbox.messages.len();
            assert!(
                Instant::now() < deadline,
                "alert {id}: the inbox did not get there in time ({n} messages)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The alert, read through node `via` linearizably (a follower's own state can lag the
    /// commit that created it); a busy node may answer UNAVAILABLE for a moment, so the read is
    /// retried (bounded).
    pub async fn get(&self, id: u64, via: u64) -> Alert {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let req = GetAlertRequest { id, consistency: Consistency::Linearizable as i32 };
            match self.c.api(via).alerts.get_alert(authed(&self.token, req)).await {
                Ok(r) => return r.into_inner().alert.unwrap(),
                Err(e) if e.code() == tonic::Code::Unavailable && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("GetAlert {id} through node {via}: {e:?}"),
            }
        }
    }

    /// Waits until the alert reaches a final status (seen through node `via`).
    pub async fn wait_final(&self, id: u64, via: u64) -> Alert {
        let deadline = Instant::now() + COMPLETE_WITHIN;
        loop {
            let a = self.get(id, via).await;
            let done =
                [AlertStatus::Completed, AlertStatus::Cancelled, AlertStatus::Expired].map(|s| s as i32);
            if done.contains(&a.status) {
                return a;
            }
            assert!(Instant::now() < deadline, "alert {id} not finished in time: {:?}", a.progress);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Messages node `id` handed to providers that accepted them: its
    /// `varsel_delivery_messages_total{outcome="sent"}`, summed over channels and providers.
    pub async fn sent_by_node(&self, id: u64) -> u64 {
        let python = crate::common::metrics::parser_python();
        let scrape = crate::common::metrics::scrape(&self.c, &python, id).await;
        scrape.sum("varsel_delivery_messages_total", &[("outcome", "sent")]) as u64
    }

    /// Where each shard of an alert is (as node `via` sees it).
    pub async fn shards(&self, id: u64, via: u64) -> ShardsReply {
        let mut admin = self.c.admin(via);
        admin.shards(ShardsRequest { alert_id: id }).await.unwrap().into_inner()
    }
}

/// The request [`Fixture::alert`] sends: Norwegian content for every channel (the SMS greets
/// the recipient by `{{name}}`) to `group`, with `policy`.
pub fn alert_request(
    key: &str,
    group: &str,
    priority: Priority,
    policy: Vec<EscalationStep>,
) -> CreateAlertRequest {
    let variant = ChannelContent {
        sms_text: "Evakuer {{name}} nå. Svar OK.".into(),
        voice_script: "Dette er et varsel. Trykk 1.".into(),
        email_subject: "Varsel".into(),
        email_text: "Evakuer.".into(),
        push_title: "Varsel".into(),
        push_body: "Evakuer nå.".into(),
        ..Default::default()
    };
    CreateAlertRequest {
        idempotency_key: key.into(),
        title: format!("test {key}"),
        priority: priority as i32,
        content: Some(Content {
            default_language: "nb".into(),
            variants: HashMap::from([("nb".into(), variant)]),
        }),
        targets: Some(Targets { group_names: vec![group.into()], ..Default::default() }),
        policy,
        ..Default::default()
    }
}

/// One step with these channels at once.
pub fn at_once(channels: &[varsel_proto::api::Channel]) -> Vec<EscalationStep> {
    vec![EscalationStep { channels: channels.iter().map(|c| *c as i32).collect(), after_seconds: 0 }]
}
