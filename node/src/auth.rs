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

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use varsel_domain::model::Role;
use varsel_raft_store::ops::Caller;
use varsel_raft_store::state_machine::domain::query;

use varsel_config::ConfigError;

use crate::error::ApiError;
use crate::replica::Replica;

/// Prefix of credential tokens.
pub const TOKEN_PREFIX: &str = "vt_";

/// Shortest superadmin token accepted.
pub const SUPERADMIN_TOKEN_CHARS_MIN: usize = 32;

/// Longest token accepted in a request.
pub const TOKEN_CHARS_MAX: usize = 512;

/// Checks bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    superadmin: Option<[u8; 32]>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("superadmin", &self.superadmin.is_some()).finish()
    }
}

/// 32 random bytes as hex.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The token for a credential and its secret.
pub fn credential_token(id: u64, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{id}_{secret}")
}

impl Authenticator {
    /// Reads the superadmin token file, if configured.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = file else { return Ok(Self { superadmin: None }) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_path_buf(), source: e })?;
        let token = text.trim();
        if token.chars().count() < SUPERADMIN_TOKEN_CHARS_MIN {
            return Err(ConfigError::invalid(
                "auth.superadmin_token_file",
                format!("must hold a token of at least {SUPERADMIN_TOKEN_CHARS_MIN} characters"),
            ));
        }
        Ok(Self { superadmin: Some(hash_secret(token)) })
    }

    /// Authenticates the bearer token of a request. Reads the credential from this node's
    /// state; a credential created a moment ago elsewhere may not be applied here yet, so an
    /// unknown one is looked up again after a linearizable read barrier.
    pub async fn authenticate(&self, metadata: &MetadataMap, replica: &Replica) -> Result<Caller, ApiError> {
        let token = bearer(metadata)?;
        if let Some(hash) = &self.superadmin
            && bool::from(hash_secret(token).ct_eq(hash))
        {
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
        let Some(cred) = cred else { return Err(unauthenticated()) };
        if cred.revoked || !bool::from(hash_secret(secret).ct_eq(&cred.secret_hash)) {
            return Err(unauthenticated());
        }
        Ok(Caller { tenant: cred.tenant, credential: cred.id, role: cred.role })
    }
}

fn unauthenticated() -> ApiError {
    ApiError::Unauthenticated("the bearer token is not valid (unknown, revoked or mistyped)".into())
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
