//! `varsel kv …`: the replicated key-value map, for trying the cluster by hand.

use serde_json::json;
use varsel_proto::kv::kv_client::KvClient;
use varsel_proto::kv::{GetRequest, PutRequest, ReadConsistency};

use varsel_client::{Bearer, ClientError, Cluster};

/// A key-value operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KvCommand {
    /// Set a key (committed by a quorum before the command returns).
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Read a key.
    Get {
        /// The key.
        key: String,
        /// Read through the leader's read index instead of the answering node's local state.
        #[arg(long)]
        linearizable: bool,
    },
}

/// Runs one key-value command with the superadmin token `bearer`.
pub async fn run(
    cluster: &Cluster,
    bearer: &Bearer,
    cmd: KvCommand,
    json_out: bool,
) -> Result<(), ClientError> {
    match cmd {
        KvCommand::Put { key, value } => {
            let r = cluster
                .call(|c| {
                    let req = PutRequest { key: key.clone(), value: value.clone() };
                    async move { KvClient::with_interceptor(c, bearer.clone()).put(req).await }
                })
                .await?;
            let reply = r.value.into_inner();
            if json_out {
                println!(
                    "{}",
                    json!({"log_index": reply.log_index, "previous": reply.previous, "node": r.endpoint})
                );
            } else {
                println!("committed at log index {} (via {})", reply.log_index, r.endpoint);
            }
        }
        KvCommand::Get { key, linearizable } => {
            let consistency =
                if linearizable { ReadConsistency::Linearizable } else { ReadConsistency::Local } as i32;
            let r = cluster
                .call(|c| {
                    let req = GetRequest { key: key.clone(), consistency };
                    async move { KvClient::with_interceptor(c, bearer.clone()).get(req).await }
                })
                .await?;
            let reply = r.value.into_inner();
            if json_out {
                println!("{}", json!({"value": reply.value, "applied_index": reply.applied_index}));
            } else {
                match reply.value {
                    Some(v) => println!("{v}"),
                    None => println!("(not set)"),
                }
            }
        }
    }
    Ok(())
}
