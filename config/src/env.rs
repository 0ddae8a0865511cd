//! Environment overrides: `VARSEL_<FIELD>` for a top-level field and
//! `VARSEL_<SECTION>__<FIELD>` for a field of a section, e.g. `VARSEL_NODE_ID=2` or
//! `VARSEL_RAFT__HEARTBEAT_INTERVAL_MS=100`. Values are parsed as TOML values when they can be
//! (numbers, booleans), else taken as strings.

use crate::error::ConfigError;

/// Prefix of environment variables that override configuration fields.
pub const ENV_PREFIX: &str = "VARSEL_";

/// Applies `VARSEL_*` variables onto the parsed table, before it is typed and validated.
pub(crate) fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else { continue };
        // Variables that configure the command line rather than the node file.
        if matches!(path, "CONFIG" | "ENDPOINTS" | "TOKEN" | "TOKEN_FILE" | "BIN") {
            continue;
        }
        let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let value = parse_env_value(&raw);
        let (last, sections) = parts.split_last().ok_or_else(|| ConfigError::Env(name.clone()))?;
        let mut t = &mut *table;
        for s in sections {
            let entry = t.entry(s.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = entry.as_table_mut().ok_or_else(|| ConfigError::Env(name.clone()))?;
        }
        t.insert(last.clone(), value);
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    // A bare TOML value ("42", "true") keeps its type; anything else is a string.
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}
