//! Compiles `proto/*.proto` into Rust with tonic-prost-build.
//!
//! Uses `$PROTOC` when it is set, otherwise the `protoc` shipped by `protoc-bin-vendored`, so a
//! fresh machine needs no system package to build Varsel.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // prost-build finds protoc through this variable.
        unsafe_set_protoc(protoc);
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = ["proto/raft.proto", "proto/admin.proto", "proto/kv.proto", "proto/api.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let mut builder = tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("varsel_descriptor.bin"))
        // The public API doubles as the REST API's JSON (crate `varsel-http`): its messages
        // are serde types with an OpenAPI schema, every field optional as in proto3, unknown
        // fields refused so a misspelt one is an error rather than silently dropped.
        .message_attribute(
            ".varsel.v1",
            "#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)] \
             #[serde(default, deny_unknown_fields)]",
        )
        .enum_attribute(
            ".varsel.v1",
            "#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)] \
             #[serde(rename_all = \"snake_case\")]",
        );
    for (field, enum_name, repeated, zero) in enum_fields("proto/api.proto", "varsel.v1")? {
        // The schema's default is what an absent field means: the enum's zero value by name.
        let (module, value_type) = if repeated {
            ("enums", format!("Vec<crate::api::{enum_name}>"))
        } else {
            ("enum_value", format!("crate::api::{enum_name}, default = \"{zero}\""))
        };
        let attr = format!(
            "#[serde(serialize_with = \"crate::json::{module}::serialize::<crate::api::{enum_name}, _>\", \
             deserialize_with = \"crate::json::{module}::deserialize::<crate::api::{enum_name}, _>\")] \
             #[schema(value_type = {value_type})]"
        );
        builder = builder.field_attribute(&field, attr);
    }
    builder
        // Carries a caller's bearer token: its Debug is written by hand, without it.
        .skip_debug([".varsel.raft.v1.ForwardedWrite"])
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}

/// A field of enum type: (`.package.Message.field`, enum name, repeated, the JSON name of the
/// enum's zero value).
type EnumField = (String, String, bool, String);

/// The fields of `package`'s messages in `proto` whose type is one of its enums, as
/// (`.package.Message.field`, enum name, repeated). A line scan of the file's top-level messages
/// (the API has no nested ones), so JSON shows an enum by name wherever a new field uses one.
fn enum_fields(proto: &str, package: &str) -> Result<Vec<EnumField>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(proto)?;
    let enums: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("enum ").and_then(|r| r.split_whitespace().next()))
        .collect();
    let zero_name = |enum_name: &str| -> String {
        // `ROLE_UNSPECIFIED = 0;` of `Role`: prost drops the enum's name as a prefix, serde
        // writes the rest in snake case.
        let prefix: String = enum_name
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                sep.into_iter().chain(std::iter::once(c.to_ascii_uppercase()))
            })
            .collect::<String>()
            + "_";
        let start = format!("enum {enum_name} ");
        text.lines()
            .skip_while(|l| !l.starts_with(&start))
            .find_map(|l| l.trim().strip_suffix("= 0;").map(str::trim))
            .map(|v| v.strip_prefix(&prefix).unwrap_or(v).to_ascii_lowercase())
            .unwrap_or_default()
    };
    let mut message = None;
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("message ") {
            message = rest.split_whitespace().next();
            continue;
        }
        if line.starts_with('}') {
            message = None;
            continue;
        }
        let Some(m) = message else { continue };
        let words: Vec<&str> = line.split_whitespace().collect();
        let (repeated, words) = match words.split_first() {
            Some((&"repeated", rest)) => (true, rest),
            _ => (false, &words[..]),
        };
        if let [ty, name, "=", ..] = words
            && enums.contains(ty)
        {
            found.push((format!(".{package}.{m}.{name}"), (*ty).to_string(), repeated, zero_name(ty)));
        }
    }
    Ok(found)
}

#[allow(unsafe_code)]
fn unsafe_set_protoc(path: PathBuf) {
    // SAFETY: build scripts run single-threaded, so no other thread reads the environment.
    unsafe { std::env::set_var("PROTOC", path) };
}
