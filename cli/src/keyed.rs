//! Idempotency keys of the commands that create, delete or cancel something: `tenant create`,
//! `tenant create-credential`, `group create`, `group delete`, `contact delete`, `alert cancel`
//! (and `alert send`, whose key is its own option in [`crate::alert`]).
//!
//! Each such command sends a key: the one given with `--idempotency-key`, or a new random one.
//! [`varsel_client::Cluster::call`] sends the same request, key included, on every retry within
//! the run, so a write whose outcome was unknown (a node died after forwarding it) is not done
//! twice. When no node answers before the deadline, the command prints its key, so the user can
//! run it again with the same key and get the same guarantee.

use std::future::Future;

use crate::error::CliError;
use crate::parse;

/// The `--idempotency-key` option.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct KeyArgs {
    /// Idempotency key: the same command again with the same key does not do it twice (it
    /// answers what the first one did). Default: a new random key, printed if the outcome is
    /// unknown.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

impl KeyArgs {
    /// The key given, or a new one.
    pub fn key(&self) -> String {
        self.idempotency_key.clone().unwrap_or_else(parse::new_idempotency_key)
    }
}

/// Awaits a write sent with `key`; when its outcome is unknown (no node answered), says how
/// to retry the whole command safely.
pub async fn outcome<T>(key: &str, write: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    match write.await {
        Err(e @ CliError::Cluster(_)) => {
            // The request may have been applied by a node that then became unreachable.
            eprintln!(
                "the outcome is unknown: run the same command with --idempotency-key {key} to retry safely"
            );
            Err(e)
        }
        other => other,
    }
}

/// `object` (a JSON object) with `"existing": existing` added: whether the key matched an
/// earlier request. Added, so scripts reading the object as before keep working.
pub fn with_existing(mut object: serde_json::Value, existing: bool) -> serde_json::Value {
    if let Some(map) = object.as_object_mut() {
        map.insert("existing".into(), existing.into());
    }
    object
}

/// What a command prints when the key matched an earlier request.
pub fn already(what: &str) -> String {
    format!("{what} (this idempotency key was used before: nothing was done now)")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: `existing` is added to a command's JSON object without changing its other fields,
    /// and a given key is used as given. Method: call the helpers.
    #[test]
    fn existing_is_added_and_keys_kept() {
        let v = with_existing(serde_json::json!({"id": 3, "name": "brann"}), true);
        assert_eq!(v, serde_json::json!({"id": 3, "name": "brann", "existing": true}));
        assert_eq!(KeyArgs { idempotency_key: Some("k-1".into()) }.key(), "k-1");
        assert_ne!(KeyArgs::default().key(), KeyArgs::default().key());
    }
}
