//! Helpers shared by the integration tests: where the reference fixtures live and how to
//! read NumPy arrays.

#![allow(dead_code)]

pub mod gguf_builder;
use std::path::PathBuf;

/// `$SOFER_REFS`, default `../shared/refs`. Tests that need it fail (never skip) when absent.
pub fn refs_dir() -> PathBuf {
    let dir = std::env::var_os("SOFER_REFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/refs")));
    assert!(
        dir.join("tiny/gguf").is_dir(),
        "reference fixtures not found at {} (set SOFER_REFS)",
        dir.display()
    );
    dir
}

/// `$SOFER_DATA`, default `../shared/data`: the licensed data sets (UD Hebrew, HeQ, NTREX,
/// Wikipedia sentences). Tests that need it fail (never skip) when absent.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SOFER_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
    assert!(
        dir.join("ud").is_dir(),
        "shared data not found at {} (set SOFER_DATA)",
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

/// A tiny reference GGUF, e.g. `tiny_gguf("q8_0")`.
pub fn tiny_gguf(quant: &str) -> PathBuf {
    refs_dir().join(format!("tiny/gguf/tiny-{quant}.gguf"))
}

/// Reads a JSON file from the reference folder.
pub fn refs_json(rel: &str) -> serde_json::Value {
    let path = refs_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Token ids of a reference prompt (`en`, `he`, `inst`), BOS included.
pub fn prompt_ids(name: &str) -> Vec<u32> {
    refs_json("tiny/out/prompts.json")["token_ids"][name]
        .as_array()
        .expect("token_ids")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

/// A 2-D little-endian `<f4` or `<f2` .npy array as rows of f32.
pub fn read_npy(rel: &str) -> Vec<Vec<f32>> {
    let path = refs_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not .npy", path.display());
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("header");
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

/// Index of the largest value (first on ties).
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// Max and median absolute difference, and the share of rows whose argmax agrees.
pub fn compare(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, f32, f64) {
    assert_eq!(a.len(), b.len(), "row counts differ");
    let mut diffs: Vec<f32> = a
        .iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .collect();
    let agree = a
        .iter()
        .zip(b)
        .filter(|(x, y)| argmax(x) == argmax(y))
        .count();
    diffs.sort_by(f32::total_cmp);
    let max = *diffs.last().unwrap_or(&0.0);
    let median = diffs.get(diffs.len() / 2).copied().unwrap_or(0.0);
    (max, median, agree as f64 / a.len() as f64)
}
