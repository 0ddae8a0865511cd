//! `varsel contact import --sync GROUP FILE.csv`: the group becomes exactly the file's rows.
//!
//! The upload is the import's ([`crate::import`]); the first chunk carries the sync options.
//! The node upserts the file's contacts (they join the group), then ends the memberships of
//! everyone missing from the file in one replicated step. With `--dry-run` nothing is written
//! and the report says what would change. A file with too many rejected rows, or one that would
//! remove too large a share of the group (a truncated export), is refused before anything is
//! written; `--max-remove-percent`, `--max-rejected-percent` and `--force` move those limits.

use std::path::Path;

use serde_json::json;
use varsel_proto::api::{ImportChunk, ImportReport};

use crate::error::CliError;
use crate::import::{REJECTED_SHOWN_MAX, import_file_with};
use crate::output::{Table, print_json};
use crate::session::Session;

/// Largest percentage an option takes.
const PERCENT_MAX: u32 = 100;

/// The sync options of `contact import`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SyncArgs {
    /// Make GROUP exactly the file's rows: members missing from the file leave it (rows
    /// rejected by validation do not make their contact leave).
    #[arg(long, value_name = "GROUP")]
    pub sync: Option<String>,
    /// With --sync: print what would change (created, updated, joining, leaving and the first
    /// leavers) and write nothing.
    #[arg(long, requires = "sync")]
    pub dry_run: bool,
    /// With --sync: refuse if more than this percentage of the group's members would leave
    /// (default 10).
    #[arg(long, value_name = "PERCENT", requires = "sync")]
    pub max_remove_percent: Option<u32>,
    /// With --sync: refuse if more than this percentage of the file's rows is rejected
    /// (default 5).
    #[arg(long, value_name = "PERCENT", requires = "sync")]
    pub max_rejected_percent: Option<u32>,
    /// With --sync: no limit on removals or rejected rows (the same as both percentages at 100).
    #[arg(long, requires = "sync", conflicts_with_all = ["max_remove_percent", "max_rejected_percent"])]
    pub force: bool,
}

impl SyncArgs {
    /// The first chunk's options, or `None` for a plain import.
    pub fn options(&self) -> Result<Option<ImportChunk>, CliError> {
        let Some(group) = &self.sync else { return Ok(None) };
        if group.trim().is_empty() {
            return Err(CliError::Input("--sync: give the name of a group".into()));
        }
        let percent = |name: &str, v: Option<u32>| match v {
            Some(p) if p == 0 || p > PERCENT_MAX => {
                Err(CliError::Input(format!("--{name}: must be 1 to {PERCENT_MAX}, got {p}")))
            }
            Some(p) => Ok(p),
            // 0 asks the node for its default.
            None if self.force => Ok(PERCENT_MAX),
            None => Ok(0),
        };
        Ok(Some(ImportChunk {
            sync_group: group.trim().to_string(),
            dry_run: self.dry_run,
            max_remove_percent: percent("max-remove-percent", self.max_remove_percent)?,
            max_rejected_percent: percent("max-rejected-percent", self.max_rejected_percent)?,
            ..Default::default()
        }))
    }
}

/// Runs the sync and prints its report.
pub async fn run(s: &Session, path: &Path, options: ImportChunk) -> Result<(), CliError> {
    let group = options.sync_group.clone();
    let (filename, report, retried) = import_file_with(s, path, options).await?;
    if s.json {
        print_json(&report_json(&filename, &group, &report, retried));
    } else {
        print_report(&filename, &group, &report);
    }
    if report.kept_rejected > 0 || !report.rejected.is_empty() {
        eprintln!(
            "warning: {} rows were rejected and NOT imported; a bad row is not a removal: {} members whose \
             rows were rejected stay in {group:?}. Fix the rows and sync again",
            report.rejected.len(),
            report.kept_rejected
        );
    }
    Ok(())
}

fn report_json(filename: &str, group: &str, r: &ImportReport, retried: bool) -> serde_json::Value {
    let rejected: Vec<_> = r
        .rejected
        .iter()
        .map(|x| json!({"line": x.line, "external_id": x.external_id, "errors": x.errors}))
        .collect();
    json!({
        "file": filename, "group": group, "group_id": r.sync_group_id, "dry_run": r.dry_run,
        "rows": r.rows, "created": r.created, "updated": r.updated, "joined": r.joined, "left": r.left,
        "left_sample": r.left_sample, "member_count": r.member_count, "kept_rejected": r.kept_rejected,
        "blank_rows": r.blank_rows, "raft_entries": r.raft_entries, "rejected_count": r.rejected.len(),
        "rejected": rejected, "retried": retried,
    })
}

fn print_report(filename: &str, group: &str, r: &ImportReport) {
    let (rows, created, updated, joined, left, members) =
        (r.rows, r.created, r.updated, r.joined, r.left, r.member_count);
    if r.dry_run {
        println!(
            "dry run of sync {group:?} to {filename}: {rows} rows: {created} would be created, {updated} would be \
             updated, {joined} would join, {left} would leave; {members} members after it (nothing was written)"
        );
    } else {
        println!(
            "synced {group:?} to {filename}: {rows} rows: {created} created, {updated} updated, {joined} joined, \
             {left} left; {members} members now"
        );
    }
    if !r.left_sample.is_empty() {
        let more = r.left.saturating_sub(r.left_sample.len() as u64);
        let tail = if more > 0 { format!(" … and {more} more") } else { String::new() };
        println!("{}: {}{tail}", if r.dry_run { "would leave" } else { "left" }, r.left_sample.join(", "));
    }
    if r.rejected.is_empty() {
        return;
    }
    println!(
        "\nrejected rows (not imported; a bad row is not a removal, so {} members with rejected rows stay):",
        r.kept_rejected
    );
    let rows: Vec<Vec<String>> = r
        .rejected
        .iter()
        .take(REJECTED_SHOWN_MAX)
        .map(|x| vec![x.line.to_string(), x.external_id.clone(), x.errors.join("; ")])
        .collect();
    Table::new(&["line", "external id", "errors"]).print(&rows);
    if r.rejected.len() > REJECTED_SHOWN_MAX {
        println!("… and {} more (--json lists every one)", r.rejected.len() - REJECTED_SHOWN_MAX);
    }
}
