//! In-process fakes of the contact and alert services, to test the CLI's plumbing end to end
//! over real gRPC: [`varsel_client::Cluster`] skipping a dead node, the bearer interceptor,
//! the chunked import stream, idempotency keys across retries, and watch reconnection.
//!
//! Each fake checks `authorization: Bearer t0k` in a server interceptor and records what it
//! was sent; the alert fake plays a script of `WatchAlert` streams, one per call.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::Stream;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};
use varsel_proto::api::alert_service_server::{AlertService, AlertServiceServer};
use varsel_proto::api::contact_service_server::{ContactService, ContactServiceServer};
use varsel_proto::api::*;

use crate::auth::TokenArgs;
use crate::session::{ApiArgs, Session};

/// The token the fakes accept.
pub const TOKEN: &str = "t0k";

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake"))
}

fn check_auth(req: Request<()>) -> Result<Request<()>, Status> {
    match req.metadata().get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) if v == format!("Bearer {TOKEN}") => Ok(req),
        _ => Err(Status::unauthenticated("authorization: missing or unknown bearer token")),
    }
}

/// The CA of the fakes' certificates (one for the whole test binary), and a certificate for
/// 127.0.0.1 it signed: the fakes speak TLS, as nodes do.
fn fake_pki() -> &'static (String, varsel_client::pki::Pem) {
    static PKI: std::sync::OnceLock<(String, varsel_client::pki::Pem)> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let ca = varsel_client::pki::Ca::new("fake CA", 30).unwrap();
        let names = varsel_client::pki::NodeNames {
            node_id: 1,
            site: "fake".into(),
            dns: vec![],
            ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
        };
        let node = ca.node(&names, 30).unwrap();
        (ca.pem().cert.clone(), node)
    })
}

/// Serves the fakes over TLS on 127.0.0.1:0; returns `host:port`.
pub async fn serve(contacts: FakeContacts, alerts: FakeAlerts) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (_, cert) = fake_pki();
    let tls = tonic::transport::ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(&cert.cert, &cert.key));
    let router = tonic::transport::Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(ContactServiceServer::with_interceptor(contacts, check_auth))
        .add_service(AlertServiceServer::with_interceptor(alerts, check_auth));
    tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));
    addr
}

/// An address nothing listens on (bound, then released), so connecting is refused at once.
pub async fn dead_addr() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A session through `endpoints` with `token`, printing JSON.
pub fn session(endpoints: &str, token: &str) -> Session {
    session_with(endpoints, token, true)
}

/// A session through `endpoints` with `token`; `json` chooses the output.
pub fn session_with(endpoints: &str, token: &str, json: bool) -> Session {
    let args =
        ApiArgs { token: TokenArgs { token: Some(token.into()), token_file: None }, linearizable: false };
    Session::new(endpoints, varsel_client::Trust::ca_pem(fake_pki().0.clone()), json, &args).unwrap()
}

/// What the contact fake received.
#[derive(Debug, Default)]
pub struct ImportSeen {
    /// Every byte of every chunk, in order.
    pub data: Vec<u8>,
    /// The filename field of each chunk.
    pub filenames: Vec<String>,
}

/// Counts the CSV rows it is sent and reports them all created.
#[derive(Debug, Clone, Default)]
pub struct FakeContacts {
    /// What it received.
    pub seen: Arc<Mutex<ImportSeen>>,
}

#[tonic::async_trait]
impl ContactService for FakeContacts {
    async fn import_contacts(
        &self,
        req: Request<Streaming<ImportChunk>>,
    ) -> Result<Response<ImportReport>, Status> {
        let mut stream = req.into_inner();
        while let Some(chunk) = stream.message().await? {
            let mut seen = self.seen.lock().unwrap();
            seen.data.extend_from_slice(&chunk.data);
            seen.filenames.push(chunk.filename);
        }
        let lines = self.seen.lock().unwrap().data.iter().filter(|b| **b == b'\n').count() as u64;
        let rows = lines.saturating_sub(1);
        Ok(Response::new(ImportReport { rows, created: rows, raft_entries: 1, ..Default::default() }))
    }
    async fn upsert_contact(
        &self,
        _: Request<UpsertContactRequest>,
    ) -> Result<Response<ContactReply>, Status> {
        unimplemented()
    }
    async fn get_contact(&self, _: Request<GetContactRequest>) -> Result<Response<ContactReply>, Status> {
        unimplemented()
    }
    async fn delete_contact(
        &self,
        _: Request<DeleteContactRequest>,
    ) -> Result<Response<DeleteContactReply>, Status> {
        unimplemented()
    }
    async fn list_contacts(
        &self,
        _: Request<ListContactsRequest>,
    ) -> Result<Response<ListContactsReply>, Status> {
        unimplemented()
    }
    async fn create_group(&self, _: Request<CreateGroupRequest>) -> Result<Response<GroupReply>, Status> {
        unimplemented()
    }
    async fn get_group(&self, _: Request<GetGroupRequest>) -> Result<Response<GroupReply>, Status> {
        unimplemented()
    }
    async fn list_groups(&self, _: Request<ListGroupsRequest>) -> Result<Response<ListGroupsReply>, Status> {
        unimplemented()
    }
    async fn delete_group(
        &self,
        _: Request<DeleteGroupRequest>,
    ) -> Result<Response<DeleteGroupReply>, Status> {
        unimplemented()
    }
    async fn change_members(
        &self,
        _: Request<ChangeMembersRequest>,
    ) -> Result<Response<ChangeMembersReply>, Status> {
        unimplemented()
    }
    async fn list_members(
        &self,
        _: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersReply>, Status> {
        unimplemented()
    }
    async fn update_group(
        &self,
        _: Request<varsel_proto::api::UpdateGroupRequest>,
    ) -> Result<Response<GroupReply>, Status> {
        unimplemented()
    }
    async fn export_contact(
        &self,
        _: Request<ExportContactRequest>,
    ) -> Result<Response<ExportContactReply>, Status> {
        unimplemented()
    }
    async fn erase_contact(
        &self,
        _: Request<EraseContactRequest>,
    ) -> Result<Response<EraseContactReply>, Status> {
        unimplemented()
    }
}

/// One scripted `WatchAlert` stream: its items, then the end of the stream.
pub type Script = Vec<Result<AlertReply, Status>>;

/// Plays scripted watch streams; fails the first `CreateAlert` with UNAVAILABLE ("outcome
/// unknown") and records every idempotency key it is sent.
#[derive(Debug, Clone, Default)]
pub struct FakeAlerts {
    /// Streams for successive `WatchAlert` calls.
    pub scripts: Arc<Mutex<VecDeque<Script>>>,
    /// What `GetAlert` answers.
    pub current: Arc<Mutex<Alert>>,
    /// `WatchAlert` calls received.
    pub watch_calls: Arc<Mutex<u32>>,
    /// Idempotency keys of `CreateAlert` calls, in order.
    pub keys: Arc<Mutex<Vec<String>>>,
}

/// An alert with id 12, `recipients` of 10 processed, in `status`.
pub fn alert(status: AlertStatus, recipients: u64) -> Alert {
    let progress = Progress { recipients, ..Default::default() };
    Alert {
        id: 12,
        status: status as i32,
        recipients_planned: 10,
        progress: Some(progress),
        ..Default::default()
    }
}

/// A stream item carrying `alert`.
pub fn update(alert: Alert) -> Result<AlertReply, Status> {
    Ok(AlertReply { alert: Some(alert), existing: false })
}

#[tonic::async_trait]
impl AlertService for FakeAlerts {
    type WatchAlertStream = Pin<Box<dyn Stream<Item = Result<AlertReply, Status>> + Send>>;

    async fn watch_alert(
        &self,
        _: Request<WatchAlertRequest>,
    ) -> Result<Response<Self::WatchAlertStream>, Status> {
        *self.watch_calls.lock().unwrap() += 1;
        let script = self.scripts.lock().unwrap().pop_front().unwrap_or_default();
        Ok(Response::new(Box::pin(futures::stream::iter(script))))
    }
    async fn get_alert(&self, _: Request<GetAlertRequest>) -> Result<Response<AlertReply>, Status> {
        Ok(Response::new(AlertReply { alert: Some(self.current.lock().unwrap().clone()), existing: false }))
    }
    async fn create_alert(&self, req: Request<CreateAlertRequest>) -> Result<Response<AlertReply>, Status> {
        let mut keys = self.keys.lock().unwrap();
        keys.push(req.into_inner().idempotency_key);
        if keys.len() == 1 {
            return Err(Status::unavailable("outcome unknown: the leader did not answer"));
        }
        let a = alert(AlertStatus::Active, 0);
        Ok(Response::new(AlertReply { alert: Some(a), existing: true }))
    }
    async fn put_template(&self, _: Request<PutTemplateRequest>) -> Result<Response<TemplateReply>, Status> {
        unimplemented()
    }
    async fn preview_alert(
        &self,
        _: Request<varsel_proto::api::PreviewAlertRequest>,
    ) -> Result<Response<varsel_proto::api::PreviewAlertReply>, Status> {
        unimplemented()
    }
    async fn get_template(&self, _: Request<GetTemplateRequest>) -> Result<Response<TemplateReply>, Status> {
        unimplemented()
    }
    async fn list_templates(
        &self,
        _: Request<ListTemplatesRequest>,
    ) -> Result<Response<ListTemplatesReply>, Status> {
        unimplemented()
    }
    async fn list_alerts(&self, _: Request<ListAlertsRequest>) -> Result<Response<ListAlertsReply>, Status> {
        unimplemented()
    }
    async fn cancel_alert(&self, _: Request<CancelAlertRequest>) -> Result<Response<AlertReply>, Status> {
        unimplemented()
    }
    async fn resume_alert(
        &self,
        _: Request<varsel_proto::api::ResumeAlertRequest>,
    ) -> Result<Response<AlertReply>, Status> {
        unimplemented()
    }
    async fn acknowledge(&self, _: Request<AckRequest>) -> Result<Response<AckReply>, Status> {
        unimplemented()
    }
    async fn list_replies(
        &self,
        _: Request<ListRepliesRequest>,
    ) -> Result<Response<ListRepliesReply>, Status> {
        unimplemented()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::error::CliError;
    use crate::{alert, import, watch};

    /// Goal: an import reaches the server byte for byte in bounded chunks, with the token,
    /// past a dead first node. Method: a 600 KiB CSV through endpoints "dead,fake".
    #[tokio::test]
    async fn import_streams_chunks_past_a_dead_node() {
        let contacts = FakeContacts::default();
        let addr = serve(contacts.clone(), FakeAlerts::default()).await;
        let s = session(&format!("{},{addr}", dead_addr().await), TOKEN);
        let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        let mut csv = String::from("external_id,phone\n");
        for i in 0..30_000 {
            csv.push_str(&format!("k-{i:06},+479{i:07}\n"));
        }
        file.write_all(csv.as_bytes()).unwrap();
        let (name, report, _retried) = import::import_file(&s, file.path()).await.unwrap();
        assert_eq!((report.rows, report.created), (30_000, 30_000));
        let seen = contacts.seen.lock().unwrap();
        assert_eq!(seen.data, csv.as_bytes());
        assert_eq!(seen.filenames.len(), csv.len().div_ceil(import::IMPORT_CHUNK_BYTES));
        assert_eq!(seen.filenames[0], name);
        assert!(seen.filenames[1..].iter().all(String::is_empty));
    }

    /// Goal: a wrong token is refused with the server's words, and not retried elsewhere.
    /// Method: import with a bad token; check the error's code and message.
    #[tokio::test]
    async fn wrong_token_is_reported() {
        let addr = serve(FakeContacts::default(), FakeAlerts::default()).await;
        let s = session(&addr, "not-the-token");
        let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        let e = import::import_file(&s, file.path()).await.unwrap_err();
        assert!(matches!(e, CliError::Rejected(_)));
        assert_eq!(e.to_string(), "UNAUTHENTICATED: authorization: missing or unknown bearer token");
    }

    /// Goal: a retried CreateAlert carries the same idempotency key as the first attempt.
    /// Method: the fake answers the first attempt UNAVAILABLE; `alert send` retries by itself.
    #[tokio::test]
    async fn alert_send_retries_with_the_same_key() {
        let alerts = FakeAlerts::default();
        let addr = serve(FakeContacts::default(), alerts.clone()).await;
        let s = session(&addr, TOKEN);
        let cmd = alert::AlertCommand::Send(Box::new(
            clap::Parser::try_parse_from(["send", "--group", "g", "--title", "t", "--sms", "hei"])
                .map(|c: SendCli| c.send)
                .unwrap(),
        ));
        alert::run(&s, cmd).await.unwrap();
        let keys = alerts.keys.lock().unwrap().clone();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], keys[1]);
        assert!(!keys[0].is_empty());
    }

    #[derive(Debug, clap::Parser)]
    struct SendCli {
        #[command(flatten)]
        send: alert::SendArgs,
    }

    /// Goal: watching survives a broken stream and a stream closed early, and stops at a final
    /// status. Method: script 1 breaks with UNAVAILABLE after an update; script 2 repeats it
    /// and closes; GetAlert then says completed. Human output, so the line view (or the bar,
    /// when the tests run on a terminal) is exercised too.
    #[tokio::test]
    async fn watch_reconnects_until_final() {
        let alerts = FakeAlerts::default();
        let active = alert(AlertStatus::Active, 5);
        alerts.scripts.lock().unwrap().extend([
            vec![update(active.clone()), Err(Status::unavailable("node shutting down"))],
            vec![update(active)],
        ]);
        *alerts.current.lock().unwrap() = alert(AlertStatus::Completed, 10);
        let addr = serve(FakeContacts::default(), alerts.clone()).await;
        watch::watch(&session_with(&addr, TOKEN, false), 12).await.unwrap();
        assert_eq!(*alerts.watch_calls.lock().unwrap(), 2);
    }

    /// Goal: an alert already final ends the watch at its first update.
    /// Method: one script with a completed alert.
    #[tokio::test]
    async fn watch_stops_at_final_status() {
        let alerts = FakeAlerts::default();
        alerts.scripts.lock().unwrap().push_back(vec![update(alert(AlertStatus::Cancelled, 3))]);
        let addr = serve(FakeContacts::default(), alerts.clone()).await;
        watch::watch(&session(&addr, TOKEN), 12).await.unwrap();
        assert_eq!(*alerts.watch_calls.lock().unwrap(), 1);
    }
}
