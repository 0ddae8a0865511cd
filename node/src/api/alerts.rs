//! `AlertService`: templates, alerts, progress watching, acknowledgements and replies.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use tonic::{Request, Response, Status};
use varsel_domain::alert_spec;
use varsel_domain::answers::{AlertAnswers, AnswerOption};
use varsel_domain::location::AreaTarget;
use varsel_domain::model::{Alert, AlertSpec};
use varsel_proto::api as pb;
use varsel_proto::api::alert_service_server::AlertService;
use varsel_raft_store::ops::{Caller, DomainReply, Op};
use varsel_raft_store::state_machine::domain::{answers, locations, query};

use super::convert::{
    alert_pb, answer_option, answer_option_pb, area_input, content, invalid, page_size, page_token, policy,
    priority, targets, template_pb,
};
use super::{ApiContext, idempotency_key, unexpected};
use crate::auth::{require_tenant, require_writer};
use varsel_domain::Rule;

use crate::error::{ApiError, ApiResult};

/// Default page size of alert lists.
pub const PAGE_DEFAULT: usize = 50;
/// Shortest interval between two progress messages of one watch stream: progress changes
/// with every recorded batch, a person watching needs a few updates per second at most.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// Watch streams buffer this many messages for a slow client before it is dropped.
pub const WATCH_BUFFER: usize = 16;
/// A watch stream repeats the current state after this much silence, so clients (and proxies)
/// can tell a quiet alert from a dead connection.
pub const WATCH_KEEPALIVE: Duration = Duration::from_secs(10);

/// The alert service of one node.
#[derive(Debug, Clone)]
pub struct Alerts {
    ctx: ApiContext,
}

impl Alerts {
    /// A service on `ctx`.
    pub fn new(ctx: ApiContext) -> Self {
        Self { ctx }
    }

    fn alert_reply(&self, alert: &Alert, existing: bool) -> ApiResult<pb::AlertReply> {
        let txn = self.ctx.replica.state.read_txn();
        let progress = query::progress(&txn, alert.id)?;
        let area = locations::area_of(&txn, alert.id)?;
        let mut a = alert_pb(alert, &progress, area.as_ref());
        if let Some(asked) = answers::of(&txn, alert.id)? {
            a.answer_options = asked.options.iter().map(answer_option_pb).collect();
            a.answer_counts = answers::counts(&txn, alert.id)?;
        }
        Ok(pb::AlertReply { alert: Some(a), existing })
    }

    /// The content of a request: inline, or a copy of the named template (looked up again
    /// after a read barrier if this node has not applied it yet).
    async fn request_content(
        &self,
        actor: &Caller,
        r: &pb::CreateAlertRequest,
    ) -> ApiResult<varsel_domain::model::Content> {
        match (r.template_name.trim(), r.content.as_ref()) {
            ("", Some(c)) => Ok(content(Some(c))),
            ("", None) => Err(ApiError::invalid("content", Rule::Required, "give content or template_name")),
            (_, Some(_)) => {
                Err(ApiError::invalid("content", Rule::Value, "give content or template_name, not both"))
            }
            (name, None) => {
                let find = || query::template(&self.ctx.replica.state.read_txn(), actor.tenant, name);
                let t = match find()? {
                    Some(t) => Some(t),
                    None => {
                        self.ctx.replica.read_barrier().await?;
                        find()?
                    }
                };
                t.map(|t| t.content)
                    .ok_or_else(|| ApiError::NotFound(format!("template_name: no template {name:?}")))
            }
        }
    }

    async fn spec(
        &self,
        actor: &Caller,
        r: pb::CreateAlertRequest,
    ) -> ApiResult<(AlertSpec, Option<AreaTarget>, Vec<AnswerOption>)> {
        let content = self.request_content(actor, &r).await?;
        let options: Vec<AnswerOption> = r.answer_options.iter().map(answer_option).collect();
        let area = area_input(r.targets.as_ref())?;
        let (groups, contacts) = targets(r.targets.as_ref());
        let mut spec = AlertSpec {
            idempotency_key: r.idempotency_key.trim().to_string(),
            title: r.title.trim().to_string(),
            priority: priority(r.priority)?,
            content,
            variables: r.variables.into_iter().collect(),
            groups,
            contacts,
            policy: policy(&r.policy)?,
            send_at_ms: (r.send_at_ms != 0).then_some(r.send_at_ms),
            expires_at_ms: (r.expires_at_ms != 0).then_some(r.expires_at_ms),
        };
        // Check here with the limits this node knows, so the caller gets every error at once
        // before anything is proposed; the state machine checks again with committed limits.
        let tenant = query::tenant(&self.ctx.replica.state.read_txn(), actor.tenant)?
            .ok_or_else(|| ApiError::NotFound(format!("tenant {} does not exist", actor.tenant)))?;
        // Times are judged by the log's clock, as the state machine will, not this node's wall
        // clock (which may be wrong, see `crate::raft::clock`).
        let now = self.ctx.replica.log_clock.now_ms();
        let mut errors = match alert_spec::validate_with_area(&mut spec, area.as_ref(), &tenant.limits, now) {
            Ok(()) => varsel_domain::ValidationErrors::new(),
            Err(e) => e,
        };
        if let Err(e) = varsel_domain::answers::validate(&options, &spec.content) {
            e.into_vec().into_iter().for_each(|e| errors.push(e));
        }
        errors.into_result().map_err(invalid)?;
        Ok((spec, area, options))
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::AlertReply, Status>> + Send>>;

#[tonic::async_trait]
impl AlertService for Alerts {
    async fn put_template(
        &self,
        req: Request<pb::PutTemplateRequest>,
    ) -> Result<Response<pb::TemplateReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let t = req
            .into_inner()
            .template
            .ok_or_else(|| ApiError::invalid("template", Rule::Required, "is required"))?;
        let op = Op::PutTemplate { name: t.name.trim().to_string(), content: content(t.content.as_ref()) };
        match self.ctx.propose(&actor, op).await? {
            DomainReply::Template(t) => {
                Ok(Response::new(pb::TemplateReply { template: Some(template_pb(&t)) }))
            }
            other => Err(unexpected(other).into()),
        }
    }

    async fn get_template(
        &self,
        req: Request<pb::GetTemplateRequest>,
    ) -> Result<Response<pb::TemplateReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let t = query::template(&self.ctx.replica.state.read_txn(), actor.tenant, &r.name)
            .map_err(ApiError::from)?;
        let t = t.ok_or_else(|| ApiError::NotFound(format!("no template {:?}", r.name)))?;
        Ok(Response::new(pb::TemplateReply { template: Some(template_pb(&t)) }))
    }

    async fn list_templates(
        &self,
        req: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        self.ctx.consistency(req.get_ref().consistency).await?;
        let ts =
            query::templates(&self.ctx.replica.state.read_txn(), actor.tenant).map_err(ApiError::from)?;
        Ok(Response::new(pb::ListTemplatesReply { templates: ts.iter().map(template_pb).collect() }))
    }

    async fn create_alert(
        &self,
        req: Request<pb::CreateAlertRequest>,
    ) -> Result<Response<pb::AlertReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let (spec, area, options) = self.spec(&actor, req.into_inner()).await?;
        let trace = varsel_observe::trace::TraceCarrier::current().traceparent;
        let mut op = match area {
            Some(area) => Op::CreateAreaAlert { spec, trace, area },
            None => Op::CreateAlert { spec, trace },
        };
        if !options.is_empty() {
            // The key of the response links: drawn here, replicated with the alert, so every
            // node checks a link the same way.
            let answers = AlertAnswers { options, link_key: rand::random() };
            op = Op::WithAnswers { op: Box::new(op), answers };
        }
        match self.ctx.propose(&actor, op).await? {
            DomainReply::Alert { alert, existing } => Ok(Response::new(self.alert_reply(&alert, existing)?)),
            other => Err(unexpected(other).into()),
        }
    }

    async fn preview_alert(
        &self,
        req: Request<pb::PreviewAlertRequest>,
    ) -> Result<Response<pb::PreviewAlertReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let (groups, contacts) = targets(r.targets.as_ref());
        let area = area_input(r.targets.as_ref())?.unwrap_or_default();
        // Counting a national area reads every contact it holds: seconds, off the async
        // workers (which also carry this node's Raft heartbeats).
        let state = self.ctx.replica.state.clone();
        let tenant = actor.tenant;
        let reach = tokio::task::spawn_blocking(move || {
            locations::reach(&state.read_txn(), tenant, &groups, &contacts, &area)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("the preview stopped: {e}")))?
        .map_err(ApiError::from)?
        .map_err(ApiError::NotFound)?;
        let [sms, voice, email, push] = reach.per_channel;
        Ok(Response::new(pb::PreviewAlertReply {
            contacts: reach.contacts,
            in_areas: reach.in_areas,
            sms,
            voice,
            email,
            push,
        }))
    }

    async fn get_alert(&self, req: Request<pb::GetAlertRequest>) -> Result<Response<pb::AlertReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let a =
            query::alert(&self.ctx.replica.state.read_txn(), actor.tenant, r.id).map_err(ApiError::from)?;
        let a = a.ok_or_else(|| ApiError::NotFound(format!("alert {} does not exist", r.id)))?;
        Ok(Response::new(self.alert_reply(&a, false)?))
    }

    async fn list_alerts(
        &self,
        req: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let limit = page_size(r.page_size, PAGE_DEFAULT);
        let page = query::alerts(
            &self.ctx.replica.state.read_txn(),
            actor.tenant,
            page_token(&r.page_token)?,
            limit,
        )
        .map_err(ApiError::from)?;
        let next = if page.len() == limit {
            page.last().map(|a| a.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let alerts = page
            .iter()
            .map(|a| self.alert_reply(a, false).map(|r| r.alert.unwrap_or_default()))
            .collect::<ApiResult<_>>()?;
        Ok(Response::new(pb::ListAlertsReply { alerts, next_page_token: next }))
    }

    async fn cancel_alert(
        &self,
        req: Request<pb::CancelAlertRequest>,
    ) -> Result<Response<pb::AlertReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let r = req.into_inner();
        let op = Op::CancelAlert { id: r.id, idempotency_key: idempotency_key(&r.idempotency_key)? };
        match self.ctx.propose_keyed(&actor, op).await? {
            (DomainReply::Alert { alert, .. }, existing) => {
                Ok(Response::new(self.alert_reply(&alert, existing)?))
            }
            (other, _) => Err(unexpected(other).into()),
        }
    }

    async fn resume_alert(
        &self,
        req: Request<pb::ResumeAlertRequest>,
    ) -> Result<Response<pb::AlertReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let op = Op::ResumeAlert { id: req.into_inner().id };
        match self.ctx.propose_keyed(&actor, op).await? {
            (DomainReply::Alert { alert, .. }, existing) => {
                Ok(Response::new(self.alert_reply(&alert, existing)?))
            }
            (other, _) => Err(unexpected(other).into()),
        }
    }

    type WatchAlertStream = WatchStream;

    async fn watch_alert(
        &self,
        req: Request<pb::WatchAlertRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let id = req.into_inner().id;
        if query::alert(&self.ctx.replica.state.read_txn(), actor.tenant, id)
            .map_err(ApiError::from)?
            .is_none()
        {
            return Err(ApiError::NotFound(format!("alert {id} does not exist")).into());
        }
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_BUFFER);
        tokio::spawn(watch(self.clone(), actor.caller, id, tx));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn acknowledge(&self, req: Request<pb::AckRequest>) -> Result<Response<pb::AckReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let r = req.into_inner();
        let op = Op::Acknowledge { alert: r.alert_id, contact: r.contact_id, channel: None };
        match self.ctx.propose(&actor, op).await? {
            DomainReply::Acknowledged { already } => Ok(Response::new(pb::AckReply { already })),
            other => Err(unexpected(other).into()),
        }
    }

    async fn list_replies(
        &self,
        req: Request<pb::ListRepliesRequest>,
    ) -> Result<Response<pb::ListRepliesReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        Ok(Response::new(super::replies::list(&self.ctx, &actor, req.into_inner()).await?))
    }
}

/// Sends the alert each time it changes (at most every [`WATCH_INTERVAL`]) until it is final
/// or the client goes away. An alert with answer options is watched on after it is final,
/// until the client goes away: most answers come after the last message was sent.
async fn watch(
    svc: Alerts,
    actor: Caller,
    id: u64,
    tx: tokio::sync::mpsc::Sender<Result<pb::AlertReply, Status>>,
) {
    let mut applied = svc.ctx.replica.state.subscribe();
    let mut last: Option<pb::AlertReply> = None;
    let mut last_sent = tokio::time::Instant::now();
    loop {
        let current = query::alert(&svc.ctx.replica.state.read_txn(), actor.tenant, id)
            .map_err(ApiError::from)
            .and_then(|a| a.ok_or_else(|| ApiError::NotFound(format!("alert {id} is gone"))))
            .and_then(|a| svc.alert_reply(&a, false).map(|r| (a.status.is_final(), r)));
        let (finished, reply) = match current {
            Ok(x) => x,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        };
        if last.as_ref() != Some(&reply) || last_sent.elapsed() >= WATCH_KEEPALIVE {
            last = Some(reply.clone());
            last_sent = tokio::time::Instant::now();
            if tx.send(Ok(reply)).await.is_err() {
                return;
            }
        }
        if finished
            && last.as_ref().and_then(|r| r.alert.as_ref()).is_none_or(|a| a.answer_options.is_empty())
        {
            return;
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(WATCH_KEEPALIVE) => {}
            _ = tx.closed() => return,
        }
    }
}
