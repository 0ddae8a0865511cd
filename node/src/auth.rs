//! Authentication: every API call carries `authorization: Bearer <token>`.
//!
//! Two kinds of token:
//! - the **superadmin** token, configured on every node (`auth.superadmin_token_file`); it
//!   creates tenants and their first credentials, and sees no tenant's data;
//! - **credential** tokens, `vt_<credential id>_<secret>`, created through the API. Only the
//!   SHA-256 of the secret is replicated; the token itself is shown once, to its creator.
//!
//! Secrets are 32 random bytes, so a plain SHA-256 is enough (no password stretching is
//! needed for keys nobody chose). Comparisons are constant-time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use varsel_domain::model::Role;
use varsel_raft_store::ops::Caller;
use varsel_raft_store::state_machine::domain::query;

use varsel_config::ConfigError;

use crate::error::ApiError;
use crate::replica::Replica;
use crate::tls::{Stamp, file_stamp};

/// Prefix of credential tokens.
pub const TOKEN_PREFIX: &str = "vt_";

/// Shortest superadmin token accepted.
pub const SUPERADMIN_TOKEN_CHARS_MIN: usize = 32;

/// Longest token accepted in a request.
pub const TOKEN_CHARS_MAX: usize = 512;

/// Checks bearer tokens. Cheap to clone; clones share the superadmin token, which
/// [`Authenticator::reload_if_changed`] reads again when its file changes.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Superadmin>,
}

struct Superadmin {
    file: Option<PathBuf>,
    hash: RwLock<Option<[u8; 32]>>,
    stamp: Mutex<Stamp>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("superadmin", &self.inner.file.is_some()).finish()
    }
}

/// 32 random bytes as hex.
pub fn new_secret() -> String {
    varsel_config::secret::new_secret()
}

/// SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The token for a credential and its secret.
pub fn credential_token(id: u64, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{id}_{secret}")
}

/// A caller whose token this node checked, with the token itself: a write forwarded to the
/// leader carries it, and the leader checks it again ([`crate::raft::service`]).
#[derive(Clone)]
pub struct Authenticated {
    /// Who the token says the caller is.
    pub caller: Caller,
    token: Arc<str>,
}

impl std::fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated").field("caller", &self.caller).field("token", &"<secret>").finish()
    }
}

impl std::ops::Deref for Authenticated {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl Authenticated {
    /// The bearer token, for the one place that needs it: forwarding a write to the leader.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Largest superadmin token file read: a token is a line, not a file of megabytes.
const SUPERADMIN_FILE_BYTES_MAX: u64 = 4096;

fn read_superadmin(path: &Path) -> Result<[u8; 32], ConfigError> {
    let read_err = |e| ConfigError::Read { path: path.to_path_buf(), source: e };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > SUPERADMIN_FILE_BYTES_MAX {
        return Err(ConfigError::invalid(
            "auth.superadmin_token_file",
            format!("is {len} bytes, more than {SUPERADMIN_FILE_BYTES_MAX}; it must hold one token"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    let token = text.trim();
    if token.chars().count() < SUPERADMIN_TOKEN_CHARS_MIN {
        return Err(ConfigError::invalid(
            "auth.superadmin_token_file",
            format!("must hold a token of at least {SUPERADMIN_TOKEN_CHARS_MIN} characters"),
        ));
    }
    Ok(hash_secret(token))
}

impl Authenticator {
    /// Reads the superadmin token file, if configured.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let hash = file.map(read_superadmin).transpose()?;
        let stamp = file.and_then(file_stamp);
        let inner = Superadmin {
            file: file.map(Path::to_path_buf),
            hash: RwLock::new(hash),
            stamp: Mutex::new(stamp),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Reads the superadmin token file again when it changed (or always, when `forced`), so
    /// the token can be replaced on a live cluster. Returns whether a new token took effect;
    /// on error the old one stays.
    pub fn reload_if_changed(&self, forced: bool) -> Result<bool, ConfigError> {
        let Some(path) = &self.inner.file else { return Ok(false) };
        let stamp = file_stamp(path);
        if !forced && *self.inner.stamp.lock().unwrap_or_else(|p| p.into_inner()) == stamp {
            return Ok(false);
        }
        let hash = read_superadmin(path)?;
        let mut current = self.inner.hash.write().unwrap_or_else(|p| p.into_inner());
        let changed = *current != Some(hash);
        *current = Some(hash);
        *self.inner.stamp.lock().unwrap_or_else(|p| p.into_inner()) = stamp;
        Ok(changed)
    }

    /// Whether `token` is the superadmin token (constant-time).
    pub fn is_superadmin(&self, token: &str) -> bool {
        let current = *self.inner.hash.read().unwrap_or_else(|p| p.into_inner());
        current.is_some_and(|hash| bool::from(hash_secret(token).ct_eq(&hash)))
    }

    /// Authenticates the bearer token of a request. Reads the credential from this node's
    /// state; a credential created a moment ago elsewhere may not be applied here yet, so an
    /// unknown one is looked up again after a linearizable read barrier.
    pub async fn authenticate(
        &self,
        metadata: &MetadataMap,
        replica: &Replica,
    ) -> Result<Authenticated, ApiError> {
        let token = bearer(metadata)?;
        let caller = self.authenticate_token(token, replica).await?;
        Ok(Authenticated { caller, token: Arc::from(token) })
    }

    /// Who `token` is.
    pub async fn authenticate_token(&self, token: &str, replica: &Replica) -> Result<Caller, ApiError> {
        if self.is_superadmin(token) {
            return Ok(Caller::SUPERADMIN);
        }
        let (id, secret) = parse_token(token)?;
        let cred = match query::credential(&replica.state.read_txn(), id)? {
            Some(c) => Some(c),
            None => {
                replica.read_barrier().await?;
                query::credential(&replica.state.read_txn(), id)?
            }
        };
        cred.and_then(|c| credential_caller(&c, secret)).ok_or_else(unauthenticated)
    }

    /// Whether `token` is the superadmin's or a live credential's, by this node's state alone
    /// (no read barrier, so a credential made a moment ago on another node may not be known
    /// yet): for bounds decided before a request body is read.
    pub fn known_here(&self, token: &str, replica: &Replica) -> bool {
        if self.is_superadmin(token) {
            return true;
        }
        let Ok((id, secret)) = parse_token(token) else { return false };
        let cred = query::credential(&replica.state.read_txn(), id).ok().flatten();
        cred.is_some_and(|c| credential_caller(&c, secret).is_some())
    }

    /// Refuses the call unless it carries the superadmin token: cluster administration and the
    /// key-value service. No credential is looked up, so this costs no read.
    pub fn require_superadmin(&self, metadata: &MetadataMap) -> Result<(), ApiError> {
        let token = bearer(metadata)?;
        if self.is_superadmin(token) {
            return Ok(());
        }
        if token.starts_with(TOKEN_PREFIX) {
            return Err(ApiError::PermissionDenied(
                "cluster administration needs the superadmin token; tenant credentials cannot use it".into(),
            ));
        }
        Err(unauthenticated())
    }
}

fn unauthenticated() -> ApiError {
    ApiError::Unauthenticated("the bearer token is not valid (unknown, revoked or mistyped)".into())
}

/// The bearer token of a request, as sent (checked by nobody yet).
pub fn bearer_token(metadata: &MetadataMap) -> Result<&str, ApiError> {
    bearer(metadata)
}

fn bearer(metadata: &MetadataMap) -> Result<&str, ApiError> {
    let missing = || ApiError::Unauthenticated("missing `authorization: Bearer <token>` metadata".into());
    let value = metadata.get("authorization").ok_or_else(missing)?;
    let text = value.to_str().map_err(|_| missing())?;
    let token =
        text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")).ok_or_else(missing)?.trim();
    if token.is_empty() || token.len() > TOKEN_CHARS_MAX {
        return Err(missing());
    }
    Ok(token)
}

/// The caller a credential makes of `secret`, when the secret is the credential's and the
/// credential is not revoked (compared in constant time).
fn credential_caller(cred: &varsel_domain::model::Credential, secret: &str) -> Option<Caller> {
    let matches = bool::from(hash_secret(secret).ct_eq(&cred.secret_hash));
    (matches && !cred.revoked).then_some(Caller { tenant: cred.tenant, credential: cred.id, role: cred.role })
}

fn parse_token(token: &str) -> Result<(u64, &str), ApiError> {
    let rest = token.strip_prefix(TOKEN_PREFIX).ok_or_else(unauthenticated)?;
    let (id, secret) = rest.split_once('_').ok_or_else(unauthenticated)?;
    let id = id.parse::<u64>().map_err(|_| unauthenticated())?;
    Ok((id, secret))
}

/// Refuses the call unless the actor may read tenant data (any tenant credential).
pub fn require_tenant(actor: &Caller) -> Result<(), ApiError> {
    if actor.tenant == 0 || actor.role == Role::SuperAdmin {
        return Err(ApiError::PermissionDenied(
            "the superadmin manages tenants and sees no tenant's data".into(),
        ));
    }
    Ok(())
}

/// Refuses the call unless the actor may write tenant data (operator or admin).
pub fn require_writer(actor: &Caller) -> Result<(), ApiError> {
    require_tenant(actor)?;
    if !actor.role.can_write() {
        return Err(ApiError::PermissionDenied(format!("role {} may only read", actor.role.as_str())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: tokens parse only in their exact form.
    #[test]
    fn token_forms() {
        assert_eq!(parse_token("vt_12_abc").ok(), Some((12, "abc")));
        assert!(parse_token("vt_x_abc").is_err());
        assert!(parse_token("12_abc").is_err());
        let mut m = MetadataMap::new();
        assert!(bearer(&m).is_err());
        m.insert("authorization", "Bearer vt_1_s".parse().expect("ascii"));
        assert_eq!(bearer(&m).ok(), Some("vt_1_s"));
        m.insert("authorization", "Basic abc".parse().expect("ascii"));
        assert!(bearer(&m).is_err());
    }
}
