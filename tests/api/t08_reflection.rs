use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::TestCluster;
use crate::common::python::ensure_venv;

/// Time allowed for the Python client to connect and list the services.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/api")
}

/// Goal: a client that speaks only gRPC reflection v1alpha (Python's `grpcio-reflection`, as a
/// new user would try it) lists the Varsel services over TLS, instead of getting UNIMPLEMENTED.
/// Method: one real node with TLS; `reflect.py` in a venv made by the test connects with the
/// test CA, lists the services and fetches the file that defines `varsel.v1.ContactService`.
#[tokio::test(flavor = "multi_thread")]
async fn python_reflection_v1alpha_lists_the_services() {
    let python = tokio::task::spawn_blocking(|| ensure_venv(&here().join("requirements.txt"))).await.unwrap();
    let c = TestCluster::start(1, |_| {}).await;
    let ca = c.lc.ca_file.clone().expect("the test cluster runs with TLS");
    let endpoint = c.lc.endpoint(1).unwrap();
    let run = tokio::process::Command::new(&python)
        .arg(here().join("reflect.py"))
        .arg(&endpoint)
        .arg(&ca)
        .arg("varsel.v1.ContactService")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(CLIENT_TIMEOUT, run).await.expect("reflect.py did not finish").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "reflect.py failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let services: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("symbol-file ")).collect();
    for expected in [
        "varsel.v1.TenantService",
        "varsel.v1.ContactService",
        "varsel.v1.AlertService",
        "varsel.v1.AuditService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(&expected), "{expected} not listed: {services:?}");
    }
    assert!(stdout.lines().any(|l| l == "symbol-file api.proto"), "{stdout}");
}
