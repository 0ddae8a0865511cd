//! Goal: the sled-backed store (and the memory engine behind the same trait) satisfies
//! openraft's own storage conformance suite. Method: `openraft::testing::Suite::test_all` with a
//! builder that opens a fresh store in a temporary directory for every case.

use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use varsel_raft_store::{LogStore, MemEngine, NodeId, SledEngine, StateMachine, TypeConfig};

fn sto_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageError::IO { source: openraft::StorageIOError::write(&e) }
}

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore<SledEngine>, StateMachine<SledEngine>, tempfile::TempDir>
    for SledBuilder
{
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore<SledEngine>, StateMachine<SledEngine>), StorageError<NodeId>>
    {
        let dir = tempfile::tempdir().map_err(sto_err)?;
        let store = varsel_raft_store::open_sled(dir.path(), &Default::default()).await.map_err(sto_err)?;
        Ok((dir, store.log, store.state))
    }
}

struct MemBuilder;

impl StoreBuilder<TypeConfig, LogStore<MemEngine>, StateMachine<MemEngine>, tempfile::TempDir>
    for MemBuilder
{
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore<MemEngine>, StateMachine<MemEngine>), StorageError<NodeId>> {
        let dir = tempfile::tempdir().map_err(sto_err)?;
        let store = varsel_raft_store::open(MemEngine::new(), dir.path()).await.map_err(sto_err)?;
        Ok((dir, store.log, store.state))
    }
}

#[test]
fn sled_store_passes_openraft_suite() -> Result<(), StorageError<NodeId>> {
    Suite::test_all(SledBuilder)
}

#[test]
fn memory_engine_passes_openraft_suite() -> Result<(), StorageError<NodeId>> {
    Suite::test_all(MemBuilder)
}
