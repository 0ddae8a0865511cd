//! Field mapping paths: where a provider's JSON puts our values. A path is dot-separated field
//! names (`message.to`); when reading, a segment of digits also indexes an array. The empty path
//! is the value itself. This module checks paths when the configuration is loaded; reading and
//! writing JSON by path is the delivery engine's (`varsel_delivery::providers::mapping`).

use crate::error::ConfigError;

/// Deepest path accepted.
pub const PATH_DEPTH_MAX: usize = 8;

/// Checks that `path` (the value of configuration field `field`) is usable.
pub fn check(field: &str, path: &str, empty_ok: bool) -> Result<(), ConfigError> {
    let invalid = |rule: String| Err(ConfigError::invalid(field, rule));
    if path.is_empty() {
        return if empty_ok { Ok(()) } else { invalid("must name a field".into()) };
    }
    let segments: Vec<&str> = path.split('.').collect();
    if segments.len() > PATH_DEPTH_MAX {
        return invalid(format!("is deeper than {PATH_DEPTH_MAX} fields: {path:?}"));
    }
    if segments.iter().any(|s| s.is_empty()) {
        return invalid(format!("has an empty field name: {path:?} (fields are separated by single dots)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: bad paths are refused with the field named; the empty path only where allowed.
    #[test]
    fn paths_are_checked() {
        assert!(check("f", "a..b", false).is_err_and(|e| e.to_string().contains("`f`")));
        assert!(check("f", "", false).is_err());
        assert!(check("f", "", true).is_ok());
        assert!(check("f", &["x"; PATH_DEPTH_MAX + 1].join("."), false).is_err());
        assert!(check("f", "results.0.id", false).is_ok());
    }
}
