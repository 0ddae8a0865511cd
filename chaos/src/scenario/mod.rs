//! Scenarios: what load to drive and which faults to inject when, as TOML files
//! (`chaos/scenarios/*.toml`) operators can write themselves.
//!
//! ```toml
//! name = "site-kill"
//! duration_s = 40          # faults are injected during this long
//! settle_s = 120           # then up to this long for every alert to finish
//!
//! [load]
//! clients = 3              # concurrent clients, each creating alerts through random nodes
//! interval_ms = 500        # pause between one client's alerts
//! recipients = 20          # contacts every alert goes to (one group of them)
//! groups = 100             # groups the alerts rotate over
//! escalate_after_s = 8     # a voice call to those who did not reply OK to the SMS (0: SMS only)
//!
//! [[faults]]
//! kind = "kill_site"       # kill_site | stall_site | partition_site | kill_leader | provider_down
//!                          # | latency | cancel | clock_skew | clock_jump | snapshot | disk_full
//! target = "most_shards"   # random | leader | follower | most_shards | node id ("2") | all (snapshot)
//! start_s = 5              # first injection, seconds into the run
//! every_s = 30             # repeat (omit: once)
//! lasts_s = 10             # undone after this long
//! jitter_s = 2             # up to this much later, drawn from the seed
//!
//! [sim.providers.sms-primary]  # optional: how rude the provider simulator is (see `sim`)
//! honour_idempotency = false
//! ```
//!
//! Faults are scheduled from the seed alone, so a seed replays the same schedule. Every rule is
//! checked when the file is read; an error names the field and the rule.

use std::path::Path;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

pub mod sim;

pub use sim::SimSpec;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Seconds during which load runs and faults are injected.
    pub duration_s: u64,
    /// Seconds allowed after that for every accepted alert to finish.
    #[serde(default = "defaults::settle_s")]
    pub settle_s: u64,
    /// The seed; absent: drawn at random and printed in the report.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The client load.
    #[serde(default)]
    pub load: Load,
    /// The faults.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// How the provider simulator behaves during the run (default: as configured).
    #[serde(default)]
    pub sim: SimSpec,
    /// The longest a site may go without handing a message over while it has work (holds, or
    /// held and lost, an unfinished shard), ms: an invariant of the run when set. Each node's
    /// sent counter and every unfinished alert's shards are sampled every
    /// [`crate::runner::SENDING_SAMPLE_MS`] whenever this is set or a `snapshot` fault is in
    /// the scenario (then the gaps are reported without a bound): meant for a load of a few
    /// large alerts, not thousands of small ones.
    #[serde(default)]
    pub sending_gap_ms_max: Option<u64>,
}

/// The client load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Concurrent clients.
    #[serde(default = "defaults::clients")]
    pub clients: usize,
    /// Pause between one client's operations, ms.
    #[serde(default = "defaults::interval_ms")]
    pub interval_ms: u64,
    /// Contacts every alert goes to (one group).
    #[serde(default = "defaults::recipients")]
    pub recipients: usize,
    /// Groups of `recipients` contacts the alerts rotate over (an SMS reply acknowledges the
    /// newest open alert to its number, so fewer open alerts per number make more replies
    /// attributable).
    #[serde(default = "defaults::groups")]
    pub groups: usize,
    /// Seconds after the SMS at which recipients who have not replied get a voice call; 0 for
    /// SMS only.
    #[serde(default = "defaults::escalate_after_s")]
    pub escalate_after_s: u32,
    /// Share of SMS recipients who reply "OK" (acknowledge), drawn by the simulator's seed.
    #[serde(default = "defaults::reply_rate")]
    pub reply_rate: f64,
    /// Share of operations that repeat an earlier create (same idempotency key), as a client
    /// retrying after a lost answer would.
    #[serde(default = "defaults::repeat_rate")]
    pub repeat_rate: f64,
    /// Clients of a second tenant (a neighbour: the school next to the municipality) whose
    /// contact list holds the same people and numbers, sending its own alerts to the same
    /// groups. Replies then come from numbers that two tenants' open alerts reached, and the
    /// run checks that none is placed with the wrong tenant. 0: one tenant.
    #[serde(default)]
    pub neighbour_clients: usize,
}

impl Default for Load {
    fn default() -> Self {
        Self {
            clients: defaults::clients(),
            interval_ms: defaults::interval_ms(),
            recipients: defaults::recipients(),
            groups: defaults::groups(),
            escalate_after_s: defaults::escalate_after_s(),
            reply_rate: defaults::reply_rate(),
            repeat_rate: defaults::repeat_rate(),
            neighbour_clients: 0,
        }
    }
}

/// One kind of fault, injected once or repeatedly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What is done.
    pub kind: FaultKind,
    /// Which node (site faults only).
    #[serde(default)]
    pub target: Target,
    /// First injection, seconds into the run.
    #[serde(default)]
    pub start_s: f64,
    /// Interval between injections; absent: once.
    #[serde(default)]
    pub every_s: Option<f64>,
    /// Seconds until it is undone (site restarted, thawed, healed, provider back).
    #[serde(default = "defaults::lasts_s")]
    pub lasts_s: f64,
    /// Up to this many seconds later than scheduled, drawn from the seed.
    #[serde(default)]
    pub jitter_s: f64,
    /// `latency`: milliseconds added between sites.
    #[serde(default)]
    pub latency_ms: u32,
    /// `provider_down`: the provider taken down.
    #[serde(default = "defaults::provider")]
    pub provider: String,
    /// `clock_skew`, `clock_jump`: milliseconds added to the node's wall clock (signed; at
    /// most [`CLOCK_OFFSET_MS_MAX`] either way), set back to 0 after `lasts_s`.
    #[serde(default)]
    pub offset_ms: i64,
}

/// The largest clock offset a fault may set, either way: 30 days, the bound the nodes'
/// `SetFaults` accepts (`node/src/api/admin.rs`).
pub const CLOCK_OFFSET_MS_MAX: i64 = 30 * 86_400_000;

/// The faults a scenario can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL / `docker kill` a site's node, start it again after `lasts_s`.
    KillSite,
    /// SIGSTOP / `docker pause` a site's node for `lasts_s` (choose more than the election
    /// timeout).
    StallSite,
    /// Cut a site off the other sites for `lasts_s`.
    PartitionSite,
    /// Kill whichever node leads at the time (the target is ignored).
    KillLeader,
    /// The provider answers nothing but "unavailable" for `lasts_s`.
    ProviderDown,
    /// `latency_ms` added to traffic between sites for `lasts_s`.
    Latency,
    /// Cancel the alerts being sent at that moment, through the clients' own retrying client
    /// (`lasts_s` does not apply: a cancel is not undone).
    Cancel,
    /// The target's wall clock offset by `offset_ms` for `lasts_s`, then set right (the nodes'
    /// fault-injection layer: process mode only).
    ClockSkew,
    /// Whichever node leads at the time has its wall clock jump forward by `offset_ms`, and
    /// back after `lasts_s` (the target is ignored; process mode only).
    ClockJump,
    /// Force a snapshot (`ClusterAdmin.Snapshot`) on the target: the leader, one node, or
    /// `all` one after the other, the leader first (`lasts_s` does not apply).
    Snapshot,
    /// Fill the target's data disk until less than half of `storage.min_free_bytes` is free,
    /// and free it after `lasts_s` (process mode, as root: each node's data dir is then a
    /// tmpfs of `DISK_MIB` the harness mounts).
    DiskFull,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 11] = [
        Self::KillSite,
        Self::StallSite,
        Self::PartitionSite,
        Self::KillLeader,
        Self::ProviderDown,
        Self::Latency,
        Self::Cancel,
        Self::ClockSkew,
        Self::ClockJump,
        Self::Snapshot,
        Self::DiskFull,
    ];

    /// The name as the scenario file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::KillSite => "kill_site",
            Self::StallSite => "stall_site",
            Self::PartitionSite => "partition_site",
            Self::KillLeader => "kill_leader",
            Self::ProviderDown => "provider_down",
            Self::Latency => "latency",
            Self::Cancel => "cancel",
            Self::ClockSkew => "clock_skew",
            Self::ClockJump => "clock_jump",
            Self::Snapshot => "snapshot",
            Self::DiskFull => "disk_full",
        }
    }

    /// The kind named `name` as the scenario file spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the fault sets a node's wall clock (through `SetFaults.clock_offset_ms`).
    pub fn sets_clock(self) -> bool {
        matches!(self, Self::ClockSkew | Self::ClockJump)
    }

    /// Why `mode` cannot inject this kind, if it cannot. Compose nodes run without the
    /// fault-injection layer (`testing.fault_injection` is for process mode only), so they
    /// refuse `SetFaults`, and with it any wrong clock.
    pub fn unsupported_in(self, mode: &str) -> Option<&'static str> {
        if mode != "compose" {
            return None;
        }
        if self.sets_clock() {
            return Some(
                "sets a node's wall clock through SetFaults.clock_offset_ms, which only nodes running with \
                 testing.fault_injection = true accept: process mode only (compose nodes refuse it, and a \
                 container cannot have a clock of its own)",
            );
        }
        (self == Self::DiskFull).then_some(
            "fills a filesystem of known size under the node's data dir, which process mode mounts \
             (a tmpfs per node); the compose volumes share the host's disk",
        )
    }

    /// Whether the fault can make a message reach a handset twice: a site that stops, dies or
    /// is cut off (or slowed until its leases lapse) may have handed messages to a provider
    /// that a new lease holder sends again. A provider outage refuses whole batches and a
    /// cancel stops sending: neither explains a duplicate.
    pub fn explains_duplicates(self) -> bool {
        self.hits_site() || self == Self::Latency
    }

    /// Whether the fault takes a node's vote away: a site fault, or a full disk (the node
    /// accepts no log entries it cannot persist). At most one such fault runs at a time, so a
    /// quorum is always left.
    pub fn takes_vote(self) -> bool {
        self.hits_site() || self == Self::DiskFull
    }

    /// Whether the fault takes a site away (at most one such fault runs at a time, so a quorum
    /// is always left).
    pub fn hits_site(self) -> bool {
        matches!(self, Self::KillSite | Self::StallSite | Self::PartitionSite | Self::KillLeader)
    }
}

/// Which node a site fault hits, chosen when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// Any node, drawn from the seed.
    #[default]
    Random,
    /// The leader.
    Leader,
    /// A follower, drawn from the seed.
    Follower,
    /// The node holding most shards of the alerts being sent (the worst node to lose).
    MostShards,
    /// This node.
    Node(u64),
    /// Every node, one after the other, the leader first (`snapshot` only).
    All,
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Target::Random => s.serialize_str("random"),
            Target::Leader => s.serialize_str("leader"),
            Target::Follower => s.serialize_str("follower"),
            Target::MostShards => s.serialize_str("most_shards"),
            Target::Node(id) => s.serialize_str(&id.to_string()),
            Target::All => s.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "random" => Ok(Target::Random),
            "leader" => Ok(Target::Leader),
            "follower" => Ok(Target::Follower),
            "most_shards" => Ok(Target::MostShards),
            "all" => Ok(Target::All),
            other => other.parse::<u64>().ok().filter(|id| *id > 0).map(Target::Node).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "must be random, leader, follower, most_shards, all or a node id (a positive integer), not {other:?}"
                ))
            }),
        }
    }
}

mod defaults {
    pub fn settle_s() -> u64 {
        180
    }
    pub fn clients() -> usize {
        3
    }
    pub fn interval_ms() -> u64 {
        500
    }
    pub fn recipients() -> usize {
        20
    }
    pub fn groups() -> usize {
        100
    }
    pub fn escalate_after_s() -> u32 {
        8
    }
    pub fn reply_rate() -> f64 {
        0.3
    }
    pub fn repeat_rate() -> f64 {
        0.2
    }
    pub fn lasts_s() -> f64 {
        10.0
    }
    pub fn provider() -> String {
        "sms-primary".into()
    }
}

/// Why a scenario cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("scenario {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The TOML does not fit the format.
    #[error("scenario {path}: {error}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (it names the field).
        error: String,
    },
    /// A field breaks a rule.
    #[error("scenario field `{field}` {rule}")]
    Invalid {
        /// The field, e.g. `faults[1].lasts_s`.
        field: String,
        /// The rule broken.
        rule: String,
    },
}

fn invalid(field: impl Into<String>, rule: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid { field: field.into(), rule: rule.into() }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let p = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|error| ScenarioError::Read { path: p.clone(), error })?;
        Self::parse(&text).map_err(|e| match e {
            ScenarioError::Parse { error, .. } => ScenarioError::Parse { path: p, error },
            other => other,
        })
    }

    /// Parses and checks a scenario.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = toml::from_str(text)
            .map_err(|e| ScenarioError::Parse { path: "<text>".into(), error: e.to_string() })?;
        s.validate()?;
        Ok(s)
    }

    /// Checks every rule.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if !(1..=86_400).contains(&self.duration_s) {
            return Err(invalid("duration_s", "must be between 1 and 86400 seconds"));
        }
        if !(1..=3_600).contains(&self.settle_s) {
            return Err(invalid("settle_s", "must be between 1 and 3600 seconds"));
        }
        let l = &self.load;
        if !(1..=64).contains(&l.clients) {
            return Err(invalid("load.clients", "must be between 1 and 64"));
        }
        if !(10..=60_000).contains(&l.interval_ms) {
            return Err(invalid("load.interval_ms", "must be between 10 and 60000"));
        }
        if !(1..=200_000).contains(&l.recipients) {
            return Err(invalid("load.recipients", "must be between 1 and 200000"));
        }
        if !(1..=1_000).contains(&l.groups) {
            return Err(invalid("load.groups", "must be between 1 and 1000"));
        }
        if l.recipients * l.groups > 200_000 {
            return Err(invalid(
                "load.groups",
                "times load.recipients (the contacts imported) must be at most 200000",
            ));
        }
        if l.escalate_after_s > 3_600 {
            return Err(invalid("load.escalate_after_s", "must be at most 3600"));
        }
        if l.neighbour_clients > 64 {
            return Err(invalid("load.neighbour_clients", "must be at most 64"));
        }
        if l.neighbour_clients > 0 && l.escalate_after_s > 0 {
            return Err(invalid(
                "load.neighbour_clients",
                "needs load.escalate_after_s = 0: a reply from a number two tenants' open alerts \
                 reached acknowledges neither, so the voice call the acknowledgement check expects \
                 to be stopped still comes",
            ));
        }
        for (field, v) in [("load.reply_rate", l.reply_rate), ("load.repeat_rate", l.repeat_rate)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(field, "must be between 0 and 1"));
            }
        }
        if let Some(gap) = self.sending_gap_ms_max
            && !(100..=600_000).contains(&gap)
        {
            return Err(invalid("sending_gap_ms_max", "must be between 100 and 600000 ms"));
        }
        if self.sending_gap_ms_max.is_some() && l.escalate_after_s > 0 {
            return Err(invalid(
                "sending_gap_ms_max",
                "needs load.escalate_after_s = 0: a shard waiting for its alert's voice step holds \
                 work while nothing is due, which would count as a stop",
            ));
        }
        for (i, f) in self.faults.iter().enumerate() {
            self.validate_fault(i, f)?;
        }
        self.sim.validate()?;
        Ok(())
    }

    /// Checks the rules of fault `i`.
    fn validate_fault(&self, i: usize, f: &FaultSpec) -> Result<(), ScenarioError> {
        let d = self.duration_s as f64;
        let field = |name: &str| format!("faults[{i}].{name}");
        if !(0.0..d).contains(&f.start_s) {
            return Err(invalid(
                field("start_s"),
                format!("must be at least 0 and less than duration_s ({d})"),
            ));
        }
        if !(0.1..=3_600.0).contains(&f.lasts_s) {
            return Err(invalid(field("lasts_s"), "must be between 0.1 and 3600 seconds"));
        }
        if !(0.0..=3_600.0).contains(&f.jitter_s) {
            return Err(invalid(field("jitter_s"), "must be between 0 and 3600 seconds"));
        }
        if let Some(every) = f.every_s
            && every < f.lasts_s + f.jitter_s + 1.0
        {
            return Err(invalid(
                field("every_s"),
                format!(
                    "must be at least lasts_s + jitter_s + 1 ({}) so one injection is undone before the next",
                    f.lasts_s + f.jitter_s + 1.0
                ),
            ));
        }
        if f.kind == FaultKind::Latency && !(1..=5_000).contains(&f.latency_ms) {
            return Err(invalid(field("latency_ms"), "must be between 1 and 5000 for a latency fault"));
        }
        if f.kind == FaultKind::ProviderDown && f.provider.trim().is_empty() {
            return Err(invalid(field("provider"), "must name a provider for provider_down"));
        }
        validate_clock_offset(f, &field("offset_ms"))?;
        if f.target == Target::All && f.kind != FaultKind::Snapshot {
            return Err(invalid(
                field("target"),
                format!("all is for snapshot only; {} hits one node", f.kind.name()),
            ));
        }
        Ok(())
    }

    /// Checks that `mode` (`processes`, `compose`) can inject every fault of the scenario; the
    /// error names the first fault it cannot and why.
    pub fn validate_for_mode(&self, mode: &str) -> Result<(), ScenarioError> {
        for (i, f) in self.faults.iter().enumerate() {
            if let Some(why) = f.kind.unsupported_in(mode) {
                return Err(invalid(
                    format!("faults[{i}].kind"),
                    format!("is {}, which {mode} mode cannot inject: it {why}", f.kind.name()),
                ));
            }
        }
        Ok(())
    }

    /// Whether the scenario fills disks (process mode then mounts a tmpfs per node).
    pub fn fills_disks(&self) -> bool {
        self.faults.iter().any(|f| f.kind == FaultKind::DiskFull)
    }

    /// Whether the run samples every node's sending (see [`Scenario::sending_gap_ms_max`]).
    pub fn samples_sending(&self) -> bool {
        self.sending_gap_ms_max.is_some() || self.faults.iter().any(|f| f.kind == FaultKind::Snapshot)
    }

    /// The injections of this scenario under `seed`, in time order.
    pub fn plan(&self, seed: u64) -> Vec<Planned> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::new();
        for (spec, f) in self.faults.iter().enumerate() {
            let mut at = f.start_s;
            while at < self.duration_s as f64 {
                let jitter = if f.jitter_s > 0.0 { rng.random_range(0.0..f.jitter_s) } else { 0.0 };
                out.push(Planned { spec, at_s: at + jitter, pick: rng.random() });
                match f.every_s {
                    Some(every) => at += every,
                    None => break,
                }
            }
        }
        out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        out
    }
}

/// `offset_ms` is set for the clock faults, within [`CLOCK_OFFSET_MS_MAX`] (forward for a
/// jump), and for no other kind.
fn validate_clock_offset(f: &FaultSpec, field: &str) -> Result<(), ScenarioError> {
    if !f.kind.sets_clock() {
        if f.offset_ms != 0 {
            return Err(invalid(
                field,
                format!("applies to clock_skew and clock_jump only, not to {}", f.kind.name()),
            ));
        }
        return Ok(());
    }
    if f.offset_ms == 0 || f.offset_ms.unsigned_abs() > CLOCK_OFFSET_MS_MAX.unsigned_abs() {
        return Err(invalid(
            field,
            format!(
                "must be non-zero and at most {CLOCK_OFFSET_MS_MAX} ms (30 days) either way for {}, not {}",
                f.kind.name(),
                f.offset_ms
            ),
        ));
    }
    if f.kind == FaultKind::ClockJump && f.offset_ms < 0 {
        return Err(invalid(
            field,
            format!(
                "must be positive for clock_jump (the leader's clock jumps forward, then back); \
                 for a clock behind use clock_skew, not {}",
                f.offset_ms
            ),
        ));
    }
    Ok(())
}

/// One scheduled injection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    /// Index into [`Scenario::faults`].
    pub spec: usize,
    /// Seconds into the run.
    pub at_s: f64,
    /// A draw from the seed, used to choose among candidate nodes.
    pub pick: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FILE: &str = r#"
        name = "t"
        duration_s = 60
        [[faults]]
        kind = "kill_site"
        target = "most_shards"
        start_s = 5
        every_s = 20
        lasts_s = 8
        jitter_s = 2
        [[faults]]
        kind = "provider_down"
        start_s = 30
    "#;

    /// Goal: a scenario parses with defaults, and its plan repeats injections from the seed
    /// alone.
    #[test]
    fn plan_is_a_function_of_the_seed() {
        let s = Scenario::parse(FILE).unwrap();
        assert_eq!(s.load, Load::default());
        assert_eq!(s.faults[0].target, Target::MostShards);
        let a = s.plan(7);
        assert_eq!(a, s.plan(7));
        assert_ne!(a, s.plan(8));
        assert_eq!(a.iter().filter(|p| p.spec == 0).count(), 3, "at 5, 25 and 45 s: {a:?}");
        assert_eq!(a.iter().filter(|p| p.spec == 1).count(), 1);
        assert!(a.windows(2).all(|w| w[0].at_s <= w[1].at_s));
        assert!(a.iter().filter(|p| p.spec == 0).all(|p| (p.at_s - 5.0) % 20.0 < 2.0));
    }

    /// Goal: broken rules are refused with the field and the rule.
    #[test]
    fn errors_name_the_field_and_rule() {
        let bad = FILE.replace("every_s = 20", "every_s = 9");
        let e = Scenario::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("faults[0].every_s") && e.contains("lasts_s + jitter_s + 1"), "{e}");
        let bad = FILE.replace("most_shards", "the-big-one");
        let e = Scenario::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("target") && e.contains("node id"), "{e}");
        let bad = FILE.replace("kind = \"provider_down\"", "kind = \"meteor\"");
        assert!(Scenario::parse(&bad).unwrap_err().to_string().contains("meteor"));
        let bad = FILE.replace("duration_s = 60", "duration_s = 60\nspeed = 3");
        assert!(Scenario::parse(&bad).unwrap_err().to_string().contains("speed"));
        let bad = FILE.replace("start_s = 30", "start_s = 90");
        assert!(Scenario::parse(&bad).unwrap_err().to_string().contains("faults[1].start_s"));
        let bad = format!("{FILE}\n[sim.providers.sms-alt]\nthrottle_mid_batch_rate = 3.0\n");
        let e = Scenario::parse(&bad).unwrap_err().to_string();
        assert!(
            e.contains("`sim.providers.sms-alt.throttle_mid_batch_rate`") && e.contains("0.0..=1.0"),
            "{e}"
        );
        let bad = format!("{FILE}\n[sim.providers.sms-alt]\nhonour_keys = false\n");
        assert!(Scenario::parse(&bad).unwrap_err().to_string().contains("honour_keys"));
    }

    /// Goal: the `[sim]` section and the `cancel` fault parse, and say what the judge needs.
    #[test]
    fn sim_section_and_cancel() {
        let text = format!(
            "{FILE}\n[[faults]]\nkind = \"cancel\"\nstart_s = 7\n\n[sim.providers.sms-primary]\nhonour_idempotency = false\n"
        );
        let s = Scenario::parse(&text).unwrap();
        assert_eq!(s.faults[2].kind, FaultKind::Cancel);
        assert!(s.sim.keys_ignored() && !s.sim.provider_timeouts());
        assert!(!FaultKind::Cancel.explains_duplicates() && FaultKind::StallSite.explains_duplicates());
        assert!(!Scenario::parse(FILE).unwrap().sim.keys_ignored());
    }

    /// Goal: the clock and snapshot faults parse; a wrong offset, target or bound is refused
    /// naming the field; compose mode refuses a wrong clock naming the fault and why, and takes
    /// a snapshot. Method: variations of one scenario text.
    #[test]
    fn clock_and_snapshot_faults() {
        let base = "name = \"t\"\nduration_s = 60\n[load]\nescalate_after_s = 0\n";
        let with = |fault: &str| format!("{base}[[faults]]\n{fault}\n");
        let s =
            Scenario::parse(&with("kind = \"clock_skew\"\ntarget = \"leader\"\noffset_ms = -90000")).unwrap();
        assert_eq!((s.faults[0].kind, s.faults[0].offset_ms), (FaultKind::ClockSkew, -90_000));
        assert!(s.validate_for_mode("processes").is_ok() && !s.samples_sending());
        let e = s.validate_for_mode("compose").unwrap_err().to_string();
        assert!(
            e.contains("faults[0].kind") && e.contains("clock_skew") && e.contains("process mode"),
            "{e}"
        );
        for bad in [
            "kind = \"clock_skew\"",
            "kind = \"clock_skew\"\noffset_ms = 2592000001",
            "kind = \"clock_jump\"\noffset_ms = -5000",
            "kind = \"kill_site\"\noffset_ms = 5000",
        ] {
            let e = Scenario::parse(&with(bad)).unwrap_err().to_string();
            assert!(e.contains("faults[0].offset_ms"), "{bad}: {e}");
        }
        let e = Scenario::parse(&with("kind = \"kill_site\"\ntarget = \"all\"")).unwrap_err().to_string();
        assert!(e.contains("faults[0].target") && e.contains("snapshot"), "{e}");
        let s = Scenario::parse(&with("kind = \"snapshot\"\ntarget = \"all\"\nstart_s = 3")).unwrap();
        assert_eq!((s.faults[0].kind, &s.faults[0].target), (FaultKind::Snapshot, &Target::All));
        assert!(s.validate_for_mode("compose").is_ok() && s.samples_sending());
        let s = Scenario::parse(&with("kind = \"disk_full\"\ntarget = \"leader\"")).unwrap();
        assert!(s.fills_disks() && s.faults[0].kind.takes_vote() && !s.faults[0].kind.hits_site());
        assert!(s.validate_for_mode("processes").is_ok());
        let e = s.validate_for_mode("compose").unwrap_err().to_string();
        assert!(e.contains("faults[0].kind") && e.contains("disk_full") && e.contains("tmpfs"), "{e}");
        let gap = format!(
            "sending_gap_ms_max = 3000\n{}",
            base.replace("escalate_after_s = 0", "escalate_after_s = 5")
        );
        let e = Scenario::parse(&gap).unwrap_err().to_string();
        assert!(e.contains("sending_gap_ms_max") && e.contains("escalate_after_s"), "{e}");
    }

    /// Goal: every shipped scenario file is valid.
    #[test]
    fn shipped_scenarios_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 5, "expected the shipped scenarios in {}", dir.display());
    }
}
