//! `[delivery]`: the delivery engine.

pub mod network;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use network::IpNetwork;

/// Most entries in `tenant_url_allowed_networks`. Every connection to a tenant-supplied URL
/// is checked against each of them; a handful of internal ranges is the expected use.
pub const TENANT_URL_ALLOWED_NETWORKS_MAX: usize = 64;

/// Longest `answer_url`: `{answer_url}/r/{token}` must fit in the
/// [`LINK_CHARS`](varsel_domain::answers::LINK_CHARS) an SMS's segments are counted with
/// (tokens are at most 38 characters below 2^35 of every id).
pub const ANSWER_URL_CHARS_MAX: usize = 39;

/// The delivery engine. See `docs/architecture.md`, "Delivery".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Run the delivery engine on this node (a node without it still serves the API).
    pub enabled: bool,
    /// Shards this node sends at once. With the next three fields it bounds the node's
    /// in-flight window: at most `shard_workers x 4 channels x window_chunks x chunk_recipients`
    /// messages can be handed to providers without their outcome being recorded, which is what
    /// a takeover may send again.
    pub shard_workers: usize,
    /// Recipients read and dispatched together.
    pub chunk_recipients: usize,
    /// Chunks per channel of a shard in flight at once.
    pub window_chunks: usize,
    /// Messages waiting per channel for a free sender worker; when full, shards stop pulling
    /// work for that channel (back-pressure).
    pub queue_messages: usize,
    /// Concurrent batches per channel.
    pub sender_workers: usize,
    /// Longest wait before recorded outcomes are written to the log.
    pub record_flush_ms: u64,
    /// Interval of lease renewals (at most half of `lease_ms`).
    pub heartbeat_interval_ms: u64,
    /// Length of a shard lease, by the log's clock. Must outlast a Raft election (at least
    /// `raft.election_timeout_max_ms` twice over), or survivors lose their leases during one.
    /// Sending moves off a dead node within about this long plus a heartbeat.
    pub lease_ms: u64,
    /// Interval at which the scheduler looks for work.
    pub scheduler_tick_ms: u64,
    /// Time a message is retried before it is failed.
    pub retry_budget_ms: u64,
    /// Attempts per message before it is failed.
    pub retry_attempts_max: u32,
    /// Base URL of this node's HTTP listener as providers reach it, for delivery receipts
    /// and replies (`http://host:port`).
    pub callback_url: Option<String>,
    /// Base address of the recipients' response page as they reach it (`https://host[:port]`,
    /// a name in front of every site), for the `{{answer_link}}` in messages of alerts with
    /// answer options; every node serves the page at `/r/{token}`. At most
    /// [`ANSWER_URL_CHARS_MAX`] characters, so a link fits the room SMS segment counting gives
    /// it. Absent: `callback_url`.
    pub answer_url: Option<String>,
    /// Networks (CIDR: `"10.20.0.0/16"`, `"fd00::/8"`, `"::1/128"`) that URLs supplied by
    /// tenants may reach although they are internal. Web Push endpoints come from tenants'
    /// contact data, so by default a node refuses to connect to loopback, private (RFC 1918,
    /// `fc00::/7`), link-local (`169.254.0.0/16` with cloud metadata services, `fe80::/10`),
    /// shared (CGNAT, `100.64.0.0/10`), unspecified, broadcast and multicast addresses, and to
    /// IPv4-mapped forms of them, after DNS resolution. Providers the operator configures
    /// (`http_sms`, `voice_http`, `simulator`, …) are not policed. Default: none. At most
    /// [`TENANT_URL_ALLOWED_NETWORKS_MAX`] entries.
    pub tenant_url_allowed_networks: Vec<String>,
    /// Which tenant a reply is for, by the number or short code it was sent to at a provider:
    /// `[[delivery.reply_routes]] provider = "sms-primary", to = "+4722000000", tenant =
    /// "kommune"`. A reply to a routed number is attributed only to that tenant's alerts. A
    /// reply with no route that could belong to open alerts of more than one tenant
    /// acknowledges nothing (see `docs/architecture.md`, "Replies"). At most
    /// [`REPLY_ROUTES_MAX`] entries.
    pub reply_routes: Vec<ReplyRoute>,
    /// How long after an alert was created a reply from one of its recipients may still
    /// answer it, seconds (default 86,400: a day, the default alert lifetime). Alerts finished
    /// within it count too: a reply to the municipality's finished alert must not acknowledge
    /// the school's open one, so a number that alerts of two tenants reached within the
    /// window is ambiguous unless routed. Between 60 s and 30 days.
    pub reply_window_s: u64,
}

/// Shortest and longest `delivery.reply_window_s`.
pub const REPLY_WINDOW_S_RANGE: std::ops::RangeInclusive<u64> = 60..=30 * 86_400;

/// Most entries in `delivery.reply_routes`.
pub const REPLY_ROUTES_MAX: usize = 10_000;

/// A number or short code at a provider that belongs to one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRoute {
    /// The provider's name (`providers[].name`).
    pub provider: String,
    /// The number or short code replies arrive at, as the provider reports it.
    pub to: String,
    /// The tenant's name.
    pub tenant: String,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            shard_workers: 16,
            chunk_recipients: 256,
            window_chunks: 4,
            queue_messages: 8_192,
            sender_workers: 16,
            record_flush_ms: 50,
            heartbeat_interval_ms: 750,
            lease_ms: varsel_raft_store::delivery::LEASE_MS,
            scheduler_tick_ms: 250,
            retry_budget_ms: 120_000,
            retry_attempts_max: 12,
            callback_url: None,
            answer_url: None,
            tenant_url_allowed_networks: Vec::new(),
            reply_routes: Vec::new(),
            reply_window_s: 86_400,
        }
    }
}

impl DeliveryConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("shard_workers", self.shard_workers as u64),
            ("chunk_recipients", self.chunk_recipients as u64),
            ("window_chunks", self.window_chunks as u64),
            ("queue_messages", self.queue_messages as u64),
            ("sender_workers", self.sender_workers as u64),
            ("record_flush_ms", self.record_flush_ms),
            ("scheduler_tick_ms", self.scheduler_tick_ms),
            ("retry_attempts_max", u64::from(self.retry_attempts_max)),
        ];
        if let Some((f, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::invalid(format!("delivery.{f}"), "must be positive"));
        }
        if !varsel_raft_store::delivery::LEASE_MS_RANGE.contains(&self.lease_ms) {
            let r = varsel_raft_store::delivery::LEASE_MS_RANGE;
            let rule = format!("must be between {} and {}", r.start(), r.end());
            return Err(ConfigError::invalid("delivery.lease_ms", rule));
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_interval_ms * 2 > self.lease_ms {
            let rule =
                format!("must be positive and at most half of delivery.lease_ms ({} ms)", self.lease_ms);
            return Err(ConfigError::invalid("delivery.heartbeat_interval_ms", rule));
        }
        if !REPLY_WINDOW_S_RANGE.contains(&self.reply_window_s) {
            let (lo, hi) = (REPLY_WINDOW_S_RANGE.start(), REPLY_WINDOW_S_RANGE.end());
            return Err(ConfigError::invalid(
                "delivery.reply_window_s",
                format!("must be between {lo} and {hi}"),
            ));
        }
        if self.reply_routes.len() > REPLY_ROUTES_MAX {
            let rule = format!("at most {REPLY_ROUTES_MAX} entries, found {}", self.reply_routes.len());
            return Err(ConfigError::invalid("delivery.reply_routes", rule));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.reply_routes.iter().enumerate() {
            for (field, value) in [("provider", &r.provider), ("to", &r.to), ("tenant", &r.tenant)] {
                if value.trim().is_empty() || value.len() > 128 {
                    let rule = "must be 1 to 128 bytes, not blank";
                    return Err(ConfigError::invalid(format!("delivery.reply_routes[{i}].{field}"), rule));
                }
            }
            if !seen.insert((r.provider.as_str(), r.to.as_str())) {
                let rule = format!("provider {:?} and to {:?} are routed twice", r.provider, r.to);
                return Err(ConfigError::invalid(format!("delivery.reply_routes[{i}]"), rule));
            }
        }
        if self.chunk_recipients > 4096 {
            return Err(ConfigError::invalid("delivery.chunk_recipients", "must be at most 4096"));
        }
        self.allowed_tenant_networks().map(|_| ())
    }

    /// `tenant_url_allowed_networks`, parsed; the error names the first bad entry.
    pub fn allowed_tenant_networks(&self) -> Result<Vec<IpNetwork>, ConfigError> {
        const FIELD: &str = "delivery.tenant_url_allowed_networks";
        let entries = &self.tenant_url_allowed_networks;
        if entries.len() > TENANT_URL_ALLOWED_NETWORKS_MAX {
            let rule =
                format!("must have at most {TENANT_URL_ALLOWED_NETWORKS_MAX} entries, has {}", entries.len());
            return Err(ConfigError::invalid(FIELD, rule));
        }
        let parse = |(i, entry): (usize, &String)| {
            entry.parse::<IpNetwork>().map_err(|why| {
                ConfigError::invalid(format!("{FIELD}[{i}]"), format!("is {entry:?}, which {why}"))
            })
        };
        entries.iter().enumerate().map(parse).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the allowed networks are checked when the configuration is, and a bad entry is
    /// named with its index, its text and the rule it breaks.
    /// Method: a valid list of both families, then one bad entry of each kind, then too many.
    #[test]
    fn tenant_url_allowed_networks() {
        let with = |entries: &[&str]| DeliveryConfig {
            tenant_url_allowed_networks: entries.iter().map(|e| e.to_string()).collect(),
            ..DeliveryConfig::default()
        };
        let ok = with(&["127.0.0.0/8", "::1/128", "10.20.0.0/16"]);
        assert!(ok.validate().is_ok());
        assert_eq!(ok.allowed_tenant_networks().map(|n| n.len()).ok(), Some(3));
        let err =
            |entries: &[&str]| with(entries).validate().err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err(&["::1/128", "10.0.0.1/8"]),
            "configuration field `delivery.tenant_url_allowed_networks[1]` is \"10.0.0.1/8\", which has \
             bits set past the prefix (the network is 10.0.0.0/8)"
        );
        assert!(
            err(&["localhost"])
                .contains("[0]` is \"localhost\", which is not an address, '/' and a prefix length")
        );
        assert!(err(&["10.0.0.0/40"]).contains("prefix length that is not a number from 0 to 32"));
        let many: Vec<String> =
            (0..=TENANT_URL_ALLOWED_NETWORKS_MAX).map(|i| format!("10.{i}.0.0/16")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(err(&many).contains("must have at most 64 entries, has 65"));
    }
}
