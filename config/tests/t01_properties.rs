//! Property tests of the node configuration parser, `NodeConfig::parse(text, env)`, through
//! the public API.
//!
//! What is promised: no text and no set of `VARSEL_*` variables panics the parser; every
//! error names what to fix (a field path, or the key in a type / unknown / missing field
//! message, or the environment variable, or the file that could not be read); an override is
//! used whole or refused; and a configuration that parses prints to TOML that parses back to
//! the same configuration. Inputs are TOML-ish soup and arbitrary variables, and a valid
//! configuration (every section and four provider kinds) with one to three fields replaced by
//! values of any TOML type (extreme integers, NaN, infinities, strings, arrays, tables),
//! removed, or joined by unknown keys, in the file or through the environment.
//!
//! Each test states its number of cases, chosen so this binary runs in a few seconds in a
//! debug build on two cores. A failure prints the minimal failing input;
//! `PROPTEST_RNG_SEED=<n>` replays a run.

use proptest::collection::vec;
use proptest::prelude::*;
use varsel_config::{ConfigError, NodeConfig};

/// Runner settings: `cases` per test, no regression files (an input that finds a bug is kept
/// as a unit test next to the parser instead).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A valid configuration touching every section and four provider kinds. No provider reads a
/// secret file at validation (no SMPP, no SMTP username), so the test needs no files.
const BASE: &str = r#"
node_id = 1
site = "oslo"
api_addr = "127.0.0.1:7001"
raft_addr = "127.0.0.1:7101"
http_addr = "127.0.0.1:7201"
data_dir = "/var/lib/varsel"

[raft]
heartbeat_interval_ms = 100
election_timeout_min_ms = 400
election_timeout_max_ms = 800
snapshot_chunk_bytes = 1048576

[delivery]
chunk_recipients = 256
callback_url = "https://varsel.example/callback"

[telemetry]
otlp_endpoint = "http://127.0.0.1:4317"
sampling_ratio = 0.5

[log]
format = "json"

[tls]
ca_file = "/etc/varsel/tls/ca.pem"
cert_file = "/etc/varsel/tls/node.pem"
key_file = "/etc/varsel/tls/node.key"

[testing]
panic_actors = ["scheduler"]

[[peers]]
id = 2
site = "bergen"
api_addr = "127.0.0.1:7002"
raft_addr = "127.0.0.1:7102"

[[providers]]
name = "sim"
channel = "sms"
[providers.simulator]
url = "http://127.0.0.1:9000"

[[providers]]
name = "http"
channel = "sms"
rate_per_second = 50
[providers.http_sms]
url = "https://sms.example/api"
[providers.http_sms.response]
id = "message.id"

[[providers]]
name = "mail"
channel = "email"
[providers.smtp]
host = "smtp.example"
port = 587
from_address = "varsel@example.no"

[[providers]]
name = "push"
channel = "push"
[providers.webpush]
vapid_private_key_file = "/etc/varsel/vapid.pem"
vapid_subject = "mailto:ops@example.no"
"#;

/// Fields the base leaves at their defaults, so mutations reach them too (numbers index
/// `[[peers]]` and `[[providers]]`).
const EXTRA_PATHS: [&str; 28] = [
    "advertise_api_addr",
    "advertise_raft_addr",
    "raft.write_timeout_ms",
    "raft.snapshot_every_entries",
    "raft.replication_lag_threshold",
    "raft.max_payload_entries",
    "raft.max_payload_bytes",
    "storage.cache_capacity_bytes",
    "backup.dir",
    "backup.every_s",
    "backup.keep",
    "auth.superadmin_token_file",
    "delivery.lease_ms",
    "delivery.heartbeat_interval_ms",
    "delivery.shard_workers",
    "delivery.retry_attempts_max",
    "delivery.tenant_url_allowed_networks",
    "telemetry.export_queue_spans_max",
    "telemetry.export_batch_spans_max",
    "telemetry.service_name",
    "tls.insecure_plaintext",
    "tls.reload_check_interval_ms",
    "providers.0.timeout_ms",
    "providers.1.http_sms.auth_header",
    "providers.1.http_sms.request.to",
    "providers.1.http_sms.receipts",
    "providers.2.smtp.list_unsubscribe",
    "providers.3.webpush.ttl_s",
];

/// The top-level keys of the file: every `Invalid` error's field starts with one of them.
const TOP_LEVEL: [&str; 19] = [
    "node_id",
    "site",
    "api_addr",
    "raft_addr",
    "http_addr",
    "advertise_api_addr",
    "advertise_raft_addr",
    "data_dir",
    "peers",
    "raft",
    "storage",
    "backup",
    "log",
    "auth",
    "delivery",
    "providers",
    "telemetry",
    "tls",
    "testing",
];

/// Goal: the base the properties start from is valid, so a mutation is what breaks it.
/// Method: parse it with no overrides.
#[test]
fn base_is_valid() -> Result<(), ConfigError> {
    let config = NodeConfig::parse(BASE, Vec::new())?;
    assert_eq!((config.peers.len(), config.providers.len()), (1, 4));
    Ok(())
}

fn base_table() -> toml::Table {
    toml::from_str(BASE).unwrap_or_default()
}

/// Every leaf of `value` as a dotted path (array elements by index).
fn leaves(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
    let join = |key: &str| if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
    match value {
        toml::Value::Table(t) => t.iter().for_each(|(k, v)| leaves(&join(k), v, out)),
        toml::Value::Array(a) if a.iter().all(toml::Value::is_table) && !a.is_empty() => {
            a.iter().enumerate().for_each(|(i, v)| leaves(&join(&i.to_string()), v, out))
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// Every path a mutation may touch: the base's leaves and [`EXTRA_PATHS`].
fn paths() -> Vec<String> {
    let mut out = Vec::new();
    leaves("", &toml::Value::Table(base_table()), &mut out);
    out.extend(EXTRA_PATHS.iter().map(|p| p.to_string()));
    out
}

/// Integers of every size, with the edges (`i64::MIN`, `-1`, `0`, large enough to overflow
/// arithmetic on `u64`, `i64::MAX`) more often than chance would give them.
fn integer() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        proptest::sample::select(vec![i64::MIN, -1, 0, 1, i64::MAX]),
        0i64..100_000,
        i64::MAX / 4..=i64::MAX,
    ]
}

/// Any TOML value, weighted towards the shapes configuration fields have, and their edges.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    let integer = integer();
    let float = prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0), 0.0f64..=1.0];
    let leaf = prop_oneof![
        3 => integer.prop_map(toml::Value::Integer),
        1 => float.prop_map(toml::Value::Float),
        1 => any::<bool>().prop_map(toml::Value::Boolean),
        3 => string().prop_map(toml::Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(toml::Value::Array),
            vec(("[a-z_]{1,8}", inner), 0..3).prop_map(|kv| toml::Value::Table(kv.into_iter().collect())),
        ]
    })
}

/// Strings: any, or the forms configuration strings take (addresses, URLs, names, channels)
/// and their near misses.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        proptest::sample::select(vec![
            "",
            "127.0.0.1:7001",
            "0.0.0.0:1",
            "[::1]:7301",
            "host:99999",
            "http://x",
            "https://x/y",
            "mailto:a@b",
            "sms",
            "email",
            "text",
            "a..b",
            "oslo",
            "VARSEL_X",
            "{sig}",
            "x@localhost",
            "bergen",
            "127.0.0.1:7005",
            "https://sms.example/api",
            "varsel@example.no",
            "message.id",
            "json",
            "10.20.0.0/16",
            "fd00::/8",
            "::1/129",
            "300.1.1.1/8",
            "10.0.0.1/33",
        ])
        .prop_map(str::to_owned),
    ]
}

/// One change to the base file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace (or add) the field at a path with a value.
    Set(prop::sample::Index, toml::Value),
    /// Replace (or add) the field at a path with a value of the type it has, so validation is
    /// reached rather than a type error.
    SetSameType(prop::sample::Index, Typed),
    /// Remove the field at a path.
    Remove(prop::sample::Index),
    /// Add an unknown key beside the field at a path.
    Unknown(prop::sample::Index, String, toml::Value),
}

/// A value of each scalar type; the field's own type picks one.
#[derive(Debug, Clone)]
struct Typed {
    integer: i64,
    float: f64,
    string: String,
    boolean: bool,
}

fn typed() -> impl Strategy<Value = Typed> {
    let integer = prop_oneof![4 => 0i64..100_000, 1 => integer()];
    (integer, prop_oneof![0.0f64..=1.0, any::<f64>()], string(), any::<bool>())
        .prop_map(|(integer, float, string, boolean)| Typed { integer, float, string, boolean })
}

impl Typed {
    /// The value of the type `like` has (for a field the base leaves out, the type its name
    /// suggests).
    fn like(&self, like: Option<&toml::Value>, path: &str) -> toml::Value {
        let numeric = ["_ms", "_entries", "_bytes", "_threshold", "_workers", "_max", "ttl_s"];
        match like {
            Some(toml::Value::Integer(_)) => toml::Value::Integer(self.integer),
            Some(toml::Value::Float(_)) => toml::Value::Float(self.float),
            Some(toml::Value::Boolean(_)) => toml::Value::Boolean(self.boolean),
            None if numeric.iter().any(|suffix| path.ends_with(suffix)) => toml::Value::Integer(self.integer),
            None if path.ends_with("insecure_plaintext") => toml::Value::Boolean(self.boolean),
            None if path.ends_with("_networks") => {
                toml::Value::Array(vec![toml::Value::String(self.string.clone())])
            }
            _ => toml::Value::String(self.string.clone()),
        }
    }
}

/// The value at a dotted path of `table`, if there is one.
fn get_path<'t>(table: &'t toml::Table, path: &str) -> Option<&'t toml::Value> {
    let mut segments = path.split('.');
    let mut value = table.get(segments.next()?)?;
    for segment in segments {
        value = match value {
            toml::Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            toml::Value::Table(t) => t.get(segment)?,
            _ => return None,
        };
    }
    Some(value)
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<prop::sample::Index>();
    prop_oneof![
        2 => (index.clone(), toml_value()).prop_map(|(i, v)| Mutation::Set(i, v)),
        6 => (index.clone(), typed()).prop_map(|(i, t)| Mutation::SetSameType(i, t)),
        1 => index.clone().prop_map(Mutation::Remove),
        1 => (index, "[a-z_]{1,10}", toml_value()).prop_map(|(i, k, v)| Mutation::Unknown(i, k, v)),
    ]
}

/// Sets (or with `None` removes) the value at a dotted path, making missing tables on the way;
/// an index past the end of an array changes nothing.
fn set_path(table: &mut toml::Table, path: &[&str], value: Option<toml::Value>) {
    let Some((first, rest)) = path.split_first() else { return };
    if rest.is_empty() {
        match value {
            Some(v) => table.insert(first.to_string(), v),
            None => table.remove(*first),
        };
        return;
    }
    let entry = table.entry(first.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let (next, rest) = match (entry, rest.split_first()) {
        (toml::Value::Array(items), Some((i, rest))) => {
            match i.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => (item, rest),
                None => return,
            }
        }
        (other, _) => (other, rest),
    };
    if let toml::Value::Table(t) = next {
        set_path(t, rest, value);
    }
}

/// Applies `mutations`; returns the file text (`None` when the table cannot be printed as
/// TOML) and the key each mutation named last.
fn mutated(mutations: &[Mutation], paths: &[String]) -> (Option<String>, Vec<String>) {
    let mut table = base_table();
    let mut keys = Vec::new();
    for m in mutations {
        let (index, key, value) = match m {
            Mutation::Set(i, v) => (i, None, Some(v.clone())),
            Mutation::SetSameType(i, t) => {
                let path = &paths[i.index(paths.len())];
                (i, None, Some(t.like(get_path(&table, path), path)))
            }
            Mutation::Remove(i) => (i, None, None),
            Mutation::Unknown(i, k, v) => (i, Some(k.clone()), Some(v.clone())),
        };
        let mut path: Vec<&str> = paths[index.index(paths.len())].split('.').collect();
        if let Some(key) = &key {
            path.pop();
            path.push(key);
        }
        set_path(&mut table, &path, value);
        keys.extend(path.last().map(|k| k.to_string()));
    }
    (toml::to_string(&table).ok(), keys)
}

/// An error names what to fix: a field of the configuration, one of `keys` (the keys the
/// input changed, which type / unknown / missing field messages quote), an environment
/// variable, or a file.
fn check_error(e: &ConfigError, keys: &[String]) -> Result<(), TestCaseError> {
    match e {
        ConfigError::Invalid { field, rule } => {
            let root = field.split(['.', '[']).next().unwrap_or_default();
            prop_assert!(TOP_LEVEL.contains(&root), "field {:?} ({})", field, rule);
            prop_assert!(!rule.is_empty());
        }
        ConfigError::Toml(message) => {
            let named = keys
                .iter()
                .any(|k| message.contains(&format!("`{k}`")) || message.contains(&format!(".{k}`")));
            prop_assert!(named, "{:?} names none of {:?}", message, keys);
        }
        ConfigError::Env(name) => prop_assert!(name.starts_with("VARSEL_"), "{}", name),
        ConfigError::Read { path, .. } => prop_assert!(!path.as_os_str().is_empty()),
    }
    Ok(())
}

/// A configuration that parses prints to TOML that parses back to it.
fn check_round_trip(config: &NodeConfig) -> Result<(), TestCaseError> {
    let text = toml::to_string(config).map_err(|e| TestCaseError::fail(format!("prints: {e}")))?;
    match NodeConfig::parse(&text, Vec::new()) {
        Ok(again) => prop_assert_eq!(&again, config),
        Err(e) => return Err(TestCaseError::fail(format!("{e} when re-reading\n{text}"))),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Goal: any integer in any field (as far as TOML integers go) is an error naming a
    /// field or a valid configuration: no arithmetic in validation overflows. Method: 512
    /// files from [`BASE`] with 1–3 fields set to integers weighted to the edges.
    #[test]
    fn integer_fields_at_any_value(fields in vec((any::<prop::sample::Index>(), integer()), 1..=3)) {
        let set = |(i, n): (prop::sample::Index, i64)| Mutation::Set(i, toml::Value::Integer(n));
        let mutations: Vec<Mutation> = fields.into_iter().map(set).collect();
        let (text, keys) = mutated(&mutations, &paths());
        let Some(text) = text else { return Ok(()) };
        match NodeConfig::parse(&text, Vec::new()) {
            Ok(config) => check_round_trip(&config)?,
            Err(e) => check_error(&e, &keys)?,
        }
    }

}

proptest! {
    #![proptest_config(config(1024))]

    /// Goal: a valid file with one to three fields changed is an error that names what to
    /// fix, or a configuration that prints and parses back unchanged; never a panic. Method:
    /// 1,024 files from [`BASE`], each with 1–3 mutations (a field of any path set to a value
    /// of its own type or of any TOML type, removed, or joined by an unknown key).
    #[test]
    fn mutated_files_never_panic(mutations in vec(mutation(), 1..=3)) {
        let paths = paths();
        let (text, keys) = mutated(&mutations, &paths);
        let Some(text) = text else { return Ok(()) };
        match NodeConfig::parse(&text, Vec::new()) {
            Ok(config) => check_round_trip(&config)?,
            Err(e) => check_error(&e, &keys)?,
        }
    }
}

/// Names at the edges: empty paths and segments, variables that configure the command line,
/// and one that is not ours.
const ODD_NAMES: [&str; 5] = ["VARSEL_", "VARSEL___", "VARSEL_RAFT__", "VARSEL_CONFIG", "PATH"];

/// An environment variable: a `VARSEL_` name for a path of the file (or near one), and a
/// value that is a TOML value, several lines of TOML, or any text.
fn env_var(paths: Vec<String>) -> impl Strategy<Value = (String, String)> {
    let named = proptest::sample::select(paths).prop_map(|p| {
        let segments: Vec<String> =
            p.split('.').filter(|s| s.parse::<usize>().is_err()).map(str::to_uppercase).collect();
        format!("VARSEL_{}", segments.join("__"))
    });
    let name = prop_oneof![
        4 => named,
        1 => "VARSEL_[A-Za-z_]{0,12}",
        1 => proptest::sample::select(ODD_NAMES.to_vec()).prop_map(str::to_owned),
    ];
    let value = prop_oneof![
        toml_value().prop_map(|v| v.to_string()),
        ".{0,20}",
        proptest::sample::select(vec![
            "",
            "1\nsite = 'x'",
            "[1, 2]",
            "{ a = 1 }",
            "inf",
            "nan",
            "0x10",
            "1_000",
            "'q'",
            "\"\"\"",
            "#"
        ])
        .prop_map(str::to_owned),
    ];
    (name, value)
}

proptest! {
    #![proptest_config(config(512))]

    /// Goal: no set of `VARSEL_*` variables panics the parser; an override error names the
    /// field or the variable; what parses prints and parses back. Method: 512 runs of the base
    /// file with 1–4 variables named after its fields (upper case, `__` between sections) or
    /// near them, valued as TOML values, several TOML lines, or any text.
    #[test]
    fn environment_overrides_never_panic(vars in vec(env_var(paths()), 1..=4)) {
        let keys: Vec<String> = vars
            .iter()
            .flat_map(|(name, _)| name.trim_start_matches("VARSEL_").split("__").map(str::to_lowercase))
            .collect();
        match NodeConfig::parse(BASE, vars.clone()) {
            Ok(config) => check_round_trip(&config)?,
            Err(e) => check_error(&e, &keys)?,
        }
    }

    /// Goal: an override is used whole or refused, never cut: a number followed by more TOML
    /// on another line is not that number. And a plain word overrides a string field as
    /// written. Method: 512 numbers in the valid range of `raft.heartbeat_interval_ms`, each
    /// followed by a line of TOML; 512 site names.
    #[test]
    fn environment_values_are_used_whole(
        n in 1u64..=133,
        line in "[a-z_]{1,10} = [0-9]{1,4}",
        site in "[a-z][a-z0-9_-]{0,20}",
    ) {
        let var = |name: &str, value: String| vec![(name.to_owned(), value)];
        let cut = NodeConfig::parse(BASE, var("VARSEL_RAFT__HEARTBEAT_INTERVAL_MS", format!("{n}\n{line}")));
        match cut {
            Ok(config) => {
                let read = config.raft.heartbeat_interval_ms;
                return Err(TestCaseError::fail(format!("{n}\\n{line} was read as {read}")));
            }
            Err(e) => prop_assert!(e.to_string().contains("heartbeat_interval_ms"), "{}", e),
        }
        let whole = NodeConfig::parse(BASE, var("VARSEL_RAFT__HEARTBEAT_INTERVAL_MS", n.to_string()));
        prop_assert_eq!(whole.map(|c| c.raft.heartbeat_interval_ms).ok(), Some(n));
        if !matches!(site.as_str(), "inf" | "nan" | "true" | "false") {
            let config = NodeConfig::parse(BASE, var("VARSEL_SITE", site.clone()));
            prop_assert_eq!(config.map(|c| c.site).ok(), Some(site));
        }
    }
}

/// Pieces of TOML that matter to a parser, and the names of real fields and sections.
const TOML_PIECES: [&str; 30] = [
    "\n",
    " ",
    "=",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    ",",
    ".",
    "#",
    "node_id",
    "site",
    "[raft]",
    "[[peers]]",
    "[[providers]]",
    "[providers.smpp]",
    "heartbeat_interval_ms",
    "1",
    "-9223372036854775808",
    "9223372036854775807",
    "1e400",
    "nan",
    "inf",
    "1979-05-27T07:32:00Z",
];

proptest! {
    #![proptest_config(config(1024))]

    /// Goal: no text and no environment panics the parser, and every error says something.
    /// Method: 1,024 texts of up to 60 TOML pieces (or the base file with such a tail), with
    /// 0–2 arbitrary variables.
    #[test]
    fn arbitrary_text_never_panics(
        pieces in vec(proptest::sample::select(TOML_PIECES.to_vec()), 0..60),
        with_base in any::<bool>(),
        env in vec(("VARSEL_[A-Z_]{0,10}", ".{0,12}"), 0..=2),
    ) {
        let text = format!("{}{}", if with_base { BASE } else { "" }, pieces.concat());
        if let Err(e) = NodeConfig::parse(&text, env) {
            prop_assert!(!e.to_string().is_empty());
            if let ConfigError::Invalid { field, .. } = &e {
                prop_assert!(!field.is_empty());
            }
        }
    }
}
