//! `sofer model synth` from the outside: tiny files in every quantization and layout,
//! re-read with candle's own GGUF reader; determinism; per-expert tensors as byte-exact
//! slices of the merged ones; the embedded vocabulary. Tensor names, shapes and types, the
//! metadata value types and the vocabulary are compared with the tiny files llama.cpp's
//! own converter and quantizer wrote (`tests/fixtures/engine/llamacpp_layout.json`); the
//! files the engine references were made from are byte-identical to fresh ones.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::quantized::gguf_file::{self, Content, ValueType};
use candle_core::quantized::GgmlDType;
use candle_core::Device;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sofer::engine::sp_model::mistral_v1_pieces;
use sofer::engine::synth::{synthesize, ExpertLayout, SynthPreset, SynthQuant, SynthSpec};
use sofer::engine::EngineError;

const DIM: usize = 256;
const FFN: usize = 512;
const KV_DIM: usize = 64;
const EXPERTS: usize = 8;
const VOCAB: usize = 32000;

fn spec(quant: SynthQuant, layout: ExpertLayout) -> SynthSpec {
    SynthSpec {
        preset: SynthPreset::Tiny,
        seed: 1234,
        quant,
        layout,
        layers: None,
    }
}

fn write(dir: &Path, spec: &SynthSpec, name: &str) -> PathBuf {
    let out = dir.join(name);
    let report = synthesize(spec, &out).expect("synthesize");
    assert_eq!(report.path, out);
    assert_eq!(report.bytes, std::fs::metadata(&out).expect("stat").len());
    assert_eq!(report.n_params, 23_008_512);
    assert!(
        !dir.join(format!("{name}.tmp")).exists(),
        "temp file left behind"
    );
    out
}

fn read(path: &Path) -> (Content, File) {
    let mut file = File::open(path).expect("open");
    let content = Content::read(&mut file).expect("candle reads the file");
    (content, file)
}

fn tensor_bytes(content: &Content, file: &mut File, name: &str) -> Vec<u8> {
    let t = content.tensor(file, name, &Device::Cpu).expect(name);
    t.data().expect("data").into_owned()
}

/// The storage type llama.cpp's quantizer gives each tensor of the 2-layer model.
fn expected_dtype(quant: SynthQuant, name: &str) -> GgmlDType {
    use GgmlDType::*;
    if name.contains("norm") || name.contains("ffn_gate_inp") {
        return F32;
    }
    let k = |q5: GgmlDType, q4: GgmlDType| if quant == SynthQuant::Q5KM { q5 } else { q4 };
    match quant {
        SynthQuant::F32 => F32,
        SynthQuant::F16 => F16,
        SynthQuant::Q8_0 => Q8_0,
        SynthQuant::Q4_0
        | SynthQuant::Q4_1
        | SynthQuant::Q5_0
        | SynthQuant::Q5_1
        | SynthQuant::Q6K => {
            if name == "output.weight" {
                Q6K
            } else if name.contains("attn_k") || name.contains("attn_v") {
                Q8_0
            } else {
                match quant {
                    SynthQuant::Q4_0 => Q4_0,
                    SynthQuant::Q4_1 => Q4_1,
                    SynthQuant::Q5_0 => Q5_0,
                    SynthQuant::Q5_1 => Q5_1,
                    _ => Q6K,
                }
            }
        }
        SynthQuant::Q5KM | SynthQuant::Q4KM => {
            if name == "output.weight" {
                Q6K
            } else if name.contains("attn_k") || name.contains("attn_v") {
                Q8_0
            } else if name.contains("attn_output") {
                Q5K
            } else if name.starts_with("blk.1.ffn_down") {
                Q6K
            } else {
                k(Q5K, Q4K)
            }
        }
    }
}

/// Every tensor of the tiny model with its candle-order shape.
fn expected_shapes(layout: ExpertLayout) -> HashMap<String, Vec<usize>> {
    let mut m = HashMap::new();
    m.insert("token_embd.weight".to_owned(), vec![VOCAB, DIM]);
    m.insert("output.weight".to_owned(), vec![VOCAB, DIM]);
    m.insert("output_norm.weight".to_owned(), vec![DIM]);
    for l in 0..2 {
        let p = format!("blk.{l}");
        m.insert(format!("{p}.attn_norm.weight"), vec![DIM]);
        m.insert(format!("{p}.ffn_norm.weight"), vec![DIM]);
        m.insert(format!("{p}.attn_q.weight"), vec![DIM, DIM]);
        m.insert(format!("{p}.attn_k.weight"), vec![KV_DIM, DIM]);
        m.insert(format!("{p}.attn_v.weight"), vec![KV_DIM, DIM]);
        m.insert(format!("{p}.attn_output.weight"), vec![DIM, DIM]);
        m.insert(format!("{p}.ffn_gate_inp.weight"), vec![EXPERTS, DIM]);
        for (kind, rows, cols) in [
            ("ffn_gate", FFN, DIM),
            ("ffn_up", FFN, DIM),
            ("ffn_down", DIM, FFN),
        ] {
            match layout {
                ExpertLayout::Merged => {
                    m.insert(format!("{p}.{kind}_exps.weight"), vec![EXPERTS, rows, cols]);
                }
                ExpertLayout::PerExpert => {
                    for e in 0..EXPERTS {
                        m.insert(format!("{p}.{kind}.{e}.weight"), vec![rows, cols]);
                    }
                }
            }
        }
    }
    m
}

fn check_metadata(content: &Content, quant: SynthQuant) {
    let md = &content.metadata;
    let get = |key: &str| {
        md.get(key)
            .unwrap_or_else(|| panic!("metadata `{key}` missing"))
    };
    let u32_of = |key: &str| {
        get(key)
            .to_u32()
            .unwrap_or_else(|_| panic!("`{key}` is not u32"))
    };
    assert_eq!(
        get("general.architecture")
            .to_string()
            .ok()
            .map(String::as_str),
        Some("llama")
    );
    assert_eq!(
        get("general.name").to_string().ok().map(String::as_str),
        Some("Sofer synth tiny")
    );
    assert_eq!(
        get("tokenizer.ggml.model")
            .to_string()
            .ok()
            .map(String::as_str),
        Some("llama")
    );
    assert_eq!(u32_of("general.file_type"), quant.file_type());
    for (key, value) in [
        ("llama.context_length", 4096),
        ("llama.embedding_length", 256),
        ("llama.block_count", 2),
        ("llama.feed_forward_length", 512),
        ("llama.attention.head_count", 8),
        ("llama.attention.head_count_kv", 2),
        ("llama.expert_count", 8),
        ("llama.expert_used_count", 2),
        ("llama.rope.dimension_count", 32),
        ("llama.vocab_size", 32000),
        ("general.alignment", 32),
        ("tokenizer.ggml.bos_token_id", 1),
        ("tokenizer.ggml.eos_token_id", 2),
        ("tokenizer.ggml.unknown_token_id", 0),
    ] {
        assert_eq!(u32_of(key), value, "{key}");
    }
    assert_eq!(get("llama.rope.freq_base").to_f32().ok(), Some(1.0e6));
    assert_eq!(
        get("llama.attention.layer_norm_rms_epsilon").to_f32().ok(),
        Some(1.0e-5)
    );
    assert_eq!(
        get("tokenizer.ggml.add_bos_token").to_bool().ok(),
        Some(true)
    );
    assert_eq!(
        get("tokenizer.ggml.add_eos_token").to_bool().ok(),
        Some(false)
    );
    for (key, elem) in [
        ("tokenizer.ggml.tokens", ValueType::String),
        ("tokenizer.ggml.scores", ValueType::F32),
        ("tokenizer.ggml.token_type", ValueType::I32),
    ] {
        let values = get(key).to_vec().expect("array");
        assert_eq!(values.len(), VOCAB, "{key}");
        assert!(
            values.iter().all(|v| v.value_type() == elem),
            "{key} element type"
        );
    }
}

fn check_tensors(content: &Content, quant: SynthQuant, layout: ExpertLayout) {
    let expected = expected_shapes(layout);
    assert_eq!(content.tensor_infos.len(), expected.len());
    for (name, shape) in &expected {
        let info = content
            .tensor_infos
            .get(name)
            .unwrap_or_else(|| panic!("tensor `{name}` missing"));
        assert_eq!(info.shape.dims(), shape.as_slice(), "{name} shape");
        assert_eq!(info.ggml_dtype, expected_dtype(quant, name), "{name} dtype");
    }
}

/// What llama.cpp's own converter and quantizer wrote for the tiny model in `quant`
/// (`tests/fixtures/engine/llamacpp_layout.json`, made by `scripts/make_engine_refs.py`).
fn llamacpp_layout(quant: SynthQuant) -> Option<&'static Value> {
    static LAYOUT: OnceLock<Value> = OnceLock::new();
    let key = match quant {
        SynthQuant::F32 => return None,
        SynthQuant::F16 => "f16",
        SynthQuant::Q8_0 => "q8_0",
        SynthQuant::Q5KM => "q5_k_m",
        SynthQuant::Q4KM => "q4_k_m",
        _ => return None,
    };
    let all = LAYOUT.get_or_init(|| {
        let path = common::tiny::fixture_dir().join("llamacpp_layout.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    });
    Some(&all[key])
}

/// gguf-py's name of a tensor type.
fn gguf_py_name(dtype: GgmlDType) -> &'static str {
    use GgmlDType::*;
    match dtype {
        F32 => "F32",
        F16 => "F16",
        Q8_0 => "Q8_0",
        Q4K => "Q4_K",
        Q5K => "Q5_K",
        Q6K => "Q6_K",
        other => panic!("unexpected tensor type {other:?}"),
    }
}

/// gguf-py's name of a metadata value type (`ARRAY/<element>` for arrays).
fn gguf_py_value_type(value: &gguf_file::Value) -> String {
    use gguf_file::Value::*;
    match value {
        U8(_) => "UINT8".into(),
        I8(_) => "INT8".into(),
        U16(_) => "UINT16".into(),
        I16(_) => "INT16".into(),
        U32(_) => "UINT32".into(),
        I32(_) => "INT32".into(),
        U64(_) => "UINT64".into(),
        I64(_) => "INT64".into(),
        F32(_) => "FLOAT32".into(),
        F64(_) => "FLOAT64".into(),
        Bool(_) => "BOOL".into(),
        String(_) => "STRING".into(),
        Array(items) => format!(
            "ARRAY/{}",
            items.first().map_or("?".into(), gguf_py_value_type)
        ),
    }
}

/// The digest `make_engine_refs.py` records for a vocabulary array.
fn vocabulary_digest(value: &gguf_file::Value) -> String {
    let gguf_file::Value::Array(items) = value else {
        panic!("vocabulary is not an array")
    };
    let mut hash = Sha256::new();
    for item in items {
        match item {
            gguf_file::Value::String(s) => {
                hash.update(s.as_bytes());
                hash.update([0]);
            }
            gguf_file::Value::F32(x) => hash.update(x.to_le_bytes()),
            gguf_file::Value::I32(x) => hash.update(x.to_le_bytes()),
            other => panic!("unexpected vocabulary value {other:?}"),
        }
    }
    format!("{:x}", hash.finalize())
}

/// Same tensors (names, shapes, types), same metadata keys and value types, same vocabulary
/// as the file llama.cpp's converter and quantizer wrote.
fn compare_with_llamacpp(ours: &Content, theirs: &Value) {
    let tensors = theirs["tensors"].as_object().expect("tensors");
    assert_eq!(ours.tensor_infos.len(), tensors.len());
    for (name, info) in tensors {
        let mine = ours
            .tensor_infos
            .get(name)
            .unwrap_or_else(|| panic!("`{name}` missing"));
        // gguf-py lists ggml's order, innermost dimension first; candle the reverse.
        let mut shape: Vec<usize> = info["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        shape.reverse();
        assert_eq!(mine.shape.dims(), shape.as_slice(), "{name}");
        assert_eq!(gguf_py_name(mine.ggml_dtype), info["type"], "{name}");
    }
    for (key, kind) in theirs["metadata_types"].as_object().expect("metadata") {
        if key == "general.size_label" {
            continue;
        }
        let mine = ours
            .metadata
            .get(key)
            .unwrap_or_else(|| panic!("metadata `{key}` missing"));
        assert_eq!(
            gguf_py_value_type(mine),
            kind.as_str().expect("type"),
            "{key}"
        );
    }
    for (key, digest) in theirs["vocabulary_sha256"].as_object().expect("digests") {
        assert_eq!(
            vocabulary_digest(&ours.metadata[key]),
            digest.as_str().expect("digest"),
            "{key} differs from llama.cpp's"
        );
    }
}

/// The sha256 `references.json` records for the file of `spec`, if the references use it.
fn reference_sha256(spec: &SynthSpec) -> Option<&'static str> {
    let files = common::engine_refs()["synth"]["files"]
        .as_object()
        .expect("synth files");
    files.values().find_map(|f| {
        let same = f["quant"] == spec.quant.to_string() && f["layout"] == spec.layout.to_string();
        same.then(|| f["sha256"].as_str().expect("sha256"))
    })
}

#[test]
fn every_quant_and_layout_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    for quant in SynthQuant::ALL {
        for layout in [ExpertLayout::Merged, ExpertLayout::PerExpert] {
            let name = format!("tiny-{quant}-{layout}.gguf");
            let path = write(dir.path(), &spec(quant, layout), &name);
            let (content, _) = read(&path);
            check_metadata(&content, quant);
            check_tensors(&content, quant, layout);
            match llamacpp_layout(quant) {
                Some(theirs) if layout == ExpertLayout::Merged => {
                    compare_with_llamacpp(&content, theirs)
                }
                _ => {}
            }
            if let Some(expected) = reference_sha256(&spec(quant, layout)) {
                let bytes = std::fs::read(&path).expect("read");
                assert_eq!(
                    format!("{:x}", Sha256::digest(&bytes)),
                    expected,
                    "{name} is not the file tests/fixtures/engine/ was made from \
                     (rerun scripts/make_engine_refs.py)"
                );
            }
            std::fs::remove_file(&path).expect("remove");
        }
    }
}

#[test]
fn same_spec_same_bytes_and_seed_matters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = spec(SynthQuant::Q4KM, ExpertLayout::Merged);
    let a = std::fs::read(write(dir.path(), &s, "a.gguf")).expect("read a");
    let b = std::fs::read(write(dir.path(), &s, "b.gguf")).expect("read b");
    assert!(a == b, "two runs of one spec differ");
    let other = SynthSpec { seed: 1235, ..s };
    let c = std::fs::read(write(dir.path(), &other, "c.gguf")).expect("read c");
    assert_eq!(a.len(), c.len());
    assert!(a != c, "the seed changes nothing");
}

#[test]
fn per_expert_tensors_are_slices_of_merged_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    for quant in [SynthQuant::Q4KM, SynthQuant::F16] {
        let merged = write(dir.path(), &spec(quant, ExpertLayout::Merged), "m.gguf");
        let split = write(dir.path(), &spec(quant, ExpertLayout::PerExpert), "s.gguf");
        let ((mc, mut mf), (sc, mut sf)) = (read(&merged), read(&split));
        for name in mc.tensor_infos.keys() {
            let whole = tensor_bytes(&mc, &mut mf, name);
            let Some(stem) = name.strip_suffix("_exps.weight") else {
                assert_eq!(whole, tensor_bytes(&sc, &mut sf, name), "{name}");
                continue;
            };
            let per = whole.len() / EXPERTS;
            for e in 0..EXPERTS {
                let part = tensor_bytes(&sc, &mut sf, &format!("{stem}.{e}.weight"));
                assert_eq!(
                    part.as_slice(),
                    &whole[e * per..(e + 1) * per],
                    "{stem} expert {e}"
                );
            }
        }
    }
}

#[test]
fn weights_have_the_planned_scales() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        &spec(SynthQuant::F32, ExpertLayout::Merged),
        "f32.gguf",
    );
    let (content, mut file) = read(&path);
    let mut stats = |name: &str| {
        let t = content.tensor(&mut file, name, &Device::Cpu).expect(name);
        let v: Vec<f32> = t
            .dequantize(&Device::Cpu)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1())
            .expect("values");
        assert!(
            v.iter().all(|&x| half::f16::from_f32(x).to_f32() == x),
            "{name} not f16-exact"
        );
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        let var = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / v.len() as f64;
        (mean, var.sqrt())
    };
    for (name, std) in [
        ("token_embd.weight", 0.05),
        ("output.weight", 0.35),
        ("blk.0.ffn_gate_inp.weight", 0.30),
        ("blk.1.attn_q.weight", 0.07),
        ("blk.1.ffn_down_exps.weight", 0.04),
        ("blk.0.ffn_up_exps.weight", 0.02),
    ] {
        let (m, s) = stats(name);
        assert!(m.abs() < 0.1 * std, "{name} mean {m}");
        assert!((s / std - 1.0).abs() < 0.1, "{name} std {s}, planned {std}");
    }
    let (m, s) = stats("blk.0.attn_norm.weight");
    assert!((m - 1.0).abs() < 0.01 && s < 0.05, "norm mean {m} std {s}");
}

#[test]
fn unwritable_output_is_a_typed_error_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("no-such-dir").join("x.gguf");
    let err =
        synthesize(&spec(SynthQuant::Q8_0, ExpertLayout::Merged), &out).expect_err("must fail");
    assert!(matches!(err, EngineError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("x.gguf"), "{err}");
    assert!(!out.exists());
}

#[test]
fn embedded_vocabulary_is_mistral_v1() {
    let pieces = mistral_v1_pieces().expect("embedded model parses");
    assert_eq!(pieces.len(), VOCAB);
    let head: Vec<(&str, i32)> = pieces[..3]
        .iter()
        .map(|p| (p.piece.as_str(), p.kind))
        .collect();
    assert_eq!(head, [("<unk>", 2), ("<s>", 3), ("</s>", 3)]);
    for b in 0..256 {
        let p = &pieces[3 + b];
        assert_eq!(p.piece, format!("<0x{b:02X}>"));
        assert_eq!(p.kind, 6, "byte piece kind");
    }
    assert_eq!(pieces.iter().filter(|p| p.kind == 6).count(), 256);
    assert!(pieces.iter().any(|p| p.piece == "▁the"));
}

#[test]
fn bad_names_are_invalid_parameters() {
    assert!(matches!(
        "Q3_K_M".parse::<SynthQuant>(),
        Err(EngineError::InvalidParameter(_))
    ));
    assert_eq!("q5_k_m".parse::<SynthQuant>().ok(), Some(SynthQuant::Q5KM));
    assert!(matches!(
        "medium".parse::<SynthPreset>(),
        Err(EngineError::InvalidParameter(_))
    ));
    assert!(matches!(
        "split".parse::<ExpertLayout>(),
        Err(EngineError::InvalidParameter(_))
    ));
}
