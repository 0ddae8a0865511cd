//! Key layout of the state-machine tree.
//!
//! The first byte of every key names its table, so each table is one contiguous key range and
//! can be scanned, counted and compacted on its own. Integers inside keys are fixed-width
//! big-endian, so key order is numeric order. A string in the middle of a key ends with a 0x00
//! byte (validated input never contains one); a string at the end is not terminated.
//!
//! | prefix | table | key after the prefix | value |
//! |---|---|---|---|
//! | `0x00` | metadata | `applied`, `membership`, `clock`, `lease_clock`, `cluster_id`, `erasures`, `webhook_event_seq`; `format` | see the constants; `format`: one byte, the store's format version |
//! | `0x01` | key-value map | key | value |
//! | `0x10` | id sequences | name | next id |
//! | `0x11` | tenants | tenant | `Tenant` |
//! | `0x12` | tenant names | name | tenant |
//! | `0x13` | credentials | credential | `Credential` |
//! | `0x14` | credentials of a tenant | tenant, credential | () |
//! | `0x20` | contacts | tenant, contact | `Contact` |
//! | `0x21` | contact external ids | tenant, external id | contact |
//! | `0x22` | phone numbers (for replies) | phone 0x00, tenant, contact | () |
//! | `0x23` | groups | tenant, group | `Group` |
//! | `0x24` | group names | tenant, name | group |
//! | `0x25` | memberships, one key each (stores before runs; rewritten into `0x4A` when opened) | tenant, group, seq | `Membership` |
//! | `0x26` | ended memberships by contact (stores of older builds: current ones too) | tenant, group, contact, seq | () |
//! | `0x27` | a contact's current groups | tenant, contact, group | seq |
//! | `0x28` | contacts' directory attributes (SCIM) | tenant, contact | `DirectoryRecord` |
//! | `0x29` | directory ids (SCIM `externalId`) | tenant, directory id | contact |
//! | `0x2A` | inactive contacts (only those) | tenant, contact | () |
//! | `0x2B` | inactive group members an alert left out | alert | sorted `Vec<ContactId>` |
//! | `0x2C` | groups' directory ids (SCIM Group `externalId`) | tenant, group | directory id |
//! | `0x30` | alerts | tenant, alert | `Alert` |
//! | `0x31` | idempotency keys | tenant, key | alert |
//! | `0x32` | alert creation times (rate limit) | tenant | recent times |
//! | `0x33` | unfinished alerts | alert | tenant |
//! | `0x34` | alert progress | alert | `Progress` |
//! | `0x35` | acknowledgements | alert, contact | `Ack` |
//! | `0x36` | the tenant of every alert | alert | tenant |
//! | `0x37` | idempotency keys of other operations | tenant, operation name 0x00, key | `Recorded` |
//! | `0x38` | alerts held after a restore | alert | (tenant, status before) |
//! | `0x39` | retention of a tenant | tenant | `Retention` |
//! | `0x3A` | finished alerts queued for purging | due (log clock), alert, stage | (tenant, finished at) |
//! | `0x40` | templates | tenant, name | `StoredTemplate` |
//! | `0x4A` | memberships in runs of 128 | tenant, group, first seq of the run | `Membership`s back to back ([`crate::format::append_to_run`]) |
//! | `0x50` | audit trail | tenant, log index | `AuditRecord` |
//! | `0x60` | shards (leases, cursors) | alert, shard | `ShardState` |
//! | `0x61` | outcome batches | alert, shard, step, first position, channel index | `Vec<Outcome>` |
//! | `0x62` | delivery receipts | alert, contact, channel | `StoredReceipt` |
//! | `0x63` | node heartbeats | node | last seen (log clock) |
//! | `0x64` | replies attributed to an alert | alert, sequence | `StoredReply` |
//! | `0x65` | replies attributed to no alert | tenant (0: none), sequence | `StoredReply` |
//! | `0x66` | identities of replies kept | identity | sequence |
//! | `0x67` | a contact's replies (for export and erasure) | tenant, contact, alert, sequence | () |
//! | `0x68` | unattributed replies by sender | phone 0x00, tenant, sequence | () |
//! | `0x70` | webhook subscriptions | tenant, webhook | `Webhook` |
//! | `0x71` | webhook outbox | tenant, webhook, log index, n | `OutboxEntry` |
//! | `0x72` | webhook events | log index, n | `WebhookEvent` |
//! | `0x73` | webhook attempts | tenant, webhook, sequence | `Attempt` |
//! | `0x74` | highest step announced of an alert | alert | step |
//! | `0x75` | idempotency keys of webhook creates | tenant, key | (request, webhook) |
//! | `0x76` | webhook outbox entries of a tenant | tenant | count |
//!
//! Every value is written by [`crate::format::encode`] and so starts with its format version,
//! except the `format` marker itself (it is the version) and the `()` of index tables, which
//! are stored as zero bytes: they are never decoded, only their presence is read, so they have
//! no shape to change. Keys carry no version: a change of key layout is a new table.

/// Prefix of the metadata table.
pub const META: u8 = 0x00;
/// Prefix of the key-value table.
pub const KV: u8 = 0x01;
/// Id sequences.
pub const SEQ: u8 = 0x10;
/// Tenants.
pub const TENANT: u8 = 0x11;
/// Tenant names.
pub const TENANT_NAME: u8 = 0x12;
/// Credentials.
pub const CREDENTIAL: u8 = 0x13;
/// Credentials by tenant.
pub const TENANT_CREDENTIAL: u8 = 0x14;
/// Contacts.
pub const CONTACT: u8 = 0x20;
/// Contact external ids.
pub const CONTACT_EXT: u8 = 0x21;
/// Phone number index.
pub const PHONE: u8 = 0x22;
/// Groups.
pub const GROUP: u8 = 0x23;
/// Group names.
pub const GROUP_NAME: u8 = 0x24;
/// Memberships by sequence, one key each: only in stores and snapshots written before runs
/// ([`MEMBER_RUN`]); rewritten into runs when found.
pub const MEMBER: u8 = 0x25;
/// Memberships by sequence, in runs of consecutive numbers.
pub const MEMBER_RUN: u8 = 0x4A;
/// Memberships by contact.
pub const MEMBER_BY_CONTACT: u8 = 0x26;
/// A contact's current groups.
pub const CONTACT_GROUP: u8 = 0x27;
/// Contacts' directory attributes (directory id, inactive, creation time).
pub const DIRECTORY: u8 = 0x28;
/// Directory ids of contacts (SCIM `externalId`), to their contact.
pub const DIRECTORY_ID: u8 = 0x29;
/// Inactive contacts, and only those: read whole when an alert is accepted.
pub const INACTIVE: u8 = 0x2A;
/// The inactive members of its groups an alert left out when it was accepted.
pub const ALERT_EXCLUDED: u8 = 0x2B;
/// Groups' directory ids (SCIM Group `externalId`).
pub const GROUP_DIRECTORY: u8 = 0x2C;
/// Contacts' places (tenant, contact) → `Vec<Location>`.
pub const LOCATION: u8 = 0x2D;
/// The spatial index: (tenant, grid row u16, grid column u16, contact, place u8) → point.
pub const GEO_CELL: u8 = 0x2E;
/// Alerts.
pub const ALERT: u8 = 0x30;
/// Groups holding an area alert's frozen recipients (tenant, group) → [`AreaGroup`](crate::state_machine::domain::locations::AreaGroup).
pub const AREA_GROUP: u8 = 0x45;
/// Their members in sorted chunks (tenant, group, chunk number) → `Vec<ContactId>`.
pub const AREA_CHUNK: u8 = 0x46;
/// Area targets of alerts (alert) → what was asked and how many it matched.
pub const ALERT_AREA: u8 = 0x2F;
/// Answer options of alerts and the key of their response links (alert) →
/// [`AlertAnswers`](varsel_domain::answers::AlertAnswers).
pub const ALERT_ANSWERS: u8 = 0x47;
/// Recipients' answers (alert, contact) → [`StoredAnswer`](crate::state_machine::domain::answers::StoredAnswer).
pub const ANSWER: u8 = 0x48;
/// Answers per option (alert) → `Vec<u64>`, option 1 first.
pub const ANSWER_COUNT: u8 = 0x49;
/// Idempotency keys.
pub const IDEMPOTENCY: u8 = 0x31;
/// Recent alert creation times per tenant.
pub const ALERT_RATE: u8 = 0x32;
/// Unfinished alerts.
pub const OPEN_ALERT: u8 = 0x33;
/// Alert progress.
pub const PROGRESS: u8 = 0x34;
/// Acknowledgements.
pub const ACK: u8 = 0x35;
/// The tenant of every alert.
pub const ALERT_TENANT: u8 = 0x36;
/// Idempotency keys of the operations other than alert creation.
pub const OP_IDEMPOTENCY: u8 = 0x37;
/// Alerts held after a restore from a backup, until resumed or cancelled.
pub const HELD_ALERT: u8 = 0x38;
/// Retention of each tenant that set one.
pub const RETENTION: u8 = 0x39;
/// Finished alerts queued for purging, by when they are due.
pub const PURGE_DUE: u8 = 0x3A;
/// Templates.
pub const TEMPLATE: u8 = 0x40;
/// A tenant's CAP configuration (routes, exercise group).
pub const CAP_CONFIG: u8 = 0x42;
/// CAP messages a tenant received, by idempotency key.
pub const CAP_RECORD: u8 = 0x43;
/// The key of the CAP message that created an alert.
pub const CAP_BY_ALERT: u8 = 0x44;
/// Audit trail.
pub const AUDIT: u8 = 0x50;
/// Shard states.
pub const SHARD: u8 = 0x60;
/// Outcome batches as written before [`OUTCOME_PACKED`]: a plain `Vec<Outcome>` each, still
/// read (stores of layout 2 and older, snapshots and backups they made).
pub const OUTCOME: u8 = 0x61;
/// Outcome batches, packed (`state_machine::delivery::packed`); same key layout as [`OUTCOME`].
pub const OUTCOME_PACKED: u8 = 0x69;
/// Delivery receipts.
pub const RECEIPT: u8 = 0x62;
/// Node heartbeats.
pub const NODE: u8 = 0x63;
/// Replies attributed to an alert, by alert and sequence.
pub const REPLY: u8 = 0x64;
/// Replies attributed to no alert, by tenant (0: none) and sequence.
pub const REPLY_UNMATCHED: u8 = 0x65;
/// Identities of the replies already kept (see `ReplyItem::identity`).
pub const REPLY_SEEN: u8 = 0x66;
/// Replies attributed to a contact, by tenant, contact, alert and sequence: what erasing or
/// exporting a contact reads instead of every reply of every alert it received.
pub const REPLY_BY_CONTACT: u8 = 0x67;
/// Replies attributed to no alert, by the number they came from, tenant and sequence.
pub const REPLY_BY_PHONE: u8 = 0x68;
/// Webhook subscriptions (see [`crate::webhooks`]).
pub const WEBHOOK: u8 = 0x70;
/// The webhook outbox: one event waiting for one endpoint.
pub const WEBHOOK_OUTBOX: u8 = 0x71;
/// Webhook events, shared by their outbox entries.
pub const WEBHOOK_EVENT: u8 = 0x72;
/// Webhook delivery attempts, the most recent per endpoint.
pub const WEBHOOK_ATTEMPT: u8 = 0x73;
/// The highest escalation step announced per alert.
pub const WEBHOOK_STEP: u8 = 0x74;
/// Idempotency keys of webhook creates.
pub const WEBHOOK_IDEMPOTENCY: u8 = 0x75;
/// Outbox entries per tenant (the bound's counter).
pub const WEBHOOK_OUTBOX_COUNT: u8 = 0x76;

/// The last applied log id.
pub const APPLIED: &[u8] = b"\x00applied";
/// The last membership config applied.
pub const MEMBERSHIP: &[u8] = b"\x00membership";
/// The state machine's clock (ms), the latest leader time seen in the log.
pub const CLOCK: &[u8] = b"\x00clock";
/// The state machine's lease clock (ms), the latest lease time seen in the log.
pub const LEASE_CLOCK: &[u8] = b"\x00lease_clock";
/// The cluster's id: set once by the first leader (or by a restore, which makes a new one).
pub const CLUSTER_ID: &[u8] = b"\x00cluster_id";
/// The store's format version: one byte, not itself versioned, written when a store is
/// opened empty and checked before anything else is read ([`crate::format::check_store`]).
/// Not in snapshots: an installed snapshot is marked with the receiving build's version.
pub const FORMAT: &[u8] = b"\x00format";
/// How many contacts have been erased so far (a node takes a snapshot and purges its log when
/// it sees the number grow, so the entries that carried the erased data go too).
pub const ERASURES: &[u8] = b"\x00erasures";
/// Which state tree is active (in the `sm_control` tree): `sm` when absent.
pub const ACTIVE_TREE: &[u8] = b"active";
/// Set (in the `sm_control` tree) while a snapshot is being installed.
pub const INSTALLING: &[u8] = b"installing";

/// Builds a key: a table prefix followed by components.
#[derive(Debug, Clone)]
pub struct Key(Vec<u8>);

impl Key {
    /// A key in `table`.
    pub fn new(table: u8) -> Self {
        let mut v = Vec::with_capacity(32);
        v.push(table);
        Key(v)
    }

    /// Appends a big-endian u64.
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian u16.
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a byte.
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    /// Appends a string followed by a 0x00 terminator (for strings before other components).
    pub fn str(mut self, s: &str) -> Self {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }

    /// Appends a string without terminator (last component only).
    pub fn tail(mut self, s: &str) -> Self {
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    /// The bytes.
    pub fn done(self) -> Vec<u8> {
        self.0
    }
}

/// Reads the big-endian u64 at `offset` of a key.
pub fn u64_at(key: &[u8], offset: usize) -> Option<u64> {
    key.get(offset..offset + 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

/// Key of `key` in the key-value table.
pub fn kv(key: &str) -> Vec<u8> {
    Key::new(KV).tail(key).done()
}

/// Whether a key travels in snapshots' record stream. `applied` and `membership` are carried
/// by the snapshot's metadata instead, so they are excluded. So is `format`: it says what the
/// build that keeps a store reads and writes, which is the receiver's business, not the
/// sender's (the receiver marks the installed state with its own, see `install_file`); and it
/// keeps the state digests of nodes on different builds comparable.
pub fn in_snapshot(key: &[u8]) -> bool {
    key != APPLIED && key != MEMBERSHIP && key != FORMAT
}
