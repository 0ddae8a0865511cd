//! Secrets: read from a file or an environment variable named in the configuration, never
//! written in the configuration itself; and new ones made.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// Longest secret file read; a secret is a password or a key, not a document.
pub const SECRET_FILE_BYTES_MAX: u64 = 64 * 1024;

/// Where a secret comes from. Exactly one of the two is set (checked by [`check_source`]).
#[derive(Debug, Clone, Copy)]
pub struct SecretSource<'a> {
    /// A file holding the secret; surrounding whitespace (a trailing newline) is trimmed.
    pub file: Option<&'a Path>,
    /// The name of an environment variable holding the secret.
    pub env: Option<&'a str>,
}

/// Checks that exactly one source is named, and that an environment variable's name cannot be
/// mistaken for a configuration override (`VARSEL_*` variables are parsed as configuration
/// fields, see [`crate::ENV_PREFIX`]).
pub fn check_source(field: &str, source: SecretSource<'_>) -> Result<(), ConfigError> {
    let invalid = |rule: String| Err(ConfigError::invalid(field.to_string(), rule));
    match (source.file, source.env) {
        (Some(_), Some(_)) => invalid("set either password_file or password_env, not both".into()),
        (None, None) => invalid("needs password_file or password_env (secrets are never inline)".into()),
        (Some(f), None) if f.as_os_str().is_empty() => invalid("password_file must not be empty".into()),
        (None, Some(e)) if e.is_empty() || e.starts_with(crate::ENV_PREFIX) => invalid(format!(
            "password_env must name a variable that does not start with {} (those configure the node), got {e:?}",
            crate::ENV_PREFIX
        )),
        _ => Ok(()),
    }
}

/// A new random secret: 32 bytes from the operating system's generator, as 64 hex digits (for
/// tokens, webhook keys and the local cluster's superadmin token).
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Reads the secret. The error names the field and the file or variable, never the value.
pub fn read_secret(field: &str, source: SecretSource<'_>) -> Result<String, ConfigError> {
    check_source(field, source)?;
    let raw = match (source.file, source.env) {
        (Some(path), _) => read_file(path)?,
        (_, Some(var)) => std::env::var(var).map_err(|e| {
            ConfigError::invalid(field.to_string(), format!("environment variable {var} is not usable: {e}"))
        })?,
        (None, None) => String::new(),
    };
    let secret = raw.trim().to_string();
    if secret.is_empty() {
        let rule = "the secret is empty".to_string();
        return Err(ConfigError::invalid(field.to_string(), rule));
    }
    Ok(secret)
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    let read_err = |e| ConfigError::Read { path: PathBuf::from(path), source: e };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > SECRET_FILE_BYTES_MAX {
        let e = std::io::Error::other(format!("larger than {SECRET_FILE_BYTES_MAX} bytes"));
        return Err(read_err(e));
    }
    std::fs::read_to_string(path).map_err(read_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a secret is read from a file or a variable, trimmed, and a bad source is named.
    /// Method: a temp file with a trailing newline; both, neither and a `VARSEL_` variable.
    #[test]
    fn sources() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pw");
        std::fs::write(&path, "hemmelig\n")?;
        let file = SecretSource { file: Some(&path), env: None };
        assert_eq!(read_secret("p.smpp", file)?, "hemmelig");
        let both = SecretSource { file: Some(&path), env: Some("X") };
        assert!(read_secret("p.smpp", both).is_err());
        let neither = SecretSource { file: None, env: None };
        assert!(read_secret("p.smpp", neither).is_err());
        let ours = SecretSource { file: None, env: Some("VARSEL_PW") };
        assert!(check_source("p.smpp", ours).is_err());
        let missing = SecretSource { file: Some(&dir.path().join("nope")), env: None };
        assert!(read_secret("p.smpp", missing).is_err());
        Ok(())
    }
}
