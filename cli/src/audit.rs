//! `varsel audit list`: the audit trail: who did what, when, in log order.

use varsel_proto::api::{AuditRecord, ListAuditRequest};

use crate::error::CliError;
use crate::output::{self, Table, print_json};
use crate::session::{PageArgs, Session, hint_more, pages};

/// An audit operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// List audit records, a page at a time.
    List {
        /// Tenant id (superadmin only; default: the caller's tenant).
        #[arg(long)]
        tenant: Option<u64>,
        #[command(flatten)]
        page: PageArgs,
    },
}

/// Runs one audit command.
pub async fn run(s: &Session, cmd: AuditCommand) -> Result<(), CliError> {
    let AuditCommand::List { tenant, page } = cmd;
    let (tenant_id, page_size, consistency) = (tenant.unwrap_or(0), page.size(), s.read());
    let fetch = |page_token: String| async move {
        let req = ListAuditRequest { page_size, page_token, tenant_id, consistency };
        let r = s
            .audit(|mut c| {
                let req = req.clone();
                async move { c.list_audit(req).await }
            })
            .await?;
        Ok((r.records, r.next_page_token))
    };
    let mut table = Table::new(&["index", "at", "credential", "action", "target", "detail"]);
    let next = pages(&page, fetch, |records: Vec<AuditRecord>| {
        if s.json {
            return records.iter().for_each(|r| print_json(&output::audit_json(r)));
        }
        let rows: Vec<Vec<String>> = records
            .iter()
            .map(|r| {
                vec![
                    r.log_index.to_string(),
                    output::time(r.at_ms),
                    r.credential_id.to_string(),
                    r.action.clone(),
                    r.target.clone(),
                    r.detail.clone(),
                ]
            })
            .collect();
        table.print(&rows);
    })
    .await?;
    hint_more(&next);
    Ok(())
}
