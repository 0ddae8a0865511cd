//! The gRPC services every node serves on its API port.
//!
//! The public API ([`tenants`], [`contacts`] with [`list_sync`], [`alerts`], [`audit`],
//! [`webhooks`]) shares [`ApiContext`]:
//! authenticate the bearer token, make a read linearizable when asked, propose an operation
//! and turn a refusal by the rules into the matching status code.

pub mod admin;
pub mod alerts;
pub mod audit;
pub mod cap;
pub mod cap_out;
pub mod contacts;
pub mod convert;
pub mod kv;
pub mod limits;
pub mod list_sync;
pub mod replies;
pub mod tenants;
pub mod webhooks;

use std::sync::Arc;

use varsel_proto::api::Consistency;
use varsel_raft_store::ops::{DomainReply, DomainRequest, Op};
use varsel_raft_store::{Request, Response};

use crate::auth::{Authenticated, Authenticator};
use crate::error::{ApiError, ApiResult};
use crate::replica::Replica;

/// What every public service needs.
#[derive(Debug, Clone)]
pub struct ApiContext {
    /// This node's replica.
    pub replica: Arc<Replica>,
    /// Token checks.
    pub auth: Authenticator,
}

impl ApiContext {
    /// Authenticates a request.
    pub async fn actor<T>(&self, req: &tonic::Request<T>) -> ApiResult<Authenticated> {
        self.auth.authenticate(req.metadata(), &self.replica).await
    }

    /// Makes the following reads linearizable when the caller asked for it.
    pub async fn consistency(&self, c: i32) -> ApiResult<()> {
        if c == Consistency::Linearizable as i32 {
            self.replica.read_barrier().await?;
        }
        Ok(())
    }

    /// Proposes an operation and returns the state machine's answer; refusals become errors.
    pub async fn propose(&self, actor: &Authenticated, op: Op) -> ApiResult<DomainReply> {
        self.propose_at(actor, op).await.map(|(reply, _)| reply)
    }

    /// Like [`ApiContext::propose`], with the log index the operation was applied at.
    pub async fn propose_at(&self, actor: &Authenticated, op: Op) -> ApiResult<(DomainReply, u64)> {
        let request = Request::Domain(Box::new(DomainRequest { actor: actor.caller, op }));
        let written = self.replica.write_as(request, Some(actor.token())).await?;
        // Handlers answer from this node's state (the contact or alert as stored): a follower
        // learns of a commit after the leader answered it, so wait until it has applied it, or
        // a client would not find what it was just told was written.
        self.replica.wait_applied(written.log_index, self.replica.write_timeout()).await?;
        match written.response {
            Response::Domain(DomainReply::Refused(r)) => Err(ApiError::Refused(r)),
            Response::Domain(reply) => Ok((reply, written.log_index)),
            other => Err(ApiError::Internal(format!("unexpected answer {other:?}"))),
        }
    }
}

impl ApiContext {
    /// Proposes an operation that carries an idempotency key: the answer, and whether the key
    /// matched an earlier request (then nothing was done now, and the answer is what the first
    /// request made or changed, as it is now).
    pub async fn propose_keyed(&self, actor: &Authenticated, op: Op) -> ApiResult<(DomainReply, bool)> {
        match self.propose(actor, op).await? {
            DomainReply::Replayed(first) => Ok((*first, true)),
            reply => Ok((reply, false)),
        }
    }
}

/// The optional idempotency key of a request, trimmed and checked (empty: none).
pub fn idempotency_key(raw: &str) -> ApiResult<String> {
    let key = raw.trim();
    varsel_domain::idempotency::check_key("idempotency_key", key).map_err(|e| ApiError::Invalid(e.into()))?;
    Ok(key.to_string())
}

/// An answer of an unexpected kind (a bug).
pub fn unexpected(reply: DomainReply) -> ApiError {
    ApiError::Internal(format!("unexpected answer {reply:?}"))
}
