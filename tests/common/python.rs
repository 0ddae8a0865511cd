//! Python peers for the black-box tests (OTLP receiver, Prometheus parser, SMPP centre, SMTP
//! server, Web Push decryption, ...): a virtual environment per requirements file, made on first
//! use under the cargo target directory and reused afterwards.
//!
//! `ensure_venv(requirements)` returns the environment's `python`. The first caller creates it
//! with `python3 -m venv` and `pip install -r requirements` (PyPI must be reachable); concurrent
//! callers, in this test binary or another, wait on a file lock instead of racing. A failed
//! install panics with pip's output: a test that needs a peer never passes without it.
//!
//! `VARSEL_PYTHON` names the interpreter that creates environments (default `python3`).

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Time allowed for creating an environment and installing its packages.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Name of the file that marks a complete environment (it holds the requirements it was made
/// from).
const COMPLETE_MARKER: &str = ".varsel-complete";

/// Where environments live: `<target>/varsel-py/`.
///
/// Cargo tells integration tests where `<target>/tmp` is; examples and benchmarks built with
/// this helper (e.g. `smpp_bench`) are not told, so they find the target directory above their
/// own executable by the `CACHEDIR.TAG` cargo keeps at its root, and share the same
/// environments.
pub fn venv_root() -> PathBuf {
    if let Some(tmp) = option_env!("CARGO_TARGET_TMPDIR") {
        let tmp = Path::new(tmp);
        return tmp.parent().unwrap_or(tmp).join("varsel-py");
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file());
    target.map_or_else(|| std::env::temp_dir().join("varsel-py"), |t| t.join("varsel-py"))
}

/// The `python` of an environment holding the packages `requirements` pins; creates it on first
/// use. Blocks (up to [`INSTALL_TIMEOUT`]) while another process creates it.
pub fn ensure_venv(requirements: &Path) -> PathBuf {
    let text = std::fs::read_to_string(requirements)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", requirements.display()));
    let label = requirements.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("peers");
    let root = venv_root();
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    // One environment per requirements text: changing a pin makes a new one.
    let dir = root.join(format!("{label}-{:016x}", fnv1a(text.as_bytes())));
    let python = dir.join("bin").join("python");
    if is_complete(&dir, &text) {
        return python;
    }
    let _lock = lock(&root.join(format!("{label}.lock")));
    if !is_complete(&dir, &text) {
        create(&dir, requirements);
        std::fs::write(dir.join(COMPLETE_MARKER), &text)
            .unwrap_or_else(|e| panic!("cannot mark {} complete: {e}", dir.display()));
    }
    python
}

fn is_complete(dir: &Path, requirements: &str) -> bool {
    std::fs::read_to_string(dir.join(COMPLETE_MARKER)).is_ok_and(|t| t == requirements)
}

fn create(dir: &Path, requirements: &Path) {
    if dir.exists() {
        // A previous attempt died half-way.
        std::fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("cannot remove {}: {e}", dir.display()));
    }
    let base = std::env::var("VARSEL_PYTHON").unwrap_or_else(|_| "python3".into());
    let deadline = Instant::now() + INSTALL_TIMEOUT;
    run(Command::new(&base).arg("-m").arg("venv").arg(dir), deadline, "create a Python virtual environment");
    let python = dir.join("bin").join("python");
    let mut pip = Command::new(&python);
    pip.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q", "-r"])
        .arg(requirements);
    run(&mut pip, deadline, "install the Python test peers from PyPI");
}

/// Runs `cmd` to completion before `deadline`; panics with its output when it fails.
fn run(cmd: &mut Command, deadline: Instant, what: &str) {
    let out = tempfile::tempfile().expect("temporary file for a child's output");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone of a file handle"))
        .stderr(out.try_clone().expect("clone of a file handle"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot {what}: cannot run {cmd:?}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child process") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("cannot {what}: {cmd:?} did not finish within {INSTALL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        let mut text = String::new();
        let mut out = out;
        use std::io::Seek as _;
        let _ = out.seek(std::io::SeekFrom::Start(0));
        let _ = out.read_to_string(&mut text);
        panic!(
            "cannot {what}: {cmd:?} failed ({status}). These tests need PyPI (pip) and python3 with the \
             venv module.\n{text}"
        );
    }
}

/// An exclusive lock on `path`, held until the file is dropped (or the process dies).
fn lock(path: &Path) -> File {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open lock file {}: {e}", path.display()));
    use std::os::fd::AsRawFd as _;
    #[allow(unsafe_code)]
    // SAFETY: flock(2) on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "cannot lock {}: {}", path.display(), std::io::Error::last_os_error());
    file
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust versions, for directory names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Runs `script` with `python`, feeding `stdin`; returns stdout, panics with stderr on failure.
pub fn run_script(python: &Path, script: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let mut input = child.stdin.take().expect("child stdin");
    let data = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(data.as_bytes());
    });
    let out = child.wait_with_output().expect("waiting for a Python script");
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{stdout}\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
