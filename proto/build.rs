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
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("varsel_descriptor.bin"))
        // Carries a caller's bearer token: its Debug is written by hand, without it.
        .skip_debug([".varsel.raft.v1.ForwardedWrite"])
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}

#[allow(unsafe_code)]
fn unsafe_set_protoc(path: PathBuf) {
    // SAFETY: build scripts run single-threaded, so no other thread reads the environment.
    unsafe { std::env::set_var("PROTOC", path) };
}
