//! The `varsel-sim` binary, as the chaos harness runs it.

use std::{process::Stdio, time::Duration};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use varsel_sim::SimClient;

/// Goal: the binary loads a TOML config, listens on an OS-chosen port, prints
/// `READY <addr>` on stdout, serves the configured providers with the configured seed, and
/// exits on SIGTERM-like kill. Method: spawn it with a generated config in a temp dir.
#[tokio::test]
async fn binary_prints_ready_and_serves() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sim.toml");
    let toml = "seed = 1234\n\n[[providers]]\nname = \"voice\"\nchannel = \"voice\"\nlatency_ms = 5\n";
    std::fs::write(&path, toml)?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_varsel-sim"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await??.unwrap_or_default();
    let Some(addr) = line.strip_prefix("READY ") else { bail!("expected READY, got {line:?}") };
    let client = SimClient::new(addr.parse()?);
    let stats = client.stats().await?;
    assert_eq!(stats.seed, 1234);
    assert_eq!(stats.providers.keys().collect::<Vec<_>>(), vec!["voice"]);
    assert!(client.healthy("voice").await?);
    child.start_kill()?;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await??;
    assert!(!status.success() || status.code() == Some(0));
    Ok(())
}

/// Goal: a bad configuration stops the binary with a message naming the field.
#[tokio::test]
async fn binary_rejects_a_bad_config() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, "[[providers]]\nname = \"sms\"\nreply_rate = 3.0\n")?;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_varsel-sim"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .await?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("providers[0].reply_rate"), "{stderr}");
    Ok(())
}
