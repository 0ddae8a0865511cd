use std::path::Path;
use std::time::Duration;

use crate::common::TestCluster;
use crate::common::python::ensure_venv;

/// Longest a third-party checker may run before the test fails.
const CHECKER_TIMEOUT: Duration = Duration::from_secs(600);

/// Examples schemathesis generates per operation and phase: enough to reach every parameter's
/// edge cases, bounded for a two-core CI machine.
const SCHEMATHESIS_EXAMPLES: &str = "8";

/// Runs `program args` in `cwd` (the checkers write caches there) and returns (success,
/// stdout + stderr), killed after `CHECKER_TIMEOUT`.
async fn run(program: &Path, args: &[&str], cwd: &Path) -> (bool, String) {
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(CHECKER_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("{} did not finish in {CHECKER_TIMEOUT:?}", program.display()))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Goal: the OpenAPI document is valid OpenAPI 3.1 by an independent validator, and the API
/// keeps to it under generated input: no 5xx, every answer's status, content type, headers and
/// body as the document says.
/// Method: three nodes with TLS; PyPI `openapi-spec-validator` checks the served document;
/// PyPI `schemathesis` runs every operation against node 2 with a tenant admin's token, a
/// bounded number of examples each, with its conformance checks.
#[tokio::test(flavor = "multi_thread")]
async fn document_is_valid_and_the_api_keeps_to_it() {
    let c = TestCluster::start(3, |_| {}).await;
    let sa = c.superadmin();
    let tenant = c.rest(1, "POST", "/api/v1/tenants", Some(&sa), &[], r#"{"name":"fuzz"}"#).await.json();
    let tenant = tenant["tenant"]["id"].as_u64().unwrap();
    let creds = format!("/api/v1/tenants/{tenant}/credentials");
    let admin = c.rest(1, "POST", &creds, Some(&sa), &[], r#"{"name":"fuzz","role":"admin"}"#).await.json();
    let admin = admin["token"].as_str().unwrap().to_string();
    let contact = r#"{"external_id":"k1","phone":"+4791100001","groups":["alle"]}"#;
    assert_eq!(c.rest(1, "POST", "/api/v1/contacts", Some(&admin), &[], contact).await.status, 201);

    let dir = tempfile::tempdir().unwrap();
    let doc = c.rest(2, "GET", "/api/v1/openapi.json", None, &[], "").await;
    let doc_path = dir.path().join("openapi.json");
    std::fs::write(&doc_path, &doc.body).unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, c.ca_pem().unwrap()).unwrap();

    let python = ensure_venv(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/rest/requirements.txt"));
    let bin = python.parent().unwrap();
    let (valid, out) =
        run(&bin.join("openapi-spec-validator"), &[doc_path.to_str().unwrap()], dir.path()).await;
    assert!(valid, "openapi-spec-validator refused the document:\n{out}");

    let http = c.lc.node(2).unwrap().http().unwrap();
    let base = format!("https://{http}");
    let auth = format!("Authorization: Bearer {admin}");
    let args = [
        "run",
        doc_path.to_str().unwrap(),
        "--url",
        &base,
        "--header",
        &auth,
        "--tls-verify",
        ca_path.to_str().unwrap(),
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
        "--max-examples",
        SCHEMATHESIS_EXAMPLES,
        "--seed",
        "16",
        "--request-timeout",
        "30",
        // One worker: runs with two once failed inside schemathesis itself (a KeyError in its
        // shared generation cache), not in anything the API answered.
        "--workers",
        "1",
        "--no-color",
        // Nothing kept between runs (it would land in the working directory).
        "--generation-database",
        "none",
    ];
    let (ok, out) = run(&bin.join("schemathesis"), &args, dir.path()).await;
    println!("{out}");
    assert!(ok, "schemathesis found failures:\n{out}");
}
