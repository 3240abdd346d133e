//! The `sofer` binary from the outside: `model inspect|tokenize|logits|generate|synth` on
//! the synthesized tiny models (`tests/common/tiny.rs`), and bad model files reported as one
//! `error: …` line with a non-zero exit, never a panic or a backtrace.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use common::gguf_builder::{dense, GgufBuilder, Meta};
use common::{prompt_ids, prompt_text, tiny_gguf};
use serde_json::Value;
use sofer::engine::{Engine, EngineOptions};
use tempfile::TempDir;

/// Runs `sofer ARGS` with backtraces enabled (a user error must not print one even then)
/// and without environment that would change its output.
fn sofer<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .env_remove("SOFER_MODEL")
        .output()
        .expect("run the sofer binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Runs `sofer ARGS`, requires success, returns stdout.
fn sofer_ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = sofer(args);
    assert!(
        out.status.success(),
        "sofer failed ({}): {}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

/// Runs `sofer ARGS` and requires stdout to be one JSON value.
fn sofer_json<S: AsRef<OsStr>>(args: &[S]) -> Value {
    let text = sofer_ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}"))
}

/// Requires `out` to be a clean failure: exit code 1, nothing on stdout, and one stderr
/// line `error: …` that names `path` and contains `problem` (no panic, no backtrace).
fn assert_clean_failure(out: &Output, path: &Path, problem: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit status for {}: {err}",
        path.display()
    );
    assert!(out.stdout.is_empty(), "stdout on failure: {}", stdout(out));
    assert!(
        err.starts_with("error: "),
        "stderr does not start with `error: `: {err}"
    );
    assert!(!err.contains("panicked"), "sofer panicked: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "the error is not one line (a backtrace?):\n{err}"
    );
    assert!(
        err.contains(&path.display().to_string()),
        "the error does not name {}: {err}",
        path.display()
    );
    assert!(
        err.contains(problem),
        "the error does not say `{problem}`: {err}"
    );
}

#[test]
fn inspect_reports_bad_files_in_one_error_line() {
    let dir = TempDir::new().expect("tempdir");
    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "just some text\n").expect("write");
    let cut = dir.path().join("cut.gguf");
    let reference = std::fs::read(tiny_gguf("q8_0")).expect("read tiny-q8_0.gguf");
    std::fs::write(&cut, &reference[..1000]).expect("write");
    let gptneox = GgufBuilder::dense_llama()
        .meta("general.architecture", Meta::Str("gptneox".into()))
        .write(dir.path(), "gptneox.gguf");
    let blocks = dense::DIM * dense::FFN / 256;
    let iq2 = GgufBuilder::dense_llama()
        .raw_tensor(
            "blk.0.ffn_down.weight",
            &[dense::DIM, dense::FFN],
            16,
            vec![0; blocks * 66],
        )
        .write(dir.path(), "iq2.gguf");
    let no_count = GgufBuilder::dense_llama()
        .without_meta("llama.block_count")
        .write(dir.path(), "no-count.gguf");
    let absent = dir.path().join("absent.gguf");
    let cases = [
        (&text, "not a GGUF file"),
        (&cut, "truncated"),
        (&gptneox, "unsupported architecture `gptneox`"),
        (&iq2, "IQ2_XXS"),
        (&no_count, "llama.block_count"),
        (&absent, "No such file"),
    ];
    for (path, problem) in cases {
        assert_clean_failure(
            &sofer(&[OsStr::new("model"), "inspect".as_ref(), path.as_os_str()]),
            path,
            problem,
        );
    }
}

#[test]
fn a_missing_model_file_is_reported_once() {
    // `EngineError::Io` prints its OS error and also returns it as its `source`, so
    // `error: {err:#}` said "No such file or directory (os error 2)" twice.
    let dir = TempDir::new().expect("tempdir");
    let absent = dir.path().join("absent.gguf");
    let out = sofer(&[OsStr::new("model"), "inspect".as_ref(), absent.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(
        err.matches("os error 2").count(),
        1,
        "the OS error is repeated: {err}"
    );
}

#[test]
fn generate_reports_a_missing_tensor() {
    let dir = TempDir::new().expect("tempdir");
    let path = GgufBuilder::dense_llama()
        .without_tensor("blk.0.attn_q.weight")
        .write(dir.path(), "no-q.gguf");
    let out = sofer(&[
        OsStr::new("model"),
        "generate".as_ref(),
        "--model".as_ref(),
        path.as_os_str(),
        "--ids".as_ref(),
        "1,4".as_ref(),
    ]);
    assert_clean_failure(&out, &path, "missing tensor `blk.0.attn_q.weight`");
}

fn ids_of(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array of ids: {value}"))
        .iter()
        .map(|v| v.as_u64().unwrap_or_else(|| panic!("not an id: {v}")))
        .collect()
}

#[test]
fn generate_json_prints_prompt_ids_and_every_sample() {
    let model = tiny_gguf("q8_0");
    let model = model.to_str().expect("UTF-8 path");
    let common = [
        "model",
        "generate",
        "--model",
        model,
        "--ids",
        "1,415,2936",
        "--max-tokens",
        "8",
    ];
    let sampled = [
        &common[..],
        &[
            "--json",
            "--n",
            "3",
            "--temperature",
            "0.7",
            "--seed",
            "3",
            "--ignore-eos",
        ],
    ]
    .concat();
    let v = sofer_json(&sampled);
    assert_eq!(ids_of(&v["prompt_ids"]), [1, 415, 2936]);
    let samples = v["samples"].as_array().expect("`samples` array");
    assert_eq!(samples.len(), 3, "{v}");
    for s in samples {
        assert_eq!(ids_of(&s["ids"]).len(), 8, "{s}");
        assert!(s["text"].is_string(), "{s}");
        assert_eq!(s["finish_reason"], "length", "{s}");
    }
    assert_eq!(
        v,
        sofer_json(&sampled),
        "the same seed printed different samples"
    );

    // Without --json one sample streams as plain text: the JSON sample's text and a newline.
    let greedy = sofer_json(&[&common[..], &["--json", "--ignore-eos"]].concat());
    let streamed = sofer_ok(&[&common[..], &["--ignore-eos"]].concat());
    assert_eq!(
        streamed,
        format!("{}\n", greedy["samples"][0]["text"].as_str().expect("text"))
    );
}

#[test]
fn tokenize_json_gives_the_reference_ids_for_hebrew() {
    let model = tiny_gguf("q8_0");
    let model = model.to_str().expect("UTF-8 path");
    let v = sofer_json(&[
        "model",
        "tokenize",
        "--model",
        model,
        "--text",
        "שלום עולם",
        "--json",
    ]);
    let ids = ids_of(&v["ids"]);
    assert_eq!(ids.first(), Some(&1), "no BOS: {v}");
    assert_eq!(
        v["pieces"].as_array().map(Vec::len),
        Some(ids.len()),
        "one piece per id: {v}"
    );

    let he = prompt_text("he");
    let v = sofer_json(&[
        "model", "tokenize", "--model", model, "--text", he, "--json",
    ]);
    let expected: Vec<u64> = prompt_ids("he").into_iter().map(u64::from).collect();
    assert_eq!(
        ids_of(&v["ids"]),
        expected,
        "SentencePiece's ids for the Hebrew prompt"
    );
}

/// The shape and float32 values of a version 1.0 `.npy` file with a `<f4` C-order array.
fn read_f32_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        b"\x93NUMPY\x01\x00",
        "not a version 1.0 .npy file"
    );
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let data_start = 10 + header_len;
    assert_eq!(
        data_start % 64,
        0,
        "the data does not start 64-byte aligned"
    );
    let header = std::str::from_utf8(&bytes[10..data_start]).expect("ASCII header");
    assert!(
        header.ends_with('\n'),
        "header does not end with a newline: {header:?}"
    );
    assert!(
        header.contains("'descr': '<f4'"),
        "not little-endian float32: {header}"
    );
    assert!(
        header.contains("'fortran_order': False"),
        "not C order: {header}"
    );
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("no shape in {header}"))
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let values: Vec<f32> = bytes[data_start..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(
        values.len() * 4,
        bytes.len() - data_start,
        "trailing bytes after the data"
    );
    (shape, values)
}

#[test]
fn logits_writes_an_npy_of_tokens_by_vocabulary() {
    let dir = TempDir::new().expect("tempdir");
    let out = dir.path().join("x.npy");
    let model = tiny_gguf("q8_0");
    sofer_ok(&[
        OsStr::new("model"),
        "logits".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--ids".as_ref(),
        "1,415".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let (shape, values) = read_f32_npy(&out);
    assert_eq!(shape, [2, 32000]);
    assert_eq!(values.len(), 2 * 32000);
    let engine = Engine::load(&EngineOptions {
        model,
        tokenizer_json: None,
        ..Default::default()
    })
    .expect("load tiny-q8_0");
    let expected: Vec<f32> = engine.logits(&[1, 415]).expect("logits").concat();
    let max_diff = values
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        max_diff <= 1e-4,
        "the file differs from Engine::logits by up to {max_diff}"
    );
}

#[test]
fn inspect_json_describes_the_reference_files() {
    for (quant, layout) in [("q8_0", "merged"), ("legacy-q4_k_m", "per-expert")] {
        let v = sofer_json(&[
            OsStr::new("model"),
            "inspect".as_ref(),
            tiny_gguf(quant).as_os_str(),
            "--json".as_ref(),
        ]);
        let config = &v["config"];
        assert_eq!(config["n_experts"], 8, "{quant}: {v}");
        assert_eq!(config["n_experts_used"], 2, "{quant}: {v}");
        assert_eq!(config["n_layers"], 2, "{quant}: {v}");
        assert_eq!(config["context_length"], 4096, "{quant}: {v}");
        assert_eq!(config["vocab_size"], 32000, "{quant}: {v}");
        assert_eq!(v["expert_layout"], layout, "{quant}: {v}");
        assert_eq!(v["tokenizer"]["vocab_size"], 32000, "{quant}: {v}");
    }
}

#[test]
fn synth_writes_a_model_that_inspect_and_generate_accept() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("x.gguf");
    let path_arg = path.to_str().expect("UTF-8 path");
    let report = sofer_ok(&[
        "model", "synth", "--preset", "tiny", "--quant", "Q8_0", "--out", path_arg,
    ]);
    assert!(
        report.starts_with(&format!("wrote {path_arg} (")),
        "synth printed: {report}"
    );

    let info = sofer_json(&["model", "inspect", path_arg, "--json"]);
    assert_eq!(info["file_type"], "Q8_0", "{info}");
    assert_eq!(info["config"]["n_experts"], 8, "{info}");

    let args = [
        "model",
        "generate",
        "--model",
        path_arg,
        "--text",
        "שלום",
        "--max-tokens",
        "4",
    ];
    let args = [
        &args[..],
        &[
            "--json",
            "--temperature",
            "0.8",
            "--seed",
            "9",
            "--ignore-eos",
        ],
    ]
    .concat();
    let first = sofer_json(&args);
    assert_eq!(ids_of(&first["samples"][0]["ids"]).len(), 4, "{first}");
    assert_eq!(
        first,
        sofer_json(&args),
        "the same seed printed different samples"
    );
}
