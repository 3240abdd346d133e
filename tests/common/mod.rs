//! Helpers shared by the integration tests: the synthesized tiny models and their
//! references, the shipped data, and how to read NumPy arrays.

#![allow(dead_code)]

pub mod documents;
pub mod gguf_builder;
pub mod tiny;
use std::path::{Path, PathBuf};

use sofer::engine::sampler::SamplingParams;
use sofer::engine::GenerationParams;

#[allow(unused_imports)]
pub use tiny::{engine_refs, prompt_ids, prompt_text, tiny_gguf};

/// The evaluation data shipped in the repository (`data/eval/`, sources and licences in its
/// README): UD Hebrew, HeQ, NTREX, Wikipedia sentences, sentiment.
pub fn eval_data_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/eval"));
    assert!(
        dir.is_dir(),
        "evaluation data not found at {}",
        dir.display()
    );
    dir
}

/// SmolLM2-135M-Instruct (`$SOFER_SMOLLM2`, default `models/`, fetched by
/// `scripts/fetch_smollm2.sh`); tests that need it fail when it is missing.
pub fn smollm2_gguf() -> PathBuf {
    let path = std::env::var_os("SOFER_SMOLLM2")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
            ))
        });
    assert!(
        path.is_file(),
        "SmolLM2 GGUF not found at {} (run scripts/fetch_smollm2.sh or set SOFER_SMOLLM2)",
        path.display()
    );
    path
}

/// Runs the `sofer` binary with `args`, `stdin` as its input and no `SOFER_MODEL` from the
/// environment, and returns what it printed.
pub fn run_sofer(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(args)
        .env_remove("SOFER_MODEL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sofer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for sofer")
}

/// A 2-D little-endian `<f4` or `<f2` .npy array as rows of f32.
pub fn read_npy(path: &Path) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not .npy", path.display());
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("header");
    assert!(
        header.contains("'fortran_order': False"),
        "{}: not in C order",
        path.display()
    );
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape")
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let data = &bytes[start + header_len..];
    let values: Vec<f32> = if header.contains("'<f4'") {
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else if header.contains("'<f2'") {
        data.chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect()
    } else {
        panic!("{}: unsupported dtype in {header}", path.display())
    };
    assert_eq!(shape.len(), 2);
    values.chunks_exact(shape[1]).map(<[f32]>::to_vec).collect()
}

/// Temperature 0.8, top-p 0.9, top-k 40, exactly `max_tokens` tokens.
pub fn sampled(seed: u64, max_tokens: usize) -> GenerationParams {
    GenerationParams {
        sampling: SamplingParams {
            temperature: 0.8,
            top_p: 0.9,
            top_k: 40,
            seed,
            ..Default::default()
        },
        max_tokens,
        ignore_eos: true,
        ..Default::default()
    }
}
