//! Shared fixtures: the Python SMSC peer as a child process, and GSM-7 / UCS-2
//! helpers that stand in for the real text splitter (another crate).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the peer may take to start (Python import plus listening).
pub const PEER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on any single wait in these tests.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound on a whole test.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The workspace's venv helper (`tests/common/python.rs`), shared by path rather than copied:
/// the smpp crate cannot depend on the node package's test fixtures.
#[path = "../../../tests/common/python.rs"]
pub mod python;

/// The folder of the peer's scripts and pinned requirements. Written relative to the including
/// package's manifest so the node's black-box tests can include this module too (both
/// packages sit side by side in the workspace).
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../smpp/tests/peer")
}

/// The Python that has the peer's requirements installed: a virtual environment made on first
/// use from `tests/peer/requirements.txt` (PyPI must be reachable; a failed install fails the
/// test loudly, never skips it).
pub fn peer_python() -> PathBuf {
    python::ensure_venv(&peer_dir().join("requirements.txt"))
}

/// A free TCP port on loopback (the OS picks; released before use, so a tiny race).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn peer_script() -> PathBuf {
    peer_dir().join("smsc.py")
}

/// The Python SMSC (smpp34's server behind `tests/peer/smsc.py`), killed on drop.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// The port it listens on.
    pub port: u16,
    /// Its JSONL record of submits and messages.
    pub records: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Peer {
    /// Starts a peer on a free port with its own temp dir.
    pub fn start(py: &Path) -> Peer {
        let dir = tempfile::tempdir().expect("temp dir");
        let records = dir.path().join("records.jsonl");
        let mut peer = Peer::spawn(py, free_port(), &records, &[]);
        peer._dir = Some(dir);
        peer
    }

    /// Starts a peer on `port`, appending to `records`, with extra arguments.
    pub fn spawn(py: &Path, port: u16, records: &Path, extra: &[&str]) -> Peer {
        let mut child = Command::new(py)
            .arg(peer_script())
            .args(["--port", &port.to_string(), "--records"])
            .arg(records)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python peer");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = Peer { child, stdin, lines, port, records: records.to_path_buf(), _dir: None };
        peer.expect_line("READY", PEER_START_TIMEOUT);
        peer
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends one command line and waits for its `OK`.
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()).expect("write to peer");
        let cmd = line.split_whitespace().next().unwrap_or_default().to_string();
        self.expect_line(&format!("OK {cmd}"), STEP_TIMEOUT);
    }

    /// Waits for an output line starting with `prefix`; earlier lines are dropped.
    pub fn expect_line(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(e) => panic!("peer printed no line starting with {prefix:?} within {within:?}: {e}"),
            }
        }
    }

    /// All JSON records so far.
    pub fn read_records(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.records).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits until at least `n` records of `kind` exist; returns them.
    pub fn wait_records(&self, kind: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let found: Vec<_> = self.read_records().into_iter().filter(|r| r["kind"] == kind).collect();
            if found.len() >= n {
                return found;
            }
            assert!(Instant::now() < deadline, "only {} {kind} records after {STEP_TIMEOUT:?}", found.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process now (SIGKILL: no unbind, connections just drop).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// GSM 03.38 default alphabet, by septet value.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension table: (character, septet after the escape).
const GSM7_EXTENSION: &[(char, u8)] = &[
    ('\u{c}', 0x0A),
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

/// Encodes text as unpacked GSM-7 septets (extension characters as ESC + septet).
pub fn gsm7_encode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in text.chars() {
        if let Some(i) = GSM7_BASIC.chars().position(|b| b == c) {
            out.push(i as u8);
        } else if let Some((_, s)) = GSM7_EXTENSION.iter().find(|(e, _)| *e == c) {
            out.extend([0x1B, *s]);
        } else {
            panic!("{c:?} is not in the GSM-7 alphabet");
        }
    }
    out
}

/// Splits septets into segments of at most `max`, never between ESC and its character.
pub fn gsm7_segments(septets: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    let mut i = 0;
    while i < septets.len() {
        let unit = if septets[i] == 0x1B { &septets[i..i + 2] } else { &septets[i..i + 1] };
        if current.len() + unit.len() > max {
            segments.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(unit);
        i += unit.len();
    }
    segments.push(current);
    segments
}

/// Encodes text as UTF-16BE and splits it into segments of at most `max` octets,
/// never between the halves of a surrogate pair.
pub fn ucs2_segments(text: &str, max: usize) -> Vec<Vec<u8>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for c in text.chars() {
        let mut units = [0u16; 2];
        let bytes: Vec<u8> = c.encode_utf16(&mut units).iter().flat_map(|u| u.to_be_bytes()).collect();
        if current.len() + bytes.len() > max {
            segments.push(std::mem::take(&mut current));
        }
        current.extend(bytes);
    }
    segments.push(current);
    segments
}
