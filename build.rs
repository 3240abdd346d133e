//! Compiles `proto/sofer/v1/*.proto` into the gRPC server and client (tonic, prost) and a
//! file descriptor set for server reflection. `protoc` comes from protoc-bin-vendored.

use std::path::PathBuf;

const PROTOS: [&str; 4] = [
    "proto/sofer/v1/common.proto",
    "proto/sofer/v1/document_service.proto",
    "proto/sofer/v1/corpus_service.proto",
    "proto/sofer/v1/model_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(out_dir.join("sofer_descriptor.bin"))
        .compile_with_config(config, &PROTOS, &["proto"])?;
    Ok(())
}
