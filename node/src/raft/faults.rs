//! Fault injection in the Raft transport, for process-mode chaos tests.
//!
//! Cutting a link drops every Raft message to and from that peer on this node, as a network
//! partition would, while the processes keep running. It exists only when the node was started
//! with `testing.fault_injection = true`; otherwise [`Faults`] is inert and the admin call that
//! changes it is refused.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use varsel_raft_store::NodeId;

/// The links this node currently drops.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    cut: Option<Arc<RwLock<BTreeSet<NodeId>>>>,
}

impl Faults {
    /// Fault injection switched off: nothing is ever dropped.
    pub fn disabled() -> Self {
        Self { cut: None }
    }

    /// Fault injection available, no link cut yet.
    pub fn enabled() -> Self {
        Self { cut: Some(Arc::default()) }
    }

    /// Whether fault injection is available on this node.
    pub fn is_enabled(&self) -> bool {
        self.cut.is_some()
    }

    /// Replaces the set of cut links. Returns false when fault injection is disabled.
    pub fn set_cut(&self, peers: BTreeSet<NodeId>) -> bool {
        match &self.cut {
            Some(c) => {
                *c.write().unwrap_or_else(|p| p.into_inner()) = peers;
                true
            }
            None => false,
        }
    }

    /// The links currently cut.
    pub fn cut_links(&self) -> BTreeSet<NodeId> {
        self.cut.as_ref().map(|c| c.read().unwrap_or_else(|p| p.into_inner()).clone()).unwrap_or_default()
    }

    /// Whether a message to `peer` must be dropped.
    pub fn blocks_to(&self, peer: NodeId) -> bool {
        self.cut.as_ref().is_some_and(|c| c.read().unwrap_or_else(|p| p.into_inner()).contains(&peer))
    }

    /// Whether a message from `peer` must be dropped.
    pub fn blocks_from(&self, peer: NodeId) -> bool {
        self.blocks_to(peer)
    }
}
