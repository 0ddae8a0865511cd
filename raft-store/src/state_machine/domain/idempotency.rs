//! Idempotency keys of the operations other than alert creation: creating a tenant, a
//! credential or a group, deleting a group or a contact, cancelling an alert.
//!
//! A key belongs to the actor's tenant (the superadmin's are tenant 0) and to one operation, so
//! the same key used for a group and for a cancellation names two requests. The rule:
//!
//! - **First time.** The operation is applied as usual. If the rules accept it, the key is
//!   recorded with the request (its fields in a canonical encoding, without the key and without
//!   a credential's secret hash, which the receiving node draws anew for every attempt) and the
//!   id of what it made or changed. A refused request records nothing: the retry is judged
//!   afresh, as if it were the first.
//! - **The same request again.** Answered [`DomainReply::Replayed`] with what the first one
//!   made or changed, as it is now (the tenant, the group, the alert), or `Deleted`. Nothing
//!   changes and nothing is audited.
//! - **The same key with another request.** `FAILED_PRECONDITION`, naming what the key was
//!   used for.
//! - **Credentials.** Refused `ALREADY_EXISTS`, naming the credential. Its token was shown
//!   once, in the answer to the first request, and only the token's hash is stored, so no retry
//!   can answer it again; minting a new token instead would leave a second live credential
//!   whose token nobody saw, the very thing the key is there to prevent. The caller who lost
//!   the first answer revokes the named credential and creates another (see
//!   `docs/reference/api.md`).
//!
//! Keys are kept as long as the tenant's data: they are a few dozen bytes each.

use serde::{Deserialize, Serialize};
use varsel_domain::model::Credential;

use super::{Applied, alerts, groups, tenants};
use crate::engine::KvTree;
use crate::error::EngineError;
use crate::format::encode_unversioned as encode;
use crate::ops::{Caller, DomainReply, Op, RefusalCode};
use crate::state_machine::Txn;
use crate::state_machine::keys::{CREDENTIAL, Key, OP_IDEMPOTENCY};

/// What a key recorded: the request it came with and what that request made or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Recorded {
    /// The request's fields, canonically encoded ([`request_bytes`]).
    request: Vec<u8>,
    /// The id of the tenant, credential, group, contact or alert.
    id: u64,
}

/// What [`check`] found.
pub(super) enum Check {
    /// A new key: apply the operation, then [`record`] this request.
    Fresh(Vec<u8>),
    /// The answer, without applying anything.
    Answer(Applied),
}

fn record_key(actor: &Caller, op: &Op, key: &str) -> Vec<u8> {
    Key::new(OP_IDEMPOTENCY).u64(actor.tenant).str(op.name()).tail(key).done()
}

/// The fields that make two requests "the same request".
fn request_bytes(op: &Op) -> Result<Vec<u8>, EngineError> {
    match op {
        Op::CreateTenant { name, limits, .. } => encode("idempotent request", &(name, limits)),
        Op::CreateCredential { tenant, name, role, .. } => {
            encode("idempotent request", &(tenant, name, role))
        }
        Op::CreateGroup { name, .. } => encode("idempotent request", name),
        Op::DeleteContact { id, .. } | Op::DeleteGroup { id, .. } | Op::CancelAlert { id, .. } => {
            encode("idempotent request", id)
        }
        // Not reached: only the operations above have a key (`Op::idempotency_key`).
        other => encode("idempotent request", &other.name()),
    }
}

/// Looks `key` up for `op`: a fresh key, or the answer to a retry.
pub(super) fn check<T: KvTree>(
    txn: &Txn<'_, T>,
    actor: &Caller,
    op: &Op,
    key: &str,
) -> Result<Check, EngineError> {
    if let Err(e) = varsel_domain::idempotency::check_key("idempotency_key", key) {
        return Ok(Check::Answer(Applied::refused(RefusalCode::InvalidArgument, e.to_string())));
    }
    let request = request_bytes(op)?;
    let Some(first) = txn.get_as::<Recorded>("idempotency record", &record_key(actor, op, key))? else {
        return Ok(Check::Fresh(request));
    };
    if first.request != request {
        let m = format!(
            "idempotency_key: already used for {} of {} {} with a different request",
            op.name(),
            what(op),
            first.id
        );
        return Ok(Check::Answer(Applied::refused(RefusalCode::FailedPrecondition, m)));
    }
    replay(txn, actor, op, first.id).map(Check::Answer)
}

/// Records `key` after `op` was applied, unless the rules refused it.
pub(super) fn record<T: KvTree>(
    txn: &mut Txn<'_, T>,
    actor: &Caller,
    op: &Op,
    key: &str,
    request: Vec<u8>,
    applied: &Applied,
) -> Result<(), EngineError> {
    let id = match (&applied.reply, op) {
        (DomainReply::Refused(_), _) => return Ok(()),
        (DomainReply::Tenant(t), _) => t.id,
        (DomainReply::Credential(c), _) => c.id,
        (DomainReply::Group(g), _) => g.id,
        (DomainReply::Alert { alert, .. }, _) => alert.id,
        (DomainReply::Deleted, Op::DeleteContact { id, .. } | Op::DeleteGroup { id, .. }) => *id,
        (other, _) => {
            // Each operation answers its own kind of reply or a refusal; anything else is a bug,
            // and recording nothing keeps the retry as safe as a request without a key.
            debug_assert!(false, "{} answered {other:?}", op.name());
            return Ok(());
        }
    };
    txn.put_as("idempotency record", record_key(actor, op, key), &Recorded { request, id })
}

/// What the operation makes or changes, for messages.
fn what(op: &Op) -> &'static str {
    match op {
        Op::CreateTenant { .. } => "tenant",
        Op::CreateCredential { .. } => "credential",
        Op::CreateGroup { .. } | Op::DeleteGroup { .. } => "group",
        Op::DeleteContact { .. } => "contact",
        _ => "alert",
    }
}

/// The answer to a retry of `op` whose first request made or changed `id`.
fn replay<T: KvTree>(txn: &Txn<'_, T>, actor: &Caller, op: &Op, id: u64) -> Result<Applied, EngineError> {
    let again = |reply: DomainReply| Applied { reply: DomainReply::Replayed(Box::new(reply)), audit: None };
    let gone = || {
        let m = format!("idempotency_key: {} {id}, which it {}, is gone", what(op), verb(op));
        Applied::refused(RefusalCode::FailedPrecondition, m)
    };
    Ok(match op {
        Op::CreateTenant { .. } => tenants::get(txn, id)?.map(DomainReply::Tenant).map_or_else(gone, again),
        Op::CreateCredential { .. } => credential_refusal(txn, id)?,
        Op::CreateGroup { .. } => {
            groups::get(txn, actor.tenant, id)?.map(DomainReply::Group).map_or_else(gone, again)
        }
        Op::DeleteContact { .. } | Op::DeleteGroup { .. } => again(DomainReply::Deleted),
        _ => alerts::get(txn, actor.tenant, id)?
            .map(|a| DomainReply::Alert { alert: Box::new(a), existing: true })
            .map_or_else(gone, again),
    })
}

fn verb(op: &Op) -> &'static str {
    match op {
        Op::CancelAlert { .. } => "cancelled",
        Op::DeleteContact { .. } | Op::DeleteGroup { .. } => "deleted",
        _ => "created",
    }
}

/// A retried credential creation: the credential exists, its token cannot be shown again.
fn credential_refusal<T: KvTree>(txn: &Txn<'_, T>, id: u64) -> Result<Applied, EngineError> {
    let cred: Option<Credential> = txn.get_as("credential", &Key::new(CREDENTIAL).u64(id).done())?;
    let m = match cred {
        Some(c) => format!(
            "idempotency_key: credential {id} ({:?}, {}{}) was already created with this key. Its token was \
             returned once, in the answer to that request, and only the token's hash is stored, so it cannot \
             be returned again. If that answer was lost, revoke credential {id} and create a new credential",
            c.name,
            c.role.as_str(),
            if c.revoked { ", since revoked" } else { "" }
        ),
        None => format!("idempotency_key: credential {id} was already created with this key"),
    };
    Ok(Applied::refused(RefusalCode::AlreadyExists, m))
}
