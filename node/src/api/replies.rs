//! `AlertService.ListReplies`: the replies recipients sent, per alert, and those placed with
//! no alert (see `varsel_raft_store::replies`).

use varsel_domain::Rule;
use varsel_domain::model::Role;
use varsel_proto::api as pb;
use varsel_raft_store::ops::Caller;
use varsel_raft_store::replies::{ReplyAttribution, StoredReply};
use varsel_raft_store::state_machine::delivery::replies as rq;
use varsel_raft_store::state_machine::domain::query;

use super::ApiContext;
use super::convert::{channel_pb, page_size, page_token};
use crate::auth::require_tenant;
use crate::error::ApiError;

/// Default page size.
pub const PAGE_DEFAULT: usize = 100;

/// Answers one page: an alert's replies (the caller's tenant's alert), or the unmatched ones
/// the caller may see.
pub async fn list(
    ctx: &ApiContext,
    actor: &Caller,
    r: pb::ListRepliesRequest,
) -> Result<pb::ListRepliesReply, ApiError> {
    ctx.consistency(r.consistency).await?;
    let limit = page_size(r.page_size, PAGE_DEFAULT);
    let before = page_token(&r.page_token)?;
    let txn = ctx.replica.state.read_txn();
    let page = match (r.alert_id, r.unmatched) {
        (0, false) => {
            let rule = "name an alert, or ask for the unmatched replies";
            return Err(ApiError::invalid("alert_id", Rule::Required, rule.to_string()));
        }
        (0, true) => {
            let tenant = match (actor.role, r.tenant_id) {
                (Role::SuperAdmin, t) => t,
                (_, 0) => actor.tenant,
                (_, t) if t == actor.tenant => t,
                (_, t) => return Err(ApiError::NotFound(format!("tenant {t} does not exist"))),
            };
            rq::unmatched(&txn, tenant, before, limit)?
        }
        (_, true) => {
            let rule = "an alert's replies and the unmatched ones are listed separately";
            return Err(ApiError::invalid("alert_id", Rule::Value, rule.to_string()));
        }
        (id, false) => {
            require_tenant(actor)?;
            if query::alert(&txn, actor.tenant, id)?.is_none() {
                return Err(ApiError::NotFound(format!("alert {id} does not exist")));
            }
            rq::for_alert(&txn, id, before, limit)?
        }
    };
    let next = match page.last() {
        Some((seq, _)) if page.len() == limit => seq.to_string(),
        _ => String::new(),
    };
    let replies = page.into_iter().map(|(seq, s)| reply_pb(seq, s)).collect();
    Ok(pb::ListRepliesReply { replies, next_page_token: next })
}

fn reply_pb(seq: u64, s: StoredReply) -> pb::Reply {
    let i = s.item;
    let mut out = pb::Reply {
        seq,
        at_ms: s.at_ms,
        provider: i.provider,
        reply_id: i.id.unwrap_or_default(),
        from: i.from,
        to: i.to.unwrap_or_default(),
        text: i.text,
        channel: channel_pb(i.channel),
        sent_at_ms: i.sent_at_ms.unwrap_or(0),
        ..Default::default()
    };
    match i.attribution {
        ReplyAttribution::Alert { alert, contact, acknowledges, by } => {
            out.alert_id = alert;
            out.contact_id = contact;
            out.acknowledges = acknowledges;
            out.attributed_by = by.as_str().into();
        }
        ReplyAttribution::Unmatched { reason, .. } => out.unmatched_reason = reason,
    }
    out
}
