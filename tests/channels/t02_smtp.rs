//! E-mail over SMTP end to end: Varsel's nodes send through a real `aiosmtpd` server, which
//! parses what it receives with Python's `email` package and stores it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use varsel_config::providers::{SmtpProviderConfig, SmtpTls};
use varsel_config::{ProviderConfig, ProviderKind};
use varsel_proto::api::{AlertStatus, Channel, ChannelContent};

use crate::common::python::ensure_venv;
use crate::fixture::{Fixture, at_once, sim_config};
use crate::smsc::free_port;
use crate::support::{alert, counts, wait_final};

/// Time the SMTP server may take to start.
const PEER_START: Duration = Duration::from_secs(30);

/// `aiosmtpd` behind `smtp_peer.py`: requires AUTH, refuses `reject` with 550 and defers
/// `defer` once with 451. Killed, and its directory removed, on drop.
struct SmtpPeer {
    child: Child,
    port: u16,
    records: PathBuf,
    dir: tempfile::TempDir,
}

impl SmtpPeer {
    fn start(reject: &str, defer: &str) -> Self {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/channels");
        let py = ensure_venv(&here.join("requirements.txt"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smtp.password"), "hemmelig\n").unwrap();
        std::fs::write(dir.path().join("unsubscribe.key"), "avmeldingsnokkel\n").unwrap();
        let records = dir.path().join("mail.jsonl");
        let port = free_port();
        let mut child = Command::new(py)
            .arg(here.join("smtp_peer.py"))
            .args(["--port", &port.to_string(), "--user", "varsel", "--password", "hemmelig"])
            .args(["--reject", reject, "--defer-once", defer, "--records"])
            .arg(&records)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.starts_with("READY"));
            let _ = tx.send(ready);
        });
        assert_eq!(rx.recv_timeout(PEER_START), Ok(true), "the SMTP server did not start");
        Self { child, port, records, dir }
    }

    /// The e-mail provider every node uses: this server, with AUTH and List-Unsubscribe.
    fn provider(&self) -> ProviderConfig {
        let smtp = SmtpProviderConfig {
            host: "127.0.0.1".into(),
            port: Some(self.port),
            tls: SmtpTls::None,
            ca_file: None,
            username: Some("varsel".into()),
            password_file: Some(self.dir.path().join("smtp.password")),
            password_env: None,
            from_address: "varsel@kommune.no".into(),
            from_name: Some("Kommunen – beredskap".into()),
            reply_to: Some("beredskap@kommune.no".into()),
            list_unsubscribe: Some("https://kommune.no/avmeld?m={key}&s={sig}".into()),
            list_unsubscribe_secret_file: Some(self.dir.path().join("unsubscribe.key")),
            pool_size: 2,
        };
        ProviderConfig {
            name: "relay".into(),
            channel: varsel_domain::Channel::Email,
            rate_per_second: 0,
            concurrency: 4,
            batch_max: 20,
            timeout_ms: 10_000,
            inbound_secret_file: None,
            kind: ProviderKind::Smtp(smtp),
        }
    }

    fn records(&self, kind: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.records).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["kind"] == kind)
            .collect()
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Goal: every recipient gets one e-mail with the alert's subject and bodies, a Message-ID
/// made from the message key and a signed List-Unsubscribe; a 550 for one recipient fails that
/// message only, and a 451 is retried and then succeeds.
/// Method: five contacts; the server (aiosmtpd, AUTH required) refuses p1@example.no with 550
/// and defers p2@example.no once with 451. Its stored messages, parsed by Python's `email`
/// package, are compared field by field; the alert's progress must show 4 sent and 1 failed.
#[tokio::test(flavor = "multi_thread")]
async fn email_content_headers_and_failures() {
    const N: usize = 5;
    let peer = SmtpPeer::start("p1@example.no", "p2@example.no");
    let provider = peer.provider();
    let f = Fixture::start(sim_config(), move |spec| {
        spec.providers.retain(|p| p.channel != varsel_domain::Channel::Email);
        spec.providers.push(provider);
    })
    .await;
    f.contacts(N, "alle").await;
    let subject = "Varsel: flom i Bærum – gå til høyere grunn";
    let text =
        "Hei {{name}}.\nVannet stiger i Bærum sentrum. Gå til høyere grunn nå. Ærlig talt: øyeblikkelig!";
    let html = "<p>Hei {{name}}.</p><p>Vannet stiger i <b>Bærum</b> sentrum. Gå til høyere grunn nå.</p>";
    let content = ChannelContent {
        email_subject: subject.into(),
        email_text: text.into(),
        email_html: html.into(),
        ..Default::default()
    };
    let a = alert(&f, "mail", "alle", content, at_once(&[Channel::Email])).await;
    let done = wait_final(&f, a.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);
    let c = counts(&done, Channel::Email);
    assert_eq!((c.sent, c.failed), (N as u64 - 1, 1), "{c:?}");

    let mails = peer.records("message");
    let mut to: Vec<&str> = mails.iter().map(|m| m["rcpt_tos"][0].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["p0@example.no", "p2@example.no", "p3@example.no", "p4@example.no"], "{mails:#?}");
    assert_eq!(peer.records("deferred").len(), 1, "p2 should have been deferred once");
    for m in &mails {
        let rcpt = m["rcpt_tos"][0].as_str().unwrap();
        let i: usize = rcpt[1..2].parse().unwrap();
        let name = format!("Person {i}");
        assert_eq!(m["subject"], subject);
        assert_eq!(m["authenticated"], true);
        assert_eq!(m["content_type"], "multipart/alternative");
        assert_eq!(
            m["text"].as_str().unwrap().replace("\r\n", "\n").trim_end(),
            text.replace("{{name}}", &name)
        );
        assert_eq!(
            m["html"].as_str().unwrap().replace("\r\n", "\n").trim_end(),
            html.replace("{{name}}", &name)
        );
        assert_eq!(m["from"], "Kommunen – beredskap <varsel@kommune.no>");
        assert!(m["date"].as_str().is_some_and(|d| !d.is_empty()));
        let id = m["message_id"].as_str().unwrap();
        let key = id.trim_start_matches('<').trim_end_matches(">").trim_end_matches("@kommune.no");
        assert!(key.starts_with(&format!("a{}-c", a.id)) && key.ends_with("-email-0"), "Message-ID {id}");
        let sig = varsel_delivery::providers::smtp::signature(b"avmeldingsnokkel", key);
        let unsubscribe = format!("<https://kommune.no/avmeld?m={key}&s={sig}>");
        assert_eq!(m["list_unsubscribe"], unsubscribe.as_str());
        assert!(m["raw"].as_str().unwrap().is_ascii(), "8-bit content must be encoded");
    }
    let ids: std::collections::BTreeSet<&str> =
        mails.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), mails.len(), "each recipient's e-mail has its own Message-ID");
}
