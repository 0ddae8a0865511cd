//! Applying domain operations: authorisation, then the operation, then the audit record.
//!
//! Everything here is deterministic: it reads only the transaction and the entry's context
//! (log index and the log clock), so every node reaches the same state and the same answer.
//!
//! One file per kind of record (`tenants`, `contacts`, `groups`, `alerts`), `sync` for the
//! removal step of a list sync and its plan, `erase` and
//! `export` for one person's data (with `reach`, which finds it), `query` for reads,
//! and `idempotency`, which a create, delete or cancel carrying an idempotency key passes
//! through first: a retry is answered from what the first request made, not applied again.

pub(crate) mod alerts;
pub mod answers;
pub mod cap;
pub(crate) mod contacts;
pub mod directory;
mod erase;
pub mod export;
mod groups;
mod idempotency;
pub mod locations;
pub mod members;
pub mod query;
mod reach;
pub mod sync;
mod tenants;

use varsel_domain::model::{AuditRecord, Role, TenantId};

use crate::engine::KvTree;
use crate::error::EngineError;
use crate::ops::{Caller, DomainReply, DomainRequest, Op, Refusal, RefusalCode};
use crate::state_machine::Txn;
use crate::state_machine::keys::{AUDIT, CREDENTIAL, Key, SEQ};

pub use alerts::{Ack, ChannelProgress, Progress, ack_key, progress_key};

/// Where in the log an operation is applied.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Log index of the entry.
    pub index: u64,
    /// The state machine's clock for the entry (ms).
    pub now_ms: u64,
    /// The state machine's lease clock for the entry (ms): leases and node heartbeats.
    pub lease_now_ms: u64,
}

/// The outcome of one operation before auditing: the reply, and what to write in the audit
/// trail when it changed something.
pub(crate) struct Applied {
    pub(crate) reply: DomainReply,
    pub(crate) audit: Option<(TenantId, String, String)>,
}

impl Applied {
    fn refused(code: RefusalCode, message: impl Into<String>) -> Self {
        Applied { reply: DomainReply::Refused(Refusal::new(code, message)), audit: None }
    }

    fn done(reply: DomainReply, tenant: TenantId, target: String, detail: String) -> Self {
        Applied { reply, audit: Some((tenant, target, detail)) }
    }
}

/// What an operation needs from its actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// The superadmin.
    SuperAdmin,
    /// A tenant credential that may write (operator, admin).
    TenantWrite,
    /// A tenant admin, or the superadmin acting for a tenant.
    CredentialAdmin,
}

fn need(op: &Op) -> Need {
    match op {
        Op::CreateTenant { .. } | Op::SetLimits { .. } | Op::SetRetention { .. } => Need::SuperAdmin,
        Op::CreateCredential { .. } | Op::RevokeCredential { .. } | Op::SetCapConfig { .. } => {
            Need::CredentialAdmin
        }
        _ => Need::TenantWrite,
    }
}

/// Applies one domain request.
pub(crate) fn apply<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    req: &DomainRequest,
) -> Result<DomainReply, EngineError> {
    if let Some(refusal) = authorize(txn, &req.actor, need(&req.op))? {
        return Ok(DomainReply::Refused(refusal));
    }
    let actor = req.actor;
    txn.savepoint();
    let applied = apply_op(txn, ctx, &actor, &req.op);
    let applied = match applied {
        Ok(a) if matches!(a.reply, DomainReply::Refused(_)) => {
            txn.rollback();
            a
        }
        Ok(a) => {
            txn.release();
            a
        }
        Err(e) => {
            txn.rollback();
            return Err(e);
        }
    };
    if let Some((tenant, target, detail)) = applied.audit {
        let record = AuditRecord {
            at_ms: ctx.now_ms,
            credential: actor.credential,
            action: req.op.name().to_string(),
            target,
            detail,
        };
        write_audit(txn, tenant, ctx.index, &record)?;
    }
    Ok(applied.reply)
}

/// Appends to a tenant's audit trail. One record per log entry and tenant.
pub(crate) fn write_audit<T: KvTree>(
    txn: &mut Txn<'_, T>,
    tenant: TenantId,
    index: u64,
    record: &AuditRecord,
) -> Result<(), EngineError> {
    txn.put_as("audit record", Key::new(AUDIT).u64(tenant).u64(index).done(), record)
}

/// Applies `op`, or answers a retry of it when its idempotency key was seen before.
fn apply_op<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    op: &Op,
) -> Result<Applied, EngineError> {
    let Some(key) = op.idempotency_key() else { return run_op(txn, ctx, actor, op) };
    let request = match idempotency::check(txn, actor, op, key)? {
        idempotency::Check::Answer(applied) => return Ok(applied),
        idempotency::Check::Fresh(request) => request,
    };
    let applied = run_op(txn, ctx, actor, op)?;
    idempotency::record(txn, actor, op, key, request, &applied)?;
    Ok(applied)
}

fn run_op<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    op: &Op,
) -> Result<Applied, EngineError> {
    let actor = *actor;
    Ok(match op {
        Op::CreateTenant { name, limits, .. } => tenants::create(txn, ctx, name, limits)?,
        Op::SetLimits { tenant, limits } => tenants::set_limits(txn, *tenant, limits)?,
        Op::CreateCredential { tenant, name, role, secret_hash, .. } => {
            tenants::create_credential(txn, ctx, &actor, *tenant, name, *role, secret_hash)?
        }
        Op::RevokeCredential { id } => tenants::revoke_credential(txn, &actor, *id)?,
        Op::UpsertContacts { contacts } => contacts::upsert(txn, ctx, actor.tenant, contacts)?,
        Op::DeleteContact { id, .. } => contacts::delete(txn, ctx, actor.tenant, *id)?,
        Op::CreateGroup { name, .. } => groups::create(txn, ctx, actor.tenant, name)?.0,
        Op::DeleteGroup { id, .. } => groups::delete(txn, actor.tenant, *id)?,
        Op::ChangeMembers { group, add, remove } => {
            groups::change_members(txn, ctx, actor.tenant, *group, add, remove)?
        }
        Op::PutTemplate { name, content } => alerts::put_template(txn, ctx, actor.tenant, name, content)?,
        Op::CreateAlert { spec, trace } => alerts::create(txn, ctx, &actor, spec, trace.as_deref(), None)?,
        Op::CancelAlert { id, .. } => alerts::cancel(txn, ctx, &actor, *id)?,
        Op::ResumeAlert { id } => alerts::resume(txn, &actor, *id)?,
        Op::SetRetention { tenant, retention } => tenants::set_retention(txn, *tenant, retention)?,
        Op::Acknowledge { alert, contact, channel } => {
            alerts::acknowledge(txn, ctx, actor.tenant, *alert, *contact, *channel)?
        }
        Op::EraseContact { id } => erase::erase(txn, ctx, actor.tenant, *id)?,
        Op::SetCapConfig { tenant, config } => cap::set_config(txn, *tenant, config)?,
        Op::RecordCap { record } => cap::store(txn, actor.tenant, record)?,
        Op::CreateWebhook(new) => crate::state_machine::webhooks::create(txn, ctx, &actor, new)?,
        Op::DeleteWebhook { id } => crate::state_machine::webhooks::delete(txn, &actor, *id)?,
        Op::EnableWebhook { id } => crate::state_machine::webhooks::enable(txn, ctx, &actor, *id)?,
        Op::SyncMembers { group, expect_next_seq, expect_member_count, leave, rows, rejected } => {
            let expect = sync::Expect { next_seq: *expect_next_seq, member_count: *expect_member_count };
            sync::apply(txn, ctx, actor.tenant, *group, expect, leave, (*rows, *rejected))?
        }
        Op::UpsertContactDirectory { contact, directory, replace, create_only } => {
            let u = directory::UpsertDirectory {
                input: contact,
                directory: directory.as_ref(),
                replace: *replace,
                create_only: *create_only,
            };
            directory::upsert(txn, ctx, actor.tenant, &u)?
        }
        Op::UpdateGroup { id, name, directory_id } => {
            directory::update_group(txn, actor.tenant, *id, name, directory_id.as_deref())?
        }
        Op::WithLocations { op, locations } => with_locations(txn, ctx, &actor, op, locations)?,
        Op::CreateAreaAlert { spec, trace, area } => {
            alerts::create(txn, ctx, &actor, spec, trace.as_deref(), Some(area))?
        }
        Op::WithAnswers { op, answers } => answers::create_with(txn, ctx, &actor, op, answers)?,
    })
}

/// Applies an upsert, then replaces the places of the contacts named. A contact the upsert did
/// not write (a rejected row) keeps its places.
fn with_locations<T: KvTree>(
    txn: &mut Txn<'_, T>,
    ctx: Ctx,
    actor: &Caller,
    op: &Op,
    locations: &[(String, Vec<varsel_domain::location::Location>)],
) -> Result<Applied, EngineError> {
    if !matches!(op, Op::UpsertContacts { .. } | Op::UpsertContactDirectory { .. }) {
        let m = format!("locations go with a contact upsert, not with {}", op.name());
        return Ok(Applied::refused(RefusalCode::InvalidArgument, m));
    }
    let applied = run_op(txn, ctx, actor, op)?;
    if matches!(applied.reply, DomainReply::Refused(_)) {
        return Ok(applied);
    }
    // Rows of a batch the rules refused (a limit) keep their contact's places as they were.
    let refused: std::collections::BTreeSet<&str> = match (op, &applied.reply) {
        (Op::UpsertContacts { contacts }, DomainReply::Upserted(u)) => u
            .refused
            .iter()
            .filter_map(|(i, _)| contacts.get(*i as usize).map(|c| c.external_id.as_str()))
            .collect(),
        _ => Default::default(),
    };
    for (external_id, places) in locations.iter().filter(|(e, _)| !refused.contains(e.as_str())) {
        if let Err(e) = varsel_domain::location::check_locations(places) {
            return Ok(Applied::refused(RefusalCode::InvalidArgument, format!("{external_id}: {e}")));
        }
        if let Some(contact) = contacts::by_external_id(txn, actor.tenant, external_id)? {
            locations::set(txn, actor.tenant, contact, places)?;
        }
    }
    Ok(applied)
}

/// Checks the actor against the stored credential and the operation's need. `Some` is a
/// refusal.
fn authorize<T: KvTree>(
    txn: &Txn<'_, T>,
    actor: &Caller,
    need: Need,
) -> Result<Option<Refusal>, EngineError> {
    let deny = |m: String| Ok(Some(Refusal::new(RefusalCode::PermissionDenied, m)));
    let role = if actor.credential == 0 {
        // The superadmin token is configured on the nodes, not stored; the node vouched for it.
        if actor.role != Role::SuperAdmin || actor.tenant != 0 {
            return deny("credential 0 is reserved for the superadmin".into());
        }
        Role::SuperAdmin
    } else {
        let cred: Option<varsel_domain::model::Credential> =
            txn.get_as("credential", &Key::new(CREDENTIAL).u64(actor.credential).done())?;
        match cred {
            Some(c) if !c.revoked && c.tenant == actor.tenant => c.role,
            Some(c) if c.revoked => return deny(format!("credential {} is revoked", actor.credential)),
            _ => return deny(format!("credential {} is unknown", actor.credential)),
        }
    };
    let allowed = match need {
        Need::SuperAdmin => role == Role::SuperAdmin,
        Need::TenantWrite => actor.tenant != 0 && role.can_write(),
        Need::CredentialAdmin => role.can_manage_credentials(),
    };
    if allowed { Ok(None) } else { deny(format!("role {} may not do this", role.as_str())) }
}

/// Takes the next id of the sequence `name` (ids start at 1).
pub(crate) fn next_id<T: KvTree>(txn: &mut Txn<'_, T>, name: &str) -> Result<u64, EngineError> {
    let key = Key::new(SEQ).tail(name).done();
    let next: u64 = txn.get_as("sequence", &key)?.unwrap_or(1);
    txn.put_as("sequence", key, &(next + 1))?;
    Ok(next)
}
