//! `varsel tenant …`: tenants, their limits and their API credentials.
//!
//! Creating tenants and setting limits takes the superadmin token (from the node
//! configuration); managing credentials takes an admin of the tenant (or the superadmin, who
//! must name the tenant).

use std::path::{Path, PathBuf};

use serde_json::json;
use varsel_proto::api::{
    CreateCredentialRequest, CreateTenantRequest, Credential, GetTenantRequest, Limits,
    ListCredentialsRequest, ListTenantsRequest, RevokeCredentialRequest, Role, SetLimitsRequest, Tenant,
    WhoAmIRequest,
};

use crate::error::CliError;
use crate::keyed::{self, KeyArgs};
use crate::output::{self, Table, print_fields, print_json};
use crate::session::Session;

/// Limit options; the ones not given keep their current (or the cluster's default) value.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct LimitArgs {
    /// Most recipients one alert may target.
    #[arg(long)]
    pub max_recipients: Option<u64>,
    /// Most SMS segments one message may take (1 to 255).
    #[arg(long)]
    pub max_sms_segments: Option<u32>,
    /// Most alerts created per minute.
    #[arg(long)]
    pub max_alerts_per_minute: Option<u32>,
    /// Most messages one alert may cause (recipients × channels).
    #[arg(long)]
    pub max_messages_per_alert: Option<u64>,
    /// Most messages per second, over all nodes.
    #[arg(long)]
    pub max_send_rate: Option<u32>,
    /// Most contacts the tenant may keep.
    #[arg(long)]
    pub max_contacts: Option<u64>,
}

impl LimitArgs {
    fn any(&self) -> bool {
        *self != LimitArgs::default()
    }

    /// `base` with the given options applied (the protocol has no "unchanged" value: every
    /// field is sent).
    pub fn apply(&self, base: Limits) -> Limits {
        Limits {
            max_recipients_per_alert: self.max_recipients.unwrap_or(base.max_recipients_per_alert),
            max_sms_segments: self.max_sms_segments.unwrap_or(base.max_sms_segments),
            max_alerts_per_minute: self.max_alerts_per_minute.unwrap_or(base.max_alerts_per_minute),
            max_messages_per_alert: self.max_messages_per_alert.unwrap_or(base.max_messages_per_alert),
            max_send_rate_per_second: self.max_send_rate.unwrap_or(base.max_send_rate_per_second),
            max_contacts: self.max_contacts.unwrap_or(base.max_contacts),
        }
    }
}

/// A role a credential can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// Read everything of the tenant.
    Viewer,
    /// Viewer, plus send and cancel alerts and edit contacts, groups and templates.
    Operator,
    /// Operator, plus manage the tenant's credentials.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// A tenant or credential operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (superadmin). Limits not given are the cluster's defaults.
    Create {
        /// The tenant's name, unique in the cluster.
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// List every tenant (superadmin).
    List,
    /// Show a tenant and its limits (default: the caller's own).
    Get {
        /// Tenant id.
        id: Option<u64>,
    },
    /// Change some of a tenant's limits (superadmin); the others keep their values.
    SetLimits {
        /// Tenant id.
        id: u64,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Show or change how long a tenant's finished alerts are kept (superadmin): delivery
    /// details (per-recipient outcomes, receipts, replies) and the alerts' summaries with the
    /// audit trail. Durations like 90d, 12h, 5m; an option left out keeps its value.
    Retention {
        /// Tenant id.
        id: u64,
        /// How long delivery details are kept after an alert finished (default 90d).
        #[arg(long)]
        details: Option<String>,
        /// How long alert summaries and the audit trail are kept (default 1825d: 5 years).
        #[arg(long)]
        alerts: Option<String>,
    },
    /// Show which tenant, credential and role the token stands for.
    Whoami,
    /// Create an API credential and print its token (shown this once only).
    CreateCredential {
        /// Tenant id (required for the superadmin; default: the caller's tenant).
        #[arg(long)]
        tenant: Option<u64>,
        /// A name saying who or what uses it (`alarm-centre`, `kari`).
        #[arg(long)]
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Write the token to this new file (readable by its owner only) instead of printing
        /// it, ready for --token-file and out of the terminal's scrollback.
        #[arg(long)]
        token_out: Option<PathBuf>,
        /// Idempotency key: a retry of this command with the same key makes no second
        /// credential; it is refused, naming the credential the first one made (its token was
        /// shown once and cannot be shown again: revoke it and create another if it was lost).
        /// Default: a new random key, printed if the outcome is unknown.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// List a tenant's credentials (never their tokens).
    ListCredentials {
        /// Tenant id (required for the superadmin; default: the caller's tenant).
        #[arg(long)]
        tenant: Option<u64>,
    },
    /// Revoke a credential: its token stops working at once.
    RevokeCredential {
        /// Credential id.
        id: u64,
    },
}

/// Runs one tenant command.
pub async fn run(s: &Session, cmd: TenantCommand) -> Result<(), CliError> {
    match cmd {
        TenantCommand::Create { name, limits, key } => create(s, name, &limits, key.key()).await,
        TenantCommand::List => {
            let req = ListTenantsRequest { consistency: s.read() };
            let r = s.tenants(|mut c| async move { c.list_tenants(req).await }).await?;
            print_tenants(s.json, &r.tenants);
            Ok(())
        }
        TenantCommand::Get { id } => {
            let t = get(s, id.unwrap_or(0), s.read()).await?;
            print_tenant(s.json, &t);
            Ok(())
        }
        TenantCommand::SetLimits { id, limits } => set_limits(s, id, &limits).await,
        TenantCommand::Retention { id, details, alerts } => {
            retention(s, id, details.as_deref(), alerts.as_deref()).await
        }
        TenantCommand::Whoami => whoami(s).await,
        TenantCommand::CreateCredential { tenant, name, role, token_out, idempotency_key } => {
            let req = CreateCredentialRequest {
                tenant_id: tenant.unwrap_or(0),
                name,
                role: Role::from(role) as i32,
                idempotency_key: KeyArgs { idempotency_key }.key(),
            };
            create_credential(s, req, token_out.as_deref()).await
        }
        TenantCommand::ListCredentials { tenant } => {
            let req = ListCredentialsRequest { tenant_id: tenant.unwrap_or(0), consistency: s.read() };
            let r = s.tenants(|mut c| async move { c.list_credentials(req).await }).await?;
            print_credentials(s.json, &r.credentials);
            Ok(())
        }
        TenantCommand::RevokeCredential { id } => {
            let cred = s
                .tenants(|mut c| async move { c.revoke_credential(RevokeCredentialRequest { id }).await })
                .await?;
            if s.json {
                print_json(&output::credential_json(&cred));
            } else {
                println!("credential {} ({}) revoked: its token no longer works", cred.id, cred.name);
            }
            Ok(())
        }
    }
}

async fn get(s: &Session, id: u64, consistency: i32) -> Result<Tenant, CliError> {
    let r =
        s.tenants(|mut c| async move { c.get_tenant(GetTenantRequest { id, consistency }).await }).await?;
    r.tenant.ok_or_else(|| CliError::Reply("TenantReply without a tenant".into()))
}

/// Creates the tenant; limits given on the command line are merged into the cluster's
/// defaults with a second write, because the protocol's limits are all-or-nothing and the
/// CLI does not know the cluster's defaults.
async fn create(s: &Session, name: String, limits: &LimitArgs, key: String) -> Result<(), CliError> {
    let req = CreateTenantRequest { name, limits: None, idempotency_key: key.clone() };
    let write = s.tenants(|mut c| {
        let req = req.clone();
        async move { c.create_tenant(req).await }
    });
    let r = keyed::outcome(&key, write).await?;
    let mut tenant = r.tenant.ok_or_else(|| CliError::Reply("TenantReply without a tenant".into()))?;
    if limits.any() {
        tenant = put_limits(s, tenant.id, limits.apply(tenant.limits.unwrap_or_default())).await?;
    }
    if s.json {
        print_json(&keyed::with_existing(output::tenant_json(&tenant), r.existing));
    } else {
        if r.existing {
            println!("{}", keyed::already("the tenant exists"));
        }
        print_tenant(false, &tenant);
    }
    Ok(())
}

/// Reads the current limits (linearizably, so a change just made is not undone) and writes
/// them back with the given options applied.
async fn set_limits(s: &Session, id: u64, limits: &LimitArgs) -> Result<(), CliError> {
    if !limits.any() {
        return Err(CliError::input("give at least one --max-… option"));
    }
    let current = get(s, id, varsel_proto::api::Consistency::Linearizable as i32).await?;
    let tenant = put_limits(s, id, limits.apply(current.limits.unwrap_or_default())).await?;
    print_tenant(s.json, &tenant);
    Ok(())
}

async fn put_limits(s: &Session, tenant_id: u64, limits: Limits) -> Result<Tenant, CliError> {
    let req = SetLimitsRequest { tenant_id, limits: Some(limits) };
    let r = s.tenants(|mut c| async move { c.set_limits(req).await }).await?;
    r.tenant.ok_or_else(|| CliError::Reply("TenantReply without a tenant".into()))
}

async fn retention(
    s: &Session,
    tenant_id: u64,
    details: Option<&str>,
    alerts: Option<&str>,
) -> Result<(), CliError> {
    let secs =
        |v: Option<&str>| v.map(crate::parse::duration_secs).transpose().map(Option::unwrap_or_default);
    let retention =
        varsel_proto::api::Retention { details_seconds: secs(details)?, alerts_seconds: secs(alerts)? };
    let req = varsel_proto::api::SetRetentionRequest { tenant_id, retention: Some(retention) };
    let r = s.tenants(|mut c| async move { c.set_retention(req).await }).await?;
    if s.json {
        print_json(
            &json!({"tenant_id": tenant_id, "details_seconds": r.details_seconds, "alerts_seconds": r.alerts_seconds}),
        );
    } else {
        print_fields(&[
            ("tenant", tenant_id.to_string()),
            ("details kept", output::duration(r.details_seconds * 1000)),
            ("alerts kept", output::duration(r.alerts_seconds * 1000)),
        ]);
    }
    Ok(())
}

async fn whoami(s: &Session) -> Result<(), CliError> {
    let r = s.tenants(|mut c| async move { c.who_am_i(WhoAmIRequest {}).await }).await?;
    if s.json {
        print_json(&json!({
            "tenant_id": r.tenant_id, "tenant_name": r.tenant_name,
            "credential_id": r.credential_id, "role": output::role(r.role),
        }));
    } else {
        print_fields(&[
            ("tenant", format!("{} ({})", r.tenant_id, r.tenant_name)),
            ("credential", r.credential_id.to_string()),
            ("role", output::role(r.role)),
        ]);
    }
    Ok(())
}

async fn create_credential(
    s: &Session,
    req: CreateCredentialRequest,
    token_out: Option<&Path>,
) -> Result<(), CliError> {
    let key = req.idempotency_key.clone();
    let write = s.tenants(|mut c| {
        let req = req.clone();
        async move { c.create_credential(req).await }
    });
    let r = keyed::outcome(&key, write).await?;
    let cred =
        r.credential.ok_or_else(|| CliError::Reply("CreateCredentialReply without a credential".into()))?;
    // The server keeps only the token's hash: if it cannot be saved it must be shown, or the
    // credential is useless.
    let shown = match token_out.map(|p| (p, write_secret(p, &r.token))) {
        Some((p, Ok(()))) => format!("written to {}", p.display()),
        Some((p, Err(e))) => {
            eprintln!("warning: cannot write {}: {e}; printing the token instead", p.display());
            r.token.clone()
        }
        None => r.token.clone(),
    };
    if shown == r.token {
        // The one place a token is printed.
        eprintln!("warning: the token is shown only now; store it (e.g. in a file for --token-file).");
    }
    if s.json {
        print_json(&json!({"credential": output::credential_json(&cred), "token": shown}));
    } else {
        print_fields(&[
            ("credential", format!("{} ({})", cred.id, cred.name)),
            ("tenant", cred.tenant_id.to_string()),
            ("role", output::role(cred.role)),
            ("token", shown),
        ]);
    }
    Ok(())
}

/// Writes `secret` to a new file only its owner can read; refuses to overwrite a file, which
/// may hold another credential's token.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn print_tenant(json_out: bool, t: &Tenant) {
    if json_out {
        return print_json(&output::tenant_json(t));
    }
    let l = t.limits.unwrap_or_default();
    print_fields(&[
        ("id", t.id.to_string()),
        ("name", t.name.clone()),
        ("created", output::time(t.created_at_ms)),
        ("max recipients per alert", l.max_recipients_per_alert.to_string()),
        ("max sms segments", l.max_sms_segments.to_string()),
        ("max alerts per minute", l.max_alerts_per_minute.to_string()),
        ("max messages per alert", l.max_messages_per_alert.to_string()),
        ("max send rate per second", l.max_send_rate_per_second.to_string()),
        ("max contacts", l.max_contacts.to_string()),
    ]);
}

fn print_tenants(json_out: bool, tenants: &[Tenant]) {
    if json_out {
        return tenants.iter().for_each(|t| print_json(&output::tenant_json(t)));
    }
    let rows: Vec<Vec<String>> = tenants
        .iter()
        .map(|t| {
            let l = t.limits.unwrap_or_default();
            vec![
                t.id.to_string(),
                t.name.clone(),
                l.max_recipients_per_alert.to_string(),
                l.max_sms_segments.to_string(),
                l.max_alerts_per_minute.to_string(),
                l.max_messages_per_alert.to_string(),
                l.max_send_rate_per_second.to_string(),
                l.max_contacts.to_string(),
                output::time(t.created_at_ms),
            ]
        })
        .collect();
    let header =
        ["id", "name", "recipients", "segments", "alerts/min", "messages", "rate/s", "contacts", "created"];
    Table::new(&header).print(&rows);
}

fn print_credentials(json_out: bool, creds: &[Credential]) {
    if json_out {
        return creds.iter().for_each(|c| print_json(&output::credential_json(c)));
    }
    let rows: Vec<Vec<String>> = creds
        .iter()
        .map(|c| {
            let state = if c.revoked { "revoked" } else { "active" };
            vec![
                c.id.to_string(),
                c.tenant_id.to_string(),
                c.name.clone(),
                output::role(c.role),
                state.into(),
                output::time(c.created_at_ms),
            ]
        })
        .collect();
    Table::new(&["id", "tenant", "name", "role", "state", "created"]).print(&rows);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: `set-limits` changes only the limits named. Method: apply two options to a base.
    #[test]
    fn limits_merge() {
        let base = Limits {
            max_recipients_per_alert: 100,
            max_sms_segments: 3,
            max_alerts_per_minute: 10,
            max_messages_per_alert: 400,
            max_send_rate_per_second: 2000,
            max_contacts: 1000,
        };
        let args = LimitArgs { max_sms_segments: Some(6), max_contacts: Some(5), ..Default::default() };
        assert!(args.any() && !LimitArgs::default().any());
        let got = args.apply(base);
        assert_eq!(got, Limits { max_sms_segments: 6, max_contacts: 5, ..base });
    }

    /// Goal: a saved token file is private, holds the token, and is never overwritten.
    /// Method: write one, check mode and content, write again.
    #[test]
    fn token_out_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operator.token");
        write_secret(&path, "tok").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "tok\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(write_secret(&path, "other").is_err());
        assert_eq!(
            crate::auth::resolve_token(None, Some(&path)).unwrap(),
            crate::auth::resolve_token(Some("tok"), None).unwrap()
        );
    }
}
