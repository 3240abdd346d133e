//! Every kind of bad model file gets its own typed `EngineError`, whose message names the
//! file and the problem, through `GgufFile::open`, `ModelInfo::from_gguf` and
//! `Engine::load` — never a panic. Broken files are hand-built (`common::gguf_builder`) or
//! cut from a reference file.

mod common;

use std::fs::File;
use std::path::Path;

use candle_core::quantized::gguf_file::Content;
use common::gguf_builder::{dense, GgufBuilder, Meta};
use common::tiny_gguf;
use sofer::engine::gguf::GgufFile;
use sofer::engine::{Engine, EngineError, EngineOptions, GenerationParams, Generator, ModelInfo};
use tempfile::TempDir;

fn load(path: &Path) -> Result<Engine, EngineError> {
    Engine::load(&EngineOptions {
        model: path.to_path_buf(),
        tokenizer_json: None,
        ..Default::default()
    })
}

/// The error `Engine::load` gives for `path`; fails the test if the file loads.
fn load_error(path: &Path) -> EngineError {
    match load(path) {
        Ok(_) => panic!("{} loaded, but it is broken", path.display()),
        Err(e) => e,
    }
}

/// The error `GgufFile::open` gives for `path`.
fn open_error(path: &Path) -> EngineError {
    match GgufFile::open(path) {
        Ok(_) => panic!("{} opened, but its header is broken", path.display()),
        Err(e) => e,
    }
}

/// The error `ModelInfo::from_gguf` gives for a file whose header reads fine.
fn info_error(path: &Path) -> EngineError {
    let gguf = GgufFile::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    match ModelInfo::from_gguf(&gguf) {
        Ok(_) => panic!("{}: ModelInfo accepted a broken file", path.display()),
        Err(e) => e,
    }
}

/// Asserts that the message names the file and contains every one of `words`.
fn assert_message(err: &EngineError, path: &Path, words: &[&str]) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file {}: {msg}",
        path.display()
    );
    for word in words {
        assert!(
            msg.contains(word),
            "message does not mention `{word}`: {msg}"
        );
    }
}

fn write_bytes(dir: &TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

#[test]
fn the_hand_built_dense_model_loads_and_generates() {
    // The control for every edited file below: unedited, it is a working model.
    let dir = TempDir::new().expect("tempdir");
    let path = GgufBuilder::dense_llama().write(dir.path(), "dense.gguf");
    let engine = load(&path).unwrap_or_else(|e| panic!("the unedited builder file fails: {e}"));
    let config = &engine.info().config;
    assert_eq!(
        (config.dim, config.n_layers, config.n_experts),
        (dense::DIM, 1, 0)
    );
    assert_eq!(config.vocab_size, dense::PIECES.len());
    let params = GenerationParams {
        max_tokens: 4,
        ignore_eos: true,
        ..Default::default()
    };
    let out = engine
        .generate(&[1, 4, 5], &params, &mut |_| true)
        .expect("generate");
    assert_eq!(out.ids.len(), 4);
}

#[test]
fn wrong_magic_is_bad_magic() {
    let dir = TempDir::new().expect("tempdir");
    let mut safetensors = 64u64.to_le_bytes().to_vec();
    safetensors.extend_from_slice(br#"{"__metadata__":{"format":"pt"}}"#);
    let cases = [
        ("notes.gguf", b"hello, this is a text file\n".to_vec()),
        ("model.safetensors", safetensors),
        ("ab.gguf", b"ab".to_vec()),
    ];
    for (name, bytes) in cases {
        let path = write_bytes(&dir, name, &bytes);
        for err in [open_error(&path), load_error(&path)] {
            match &err {
                EngineError::BadMagic { found, .. } => {
                    assert_eq!(
                        found[..],
                        bytes[..bytes.len().min(4)],
                        "{name}: first bytes"
                    )
                }
                other => panic!("{name}: expected BadMagic, got {other:?}"),
            }
            assert_message(&err, &path, &["not a GGUF file"]);
        }
    }
}

#[test]
fn empty_and_two_byte_files_are_truncated() {
    let dir = TempDir::new().expect("tempdir");
    for (name, bytes) in [("empty.gguf", &b""[..]), ("two.gguf", &b"GG"[..])] {
        let path = write_bytes(&dir, name, bytes);
        for err in [open_error(&path), load_error(&path)] {
            assert!(
                matches!(err, EngineError::Truncated { .. }),
                "{name}: expected Truncated, got {err:?}"
            );
            assert_message(&err, &path, &["truncated"]);
        }
    }
}

#[test]
fn reference_file_cut_inside_its_header_is_truncated() {
    let dir = TempDir::new().expect("tempdir");
    let full = std::fs::read(tiny_gguf("q8_0")).expect("read tiny-q8_0.gguf");
    let path = write_bytes(&dir, "head.gguf", &full[..1000]);
    for err in [open_error(&path), load_error(&path)] {
        assert!(
            matches!(err, EngineError::Truncated { .. }),
            "expected Truncated, got {err:?}"
        );
        assert_message(&err, &path, &["truncated", "header"]);
    }
}

#[test]
fn reference_file_cut_inside_tensor_data_names_the_tensor() {
    let dir = TempDir::new().expect("tempdir");
    let original = tiny_gguf("q8_0");
    let content = Content::read(&mut File::open(&original).expect("open"))
        .expect("candle reads the reference");
    let (last, _) = content
        .tensor_infos
        .iter()
        .max_by_key(|(_, info)| info.offset)
        .expect("the reference has tensors");
    let full = std::fs::read(&original).expect("read tiny-q8_0.gguf");
    let path = write_bytes(&dir, "cut.gguf", &full[..full.len() - 1000]);
    for err in [open_error(&path), load_error(&path)] {
        match &err {
            EngineError::Truncated { detail, .. } => {
                assert!(
                    detail.contains(&format!("`{last}`")),
                    "detail does not name tensor `{last}`: {detail}"
                )
            }
            other => panic!("expected Truncated, got {other:?}"),
        }
        assert_message(&err, &path, &["truncated", last]);
    }
}

#[test]
fn unknown_architecture_is_unsupported() {
    let dir = TempDir::new().expect("tempdir");
    for arch in ["gptneox", "falcon"] {
        let path = GgufBuilder::dense_llama()
            .meta("general.architecture", Meta::Str(arch.into()))
            .write(dir.path(), &format!("{arch}.gguf"));
        for err in [info_error(&path), load_error(&path)] {
            match &err {
                EngineError::UnsupportedArchitecture { arch: found, .. } => assert_eq!(found, arch),
                other => panic!("{arch}: expected UnsupportedArchitecture, got {other:?}"),
            }
            assert_message(&err, &path, &[arch, "unsupported architecture"]);
        }
    }
}

/// The dense model with `blk.0.ffn_down.weight` stored as ggml type `ggml_type`
/// (`block_bytes` per block of `block_size` elements).
fn with_ffn_down_as(ggml_type: u32, block_size: usize, block_bytes: usize) -> GgufBuilder {
    let shape = [dense::DIM, dense::FFN];
    let blocks = dense::DIM * dense::FFN / block_size;
    GgufBuilder::dense_llama().raw_tensor(
        "blk.0.ffn_down.weight",
        &shape,
        ggml_type,
        vec![0; blocks * block_bytes],
    )
}

#[test]
fn unsupported_quantization_type_is_reported() {
    let dir = TempDir::new().expect("tempdir");
    // ggml type id, name, block size, bytes per block.
    for (id, name, block_size, block_bytes) in [(16, "IQ2_XXS", 256, 66), (39, "MXFP4", 32, 17)] {
        let path = with_ffn_down_as(id, block_size, block_bytes)
            .write(dir.path(), &format!("{name}.gguf"));
        for err in [open_error(&path), load_error(&path)] {
            match &err {
                EngineError::UnsupportedQuantization { dtype, .. } => {
                    assert!(
                        dtype.contains(name),
                        "{name}: dtype `{dtype}` does not name the type"
                    )
                }
                other => panic!("{name}: expected UnsupportedQuantization, got {other:?}"),
            }
            assert_message(&err, &path, &[name, "unsupported quantization"]);
        }
    }
}

#[test]
fn unsupported_quantization_names_the_tensor() {
    // `EngineError::UnsupportedQuantization::tensor` is documented as the tensor's name;
    // the user needs it to know which part of the file to requantize.
    let dir = TempDir::new().expect("tempdir");
    let path = with_ffn_down_as(16, 256, 66).write(dir.path(), "iq2.gguf");
    match open_error(&path) {
        EngineError::UnsupportedQuantization { tensor, .. } => {
            assert_eq!(tensor, "blk.0.ffn_down.weight")
        }
        other => panic!("expected UnsupportedQuantization, got {other:?}"),
    }
}

#[test]
fn missing_tensor_is_named() {
    let dir = TempDir::new().expect("tempdir");
    let path = GgufBuilder::dense_llama()
        .without_tensor("blk.0.attn_q.weight")
        .write(dir.path(), "no-q.gguf");
    let err = load_error(&path);
    match &err {
        EngineError::MissingTensor { tensor, .. } => assert_eq!(tensor, "blk.0.attn_q.weight"),
        other => panic!("expected MissingTensor, got {other:?}"),
    }
    assert_message(&err, &path, &["missing tensor", "blk.0.attn_q.weight"]);

    // The embedding is needed already to describe the file (its rows are the vocabulary).
    let path = GgufBuilder::dense_llama()
        .without_tensor("token_embd.weight")
        .write(dir.path(), "no-embd.gguf");
    for err in [info_error(&path), load_error(&path)] {
        match &err {
            EngineError::MissingTensor { tensor, .. } => assert_eq!(tensor, "token_embd.weight"),
            other => panic!("expected MissingTensor, got {other:?}"),
        }
        assert_message(&err, &path, &["token_embd.weight"]);
    }
}

#[test]
fn wrong_tensor_shape_is_reported() {
    let dir = TempDir::new().expect("tempdir");
    let q_rows = dense::HEADS * dense::HEAD_DIM;
    let path = GgufBuilder::dense_llama()
        .f32_tensor("blk.0.attn_q.weight", &[q_rows, 2 * dense::DIM])
        .write(dir.path(), "wide-q.gguf");
    let err = load_error(&path);
    match &err {
        EngineError::BadTensorShape {
            tensor,
            found,
            expected,
            ..
        } => {
            assert_eq!(tensor, "blk.0.attn_q.weight");
            assert_eq!(found, &[q_rows, 2 * dense::DIM]);
            assert_eq!(expected, &[q_rows, dense::DIM]);
        }
        other => panic!("expected BadTensorShape, got {other:?}"),
    }
    assert_message(&err, &path, &["blk.0.attn_q.weight", "shape"]);
}

#[test]
fn missing_required_metadata_names_the_key() {
    let dir = TempDir::new().expect("tempdir");
    for key in [
        "llama.block_count",
        "llama.embedding_length",
        "llama.attention.head_count",
        "llama.feed_forward_length",
        "llama.context_length",
    ] {
        let path = GgufBuilder::dense_llama()
            .without_meta(key)
            .write(dir.path(), &format!("{key}.gguf"));
        for err in [info_error(&path), load_error(&path)] {
            match &err {
                EngineError::BadMetadata { key: found, .. } => assert_eq!(found, key),
                other => panic!("{key}: expected BadMetadata, got {other:?}"),
            }
            assert_message(&err, &path, &[key, "missing"]);
        }
    }
}

#[test]
fn metadata_of_the_wrong_type_names_the_key() {
    let dir = TempDir::new().expect("tempdir");
    let path = GgufBuilder::dense_llama()
        .meta("llama.block_count", Meta::Str("one".into()))
        .write(dir.path(), "string-count.gguf");
    let err = info_error(&path);
    match &err {
        EngineError::BadMetadata { key, .. } => assert_eq!(key, "llama.block_count"),
        other => panic!("expected BadMetadata, got {other:?}"),
    }
    assert_message(&err, &path, &["llama.block_count", "unsigned integer"]);
}

#[test]
fn kv_heads_that_do_not_divide_heads_are_bad_metadata() {
    let dir = TempDir::new().expect("tempdir");
    let path = GgufBuilder::dense_llama()
        .meta("llama.attention.head_count_kv", Meta::U32(3))
        .write(dir.path(), "kv3.gguf");
    for err in [info_error(&path), load_error(&path)] {
        match &err {
            EngineError::BadMetadata { key, .. } => {
                assert_eq!(key, "llama.attention.head_count_kv")
            }
            other => panic!("expected BadMetadata, got {other:?}"),
        }
        assert_message(
            &err,
            &path,
            &["head_count_kv", "3 does not divide head_count 2"],
        );
    }
}

#[test]
fn a_path_that_does_not_exist_is_io() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("no-such-model.gguf");
    for err in [open_error(&path), load_error(&path)] {
        match &err {
            EngineError::Io { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
            }
            other => panic!("expected Io, got {other:?}"),
        }
        assert_message(&err, &path, &[]);
    }
}
