use varsel_client::pki::{Ca, NodeNames, write};

use crate::common::TestCluster;
use crate::common::http::get;

/// Goal: the HTTP listener (provider callbacks, metrics, health) can serve a certificate of its
/// own, such as one from a public CA the providers trust, while the API and Raft ports keep the
/// node's certificate from the cluster CA.
/// Method: a second CA stands in for a public one and makes a certificate for 127.0.0.1; one
/// node starts with it as `tls.http_cert_file`/`http_key_file`. `GET /healthz` verified
/// against that CA is answered, verified against the cluster CA it is refused (the listener no
/// longer presents the node certificate); the node's admin API still answers through the
/// cluster CA.
#[tokio::test(flavor = "multi_thread")]
async fn http_listener_serves_its_own_certificate() {
    let public = Ca::new("stand-in public CA", 1).unwrap();
    let names = NodeNames { node_id: 1, site: "web".into(), dns: vec![], ips: vec![[127, 0, 0, 1].into()] };
    let served = public.node(&names, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("public.pem"), dir.path().join("public.key"));
    write(&cert, &served.cert, false).unwrap();
    write(&key, &served.key, true).unwrap();
    let c = TestCluster::start(1, |s| {
        s.env.push(("VARSEL_TLS__HTTP_CERT_FILE".into(), cert.display().to_string()));
        s.env.push(("VARSEL_TLS__HTTP_KEY_FILE".into(), key.display().to_string()));
    })
    .await;
    let http = c.lc.node(1).unwrap().http().unwrap();
    let answer = get(Some(&public.pem().cert), http, "/healthz").await;
    assert_eq!(answer.map(|r| r.status), Some(200), "/healthz through the public CA");
    let cluster_ca = c.lc.ca.as_ref().unwrap().pem().cert.clone();
    assert!(
        get(Some(&cluster_ca), http, "/healthz").await.is_none(),
        "the HTTP listener still serves the node certificate"
    );
    assert!(
        c.lc.status(1, std::time::Duration::from_secs(5)).await.is_some(),
        "the API stopped answering through the cluster CA"
    );
}
