//! Generates the protobuf messages (and, for the native client, the gRPC
//! stubs) from `proto/` with protox, a pure-Rust protobuf compiler, so that
//! no system `protoc` is needed. The engine alone needs none of it.

use std::env;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    // The wasm build without gRPC-web reads and writes its few messages by
    // hand (src/wire.rs).
    if !feature("NATIVE") {
        return Ok(());
    }
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let files = [root.join("metrics/v1beta/ingestor_api.proto"), root.join("edgemetrics/v1/subscription.proto")];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        // `connect()` needs tonic's transport, which the gRPC-web build has not.
        .build_transport(feature("NATIVE"))
        .compile_fds(descriptors)?;
    Ok(())
}
