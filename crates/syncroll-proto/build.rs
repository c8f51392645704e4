//! Compiles `proto/syncroll/v1/*.proto` with protox, so a fresh machine needs
//! no `protoc`. The descriptor set is kept for gRPC server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: a build
    // cache shared by two checkouts (CI's clean clone and a working copy)
    // reuses the compiled script, and must not read the other one's files.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let proto_file = proto_root.join("syncroll/v1/syncroll.proto");
    // Without this, editing the .proto would not rebuild the crate.
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let descriptors = protox::compile([&proto_file], [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("syncroll_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The CLI's `--json` output is the reply itself, serialised.
        .type_attribute(".syncroll.v1", "#[derive(serde::Serialize)]")
        .field_attribute(
            ".syncroll.v1.Photo.path_raw",
            "#[serde(skip_serializing_if = \"Vec::is_empty\")]",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
