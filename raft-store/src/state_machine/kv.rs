//! Applying key-value commands.

use crate::engine::KvTree;
use crate::error::EngineError;
use crate::state_machine::{Txn, keys};
use crate::types::{KvCommand, Response};

/// Applies one key-value command and returns the previous value.
pub(super) fn apply<T: KvTree>(txn: &mut Txn<'_, T>, cmd: &KvCommand) -> Result<Response, EngineError> {
    match cmd {
        KvCommand::Put { key, value } => {
            let k = keys::kv(key);
            let previous = txn.get_as::<String>("kv value", &k)?;
            txn.put_as("kv value", k, value)?;
            Ok(Response::KvPrevious(previous))
        }
        KvCommand::Delete { key } => {
            let k = keys::kv(key);
            let previous = txn.get_as::<String>("kv value", &k)?;
            txn.remove(k);
            Ok(Response::KvPrevious(previous))
        }
    }
}
