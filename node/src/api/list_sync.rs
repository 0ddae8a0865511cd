//! List sync: `ImportContacts` with `sync_group` set makes the group exactly the file's rows.
//!
//! In order, nothing written before the last check passes:
//!
//! 1. the file is parsed as any import; more than `max_rejected_percent` rejected rows refuses
//!    it (a damaged export);
//! 2. after a read barrier, [`sync::plan`] reads what would change; removing more than
//!    `max_remove_percent` of the members refuses it (a truncated export). A dry run answers
//!    here;
//! 3. the accepted rows, each carrying the group, are upserted in the import's batches (the
//!    joiners join);
//! 4. the group is planned again (others may have changed it meanwhile) and the leavers leave
//!    in one entry, [`Op::SyncMembers`]; if the group changed between that plan and the entry,
//!    the entry is refused unchanged and step 4 runs again, at most
//!    [`SYNC_REMOVE_ATTEMPTS_MAX`] times.
//!
//! Why the removal is one entry, and what that costs at 5 M members: `docs/architecture.md`,
//! "List sync".

use varsel_domain::Rule;
use varsel_domain::csv_import::{GROUP_NAME_CHARS_MAX, ImportParse};
use varsel_proto::api as pb;
use varsel_raft_store::ops::{DomainReply, Op, RefusalCode};
use varsel_raft_store::seq_set::SeqSetError;
use varsel_raft_store::state_machine::domain::{query, sync};

use super::contacts::Contacts;
use super::{ApiContext, unexpected};
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult};

/// Share of the group's members a sync may remove when the request does not say (percent).
pub const SYNC_REMOVE_PERCENT_DEFAULT: u32 = 10;
/// Share of the file's rows that may be rejected when the request does not say (percent).
pub const SYNC_REJECTED_PERCENT_DEFAULT: u32 = 5;
/// Largest percentage an option takes (100: no limit).
pub const PERCENT_MAX: u32 = 100;
/// External ids of leavers listed in the report.
pub const LEFT_SAMPLE_MAX: usize = 20;
/// Times the removal step is planned again when the group changed under it. Each retry
/// re-reads the whole group, so a group edited faster than it can be read fails the sync
/// (after the upserts, which stay) instead of looping.
pub const SYNC_REMOVE_ATTEMPTS_MAX: usize = 3;

/// The sync options of an import, from its first chunk.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The group's name.
    pub group: String,
    /// Write nothing; report what would change.
    pub dry_run: bool,
    /// Most members that may leave, in percent of the group.
    pub remove_percent_max: u32,
    /// Most rows that may be rejected, in percent of the file.
    pub rejected_percent_max: u32,
}

impl SyncOptions {
    /// The options of `first`, `None` for a plain import; errors name the field and the rule.
    pub fn from_chunk(first: &pb::ImportChunk) -> ApiResult<Option<Self>> {
        let group = first.sync_group.trim();
        if group.is_empty() {
            if first.dry_run || first.max_remove_percent != 0 || first.max_rejected_percent != 0 {
                let m = "dry_run, max_remove_percent and max_rejected_percent need sync_group";
                return Err(ApiError::invalid("sync_group", Rule::Required, m));
            }
            return Ok(None);
        }
        let chars = group.chars().count();
        if chars > GROUP_NAME_CHARS_MAX {
            let m = format!("must be at most {GROUP_NAME_CHARS_MAX} characters, got {chars}");
            return Err(ApiError::invalid("sync_group", Rule::TooLong, m));
        }
        if group.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "sync_group",
                Rule::Characters,
                "must not contain control characters",
            ));
        }
        let percent = |field: &str, v: u32, default: u32| {
            if v > PERCENT_MAX {
                let m = format!("must be 0 (the default, {default}) to {PERCENT_MAX}, got {v}");
                return Err(ApiError::invalid(field, Rule::Range, m));
            }
            Ok(if v == 0 { default } else { v })
        };
        Ok(Some(Self {
            group: group.to_string(),
            dry_run: first.dry_run,
            remove_percent_max: percent(
                "max_remove_percent",
                first.max_remove_percent,
                SYNC_REMOVE_PERCENT_DEFAULT,
            )?,
            rejected_percent_max: percent(
                "max_rejected_percent",
                first.max_rejected_percent,
                SYNC_REJECTED_PERCENT_DEFAULT,
            )?,
        }))
    }
}

/// Whether `part` is more than `percent` % of `whole`.
fn over(part: u64, whole: u64, percent: u32) -> bool {
    u128::from(part) * 100 > u128::from(whole) * u128::from(percent)
}

/// The external ids a file names: its accepted rows, and its rejected rows that have one.
struct FileIds {
    accepted: Vec<String>,
    rejected: Vec<String>,
}

impl FileIds {
    fn of(parsed: &ImportParse) -> Self {
        Self {
            accepted: parsed.accepted.iter().map(|r| r.external_id.clone()).collect(),
            rejected: parsed.rejected.iter().filter_map(|r| r.external_id.clone()).collect(),
        }
    }
}

/// Plans the sync on this node's state, off the async workers (it reads every member).
async fn plan(
    ctx: &ApiContext,
    tenant: u64,
    group: &str,
    ids: &std::sync::Arc<FileIds>,
) -> ApiResult<sync::Plan> {
    let (replica, group, ids) = (ctx.replica.clone(), group.to_string(), ids.clone());
    tokio::task::spawn_blocking(move || {
        let accepted: Vec<&str> = ids.accepted.iter().map(String::as_str).collect();
        let rejected: Vec<&str> = ids.rejected.iter().map(String::as_str).collect();
        sync::plan(&replica.state.read_txn(), tenant, &group, &accepted, &rejected).map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// The first leavers' external ids.
fn left_sample(ctx: &ApiContext, tenant: u64, plan: &sync::Plan) -> ApiResult<Vec<String>> {
    let txn = ctx.replica.state.read_txn();
    let mut out = Vec::new();
    for (_, contact) in plan.leaving.iter().take(LEFT_SAMPLE_MAX) {
        if let Some(c) = query::contact_record(&txn, tenant, *contact).map_err(ApiError::from)? {
            out.push(c.external_id);
        }
    }
    Ok(out)
}

fn check_rejected(parsed: &ImportParse, opts: &SyncOptions) -> ApiResult<()> {
    let rejected = parsed.rejected.len() as u64;
    let rows = rejected + parsed.accepted.len() as u64;
    if over(rejected, rows, opts.rejected_percent_max) {
        return Err(ApiError::FailedPrecondition(format!(
            "max_rejected_percent: {rejected} of {rows} rows are rejected, more than {} %; nothing was written. \
             Fix the file, or allow more with max_rejected_percent (--max-rejected-percent, --force)",
            opts.rejected_percent_max
        )));
    }
    Ok(())
}

fn check_removals(plan: &sync::Plan, opts: &SyncOptions) -> ApiResult<()> {
    let members = plan.group.as_ref().map_or(0, |g| g.member_count);
    let leaving = plan.leaving.len() as u64;
    if over(leaving, members, opts.remove_percent_max) {
        return Err(ApiError::FailedPrecondition(format!(
            "max_remove_percent: the file would remove {leaving} of the {members} members of {:?}, more than {} %; \
             nothing was written. Check that the export is complete, or allow it with max_remove_percent \
             (--max-remove-percent, --force)",
            opts.group, opts.remove_percent_max
        )));
    }
    Ok(())
}

impl Contacts {
    /// Runs a list sync of `parsed` (see the module doc).
    pub(super) async fn sync(
        &self,
        actor: Authenticated,
        mut parsed: ImportParse,
        opts: SyncOptions,
    ) -> ApiResult<pb::ImportReport> {
        let ctx = self.context();
        check_rejected(&parsed, &opts)?;
        ctx.replica.read_barrier().await?;
        let ids = std::sync::Arc::new(FileIds::of(&parsed));
        let before = plan(ctx, actor.tenant, &opts.group, &ids).await?;
        check_removals(&before, &opts)?;
        if opts.dry_run {
            return dry_report(ctx, actor.tenant, &parsed, &before);
        }
        for row in &mut parsed.accepted {
            if !row.groups.contains(&opts.group) {
                row.groups.push(opts.group.clone());
            }
        }
        let mut report = self.import(actor.clone(), parsed).await?;
        report.joined = before.joining;
        let removed = self.remove_leavers(&actor, &opts, &ids, &before).await?;
        report.left = removed.left;
        report.left_sample = removed.sample;
        report.kept_rejected = removed.kept_rejected;
        report.sync_group_id = removed.group_id;
        report.member_count = removed.member_count;
        report.raft_entries += 1;
        Ok(report)
    }

    /// Step 4 of the module doc: plans the removals again and proposes them in one entry.
    async fn remove_leavers(
        &self,
        actor: &Authenticated,
        opts: &SyncOptions,
        ids: &std::sync::Arc<FileIds>,
        before: &sync::Plan,
    ) -> ApiResult<Removed> {
        let ctx = self.context();
        // A share of the members as they were when the file was checked, not after its joiners.
        let allowed = before.leaving.len() as u64;
        for _ in 0..SYNC_REMOVE_ATTEMPTS_MAX {
            let started = std::time::Instant::now();
            let now = plan(ctx, actor.tenant, &opts.group, ids).await?;
            let plan_ms = started.elapsed().as_millis() as u64;
            let Some(group) = now.group.clone() else {
                // No accepted row created it and it never existed: nobody to remove.
                return Ok(Removed::default());
            };
            let leaving = now.leaving.len() as u64;
            if leaving > allowed {
                let members = before.group.as_ref().map_or(0, |g| g.member_count);
                if over(leaving, members, opts.remove_percent_max) {
                    return Err(ApiError::FailedPrecondition(format!(
                        "max_remove_percent: the group changed during the sync and {leaving} members would now \
                         leave, more than {} % of {members}; the file's contacts are stored, nobody was removed. \
                         Sync again",
                        opts.remove_percent_max
                    )));
                }
            }
            let leave = now.leave_set().map_err(|e| match e {
                SeqSetError::TooLarge { .. } => ApiError::ResourceExhausted(format!(
                    "{e}; the file's contacts are stored, nobody was removed"
                )),
                other => ApiError::Internal(other.to_string()),
            })?;
            let sample = left_sample(ctx, actor.tenant, &now)?;
            let op = Op::SyncMembers {
                group: group.id,
                expect_next_seq: group.next_seq,
                expect_member_count: group.member_count,
                leave,
                rows: (ids.accepted.len() + ids.rejected.len()) as u64,
                rejected: now.kept_rejected,
            };
            let proposed = std::time::Instant::now();
            match ctx.propose(actor, op).await {
                Ok(DomainReply::Members { removed, member_count, .. }) => {
                    let kept_rejected = now.kept_rejected;
                    let commit_ms = proposed.elapsed().as_millis() as u64;
                    // The cost of the one-entry removal, for operators and the sync figure.
                    tracing::info!(
                        group = group.id,
                        left = removed,
                        member_count,
                        plan_ms,
                        commit_ms,
                        "list sync: members left in one entry"
                    );
                    return Ok(Removed {
                        left: removed,
                        sample,
                        kept_rejected,
                        group_id: group.id,
                        member_count,
                    });
                }
                Ok(other) => return Err(unexpected(other)),
                // The group moved between the plan and the entry: plan again.
                Err(ApiError::Refused(r)) if r.code == RefusalCode::FailedPrecondition => {
                    tracing::info!(group = group.id, reason = %r.message, "list sync planned again");
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::Unavailable(format!(
            "group {:?} kept changing while the sync planned its removals ({SYNC_REMOVE_ATTEMPTS_MAX} attempts); \
             the file's contacts are stored, nobody was removed. Sync again",
            opts.group
        )))
    }
}

/// What the removal step did.
#[derive(Debug, Default)]
struct Removed {
    left: u64,
    sample: Vec<String>,
    kept_rejected: u64,
    group_id: u64,
    member_count: u64,
}

/// The report of a dry run: what the sync would do, from the plan.
fn dry_report(
    ctx: &ApiContext,
    tenant: u64,
    parsed: &ImportParse,
    plan: &sync::Plan,
) -> ApiResult<pb::ImportReport> {
    let members = plan.group.as_ref().map_or(0, |g| g.member_count);
    Ok(pb::ImportReport {
        rows: (parsed.accepted.len() + parsed.rejected.len()) as u64,
        created: plan.created,
        updated: plan.updated,
        rejected: super::contacts::rejected_rows(parsed),
        blank_rows: parsed.blank_rows,
        joined: plan.joining,
        left: plan.leaving.len() as u64,
        dry_run: true,
        left_sample: left_sample(ctx, tenant, plan)?,
        kept_rejected: plan.kept_rejected,
        sync_group_id: plan.group.as_ref().map_or(0, |g| g.id),
        member_count: (members + plan.joining).saturating_sub(plan.leaving.len() as u64),
        ..Default::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chunk(group: &str, remove: u32, rejected: u32, dry_run: bool) -> pb::ImportChunk {
        pb::ImportChunk {
            sync_group: group.into(),
            max_remove_percent: remove,
            max_rejected_percent: rejected,
            dry_run,
            ..Default::default()
        }
    }

    /// Goal: options are read with their defaults, and each bad one is refused naming its
    /// field. Method: first chunks with each option set and unset.
    #[test]
    fn options_defaults_and_refusals() {
        assert!(SyncOptions::from_chunk(&chunk("", 0, 0, false)).unwrap().is_none());
        let o = SyncOptions::from_chunk(&chunk(" crew ", 0, 0, true)).unwrap().unwrap();
        assert_eq!((o.group.as_str(), o.dry_run), ("crew", true));
        assert_eq!((o.remove_percent_max, o.rejected_percent_max), (10, 5));
        let o = SyncOptions::from_chunk(&chunk("crew", 100, 30, false)).unwrap().unwrap();
        assert_eq!((o.remove_percent_max, o.rejected_percent_max), (100, 30));
        for (bad, field) in [
            (chunk("", 0, 0, true), "sync_group"),
            (chunk("crew", 101, 0, false), "max_remove_percent"),
            (chunk("crew", 0, 200, false), "max_rejected_percent"),
            (chunk(&"x".repeat(GROUP_NAME_CHARS_MAX + 1), 0, 0, false), "sync_group"),
        ] {
            let e = SyncOptions::from_chunk(&bad).unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    /// Goal: the share check is exact at the boundary and safe for huge numbers.
    #[test]
    fn over_is_strict() {
        assert!(!over(10, 100, 10));
        assert!(over(11, 100, 10));
        assert!(!over(0, 0, 10));
        assert!(!over(u64::MAX, u64::MAX, 100));
    }
}
