//! `WebhookService`: a tenant's outbound webhook subscriptions and their delivery attempts.
//!
//! Admins manage subscriptions (the state machine checks the role again); every role of the
//! tenant lists them. The signing secret is drawn by
//! [`varsel_delivery::webhooks::new_secret`] and shown only in the answer to the create.

use tonic::{Request, Response, Status};
use varsel_domain::Rule;
use varsel_domain::model::Role;
use varsel_proto::api as pb;
use varsel_proto::api::webhook_service_server::WebhookService;
use varsel_raft_store::ops::{DomainReply, Op};
use varsel_raft_store::state_machine::webhooks::{self as wh, NewWebhook};
use varsel_raft_store::webhooks::{DESCRIPTION_BYTES_MAX, EventKind, URL_BYTES_MAX, Webhook};

use super::convert::{page_size, page_token};
use super::{ApiContext, idempotency_key, unexpected};
use crate::auth::require_tenant;
use crate::error::{ApiError, ApiResult};

/// Default page size of `ListWebhookDeliveries`.
pub const PAGE_DEFAULT: usize = 50;

/// The webhook service of one node.
#[derive(Debug, Clone)]
pub struct Webhooks {
    ctx: ApiContext,
}

impl Webhooks {
    /// A service on `ctx`.
    pub fn new(ctx: ApiContext) -> Self {
        Self { ctx }
    }
}

fn require_admin(role: Role) -> ApiResult<()> {
    if role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(format!("role {} may not manage webhooks; admin may", role.as_str())))
    }
}

/// Whether `url` is plain http to a loopback address.
pub fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]:", "http://localhost:"]
        .iter()
        .any(|p| url.starts_with(p))
}

/// Checks a create request against the rules and this node's configuration.
fn check(r: &pb::CreateWebhookRequest, http_allowed: bool) -> ApiResult<Vec<EventKind>> {
    let url = r.url.trim();
    if url.is_empty() {
        return Err(ApiError::invalid("url", Rule::Required, "give the endpoint's https:// URL"));
    }
    if url.len() > URL_BYTES_MAX {
        return Err(ApiError::invalid("url", Rule::TooLong, format!("at most {URL_BYTES_MAX} bytes")));
    }
    if url.parse::<http::Uri>().is_err() || url.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("url", Rule::Value, format!("{url:?} is not a URL")));
    }
    if !url.starts_with("https://") {
        let allowed = is_loopback_http(url) && r.allow_insecure && http_allowed;
        if !allowed {
            let m = "must be https:// (http:// only to a loopback address, with allow_insecure, on a node \
                     whose [testing] webhooks_allow_http_loopback is on)";
            return Err(ApiError::invalid("url", Rule::Value, m));
        }
    }
    if r.description.len() > DESCRIPTION_BYTES_MAX {
        let m = format!("at most {DESCRIPTION_BYTES_MAX} bytes");
        return Err(ApiError::invalid("description", Rule::TooLong, m));
    }
    parse_events(&r.events)
}

/// The event kinds named (`*`: all).
pub fn parse_events(names: &[String]) -> ApiResult<Vec<EventKind>> {
    if names.is_empty() {
        return Err(ApiError::invalid("events", Rule::Required, "name at least one event type, or *"));
    }
    let mut kinds = Vec::new();
    for n in names {
        if n.trim() == "*" {
            return Ok(EventKind::ALL.to_vec());
        }
        let Some(k) = EventKind::parse(n.trim()) else {
            let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            let m = format!("{n:?} is not an event type; known: {}", known.join(", "));
            return Err(ApiError::invalid("events", Rule::Value, m));
        };
        kinds.push(k);
    }
    Ok(kinds)
}

/// The API's view; the secret only when `with_secret`.
pub fn to_pb(w: Webhook, with_secret: bool) -> pb::Webhook {
    let state = if w.disabled.is_some() { pb::WebhookState::Disabled } else { pb::WebhookState::Enabled };
    pb::Webhook {
        id: w.id,
        url: w.url,
        events: w.events.iter().map(|e| e.as_str().to_string()).collect(),
        description: w.description,
        allow_insecure: w.allow_insecure,
        created_at_ms: w.created_at_ms,
        state: state as i32,
        disabled_reason: w.disabled.as_ref().map(|d| d.reason.clone()).unwrap_or_default(),
        disabled_at_ms: w.disabled.as_ref().map_or(0, |d| d.at_ms),
        consecutive_failures: w.consecutive_failures,
        delivered: w.delivered,
        attempts: w.attempts,
        dropped: w.dropped,
        secret: if with_secret { w.secret } else { String::new() },
    }
}

fn webhook_reply(reply: DomainReply, with_secret: bool) -> ApiResult<pb::WebhookReply> {
    match reply {
        DomainReply::Webhook(w) => Ok(pb::WebhookReply { webhook: Some(to_pb(*w, with_secret)) }),
        other => Err(unexpected(other)),
    }
}

#[tonic::async_trait]
impl WebhookService for Webhooks {
    async fn create_webhook(
        &self,
        req: Request<pb::CreateWebhookRequest>,
    ) -> Result<Response<pb::WebhookReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor.caller)?;
        require_admin(actor.caller.role)?;
        let r = req.into_inner();
        let http_allowed = self.ctx.replica.config.testing.webhooks_allow_http_loopback;
        let events = check(&r, http_allowed)?;
        let new = NewWebhook {
            url: r.url.trim().to_string(),
            events,
            secret: varsel_delivery::webhooks::new_secret(),
            allow_insecure: r.allow_insecure,
            description: r.description,
            idempotency_key: idempotency_key(&r.idempotency_key)?,
        };
        let (reply, _) = self.ctx.propose_keyed(&actor, Op::CreateWebhook(new)).await?;
        if matches!(reply, DomainReply::Deleted) {
            return Err(
                ApiError::NotFound("the webhook this idempotency_key created was deleted".into()).into()
            );
        }
        Ok(Response::new(webhook_reply(reply, true)?))
    }

    async fn list_webhooks(
        &self,
        req: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor.caller)?;
        self.ctx.consistency(req.get_ref().consistency).await?;
        let hooks = wh::list(&self.ctx.replica.state.read_txn(), actor.tenant).map_err(ApiError::from)?;
        let webhooks = hooks.into_iter().map(|w| to_pb(w, false)).collect();
        Ok(Response::new(pb::ListWebhooksReply { webhooks }))
    }

    async fn get_webhook(
        &self,
        req: Request<pb::GetWebhookRequest>,
    ) -> Result<Response<pb::WebhookReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor.caller)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let hook = wh::get(&self.ctx.replica.state.read_txn(), actor.tenant, r.id).map_err(ApiError::from)?;
        let hook = hook.ok_or_else(|| ApiError::NotFound(format!("webhook {} does not exist", r.id)))?;
        Ok(Response::new(pb::WebhookReply { webhook: Some(to_pb(hook, false)) }))
    }

    async fn delete_webhook(
        &self,
        req: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::DeleteWebhookReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor.caller)?;
        require_admin(actor.caller.role)?;
        let id = req.into_inner().id;
        match self.ctx.propose(&actor, Op::DeleteWebhook { id }).await? {
            DomainReply::Deleted => Ok(Response::new(pb::DeleteWebhookReply {})),
            other => Err(unexpected(other).into()),
        }
    }

    async fn enable_webhook(
        &self,
        req: Request<pb::EnableWebhookRequest>,
    ) -> Result<Response<pb::WebhookReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor.caller)?;
        require_admin(actor.caller.role)?;
        let id = req.into_inner().id;
        let reply = self.ctx.propose(&actor, Op::EnableWebhook { id }).await?;
        Ok(Response::new(webhook_reply(reply, false)?))
    }

    async fn list_webhook_deliveries(
        &self,
        req: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor.caller)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let txn = self.ctx.replica.state.read_txn();
        if wh::get(&txn, actor.tenant, r.webhook_id).map_err(ApiError::from)?.is_none() {
            return Err(ApiError::NotFound(format!("webhook {} does not exist", r.webhook_id)).into());
        }
        let limit = page_size(r.page_size, PAGE_DEFAULT);
        let page = wh::attempts(&txn, actor.tenant, r.webhook_id, page_token(&r.page_token)?, limit)
            .map_err(ApiError::from)?;
        let next = if page.len() == limit {
            page.last().map(|(s, _)| s.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let deliveries = page
            .into_iter()
            .map(|(seq, a)| pb::WebhookDelivery {
                seq,
                message_id: a.event.msg_id(),
                event_type: a.kind.as_str().into(),
                event_at_ms: a.event_at_ms,
                at_ms: a.at_ms,
                node_id: a.node,
                status: u32::from(a.status),
                ok: a.ok,
                error: a.error,
                duration_ms: a.duration_ms,
                attempt: a.attempt,
            })
            .collect();
        let waiting = wh::waiting(&txn, actor.tenant).map_err(ApiError::from)?;
        Ok(Response::new(pb::ListWebhookDeliveriesReply { deliveries, next_page_token: next, waiting }))
    }
}
