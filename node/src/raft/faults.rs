//! Fault injection in the Raft transport, for process-mode chaos tests.
//!
//! Cutting a link drops every Raft message to and from that peer on this node, and the writes
//! and read-index calls it would forward, as a network partition between sites would, while
//! the processes keep running and their own clients still reach them. A delay adds latency to
//! every Raft message sent, as a longer WAN would. It exists only when the node was started
//! with `testing.fault_injection = true`; otherwise [`Faults`] is inert and the admin call that
//! changes it is refused.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use varsel_raft_store::NodeId;

/// The links this node currently drops.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    cut: Option<Arc<RwLock<BTreeSet<NodeId>>>>,
    delay_ms: Arc<AtomicU32>,
}

impl Faults {
    /// Fault injection switched off: nothing is ever dropped.
    pub fn disabled() -> Self {
        Self { cut: None, delay_ms: Arc::default() }
    }

    /// Fault injection available, no link cut yet.
    pub fn enabled() -> Self {
        Self { cut: Some(Arc::default()), delay_ms: Arc::default() }
    }

    /// Sets the latency added to every Raft message sent. Returns false when fault injection is
    /// disabled.
    pub fn set_delay(&self, ms: u32) -> bool {
        if self.cut.is_none() {
            return false;
        }
        self.delay_ms.store(ms, Ordering::Relaxed);
        true
    }

    /// The latency added to every Raft message sent (zero unless injected).
    pub fn delay(&self) -> Duration {
        Duration::from_millis(u64::from(self.delay_ms.load(Ordering::Relaxed)))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: a node without fault injection cannot be made to drop or delay anything.
    #[test]
    fn disabled_refuses_every_change() {
        let f = Faults::disabled();
        assert!(!f.set_cut(BTreeSet::from([2])));
        assert!(!f.set_delay(30));
        assert!(!f.blocks_to(2));
        assert_eq!(f.delay(), Duration::ZERO);
    }

    /// Goal: cut links drop both ways and heal when the set is emptied; the delay applies.
    #[test]
    fn enabled_cuts_heals_and_delays() {
        let f = Faults::enabled();
        assert!(f.set_cut(BTreeSet::from([2, 3])));
        assert!(f.blocks_to(2) && f.blocks_from(3) && !f.blocks_to(4));
        assert!(f.set_delay(30));
        assert_eq!(f.clone().delay(), Duration::from_millis(30), "clones share the setting");
        assert!(f.set_cut(BTreeSet::new()));
        assert!(!f.blocks_to(2));
    }
}
