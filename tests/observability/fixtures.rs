//! Fixtures of the observability tests: the OTLP receiver process, resident memory. Metrics are
//! scraped with `crate::common::metrics`.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// This folder (scripts and requirements).
pub fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/observability")
}

/// The Python with this folder's requirements installed (the OTLP receiver's and the metrics
/// parser's: one environment).
pub fn peers_python() -> PathBuf {
    crate::common::metrics::parser_python()
}

/// One span as the receiver decoded it.
#[derive(Debug, Clone, Deserialize)]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    pub kind: i64,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub resource: serde_json::Map<String, serde_json::Value>,
}

impl SpanRecord {
    /// A resource attribute as text.
    pub fn res(&self, key: &str) -> Option<&str> {
        self.resource.get(key).and_then(|v| v.as_str())
    }

    /// The node that sent it (`service.instance.id`).
    pub fn node(&self) -> Option<u64> {
        self.res("service.instance.id").and_then(|s| s.parse().ok())
    }
}

/// The OTLP/gRPC receiver of `otlp_receiver.py`, killed on drop.
pub struct OtlpReceiver {
    child: Child,
    pub port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

/// Time the receiver gets to start listening (Python imports grpc and protobuf first).
const RECEIVER_START_TIMEOUT: Duration = Duration::from_secs(60);

impl OtlpReceiver {
    /// Starts the receiver on an OS-chosen port.
    pub fn start(python: &Path) -> Self {
        let dir = tempfile::Builder::new().prefix("varsel-otlp-").tempdir().unwrap();
        let out = dir.path().join("spans.jsonl");
        let mut child = Command::new(python)
            .arg(here().join("otlp_receiver.py"))
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the OTLP receiver");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(RECEIVER_START_TIMEOUT).expect("the OTLP receiver did not start");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the receiver: {line:?}"));
        Self { child, port, out, _dir: dir }
    }

    /// The endpoint to give the nodes.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<SpanRecord> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        // The last line may be half-written while we read.
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits until `done` holds for the spans received, and returns them.
    pub async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&[SpanRecord]) -> bool,
    ) -> Vec<SpanRecord> {
        let deadline = Instant::now() + within;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            if Instant::now() >= deadline {
                let names: Vec<String> =
                    spans.iter().map(|s| format!("{}@{:?} {}", s.name, s.node(), &s.trace_id[..8])).collect();
                panic!("receiver: {what} not seen within {within:?}; got {} spans: {names:?}", spans.len());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of process `pid` in bytes, from /proc.
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib * 1024
}
