//! A Python virtual environment with PyPI `shapely` and `geopy` (`tests/python/requirements.txt`),
//! made by the test on first use under the cargo target directory (`<target>/varsel-py/geo-<hash>`)
//! and reused afterwards.
//!
//! It is built in a directory of its own and renamed into place when complete, so concurrent
//! tests never see half an environment and need no lock: the loser of a race removes its copy.
//! `VARSEL_PYTHON` names the interpreter that creates it (default `python3`). The same scheme as
//! `cap/tests/common/python.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn requirements() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("python").join("requirements.txt")
}

/// The script that answers containment and distance questions with shapely and geopy.
pub fn check_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("python").join("check.py")
}

/// FNV-1a, 64 bits: stable across Rust versions, for the directory name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The `python` of the environment; creates it on first use (needs PyPI).
pub fn python() -> PathBuf {
    let reqs = std::fs::read_to_string(requirements()).expect("tests/python/requirements.txt");
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let root = target_tmp.parent().unwrap_or(target_tmp).join("varsel-py");
    let dir = root.join(format!("geo-{:016x}", fnv1a(reqs.as_bytes())));
    let python = dir.join("bin").join("python");
    if python.exists() {
        return python;
    }
    std::fs::create_dir_all(&root).expect("create the venv root");
    let building =
        root.join(format!("geo-building-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&building);
    let base = std::env::var("VARSEL_PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&base).arg("-m").arg("venv").arg(&building), "create a Python virtual environment");
    let new_python = building.join("bin").join("python");
    let pip = ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"];
    run(Command::new(&new_python).args(pip).arg("-r").arg(requirements()), "install shapely and geopy");
    if std::fs::rename(&building, &dir).is_err() {
        // Another test finished first; use its environment.
        let _ = std::fs::remove_dir_all(&building);
    }
    python
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot {what}: cannot run {cmd:?}: {e} (these tests need python3 with venv)")
    });
    assert!(
        out.status.success(),
        "cannot {what}: {cmd:?} failed ({}); these tests need PyPI reachable.\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the check script with `input` on standard input; its output lines, or a panic with
/// its complaint.
pub fn check(input: &str) -> Vec<String> {
    use std::io::Write as _;
    let python = python();
    let mut child = Command::new(&python)
        .arg(check_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let mut stdin = child.stdin.take().expect("child stdin");
    let data = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(data.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for python");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "check.py failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}
