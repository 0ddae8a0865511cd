//! `[auth]`: authentication.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Authentication settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// File holding the superadmin token (the cluster operator's key: creates tenants and their
    /// first credentials). Every node of a cluster must hold the same token. Without it, no
    /// one can create tenants. The file's content is trimmed; at least 32 characters.
    pub superadmin_token_file: Option<PathBuf>,
}
