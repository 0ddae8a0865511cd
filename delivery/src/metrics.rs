//! The delivery engine's metrics (see `docs/operations/monitoring.md`).

use varsel_domain::Channel;

use crate::providers::ProviderEvents;
use crate::providers::breaker::BreakerState;
use varsel_observe::metrics::{Counter, CounterVec, Gauge, GaugeVec, Metrics};

/// Every family the engine records.
#[derive(Debug, Clone)]
pub struct DeliveryMetrics {
    /// Messages finished per channel, provider and outcome (`sent`, `failed`).
    pub messages: CounterVec,
    /// Messages not sent on purpose per channel.
    pub skipped: CounterVec,
    /// Messages waiting in each channel's queue.
    pub queued: GaugeVec,
    /// Messages handed to providers and not yet answered.
    pub in_flight: Gauge,
    /// Circuit state per provider: 0 closed, 0.5 half-open, 1 open.
    pub circuit: GaugeVec,
    /// Times a circuit opened.
    pub circuit_opened: CounterVec,
    /// Batches sent to a provider other than the most preferred one.
    pub failovers: CounterVec,
    /// Messages tried again after a provider gave no answer to a call that may have taken them.
    pub possible_duplicates: CounterVec,
    /// Messages dropped before a provider call because their shard's fence closed.
    pub fenced: CounterVec,
    /// Provider calls that began after their shard's lease deadline by this node's monotonic
    /// clock, whatever the fence decided: must stay 0 (a fence that let one through is a bug).
    pub late_handovers: Counter,
    /// Failed reads of the applied state, by actor (each is retried).
    pub read_errors: CounterVec,
    /// Acknowledging replies attributed to no alert, by reason.
    pub replies_unattributed: CounterVec,
    /// Actor restarts by supervisors.
    pub actor_restarts: CounterVec,
    /// Shards this node holds leases on.
    pub shards_held: Gauge,
    /// Unfinished alerts.
    pub alerts_open: Gauge,
    /// Recipients of unfinished alerts not processed yet.
    pub recipients_pending: Gauge,
    /// `Record` entries written and outcomes in them.
    pub records: Counter,
    /// Outcomes recorded.
    pub outcomes_recorded: Counter,
    /// Receipts and replies received, by kind.
    pub inbound: CounterVec,
}

impl DeliveryMetrics {
    /// Registers the families in `m`.
    pub fn new(m: &Metrics) -> Self {
        Self {
            messages: m.counter_vec(
                "varsel_delivery_messages_total",
                "Messages whose outcome is known, by channel, provider and outcome (sent, failed).",
                &["channel", "provider", "outcome"],
            ),
            skipped: m.counter_vec(
                "varsel_delivery_skipped_total",
                "Messages not sent on purpose (opted out, no address, acknowledged, deleted).",
                &["channel"],
            ),
            queued: m.gauge_vec(
                "varsel_delivery_queued",
                "Messages waiting in a channel's queue.",
                &["channel"],
            ),
            in_flight: m
                .gauge("varsel_delivery_in_flight", "Messages handed to providers, not yet answered."),
            circuit: m.gauge_vec(
                "varsel_provider_circuit_state",
                "Circuit breaker per provider: 0 closed, 0.5 half-open, 1 open.",
                &["channel", "provider"],
            ),
            circuit_opened: m.counter_vec(
                "varsel_provider_circuit_opened_total",
                "Times a provider's circuit opened.",
                &["channel", "provider"],
            ),
            failovers: m.counter_vec(
                "varsel_provider_failovers_total",
                "Batches sent to another provider because a more preferred one failed.",
                &["channel", "from", "to"],
            ),
            possible_duplicates: m.counter_vec(
                "varsel_delivery_possible_duplicates_total",
                "Messages tried again (on the same or another provider) after a provider gave no \
                 answer to a call that may have taken them: each may reach its recipient twice.",
                &["channel", "provider"],
            ),
            fenced: m.counter_vec(
                "varsel_delivery_fenced_total",
                "Messages not handed to a provider because their shard's lease was lost or expired \
                 or the alert ended before the call.",
                &["channel"],
            ),
            late_handovers: m.counter(
                "varsel_delivery_late_handovers_total",
                "Provider calls that began more than 50 ms after their shard's lease deadline by this node's \
                 monotonic clock (measured as each call begins, apart from the fence's own check). \
                 Must stay 0: any other value means a message was handed over by a node that no \
                 longer held its shard.",
            ),
            read_errors: m.counter_vec(
                "varsel_delivery_read_errors_total",
                "Reads of the applied state that failed in a delivery actor; each is retried.",
                &["actor"],
            ),
            replies_unattributed: m.counter_vec(
                "varsel_delivery_replies_unattributed_total",
                "Acknowledging replies attributed to no alert (none open for the number, or open alerts \
                 of several tenants and no reply route): escalation goes on.",
                &["reason"],
            ),
            actor_restarts: m.counter_vec(
                "varsel_actor_restarts_total",
                "Delivery actors restarted after failing.",
                &["actor"],
            ),
            shards_held: m.gauge("varsel_delivery_shards_held", "Shards this node holds a lease on."),
            alerts_open: m.gauge("varsel_alerts_active", "Alerts not finished (scheduled or being sent)."),
            recipients_pending: m.gauge(
                "varsel_alert_recipients_pending",
                "Recipients of unfinished alerts not processed yet.",
            ),
            records: m.counter(
                "varsel_delivery_record_entries_total",
                "Record entries written to the log by this node.",
            ),
            outcomes_recorded: m
                .counter("varsel_delivery_outcomes_recorded_total", "Outcomes recorded by this node."),
            inbound: m.counter_vec(
                "varsel_delivery_inbound_total",
                "Receipts and replies received, by kind.",
                &["kind"],
            ),
        }
    }

    /// Sets a provider's circuit gauge.
    pub fn set_circuit(&self, channel: Channel, provider: &str, state: BreakerState) {
        let v = match state {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 0.5,
            BreakerState::Open => 1.0,
        };
        self.circuit.with(&[channel.as_str(), provider]).set(v);
    }
}

impl ProviderEvents for DeliveryMetrics {
    fn circuit_opened(&self, channel: Channel, provider: &str) {
        self.circuit_opened.with(&[channel.as_str(), provider]).inc();
    }

    fn failover(&self, channel: Channel, from: &str, to: &str) {
        self.failovers.with(&[channel.as_str(), from, to]).inc();
    }

    fn possible_duplicates(&self, channel: Channel, provider: &str, n: usize) {
        self.possible_duplicates.with(&[channel.as_str(), provider]).inc_by(n as u64);
    }
}
