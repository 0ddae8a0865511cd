//! A node's `/metrics`, fetched over HTTP and parsed with the Prometheus project's own parser
//! (`tests/observability/prom_parse.py`, run in that folder's Python environment), so tests
//! read samples by name and labels instead of matching text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{TestCluster, python};

fn observability_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/observability")
}

fn parser_script() -> PathBuf {
    observability_dir().join("prom_parse.py")
}

/// The Python with the parser's requirements installed.
pub fn parser_python() -> PathBuf {
    python::ensure_venv(&observability_dir().join("requirements.txt"))
}

/// A metric family as the Prometheus parser returned it.
#[derive(Debug, Clone, Deserialize)]
pub struct Family {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

/// One sample.
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: Option<f64>,
}

/// One node's parsed metrics.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub families: Vec<Family>,
}

impl Scrape {
    /// Sum of the samples named `name` whose labels include `labels` (0 when there are none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels).filter_map(|s| s.value).sum()
    }

    /// The samples named `name` whose labels include `labels`.
    pub fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families.iter().flat_map(|f| f.samples.iter()).filter(move |s| {
            s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the only sample named `name` with `labels`; panics when there is none.
    pub fn one(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.samples(name, labels).collect();
        assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
        found[0].value.expect("a finite value")
    }
}

/// Fetches node `id`'s `/metrics`, checks the content type, and parses it with the Prometheus
/// project's parser.
pub async fn scrape(c: &TestCluster, python: &Path, id: u64) -> Scrape {
    let resp = c.http_get(id, "/metrics").await.expect("/metrics answers");
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(
        resp.content_type.starts_with("text/plain; version=0.0.4"),
        "content type {:?}",
        resp.content_type
    );
    parse(python, &resp.body)
}

/// Parses exposition text with `prom_parse.py`.
pub fn parse(python: &Path, text: &str) -> Scrape {
    let json = python::run_script(python, &parser_script(), &[], text);
    Scrape { families: serde_json::from_str(&json).expect("parser output is JSON") }
}
