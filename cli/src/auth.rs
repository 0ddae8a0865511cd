//! The API token: where it comes from, and the interceptor that sends it with every call.
//!
//! Precedence, first found wins: `--token`, `VARSEL_TOKEN`, `--token-file`,
//! `VARSEL_TOKEN_FILE` (clap merges each flag with its variable, flag first). A token file
//! holds the token alone; surrounding whitespace (the newline editors add) is trimmed.
//!
//! The token is never printed: [`Token`] and [`Bearer`] redact it in `Debug`, error messages
//! name where it came from and not what it is, and `--help` hides the variable's value.

use std::fmt;
use std::path::{Path, PathBuf};

use varsel_client::Bearer;

use crate::error::CliError;
use crate::session::CONNECTION_HEADING;

/// Largest token file read, so a wrong path (a log, a disk image) fails fast instead of being
/// read whole. Tokens are a few dozen bytes.
pub const TOKEN_FILE_BYTES_MAX: u64 = 4096;

/// Token options of every API command.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// API token (bearer). Prefer --token-file or VARSEL_TOKEN: a token on the command line
    /// is visible to other users of this machine.
    #[arg(long, env = "VARSEL_TOKEN", hide_env_values = true, global = true, help_heading = CONNECTION_HEADING)]
    pub token: Option<String>,
    /// File holding the API token, e.g. `.varsel-dev/superadmin.token`. Used when no --token
    /// or VARSEL_TOKEN is given.
    #[arg(long, env = "VARSEL_TOKEN_FILE", global = true, help_heading = CONNECTION_HEADING)]
    pub token_file: Option<PathBuf>,
}

/// An API token. Its `Debug` shows no part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// The token, for the one place that needs it: the `authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl TokenArgs {
    /// The token these options give, by the precedence in the module documentation.
    pub fn resolve(&self) -> Result<Token, CliError> {
        resolve_token(self.token.as_deref(), self.token_file.as_deref())
    }
}

/// The token from a value (flag or variable) or else from a file. Empty values count as absent,
/// so an exported but empty `VARSEL_TOKEN=` does not hide a token file.
pub fn resolve_token(token: Option<&str>, token_file: Option<&Path>) -> Result<Token, CliError> {
    if let Some(t) = token.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok(Token(t.to_string()));
    }
    let Some(path) = token_file.filter(|p| !p.as_os_str().is_empty()) else {
        return Err(CliError::Auth(
            "no API token: give --token, set VARSEL_TOKEN, or give --token-file (or VARSEL_TOKEN_FILE) \
             naming a file that holds the token"
                .into(),
        ));
    };
    read_token_file(path)
}

fn read_token_file(path: &Path) -> Result<Token, CliError> {
    let len = std::fs::metadata(path).map_err(|e| CliError::file(path, format!("token file: {e}")))?.len();
    if len > TOKEN_FILE_BYTES_MAX {
        return Err(CliError::file(
            path,
            format!("token file is {len} bytes, more than {TOKEN_FILE_BYTES_MAX}: is this the right file?"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| CliError::file(path, format!("token file: {e}")))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(CliError::file(path, "token file is empty"));
    }
    Ok(Token(t.to_string()))
}

/// The interceptor that sends `token` with every call.
pub fn bearer(token: &Token) -> Result<Bearer, CliError> {
    Bearer::new(token.expose()).map_err(|_| {
        CliError::Auth(
            "the API token holds characters that cannot be sent in a header (only printable ASCII)".into(),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;

    use super::*;

    fn file_with(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    /// Goal: the documented precedence. Method: a value beats a file, a blank value falls
    /// through to the file, a file is trimmed, nothing at all names every option.
    #[test]
    fn token_precedence() {
        let f = file_with("  from-file\n");
        assert_eq!(resolve_token(Some("flag"), Some(f.path())).unwrap(), Token("flag".into()));
        assert_eq!(resolve_token(Some("  "), Some(f.path())).unwrap(), Token("from-file".into()));
        assert_eq!(resolve_token(None, Some(f.path())).unwrap(), Token("from-file".into()));
        let e = resolve_token(None, None).unwrap_err().to_string();
        for name in ["--token", "VARSEL_TOKEN", "--token-file", "VARSEL_TOKEN_FILE"] {
            assert!(e.contains(name), "{e}");
        }
    }

    /// Goal: file problems are reported with the path and never with the content.
    /// Method: an empty file, a missing file, an oversized file.
    #[test]
    fn token_file_errors() {
        let empty = file_with("\n\n");
        assert!(resolve_token(None, Some(empty.path())).unwrap_err().to_string().contains("empty"));
        let missing = Path::new("/nonexistent/varsel.token");
        assert!(resolve_token(None, Some(missing)).unwrap_err().to_string().contains("/nonexistent"));
        let big = file_with(&"secret".repeat(1000));
        let e = resolve_token(None, Some(big.path())).unwrap_err().to_string();
        assert!(e.contains("more than") && !e.contains("secret"), "{e}");
    }

    /// Goal: the interceptor sets the header and nothing prints the token.
    /// Method: run it on a request; format the token, the interceptor and a bad-token error.
    #[test]
    fn bearer_header_and_redaction() {
        let token = Token("s3cr3t".into());
        let mut b = bearer(&token).unwrap();
        let req = tonic::service::Interceptor::call(&mut b, tonic::Request::new(())).unwrap();
        assert_eq!(req.metadata().get("authorization").unwrap(), "Bearer s3cr3t");
        assert!(!format!("{token:?} {b:?}").contains("s3cr3t"));
        let e = bearer(&Token("bad\ns3cr3t".into())).unwrap_err().to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
    }
}
