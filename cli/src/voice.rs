//! `varsel voice render`: a voice script spoken into a WAV file by `espeak-ng`, so an operator
//! hears roughly what recipients will hear before an alert goes out. The voice provider uses
//! its own speech engine; this is a preview of the words and their pace, not of its voice.
//!
//! The script goes to `espeak-ng` on its standard input (never as an argument, so a script
//! cannot be read as an option), and the run is bounded by [`RENDER_TIMEOUT`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

/// Longest script accepted (a spoken minute is about 1,000 characters).
pub const SCRIPT_BYTES_MAX: usize = 20_000;

/// Longest time `espeak-ng` may take.
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

/// The program run; `VARSEL_ESPEAK` may name another path.
pub const ESPEAK: &str = "espeak-ng";

/// Size of the canonical WAV header espeak-ng writes.
const WAV_HEADER_BYTES: u64 = 44;

/// The `voice` commands.
#[derive(Debug, clap::Subcommand)]
pub enum VoiceCommand {
    /// Speak a script into a WAV file with espeak-ng, to preview a voice alert.
    Render(RenderArgs),
}

/// `voice render` options.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("script").required(true).args(["text", "file"])))]
pub struct RenderArgs {
    /// The script to speak.
    #[arg(long)]
    pub text: Option<String>,
    /// A UTF-8 file holding the script.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The script's language, as an espeak-ng voice name (nb, nn, sv, da, en, en-gb, de, …).
    #[arg(long, default_value = "nb")]
    pub language: String,
    /// Speaking rate in words per minute (80-450).
    #[arg(long, default_value_t = 160)]
    pub words_per_minute: u32,
    /// The WAV file to write.
    #[arg(long, short = 'o', default_value = "voice.wav")]
    pub out: PathBuf,
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// A bad option value.
    #[error("{0}")]
    Input(String),
    /// The script file could not be read.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// espeak-ng is not there.
    #[error(
        "{0} is not installed (or not on PATH). Install it with `apt-get install espeak-ng` (Debian, Ubuntu) \
         or `dnf install espeak-ng` (Fedora), or name the program with VARSEL_ESPEAK"
    )]
    NotInstalled(String),
    /// espeak-ng ran and failed.
    #[error("espeak-ng failed: {0}")]
    Failed(String),
}

/// Runs a `voice` command.
pub async fn run(command: VoiceCommand) -> Result<(), VoiceError> {
    match command {
        VoiceCommand::Render(args) => {
            let script = script(&args)?;
            let program = std::env::var("VARSEL_ESPEAK").unwrap_or_else(|_| ESPEAK.to_string());
            render(&program, &script, &args.language, args.words_per_minute, &args.out).await?;
            let seconds = wav_seconds(&args.out).unwrap_or(0.0);
            println!("wrote {} ({seconds:.1} s of speech, language {})", args.out.display(), args.language);
            Ok(())
        }
    }
}

fn script(args: &RenderArgs) -> Result<String, VoiceError> {
    let text = match (&args.text, &args.file) {
        (Some(t), _) => t.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| VoiceError::File { path: path.clone(), message: e.to_string() })?,
        (None, None) => return Err(VoiceError::Input("give the script with --text or --file".into())),
    };
    if text.trim().is_empty() {
        return Err(VoiceError::Input("the script is empty".into()));
    }
    if text.len() > SCRIPT_BYTES_MAX {
        return Err(VoiceError::Input(format!(
            "the script is {} bytes; at most {SCRIPT_BYTES_MAX}",
            text.len()
        )));
    }
    Ok(text)
}

/// Whether `language` can be an espeak-ng voice name (and cannot be read as an option).
fn valid_language(language: &str) -> bool {
    let mut chars = language.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && language.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+'))
}

/// Speaks `script` into the WAV file `out` with `program` (espeak-ng).
pub async fn render(
    program: &str,
    script: &str,
    language: &str,
    wpm: u32,
    out: &Path,
) -> Result<(), VoiceError> {
    if !valid_language(language) {
        return Err(VoiceError::Input(format!(
            "--language {language:?} is not a voice name such as nb or en-gb"
        )));
    }
    if !(80..=450).contains(&wpm) {
        return Err(VoiceError::Input(format!("--words-per-minute {wpm} is outside 80-450")));
    }
    let mut child = tokio::process::Command::new(program)
        .args(["-v", language, "-s", &wpm.to_string(), "-w"])
        .arg(out)
        .arg("--stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VoiceError::NotInstalled(program.to_string()),
            _ => VoiceError::Failed(format!("cannot run {program}: {e}")),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await.map_err(|e| VoiceError::Failed(e.to_string()))?;
        // Dropping stdin closes it: espeak-ng reads to the end.
    }
    let output = tokio::time::timeout(RENDER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| VoiceError::Failed(format!("did not finish within {RENDER_TIMEOUT:?}")))?
        .map_err(|e| VoiceError::Failed(e.to_string()))?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    // espeak-ng reports an unknown voice on stderr, sometimes with exit status 0.
    if !output.status.success() || stderr.contains("Failed to read voice") {
        return Err(VoiceError::Failed(format!("{} ({})", stderr, output.status)));
    }
    match wav_seconds(out) {
        Some(s) if s > 0.0 => Ok(()),
        _ => Err(VoiceError::Failed(format!("{} is not a WAV file with sound: {stderr}", out.display()))),
    }
}

/// The length of a PCM WAV file in seconds, from its header; none if it is not one.
pub fn wav_seconds(path: &Path) -> Option<f64> {
    use std::io::Read as _;
    let mut header = [0u8; WAV_HEADER_BYTES as usize];
    let mut file = std::fs::File::open(path).ok()?;
    file.read_exact(&mut header).ok()?;
    if &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return None;
    }
    let byte_rate = u32::from_le_bytes([header[28], header[29], header[30], header[31]]);
    let len = file.metadata().ok()?.len();
    (byte_rate > 0).then(|| len.saturating_sub(WAV_HEADER_BYTES) as f64 / f64::from(byte_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: option values that could be misread are refused before anything runs, and a
    /// missing program is reported with how to install it.
    #[tokio::test]
    async fn refusals() {
        let out = std::env::temp_dir().join("varsel-voice-unit.wav");
        for bad in ["-x", "", "nb no", &"a".repeat(33)] {
            assert!(
                matches!(render(ESPEAK, "hei", bad, 160, &out).await, Err(VoiceError::Input(_))),
                "{bad:?}"
            );
        }
        let missing = render("/nonexistent/espeak-ng", "hei", "nb", 160, &out).await;
        let text = missing.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("apt-get install espeak-ng"), "{text}");
    }
}
