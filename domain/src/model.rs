//! The replicated domain model: tenants, credentials, contacts, groups, templates, alerts.
//!
//! These are the records the state machine stores and the API returns. They are plain data;
//! the rules that check input are in [`crate::alert_spec`] and the other rule modules.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use crate::Channel;

/// A tenant (customer organisation). `0` is the cluster itself (the superadmin's scope).
pub type TenantId = u64;
/// A credential (API token).
pub type CredentialId = u64;
/// A contact.
pub type ContactId = u64;
/// A group (notification list).
pub type GroupId = u64;
/// An alert.
pub type AlertId = u64;

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Read everything of its tenant.
    Viewer,
    /// Viewer, plus send and cancel alerts and edit contacts, groups and templates.
    Operator,
    /// Operator, plus manage the tenant's credentials.
    Admin,
    /// The cluster operator: creates tenants and sets their limits; no tenant's data.
    SuperAdmin,
}

impl Role {
    /// Whether this role may send, cancel and acknowledge alerts and edit contact data.
    pub fn can_write(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }

    /// Whether this role may manage credentials of its tenant.
    pub fn can_manage_credentials(self) -> bool {
        matches!(self, Role::Admin | Role::SuperAdmin)
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::SuperAdmin => "superadmin",
        }
    }
}

/// Per-tenant limits. Exceeding one is refused with `RESOURCE_EXHAUSTED` naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most recipients one alert may target (counted as the sum of its targets).
    pub max_recipients_per_alert: u64,
    /// Most SMS segments one message may take.
    pub max_sms_segments: u32,
    /// Most alerts created per minute (by the log's clock).
    pub max_alerts_per_minute: u32,
    /// Most messages one alert may cause (recipients × channels in its policy).
    pub max_messages_per_alert: u64,
    /// Most messages per second the tenant's alerts are sent at, over all nodes.
    pub max_send_rate_per_second: u32,
    /// Most contacts the tenant may keep.
    pub max_contacts: u64,
}

impl Default for Limits {
    /// The limits of a standard customer.
    fn default() -> Self {
        Self {
            max_recipients_per_alert: 100_000,
            max_sms_segments: 3,
            max_alerts_per_minute: 10,
            max_messages_per_alert: 400_000,
            max_send_rate_per_second: 2_000,
            max_contacts: 1_000_000,
        }
    }
}

/// How long a tenant's finished alerts are kept, by the log's clock from when each finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Delivery details: per-recipient outcomes, receipts, replies, acknowledgements and the
    /// shards' state. The alert's summary (its counts) stays.
    pub details_ms: u64,
    /// The whole alert (its summary) and the tenant's audit trail.
    pub alerts_ms: u64,
}

impl Retention {
    /// The shortest retention accepted: one minute.
    pub const MIN_MS: u64 = 60_000;
    /// The longest: 100 years.
    pub const MAX_MS: u64 = 100 * 365 * 86_400_000;

    /// Checks the bounds and that the summary is kept at least as long as the details; the
    /// error names the field and the rule.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (field, v) in [("details", self.details_ms), ("alerts", self.alerts_ms)] {
            if !(Self::MIN_MS..=Self::MAX_MS).contains(&v) {
                return Err((
                    field,
                    format!(
                        "must be between 1 minute and 100 years ({} to {} ms), not {v} ms",
                        Self::MIN_MS,
                        Self::MAX_MS
                    ),
                ));
            }
        }
        if self.alerts_ms < self.details_ms {
            return Err((
                "alerts",
                format!(
                    "must be at least the details' retention ({} ms): an alert's summary outlives its details, not {} ms",
                    self.details_ms, self.alerts_ms
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Retention {
    /// 90 days of delivery details, 5 years of alert summaries and audit trail.
    fn default() -> Self {
        Self { details_ms: 90 * 86_400_000, alerts_ms: 5 * 365 * 86_400_000 }
    }
}

/// A customer organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its unique name.
    pub name: String,
    /// Its limits.
    pub limits: Limits,
    /// When it was created (log clock).
    pub created_at_ms: u64,
}

/// An API credential. Only the SHA-256 of the token's secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Its id (also the first part of the token).
    pub id: CredentialId,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// A label chosen by whoever created it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token's secret part.
    pub secret_hash: [u8; 32],
    /// When it was created.
    pub created_at_ms: u64,
    /// Who created it.
    pub created_by: CredentialId,
    /// Revoked credentials authenticate nothing.
    pub revoked: bool,
}

/// A person (or a role such as a duty phone) to be reached.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contact {
    /// Internal id.
    pub id: ContactId,
    /// The customer's own identifier; unique within the tenant.
    pub external_id: String,
    /// Display name; `{{name}}` in templates.
    pub name: Option<String>,
    /// E.164 phone number (SMS and voice).
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Web Push subscription JSON.
    pub push: Option<String>,
    /// Preferred language tag.
    pub language: Option<String>,
    /// Channels the contact opted out of.
    pub opt_out: BTreeSet<Channel>,
    /// Set when a push service answered that the subscription is gone (410).
    pub push_invalid: bool,
    /// Last change (log clock).
    pub updated_at_ms: u64,
}

impl Contact {
    /// Whether the contact can be reached on `channel` (has an address, has not opted out).
    pub fn reachable_on(&self, channel: Channel) -> bool {
        if self.opt_out.contains(&channel) {
            return false;
        }
        match channel {
            Channel::Sms | Channel::Voice => self.phone.is_some(),
            Channel::Email => self.email.is_some(),
            Channel::Push => self.push.is_some() && !self.push_invalid,
        }
    }
}

/// A contact as given by a client or a CSV row (validated before it is proposed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactInput {
    /// Unique within the tenant; identifies the contact to update.
    pub external_id: String,
    /// Display name.
    pub name: Option<String>,
    /// E.164 phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Web Push subscription JSON.
    pub push: Option<String>,
    /// Language tag.
    pub language: Option<String>,
    /// Channels opted out of.
    pub opt_out: BTreeSet<Channel>,
    /// Group names to add the contact to (created when missing). Existing memberships are
    /// kept.
    pub groups: Vec<String>,
}

/// A notification list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// Its name, unique within the tenant.
    pub name: String,
    /// Current number of members.
    pub member_count: u64,
    /// The next member sequence number. Members get increasing numbers as they are added and
    /// keep them; an alert records this value when accepted, which freezes who it reaches.
    pub next_seq: u64,
    /// When it was created.
    pub created_at_ms: u64,
}

/// One membership of a contact in a group, kept after removal for alerts accepted before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The member.
    pub contact: ContactId,
    /// Log index at which the membership began.
    pub added_at: u64,
    /// Log index at which it ended, if it did.
    pub removed_at: Option<u64>,
}

impl Membership {
    /// Whether the contact was a member as of log index `at`.
    pub fn active_at(&self, at: u64) -> bool {
        self.added_at <= at && self.removed_at.is_none_or(|r| r > at)
    }
}

/// What each channel says in one language.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChannelContent {
    /// SMS text.
    pub sms_text: Option<String>,
    /// E-mail subject.
    pub email_subject: Option<String>,
    /// E-mail plain-text body.
    pub email_text: Option<String>,
    /// E-mail HTML body.
    pub email_html: Option<String>,
    /// Text-to-speech script.
    pub voice_script: Option<String>,
    /// Push notification title.
    pub push_title: Option<String>,
    /// Push notification body.
    pub push_body: Option<String>,
}

impl ChannelContent {
    /// Whether this variant has what `channel` needs.
    pub fn has(&self, channel: Channel) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match channel {
            Channel::Sms => set(&self.sms_text),
            Channel::Voice => set(&self.voice_script),
            Channel::Email => set(&self.email_subject) && (set(&self.email_text) || set(&self.email_html)),
            Channel::Push => set(&self.push_title) || set(&self.push_body),
        }
    }

    /// Every text with the name of its field, for validation.
    pub fn texts(&self) -> Vec<(&'static str, &str)> {
        let all = [
            ("sms_text", &self.sms_text),
            ("email_subject", &self.email_subject),
            ("email_text", &self.email_text),
            ("email_html", &self.email_html),
            ("voice_script", &self.voice_script),
            ("push_title", &self.push_title),
            ("push_body", &self.push_body),
        ];
        all.into_iter().filter_map(|(n, v)| v.as_deref().map(|t| (n, t))).collect()
    }
}

/// Content in one or more languages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Content {
    /// The variant used when a recipient's language has none.
    pub default_language: String,
    /// Variants by language tag.
    pub variants: BTreeMap<String, ChannelContent>,
}

impl Content {
    /// The variant for a recipient of `language` on `channel`: their language when it has
    /// content for that channel, else the default language's.
    pub fn variant_for(&self, language: Option<&str>, channel: Channel) -> Option<&ChannelContent> {
        let own = language.and_then(|l| self.variants.get(l)).filter(|v| v.has(channel));
        own.or_else(|| self.variants.get(&self.default_language))
    }
}

/// A stored, named template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTemplate {
    /// Its name, unique within the tenant.
    pub name: String,
    /// Its content.
    pub content: Content,
    /// Last change.
    pub updated_at_ms: u64,
}

/// How urgent an alert is; higher overtakes lower in every queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Tests, information.
    Routine,
    /// Needs attention soon.
    Urgent,
    /// Life and health: overtakes everything else.
    Crisis,
}

/// One step of an alert's channel policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationStep {
    /// Channels used at once in this step.
    pub channels: Vec<Channel>,
    /// Seconds after the alert starts; later steps only reach recipients who have not
    /// acknowledged by then.
    pub after_seconds: u32,
}

/// A reference to a group by id or name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupRef {
    /// By id.
    Id(GroupId),
    /// By name.
    Name(String),
}

/// A reference to a contact by id or external id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactRef {
    /// By id.
    Id(ContactId),
    /// By external id.
    External(String),
}

/// An alert as requested, validated by [`crate::alert_spec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSpec {
    /// The same key twice gives the first alert.
    pub idempotency_key: String,
    /// A short title for lists and reports.
    pub title: String,
    /// Priority.
    pub priority: Priority,
    /// The content (a template's content is copied in when the alert is created).
    pub content: Content,
    /// Values of the alert's own template variables.
    pub variables: BTreeMap<String, String>,
    /// Groups targeted.
    pub groups: Vec<GroupRef>,
    /// Contacts targeted directly.
    pub contacts: Vec<ContactRef>,
    /// The channel policy, steps in increasing `after_seconds`.
    pub policy: Vec<EscalationStep>,
    /// When to start (ms since epoch); `None` is at once.
    pub send_at_ms: Option<u64>,
    /// When to stop sending; `None` is the default lifetime after the start.
    pub expires_at_ms: Option<u64>,
}

impl AlertSpec {
    /// Every channel the policy uses.
    pub fn channels(&self) -> BTreeSet<Channel> {
        self.policy.iter().flat_map(|s| s.channels.iter().copied()).collect()
    }
}

/// A group as an accepted alert saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// The group.
    pub group: GroupId,
    /// Members with a sequence number below this were candidates (see [`Group::next_seq`]).
    pub seq_end: u64,
    /// Members at acceptance.
    pub member_count: u64,
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertStatus {
    /// Waiting for its send time.
    Scheduled,
    /// Being sent (or escalating).
    Active,
    /// Every step ran on every shard.
    Completed,
    /// Cancelled by an operator.
    Cancelled,
    /// Its expiry passed before it completed.
    Expired,
    /// Restored from a backup while it was being sent: nothing is sent until an operator
    /// resumes it (`ResumeAlert`) or cancels it, so a restore never resends by itself.
    Held,
}

impl AlertStatus {
    /// Whether nothing more will be sent.
    pub fn is_final(self) -> bool {
        matches!(self, AlertStatus::Completed | AlertStatus::Cancelled | AlertStatus::Expired)
    }
}

/// An accepted alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// Its tenant.
    pub tenant: TenantId,
    /// What was asked for (references resolved to ids in `groups` and `contacts`).
    pub spec: AlertSpec,
    /// The targeted groups as they were when the alert was accepted.
    pub groups: Vec<GroupSnapshot>,
    /// Contacts targeted directly.
    pub contacts: Vec<ContactId>,
    /// Log index at which it was accepted: the point its recipient set is frozen at.
    pub accepted_index: u64,
    /// When it was accepted (log clock).
    pub created_at_ms: u64,
    /// Who created it.
    pub created_by: CredentialId,
    /// When sending starts.
    pub start_ms: u64,
    /// When sending stops.
    pub expires_ms: u64,
    /// Its status.
    pub status: AlertStatus,
    /// Upper bound of recipients (sum of targets; a contact in two targets is sent once).
    pub recipients_planned: u64,
    /// Number of shards its recipients are split into.
    pub shards: u32,
    /// Cancellation time and author.
    pub cancelled: Option<(u64, CredentialId)>,
    /// When it reached a final status.
    pub finished_at_ms: Option<u64>,
    /// Hash of the request, to refuse an idempotency key reused for a different alert.
    pub request_hash: u64,
    /// The W3C `traceparent` of the request that created it (sending joins that trace).
    pub trace: Option<String>,
}

/// An entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When (log clock).
    pub at_ms: u64,
    /// Who.
    pub credential: CredentialId,
    /// What, e.g. `alert.create`.
    pub action: String,
    /// On what, e.g. `alert 12`.
    pub target: String,
    /// A short description without message bodies or addresses.
    pub detail: String,
}
