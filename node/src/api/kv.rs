//! `Kv`: the small replicated key-value API that exercises the write and read paths.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use varsel_proto::kv::kv_server::{Kv, KvServer};
use varsel_proto::kv::{GetReply, GetRequest, PutReply, PutRequest, ReadConsistency};
use varsel_raft_store::{KvCommand, Request as AppRequest, Response as AppResponse};

use varsel_domain::Rule;

use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::replica::Replica;

/// Longest key accepted.
pub const KEY_MAX_BYTES: usize = 1024;
/// Longest value accepted.
pub const VALUE_MAX_BYTES: usize = 64 * 1024;

/// The key-value service of one node. It exists to exercise the write and read paths (chaos
/// runs, benchmarks, runbooks), so it is the cluster operator's: every call needs the
/// superadmin token.
#[derive(Debug, Clone)]
pub struct KvService {
    replica: Arc<Replica>,
}

impl KvService {
    /// A service for `replica` behind the superadmin check of `auth`.
    pub fn server(
        replica: Arc<Replica>,
        auth: Authenticator,
    ) -> InterceptedService<KvServer<Self>, impl Interceptor + Clone> {
        let check = move |req: Request<()>| -> Result<Request<()>, Status> {
            auth.require_superadmin(req.metadata())?;
            Ok(req)
        };
        KvServer::with_interceptor(Self { replica }, check)
    }
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > KEY_MAX_BYTES {
        let message = format!("must be 1 to {KEY_MAX_BYTES} bytes, got {}", key.len());
        return Err(ApiError::invalid("key", Rule::TooLong, message));
    }
    Ok(())
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutReply>, Status> {
        // The interceptor checked it is the superadmin token; the leader checks it again when
        // the write is forwarded.
        let token = crate::auth::bearer_token(req.metadata())?.to_string();
        let PutRequest { key, value } = req.into_inner();
        check_key(&key)?;
        if value.len() > VALUE_MAX_BYTES {
            let m = format!("must be at most {VALUE_MAX_BYTES} bytes, got {}", value.len());
            return Err(ApiError::invalid("value", Rule::TooLong, m).into());
        }
        let written = self
            .replica
            .write_as(AppRequest::Kv(KvCommand::Put { key, value }), Some(&token))
            .await
            .map_err(ApiError::from)?;
        let previous = match written.response {
            AppResponse::KvPrevious(p) => p,
            other => return Err(Status::internal(format!("unexpected response {other:?}"))),
        };
        Ok(Response::new(PutReply { log_index: written.log_index, previous }))
    }

    async fn get(&self, req: Request<GetRequest>) -> Result<Response<GetReply>, Status> {
        let req = req.into_inner();
        check_key(&req.key)?;
        if req.consistency() == ReadConsistency::Linearizable {
            self.replica.read_barrier().await?;
        }
        let value = self.replica.state.kv_get(&req.key).map_err(ApiError::from)?;
        let applied_index = self.replica.state.applied().last_applied.map_or(0, |l| l.index);
        Ok(Response::new(GetReply { value, applied_index }))
    }
}
