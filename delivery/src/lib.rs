//! The delivery engine: turns accepted alerts into messages to people, from every site at once.
//!
//! # Layout
//!
//! - [`engine`]: [`Engine`] (start, stop) and [`Shared`], what every actor shares.
//! - [`actors`]: the supervised actor tree (scheduler, shard workers, channel senders, recorder,
//!   receipts); its doc draws the tree and the bounds.
//! - [`providers`]: the provider trait, failover between providers, breakers, rate limits,
//!   and the provider kinds (each kind's settings are in `varsel_config::providers`).
//! - [`inbound`]: receipts and replies handed from providers and webhooks to the engine.
//! - [`recipients`]: who a range of a shard reaches (frozen memberships, duplicates).
//! - [`render`]: personalising content per recipient and channel.
//! - [`message`]: a message ready for a provider.
//! - [`metrics`]: the engine's metric families.
//! - [`replica`]: the [`Replica`] trait: all the engine asks of this node's Raft replica.
//! - [`webhooks`]: outbound webhooks: Standard Webhooks signing and the leader's worker that
//!   delivers the replicated outbox.
//!
//! The replicated side (leases, cursors, outcomes) is in `varsel_raft_store::delivery` and the
//! state machine; this crate is what each node runs against it. It does no networking between
//! nodes: every decision that must agree across sites is a write through [`Replica::write`].

pub mod actors;
pub mod engine;
pub mod inbound;
pub mod message;
pub mod metrics;
pub mod providers;
pub mod recipients;
pub mod render;
pub mod replica;
pub mod webhooks;

pub use engine::{Engine, Shared};
pub use replica::Replica;
