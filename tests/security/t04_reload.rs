use std::time::{Duration, Instant};

use varsel_client::pki::{NodeNames, write};

use crate::common::TestCluster;

/// The certificate fingerprint node `id` reports, read over a new connection.
async fn fingerprint(c: &TestCluster, id: u64) -> String {
    let status = c.lc.status(id, Duration::from_secs(5)).await.expect("the node answers");
    assert!(!status.certificate_sha256.is_empty(), "no certificate fingerprint in the status");
    status.certificate_sha256
}

fn hang_up(c: &TestCluster, id: u64) {
    let pid = c.lc.node(id).unwrap().pid().unwrap();
    let ok = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
    assert!(ok.success(), "kill -HUP {pid}");
}

/// Goal: SIGHUP makes a node read its TLS files again at once (`systemctl reload varsel`), a
/// file that does not load is refused while the node keeps serving with what it had, and the
/// reload needs no restart.
/// Method: one node whose periodic check is an hour apart, so only the signal can cause a
/// reload. Its certificate file is overwritten with text that is no certificate and the node
/// is sent SIGHUP: it logs the refusal and still answers new TLS connections with the same
/// certificate. Then a new certificate and key from the cluster CA are written and the node is
/// sent SIGHUP: within ten seconds new connections see the new certificate, and the process is
/// the same.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_and_a_bad_file_is_refused() {
    let c = TestCluster::start(1, |s| {
        s.env.push(("VARSEL_TLS__RELOAD_CHECK_INTERVAL_MS".into(), "3600000".into()));
    })
    .await;
    let pid = c.lc.node(1).unwrap().pid().unwrap();
    let tls = c.lc.node(1).unwrap().config.tls.clone();
    let (cert_file, key_file) = (tls.cert_file.unwrap(), tls.key_file.unwrap());
    let before = fingerprint(&c, 1).await;

    let good = std::fs::read_to_string(&cert_file).unwrap();
    std::fs::write(&cert_file, "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n").unwrap();
    hang_up(&c, 1);
    // The node says it refused the files (and why), then still serves what it had.
    let log = c.lc.node(1).unwrap().log_path.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("TLS certificates not reloaded") {
        assert!(Instant::now() < deadline, "no refusal logged within 10 s of SIGHUP");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fingerprint(&c, 1).await, before, "a broken certificate file replaced the working one");
    std::fs::write(&cert_file, good).unwrap();

    let names = NodeNames {
        node_id: 1,
        site: c.lc.node(1).unwrap().config.site.clone(),
        dns: vec!["localhost".into()],
        ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
    };
    let renewed = c.lc.ca.as_ref().unwrap().node(&names, 30).unwrap();
    write(&key_file, &renewed.key, true).unwrap();
    write(&cert_file, &renewed.cert, false).unwrap();
    hang_up(&c, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let now = fingerprint(&c, 1).await;
        if now != before {
            break now;
        }
        assert!(Instant::now() < deadline, "the node did not take its new certificate within 10 s of SIGHUP");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(after, before);
    assert_eq!(c.lc.node(1).unwrap().pid(), Some(pid), "the node restarted instead of reloading");
}
