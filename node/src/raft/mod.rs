//! Starting Raft on this node: store, network, openraft instance.

pub mod clock;
pub mod faults;
pub mod network;
pub mod peer_check;
pub mod service;

use std::sync::Arc;

use varsel_raft_store::{Raft, SledOptions};

use crate::error::NodeError;
use crate::replica::Replica;
use crate::tls::TlsState;
use faults::Faults;
use network::{NetworkFactory, Peers};
use varsel_config::NodeConfig;

/// Name of the Raft cluster, checked by openraft on every message.
pub const CLUSTER_NAME: &str = "varsel";

/// Opens the store in the data directory and starts the Raft instance.
pub async fn start(
    config: Arc<NodeConfig>,
    faults: Faults,
    tls: Arc<TlsState>,
) -> Result<Arc<Replica>, NodeError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| NodeError::Storage(varsel_raft_store::error::EngineError::Io(e)))?;
    let options =
        SledOptions { cache_capacity_bytes: config.storage.cache_capacity_bytes, ..Default::default() };
    let mut store = varsel_raft_store::open_sled(&config.data_dir, &options).await?;
    store.log.set_payload_bytes_max(config.raft.max_payload_bytes);
    let peers = Peers::new(tls);
    let raft_config = Arc::new(config.raft.to_openraft(CLUSTER_NAME)?);
    let network = NetworkFactory::new(peers.clone(), faults.clone());
    let reader = store.state.reader();
    let log = store.log.segments();
    let raft = Raft::new(config.node_id, raft_config, network, store.log, store.state)
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    Ok(Arc::new(Replica::new(config, raft, reader, store.engine, log, peers, faults)))
}
