use crate::common::varsel_bin;

/// Runs `varsel` with `args` and `PATH` set to `path`; returns (success, stdout, stderr).
async fn varsel(args: &[&str], path: &str) -> (bool, String, String) {
    let out =
        tokio::process::Command::new(varsel_bin()).args(args).env("PATH", path).kill_on_drop(true).output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out).await.unwrap().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Goal: `varsel voice render` speaks a Norwegian script into a WAV file with espeak-ng, and
/// without espeak-ng says how to install it.
/// Method: the real binary, once with the machine's PATH (espeak-ng must be installed:
/// `apt-get install espeak-ng`; `.ci/run` installs it), once with an empty PATH.
#[tokio::test(flavor = "multi_thread")]
async fn renders_a_wav_or_says_how_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("varsel.wav");
    let script = dir.path().join("script.txt");
    std::fs::write(&script, "Dette er et varsel fra kommunen. Trykk 1 for å bekrefte at du er trygg.")
        .unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let args = [
        "voice",
        "render",
        "--file",
        script.to_str().unwrap(),
        "--language",
        "nb",
        "-o",
        wav.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = varsel(&args, &path).await;
    assert!(ok, "voice render failed (is espeak-ng installed? apt-get install espeak-ng): {stderr}");
    assert!(stdout.contains("s of speech"), "{stdout}");
    let bytes = std::fs::read(&wav).unwrap();
    assert!(bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WAVE", "not a WAV file");
    assert!(bytes.len() > 44 + 22_050, "less than half a second of sound: {} bytes", bytes.len());

    let empty = dir.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let (ok, _, stderr) =
        varsel(&["voice", "render", "--text", "hei", "-o", wav.to_str().unwrap()], empty.to_str().unwrap())
            .await;
    assert!(!ok);
    assert!(
        stderr.contains("espeak-ng is not installed") && stderr.contains("apt-get install espeak-ng"),
        "{stderr}"
    );
}
