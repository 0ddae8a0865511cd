//! `varsel alert replies`: what recipients answered, per alert, and the replies no alert could
//! be matched to without doubt (which acknowledged nothing: escalation went on).

use serde_json::{Value, json};
use varsel_proto::api::{ListRepliesRequest, Reply};

use crate::error::CliError;
use crate::output::{self, Table, print_json};
use crate::session::{PageArgs, Session, hint_more, pages};

/// What to list.
#[derive(Debug, Clone, clap::Args)]
pub struct RepliesArgs {
    /// Alert id (omit with --unmatched).
    #[arg(required_unless_present = "unmatched", conflicts_with = "unmatched")]
    pub id: Option<u64>,
    /// The replies matched to no alert that may be for your tenant.
    #[arg(long)]
    pub unmatched: bool,
    /// With --unmatched, as superadmin: the tenant (default 0: replies for no tenant).
    #[arg(long, requires = "unmatched")]
    pub tenant: Option<u64>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// Lists replies, newest first, a page at a time.
pub async fn run(s: &Session, args: RepliesArgs) -> Result<(), CliError> {
    let (page_size, consistency) = (args.page.size(), s.read());
    let (alert_id, unmatched, tenant_id) = (args.id.unwrap_or(0), args.unmatched, args.tenant.unwrap_or(0));
    let fetch = |page_token: String| async move {
        let req = ListRepliesRequest { alert_id, unmatched, tenant_id, page_size, page_token, consistency };
        let r = s
            .alerts(|mut c| {
                let req = req.clone();
                async move { c.list_replies(req).await }
            })
            .await?;
        Ok((r.replies, r.next_page_token))
    };
    let last = if unmatched { "why unmatched" } else { "placed by" };
    let mut table = Table::new(&["at", "from", "to", "text", "contact", "ack", last]);
    let next = pages(&args.page, fetch, |replies: Vec<Reply>| {
        if s.json {
            return replies.iter().for_each(|r| print_json(&reply_json(r)));
        }
        let rows: Vec<Vec<String>> = replies
            .iter()
            .map(|r| {
                let placed =
                    if r.alert_id == 0 { r.unmatched_reason.clone() } else { r.attributed_by.clone() };
                vec![
                    output::time(r.at_ms),
                    r.from.clone(),
                    if r.to.is_empty() { "-".into() } else { r.to.clone() },
                    r.text.clone(),
                    if r.contact_id == 0 { "-".into() } else { r.contact_id.to_string() },
                    if r.acknowledges { "yes".into() } else { "no".into() },
                    placed,
                ]
            })
            .collect();
        table.print(&rows);
    })
    .await?;
    hint_more(&next);
    Ok(())
}

/// One reply as JSON.
pub fn reply_json(r: &Reply) -> Value {
    json!({
        "seq": r.seq, "at_ms": r.at_ms, "provider": r.provider, "reply_id": r.reply_id,
        "from": r.from, "to": r.to, "text": r.text, "channel": output::channel(r.channel),
        "sent_at_ms": r.sent_at_ms, "alert_id": r.alert_id, "contact_id": r.contact_id,
        "acknowledges": r.acknowledges, "attributed_by": r.attributed_by,
        "unmatched_reason": r.unmatched_reason,
    })
}
