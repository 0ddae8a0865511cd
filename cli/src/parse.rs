//! Conversions from command-line text to protocol values: channels, durations, the escalation
//! policy, template variables, times, content files and idempotency keys.
//!
//! Every error names the option and the value and says what is expected. The server checks
//! everything again (these checks only catch typos before a round trip); bounds that are the
//! server's business (number of steps, variables, languages) are left to it, so its message
//! is the one the user sees.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use varsel_proto::api::{self as pb, ChannelContent, Content, EscalationStep};

use crate::error::CliError;

/// Largest content or template file read. A request over 1 MiB is refused by the cluster
/// (Raft entries are bounded), so a larger file could never be sent anyway.
pub const CONTENT_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Longest duration accepted anywhere (`--send-at +…`, policy steps): ten years, far beyond
/// what the server allows, only to keep the arithmetic from overflowing.
const DURATION_SECS_MAX: u64 = 10 * 366 * 24 * 3600;

/// A channel by name (`sms`, `voice`, `email`, `push`; any case).
pub fn channel(s: &str) -> Result<pb::Channel, CliError> {
    let c: varsel_domain::Channel = s.parse().map_err(|e| CliError::input(format!("{e}")))?;
    Ok(match c {
        varsel_domain::Channel::Sms => pb::Channel::Sms,
        varsel_domain::Channel::Voice => pb::Channel::Voice,
        varsel_domain::Channel::Email => pb::Channel::Email,
        varsel_domain::Channel::Push => pb::Channel::Push,
    })
}

/// A comma-separated list of channels (`sms,voice`), as wire values; empty gives none.
pub fn channel_list(s: &str) -> Result<Vec<i32>, CliError> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(|p| channel(p).map(|c| c as i32)).collect()
}

/// A duration in seconds: `300`, `300s`, `5m`, `1h30m`, `2d`.
pub fn duration_secs(s: &str) -> Result<u64, CliError> {
    let bad = || CliError::input(format!("duration {s:?}: expected seconds or e.g. 90s, 5m, 1h30m, 2d"));
    let text = s.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = text.parse::<u64>() {
        return if n <= DURATION_SECS_MAX { Ok(n) } else { Err(bad()) };
    }
    let (mut total, mut number) = (0u64, None::<u64>);
    for ch in text.chars() {
        if let Some(d) = ch.to_digit(10) {
            let n = number.unwrap_or(0).checked_mul(10).and_then(|n| n.checked_add(u64::from(d)));
            number = Some(n.filter(|n| *n <= DURATION_SECS_MAX).ok_or_else(bad)?);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        total = total.saturating_add(number.take().ok_or_else(bad)?.saturating_mul(unit));
    }
    if number.is_some() || total > DURATION_SECS_MAX {
        return Err(bad());
    }
    Ok(total)
}

/// The escalation policy: steps separated by `;`, each `channels@delay` with the channels
/// comma-separated and the delay after the alert starts (seconds, or `5m`). `@0` may be left
/// out. Example: `sms,push@0;voice@300;email@10m`.
pub fn policy(s: &str) -> Result<Vec<EscalationStep>, CliError> {
    let mut steps = Vec::new();
    for (i, step) in s.split(';').map(str::trim).enumerate() {
        if step.is_empty() {
            continue;
        }
        let ctx = |m: String| CliError::input(format!("--policy step {} ({step:?}): {m}", i + 1));
        let (names, after) = step.split_once('@').unwrap_or((step, "0"));
        let channels = channel_list(names).map_err(|e| ctx(e.to_string()))?;
        if channels.is_empty() {
            return Err(ctx("names no channel; expected e.g. sms,push@0".into()));
        }
        let secs = duration_secs(after).map_err(|e| ctx(e.to_string()))?;
        let after_seconds = u32::try_from(secs).map_err(|_| ctx("delay too large".into()))?;
        steps.push(EscalationStep { channels, after_seconds });
    }
    if steps.is_empty() {
        return Err(CliError::input(format!(
            "--policy {s:?}: no steps; expected e.g. \"sms,push@0;voice@300\""
        )));
    }
    Ok(steps)
}

/// One `--var key=value` (the value may hold `=`); used as a clap value parser.
pub fn var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?}: expected key=value")),
    }
}

/// The variables as a map; a key given twice is an error rather than a silent overwrite.
pub fn variables(vars: &[(String, String)]) -> Result<HashMap<String, String>, CliError> {
    let mut map = HashMap::with_capacity(vars.len());
    for (k, v) in vars {
        if map.insert(k.clone(), v.clone()).is_some() {
            return Err(CliError::input(format!("--var {k}: given twice")));
        }
    }
    Ok(map)
}

/// A point in time for `option`: RFC 3339 (`2026-12-01T08:00:00+01:00`) or relative to `now_ms`
/// (`+10m`, `+1h30m`). Relative times use this machine's clock; the server's may differ a little.
pub fn when(option: &str, s: &str, now_ms: u64) -> Result<u64, CliError> {
    let text = s.trim();
    if let Some(rel) = text.strip_prefix('+') {
        let secs = duration_secs(rel).map_err(|e| CliError::input(format!("{option}: {e}")))?;
        return Ok(now_ms.saturating_add(secs.saturating_mul(1000)));
    }
    let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
        CliError::input(format!(
            "{option} {s:?}: {e}; expected RFC 3339 like 2026-12-01T08:00:00Z, or +10m from now"
        ))
    })?;
    u64::try_from(t.timestamp_millis()).map_err(|_| CliError::input(format!("{option} {s:?}: before 1970")))
}

/// A new idempotency key: 128 random bits written as a version-4 UUID, which is what
/// integrators' own keys usually look like.
pub fn new_idempotency_key() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// A content or template file: what every channel says, per language. TOML or JSON by the
/// file's extension; unknown fields are errors, so a misspelt `sms_txt` is not ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentFile {
    /// Language for recipients whose language has no variant; may be left out when there is
    /// only one variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_language: Option<String>,
    /// Variants by language tag.
    pub variants: BTreeMap<String, VariantFile>,
}

/// One language's texts; absent fields are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct VariantFile {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sms_text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email_subject: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email_text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email_html: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub voice_script: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub push_title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub push_body: String,
}

impl From<VariantFile> for ChannelContent {
    fn from(v: VariantFile) -> Self {
        ChannelContent {
            sms_text: v.sms_text,
            email_subject: v.email_subject,
            email_text: v.email_text,
            email_html: v.email_html,
            voice_script: v.voice_script,
            push_title: v.push_title,
            push_body: v.push_body,
        }
    }
}

impl From<ChannelContent> for VariantFile {
    fn from(v: ChannelContent) -> Self {
        VariantFile {
            sms_text: v.sms_text,
            email_subject: v.email_subject,
            email_text: v.email_text,
            email_html: v.email_html,
            voice_script: v.voice_script,
            push_title: v.push_title,
            push_body: v.push_body,
        }
    }
}

impl ContentFile {
    /// The protocol's content; fails when the default language cannot be inferred.
    pub fn into_content(self) -> Result<Content, String> {
        let default_language = match (self.default_language, self.variants.len()) {
            (Some(l), _) => l,
            (None, 1) => self.variants.keys().next().cloned().unwrap_or_default(),
            (None, 0) => return Err("variants: at least one language is required".into()),
            (None, _) => return Err("default_language: is required when there are several variants".into()),
        };
        let variants = self.variants.into_iter().map(|(l, v)| (l, v.into())).collect();
        Ok(Content { default_language, variants })
    }

    /// The file form of protocol content (for `template get`).
    pub fn from_content(c: Content) -> Self {
        let variants = c.variants.into_iter().map(|(l, v)| (l, v.into())).collect();
        ContentFile { default_language: Some(c.default_language), variants }
    }
}

/// Parses content text; `toml` chooses the format.
pub fn content_from_str(text: &str, toml: bool) -> Result<Content, String> {
    let file: ContentFile = if toml {
        toml::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    };
    file.into_content()
}

/// Reads a content file (`.toml` or `.json`).
pub fn content_file(path: &Path) -> Result<Content, CliError> {
    let toml = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("toml") => true,
        Some("json") => false,
        _ => return Err(CliError::file(path, "a content file ends in .toml or .json")),
    };
    let text = read_bounded(path, CONTENT_FILE_BYTES_MAX)?;
    content_from_str(&text, toml).map_err(|e| CliError::file(path, e))
}

/// Reads a small text file whole, refusing one over `max_bytes` before reading it.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<String, CliError> {
    let len = std::fs::metadata(path).map_err(|e| CliError::file(path, e))?.len();
    if len > max_bytes {
        return Err(CliError::file(path, format!("is {len} bytes; at most {max_bytes} are accepted")));
    }
    std::fs::read_to_string(path).map_err(|e| CliError::file(path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: the policy syntax of the docs, with its shorthands and its errors.
    /// Method: the documented example, an omitted `@0`, minutes, spaces; then bad steps.
    #[test]
    fn policy_strings() {
        let p = policy("sms,push@0;voice@300;email@10m").unwrap();
        let want = [
            (vec![pb::Channel::Sms as i32, pb::Channel::Push as i32], 0),
            (vec![pb::Channel::Voice as i32], 300),
            (vec![pb::Channel::Email as i32], 600),
        ];
        let got: Vec<_> = p.iter().map(|s| (s.channels.clone(), s.after_seconds)).collect();
        assert_eq!(got, want);
        assert_eq!(policy(" SMS ; voice @ 5m ;").unwrap()[1].after_seconds, 300);
        assert_eq!(policy("push").unwrap()[0].after_seconds, 0);
        for (bad, needle) in
            [("fax@0", "step 1"), ("sms@0;voice@soon", "step 2"), ("@5", "no channel"), (";", "no steps")]
        {
            let e = policy(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    /// Goal: durations in every accepted form, and the malformed ones refused.
    /// Method: a table of inputs and outputs.
    #[test]
    fn durations() {
        for (s, secs) in [("0", 0), ("300", 300), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2d", 172_800)]
        {
            assert_eq!(duration_secs(s).unwrap(), secs, "{s}");
        }
        for s in ["", "m", "5x", "1h30", "-5", "99999999999999999999d"] {
            assert!(duration_secs(s).is_err(), "{s}");
        }
    }

    /// Goal: `--var k=v` keeps `=` in values and refuses keyless or repeated keys.
    /// Method: parse several, build the map, repeat a key.
    #[test]
    fn vars() {
        assert_eq!(var("url=https://x/?a=b").unwrap(), ("url".into(), "https://x/?a=b".into()));
        assert_eq!(var("empty=").unwrap(), ("empty".into(), String::new()));
        assert!(var("novalue").is_err() && var("=v").is_err());
        let ok = variables(&[var("a=1").unwrap(), var("b=2").unwrap()]).unwrap();
        assert_eq!(ok.get("b").map(String::as_str), Some("2"));
        assert!(
            variables(&[var("a=1").unwrap(), var("a=2").unwrap()]).unwrap_err().to_string().contains("twice")
        );
    }

    /// Goal: `--send-at` takes RFC 3339 with any offset and `+duration` from now.
    /// Method: fixed `now`, a UTC and an offset time of the same instant, relative times, garbage.
    #[test]
    fn times() {
        let now = 1_800_000_000_000;
        assert_eq!(when("--send-at", "+10m", now).unwrap(), now + 600_000);
        assert_eq!(when("--send-at", "+0", now).unwrap(), now);
        let utc = when("--send-at", "2026-12-01T07:00:00Z", now).unwrap();
        assert_eq!(when("--send-at", "2026-12-01T08:00:00+01:00", now).unwrap(), utc);
        assert_eq!(utc, 1_796_108_400_000);
        let e = when("--expires-at", "tomorrow", now).unwrap_err().to_string();
        assert!(e.contains("--expires-at") && e.contains("RFC 3339"), "{e}");
        assert!(when("--send-at", "1969-12-31T23:59:59Z", now).is_err());
    }

    /// Goal: the same content file reads the same from TOML and JSON; mistakes are named.
    /// Method: parse both forms; a single variant without default_language; a misspelt field.
    #[test]
    fn content_files() {
        let toml = "default_language = \"nb\"\n[variants.nb]\nsms_text = \"Hei {{name}}\"\n\
                    [variants.en]\nsms_text = \"Hi\"\npush_title = \"Alert\"\n";
        let json = r#"{"default_language":"nb","variants":{"nb":{"sms_text":"Hei {{name}}"},
                       "en":{"sms_text":"Hi","push_title":"Alert"}}}"#;
        let a = content_from_str(toml, true).unwrap();
        assert_eq!(a, content_from_str(json, false).unwrap());
        assert_eq!(a.variants["en"].push_title, "Alert");
        let one = content_from_str("[variants.en]\nvoice_script = \"x\"\n", true).unwrap();
        assert_eq!(one.default_language, "en");
        assert!(content_from_str("[variants.en]\nsms_txt = \"x\"\n", true).unwrap_err().contains("sms_txt"));
        let two = "[variants.en]\nsms_text = \"x\"\n[variants.nb]\nsms_text = \"y\"\n";
        assert!(content_from_str(two, true).unwrap_err().contains("default_language"));
        let back = toml::to_string(&ContentFile::from_content(a.clone())).unwrap();
        assert_eq!(content_from_str(&back, true).unwrap(), a);
    }

    /// Goal: generated idempotency keys look like v4 UUIDs and differ.
    /// Method: shape of one key, inequality of two.
    #[test]
    fn idempotency_keys() {
        let k = new_idempotency_key();
        let parts: Vec<usize> = k.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&k[14..15], "4");
        assert_ne!(k, new_idempotency_key());
    }
}
