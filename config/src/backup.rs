//! `[backup]`: backups the node writes by itself, on a schedule, into a directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Scheduled backups. Off unless `dir` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Where the node writes its backups (the same format as `varsel backup create`). It must
    /// not be inside `data_dir`: a backup has to outlive the data it backs up.
    pub dir: Option<PathBuf>,
    /// Seconds between two backups, the first this long after the node starts.
    pub every_s: u64,
    /// How many of the newest backups in `dir` the node keeps; it removes older ones it wrote.
    pub keep: u32,
}

/// Values `backup.every_s` may take: ten seconds (tests) to thirty days.
pub const EVERY_S_RANGE: std::ops::RangeInclusive<u64> = 10..=30 * 86_400;

/// Values `backup.keep` may take.
pub const KEEP_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000;

impl Default for BackupConfig {
    fn default() -> Self {
        Self { dir: None, every_s: 86_400, keep: 7 }
    }
}

impl BackupConfig {
    /// Checks the bounds, and that `dir` is not under `data_dir`.
    pub fn validate(&self, data_dir: &Path) -> Result<(), ConfigError> {
        if !EVERY_S_RANGE.contains(&self.every_s) {
            return Err(ConfigError::invalid(
                "backup.every_s",
                format!("must be between {} and {} (30 days)", EVERY_S_RANGE.start(), EVERY_S_RANGE.end()),
            ));
        }
        if !KEEP_RANGE.contains(&self.keep) {
            return Err(ConfigError::invalid(
                "backup.keep",
                format!("must be between {} and {}", KEEP_RANGE.start(), KEEP_RANGE.end()),
            ));
        }
        if let Some(dir) = &self.dir {
            if dir.as_os_str().is_empty() {
                return Err(ConfigError::invalid("backup.dir", "must not be empty"));
            }
            if absolute(dir).starts_with(absolute(data_dir)) {
                return Err(ConfigError::invalid(
                    "backup.dir",
                    format!(
                        "must not be inside data_dir ({}): a backup has to outlive the data it backs up",
                        data_dir.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `path` made absolute against the working directory, `.` and `..` resolved by name.
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: out-of-range values and a directory inside `data_dir` (also by `..`) are refused,
    /// naming the field.
    #[test]
    fn bounds_and_place_are_checked_naming_the_field() {
        let data = Path::new("/var/lib/varsel");
        let ok = BackupConfig { dir: Some("/backup/varsel".into()), ..Default::default() };
        ok.validate(data).expect("a directory outside data_dir");
        BackupConfig::default().validate(data).expect("the defaults");
        let inside =
            BackupConfig { dir: Some("/var/lib/varsel/../varsel/backups".into()), ..Default::default() };
        let e = inside.validate(data).expect_err("refused").to_string();
        assert!(e.contains("backup.dir") && e.contains("inside data_dir"), "{e}");
        let e = BackupConfig { every_s: 9, ..Default::default() }
            .validate(data)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("backup.every_s"), "{e}");
        let e =
            BackupConfig { keep: 0, ..Default::default() }.validate(data).expect_err("refused").to_string();
        assert!(e.contains("backup.keep"), "{e}");
    }
}
