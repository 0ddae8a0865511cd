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
        if matches!(path, "CONFIG" | "ENDPOINTS" | "TOKEN" | "TOKEN_FILE" | "CA_FILE" | "BIN") {
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
    // A bare TOML value ("42", "true") keeps its type; anything else is a string. The whole
    // text must be that one value: "7\nsite = 'x'" once parsed as a table of two keys and
    // set 7, dropping the rest unseen; found by `tests/t01_properties.rs`.
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a value is a TOML value only when the whole of it is one; otherwise it is kept as
    /// the string it is. Method: the input the property test found (a number, then a line of
    /// TOML), a plain number, a boolean, a word and an inline table.
    #[test]
    fn values_are_used_whole() {
        let string = |s: &str| toml::Value::String(s.to_owned());
        assert_eq!(parse_env_value("1\na = 0"), string("1\na = 0"));
        assert_eq!(parse_env_value("7"), toml::Value::Integer(7));
        assert_eq!(parse_env_value("true"), toml::Value::Boolean(true));
        assert_eq!(parse_env_value("oslo"), string("oslo"));
        assert_eq!(parse_env_value("{ a = 1 }"), string("{ a = 1 }"));
    }
}
