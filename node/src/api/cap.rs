//! `CapService`: CAP 1.2 messages in (`SubmitCap`), an alert as a CAP document and a tenant's
//! Atom feed out, and the tenant's CAP routes. The CAP rules themselves (reading, writing,
//! priorities, languages, texts) are crate `varsel-cap`'s; routing is `varsel_domain::cap_route`.
//!
//! A message is acted on once: its idempotency key (a hash of sender, identifier and sent) is
//! the created alert's idempotency key and the key it is stored under, so a repost, to any
//! node, answers what the first post did.
//!
//! | `status` | `msgType` Alert / Update | Cancel |
//! |---|---|---|
//! | Actual | an alert to the groups of every matching route; an Update also cancels the alerts it references | cancels the alerts it references |
//! | Exercise | an alert to the tenant's exercise group only | as Actual |
//! | Test, Draft, System | checked and stored, never sent | checked and stored |
//!
//! `Ack` and `Error` messages are checked and stored. An alert starts at the earliest
//! `info/effective` (now if absent or past) and ends at the earliest `info/expires`.

use std::collections::BTreeMap;

use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use varsel_cap::{CapAlert, CapError, MsgType, Status as CapStatus};
use varsel_domain::cap_route::{CapConfig, CapRecord, CapRoute};
use varsel_domain::model::Priority;
use varsel_proto::api as pb;
use varsel_proto::api::alert_service_server::AlertService;
use varsel_proto::api::cap_service_server::CapService;
use varsel_raft_store::ops::{DomainReply, Op};
use varsel_raft_store::state_machine::domain::{cap as store, query};

use super::alerts::Alerts;
use super::{ApiContext, unexpected};
use crate::auth::{Authenticated, require_tenant, require_writer};
use crate::error::{ApiError, ApiResult};

/// Longest alert title (`AlertSpec`'s bound): a CAP headline longer than this is not used as
/// the title; the event is.
const TITLE_CHARS_MAX: usize = 200;

/// The CAP service of one node.
#[derive(Debug, Clone)]
pub struct Cap {
    ctx: ApiContext,
    alerts: Alerts,
}

/// Who a public CAP message goes to: the route's groups; when its `area`s carry polygons or
/// circles, only the members of those groups with a place inside them. A message whose areas
/// hold no registered person is still accepted (and shows 0 matched), since a warning that was
/// issued must not be refused for having no one to reach here.
fn targets(cap: &CapAlert, groups: &[String]) -> pb::Targets {
    let areas = cap.infos.iter().flat_map(|i| &i.areas);
    let area_polygons: Vec<String> =
        areas.clone().flat_map(|a| &a.polygons).map(ToString::to_string).collect();
    let area_circles: Vec<String> = areas.flat_map(|a| &a.circles).map(ToString::to_string).collect();
    if area_polygons.is_empty() && area_circles.is_empty() {
        return pb::Targets { group_names: groups.to_vec(), ..Default::default() };
    }
    pb::Targets {
        area_polygons,
        area_circles,
        within_groups: groups.to_vec(),
        allow_empty_area: true,
        ..Default::default()
    }
}

impl Cap {
    /// A service on `ctx`.
    pub fn new(ctx: ApiContext) -> Self {
        Self { alerts: Alerts::new(ctx.clone()), ctx }
    }
}

/// INVALID_ARGUMENT naming the CAP element and rule, as `google.rpc.BadRequest` details.
fn cap_invalid(e: &CapError) -> Status {
    crate::error::field_status(&e.path, e.rule.code(), &e.to_string())
}

fn config_pb(c: &CapConfig) -> pb::CapConfig {
    pb::CapConfig {
        routes: c
            .routes
            .iter()
            .map(|r| pb::CapRoute {
                sender: r.sender.clone(),
                event: r.event.clone(),
                code: r.code.clone(),
                groups: r.groups.clone(),
            })
            .collect(),
        exercise_group: c.exercise_group.clone(),
    }
}

fn config_of(c: Option<pb::CapConfig>) -> CapConfig {
    let c = c.unwrap_or_default();
    CapConfig {
        routes: c
            .routes
            .into_iter()
            .map(|r| CapRoute {
                sender: r.sender.trim().into(),
                event: r.event.trim().into(),
                code: r.code.trim().into(),
                groups: r.groups.iter().map(|g| g.trim().to_string()).collect(),
            })
            .collect(),
        exercise_group: c.exercise_group.trim().into(),
    }
}

/// A gRPC request carrying `message` with the caller's metadata (its token), for calls into
/// the alert service on the caller's behalf.
fn as_caller<T>(metadata: &MetadataMap, message: T) -> Request<T> {
    let mut r = Request::new(message);
    *r.metadata_mut() = metadata.clone();
    r
}

fn priority_pb(p: Priority) -> i32 {
    match p {
        Priority::Routine => pb::Priority::Routine as i32,
        Priority::Urgent => pb::Priority::Urgent as i32,
        Priority::Crisis => pb::Priority::Crisis as i32,
    }
}

/// The alert's title: the first `info`'s headline when it fits, else its event.
fn title(cap: &CapAlert) -> Result<String, Status> {
    let info = cap.infos.first().ok_or_else(no_info)?;
    let candidates = [info.headline.as_deref(), Some(info.event.as_str())];
    candidates
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|t| !t.is_empty() && t.chars().count() <= TITLE_CHARS_MAX)
        .map(str::to_string)
        .ok_or_else(|| {
            crate::error::field_status(
                "alert/info[1]/event",
                "too_long",
                &format!("alert/info[1]/event: an alert title is at most {TITLE_CHARS_MAX} characters"),
            )
        })
}

fn no_info() -> Status {
    crate::error::field_status(
        "alert/info",
        "required",
        "alert/info: an Alert or Update needs at least one info block to send",
    )
}

/// One language variant per `info` (the first `info` of a language wins), within the tenant's
/// SMS segments.
fn content(cap: &CapAlert, sms_segments_max: u32) -> Result<pb::Content, Status> {
    let mut variants = BTreeMap::new();
    let mut default_language = String::new();
    for (i, info) in cap.infos.iter().enumerate() {
        let n = i + 1;
        let lang = varsel_cap::mapping::language(info, n).map_err(|e| cap_invalid(&e))?;
        if variants.contains_key(&lang) {
            continue;
        }
        let t = varsel_cap::mapping::channel_texts(info, n, sms_segments_max).map_err(|e| cap_invalid(&e))?;
        if default_language.is_empty() {
            default_language = lang.clone();
        }
        let variant = pb::ChannelContent {
            sms_text: t.sms_text,
            email_subject: t.email_subject,
            email_text: t.email_text,
            email_html: t.email_html,
            voice_script: t.voice_script,
            push_title: t.push_title,
            push_body: t.push_body,
        };
        variants.insert(lang, variant);
    }
    if variants.is_empty() {
        return Err(no_info());
    }
    Ok(pb::Content { default_language, variants: variants.into_iter().collect() })
}

fn record_of(cap: &CapAlert, xml: String, alert: Option<u64>) -> CapRecord {
    CapRecord {
        key: cap.idempotency_key(),
        sent_ms: cap.sent.unix_ms().unwrap_or(0),
        status: cap.status.as_str().into(),
        msg_type: cap.msg_type.as_str().into(),
        scope: cap.scope.as_str().into(),
        alert,
        xml,
    }
}

impl Cap {
    /// Records a message for `actor`, the caller `submit_cap` already authenticated.
    async fn store(&self, actor: &Authenticated, record: CapRecord) -> ApiResult<(CapRecord, bool)> {
        match self.ctx.propose(actor, Op::RecordCap { record }).await? {
            DomainReply::CapRecord { record, existing } => Ok((record, existing)),
            other => Err(unexpected(other)),
        }
    }

    /// Cancels each referenced alert that is still running; returns those cancelled.
    async fn cancel_referenced(
        &self,
        metadata: &MetadataMap,
        tenant: u64,
        cap: &CapAlert,
    ) -> Result<Vec<u64>, Status> {
        let mut cancelled = Vec::new();
        for r in &cap.references {
            let found = store::record(&self.ctx.replica.state.read_txn(), tenant, &r.idempotency_key())
                .map_err(ApiError::from)?;
            let Some(alert) = found.and_then(|rec| rec.alert) else { continue };
            let req = pb::CancelAlertRequest { id: alert, idempotency_key: String::new() };
            match self.alerts.cancel_alert(as_caller(metadata, req)).await {
                Ok(_) => cancelled.push(alert),
                // Finished already (completed, expired, cancelled): nothing to stop.
                Err(s) if s.code() == tonic::Code::FailedPrecondition => {}
                Err(s) => return Err(s),
            }
        }
        Ok(cancelled)
    }

    /// The groups an Alert or Update goes to, by its status and the tenant's routes.
    fn groups(&self, tenant: u64, cap: &CapAlert) -> Result<Vec<String>, Status> {
        let config = store::config(&self.ctx.replica.state.read_txn(), tenant).map_err(ApiError::from)?;
        if cap.status == CapStatus::Exercise {
            if config.exercise_group.is_empty() {
                return Err(ApiError::FailedPrecondition(
                    "alert/status: Exercise messages go only to the tenant's exercise group, and none is set \
                     (PUT /api/v1/cap/config with exercise_group)"
                        .into(),
                )
                .into());
            }
            return Ok(vec![config.exercise_group]);
        }
        let events: Vec<&str> = cap.infos.iter().map(|i| i.event.as_str()).collect();
        let codes: Vec<&str> = cap.codes.iter().map(String::as_str).collect();
        let groups = config.groups_for(&cap.sender, &events, &codes);
        if groups.is_empty() {
            return Err(ApiError::FailedPrecondition(format!(
                "no CAP route of this tenant matches sender {:?}, events {events:?}, codes {codes:?}; \
                 add one (PUT /api/v1/cap/config)",
                cap.sender
            ))
            .into());
        }
        Ok(groups)
    }

    async fn send(
        &self,
        metadata: &MetadataMap,
        actor: &Authenticated,
        cap: &CapAlert,
        xml: String,
    ) -> Result<pb::SubmitCapReply, Status> {
        let tenant = actor.tenant;
        let groups = self.groups(tenant, cap)?;
        let segments = query::tenant(&self.ctx.replica.state.read_txn(), tenant)
            .map_err(ApiError::from)?
            .map_or(0, |t| t.limits.max_sms_segments);
        // The earliest `effective` is when sending starts (in the past: now); the earliest
        // `expires` ends it.
        let send_at_ms = cap.infos.iter().filter_map(|i| i.effective.as_ref()?.unix_ms()).min().unwrap_or(0);
        let expires_at_ms = cap.infos.iter().filter_map(|i| i.expires.as_ref()?.unix_ms()).min().unwrap_or(0);
        let create = pb::CreateAlertRequest {
            idempotency_key: cap.idempotency_key(),
            title: title(cap)?,
            priority: priority_pb(cap.priority()),
            content: Some(content(cap, segments)?),
            targets: Some(targets(cap, &groups)),
            send_at_ms,
            expires_at_ms,
            ..Default::default()
        };
        let reply = self.alerts.create_alert(as_caller(metadata, create)).await?.into_inner();
        let id = reply.alert.as_ref().map_or(0, |a| a.id);
        self.store(actor, record_of(cap, xml, Some(id))).await?;
        let cancelled = if cap.msg_type == MsgType::Update {
            self.cancel_referenced(metadata, tenant, cap).await?
        } else {
            Vec::new()
        };
        let outcome = if cap.status == CapStatus::Exercise { "exercise" } else { "sent" };
        Ok(pb::SubmitCapReply {
            outcome: outcome.into(),
            alert: reply.alert,
            existing: reply.existing,
            cancelled,
            groups,
        })
    }

    /// What was done with a message received before.
    async fn replay(&self, metadata: &MetadataMap, first: CapRecord) -> Result<pb::SubmitCapReply, Status> {
        let alert = match first.alert {
            Some(id) => {
                let req = pb::GetAlertRequest { id, consistency: pb::Consistency::Local as i32 };
                self.alerts.get_alert(as_caller(metadata, req)).await?.into_inner().alert
            }
            None => None,
        };
        let outcome = match (first.alert, first.msg_type.as_str(), first.status.as_str()) {
            (Some(_), _, "Exercise") => "exercise",
            (Some(_), _, _) => "sent",
            (None, "Cancel", "Actual" | "Exercise") => "cancelled",
            _ => "stored",
        };
        Ok(pb::SubmitCapReply { outcome: outcome.into(), alert, existing: true, ..Default::default() })
    }
}

#[tonic::async_trait]
impl CapService for Cap {
    async fn put_cap_config(
        &self,
        req: Request<pb::PutCapConfigRequest>,
    ) -> Result<Response<pb::CapConfig>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let config = config_of(req.into_inner().config);
        match self.ctx.propose(&actor, Op::SetCapConfig { tenant: actor.tenant, config }).await? {
            DomainReply::CapConfig(c) => Ok(Response::new(config_pb(&c))),
            other => Err(unexpected(other).into()),
        }
    }

    async fn get_cap_config(
        &self,
        req: Request<pb::GetCapConfigRequest>,
    ) -> Result<Response<pb::CapConfig>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        self.ctx.consistency(req.get_ref().consistency).await?;
        let c = store::config(&self.ctx.replica.state.read_txn(), actor.tenant).map_err(ApiError::from)?;
        Ok(Response::new(config_pb(&c)))
    }

    async fn submit_cap(
        &self,
        req: Request<pb::SubmitCapRequest>,
    ) -> Result<Response<pb::SubmitCapReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        require_writer(&actor)?;
        let metadata = req.metadata().clone();
        let xml = req.into_inner().xml;
        let cap = varsel_cap::parse(&xml).map_err(|e| cap_invalid(&e))?;
        let key = cap.idempotency_key();
        let first =
            store::record(&self.ctx.replica.state.read_txn(), actor.tenant, &key).map_err(ApiError::from)?;
        if let Some(first) = first {
            return Ok(Response::new(self.replay(&metadata, first).await?));
        }
        let public = matches!(cap.status, CapStatus::Actual | CapStatus::Exercise);
        let reply = match cap.msg_type {
            MsgType::Alert | MsgType::Update if public => self.send(&metadata, &actor, &cap, xml).await?,
            MsgType::Cancel if public => {
                let cancelled = self.cancel_referenced(&metadata, actor.tenant, &cap).await?;
                let (_, existing) = self.store(&actor, record_of(&cap, xml, None)).await?;
                pb::SubmitCapReply { outcome: "cancelled".into(), cancelled, existing, ..Default::default() }
            }
            _ => {
                let (_, existing) = self.store(&actor, record_of(&cap, xml, None)).await?;
                pb::SubmitCapReply { outcome: "stored".into(), existing, ..Default::default() }
            }
        };
        Ok(Response::new(reply))
    }

    async fn get_alert_cap(
        &self,
        req: Request<pb::GetAlertCapRequest>,
    ) -> Result<Response<pb::CapDocument>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let metadata = req.metadata().clone();
        let r = req.into_inner();
        let get = pb::GetAlertRequest { id: r.alert_id, consistency: r.consistency };
        let alert =
            self.alerts.get_alert(as_caller(&metadata, get)).await?.into_inner().alert.unwrap_or_default();
        let record = store::record_of_alert(&self.ctx.replica.state.read_txn(), actor.tenant, r.alert_id)
            .map_err(ApiError::from)?;
        let cap = match record.map(|rec| varsel_cap::parse(&rec.xml)) {
            Some(Ok(cap)) => cap,
            Some(Err(e)) => {
                return Err(ApiError::Internal(format!("stored CAP message does not read: {e}")).into());
            }
            None => crate::api::cap_out::of_alert(actor.tenant, &alert)
                .map_err(|e| ApiError::Internal(format!("alert {} as CAP: {e}", r.alert_id)))?,
        };
        Ok(Response::new(pb::CapDocument { xml: varsel_cap::to_xml(&cap) }))
    }

    async fn cap_feed(&self, req: Request<pb::CapFeedRequest>) -> Result<Response<pb::CapDocument>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        self.ctx.consistency(req.get_ref().consistency).await?;
        let txn = self.ctx.replica.state.read_txn();
        let mut records = store::records(&txn, actor.tenant).map_err(ApiError::from)?;
        records.retain(|r| r.scope == "Public" && r.status == "Actual" && r.alert.is_some());
        records.sort_by_key(|r| std::cmp::Reverse(r.sent_ms));
        let tenant_name =
            query::tenant(&txn, actor.tenant).map_err(ApiError::from)?.map(|t| t.name).unwrap_or_default();
        let xml = crate::api::cap_out::feed(actor.tenant, &tenant_name, &records);
        Ok(Response::new(pb::CapDocument { xml }))
    }
}
