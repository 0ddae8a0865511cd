use std::collections::BTreeSet;
use std::path::Path;

use crate::common::metrics::scrape;
use crate::common::{SETTLE, TestCluster, python};
use crate::fixtures::{here, peers_python};

/// Goal: the sample alerting rules shipped in `deploy/prometheus/` are a valid Prometheus rules
/// file whose expressions parse as PromQL and name only metrics a node really exports, so the
/// file cannot rot as metrics are renamed.
/// Method: start one node, scrape it, collect every sample name it can export (families without
/// samples yet included, with their suffixes), and run `check_rules.py` (PyYAML for the structure,
/// promql-parser for the expressions) on the file with those names.
#[tokio::test(flavor = "multi_thread")]
async fn sample_alert_rules_are_valid_and_name_real_metrics() {
    let python_bin = peers_python();
    let mut c = TestCluster::configure(1, |_| {});
    c.lc.start_all().unwrap();
    c.lc.wait_ready(1, SETTLE).await.unwrap();
    let s = scrape(&c, &python_bin, 1).await;
    let mut names = BTreeSet::new();
    for f in &s.families {
        names.extend(f.samples.iter().map(|x| x.name.clone()));
        match f.kind.as_str() {
            "counter" => {
                names.insert(format!("{}_total", f.name));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{}{suffix}", f.name));
                }
            }
            _ => {
                names.insert(f.name.clone());
            }
        }
    }
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/varsel-alerts.yml");
    let names: Vec<String> = names.into_iter().collect();
    let out = python::run_script(
        &python_bin,
        &here().join("check_rules.py"),
        &[rules.to_str().unwrap()],
        &(names.join("\n") + "\n"),
    );
    assert!(out.starts_with("ok "), "{out}");
}
