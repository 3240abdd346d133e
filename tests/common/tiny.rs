//! The tiny Mixtral the engine tests run on, synthesized by `sofer model synth` exactly as
//! `scripts/make_engine_refs.py` synthesized it, and the references that script recorded
//! in `tests/fixtures/engine/` (transformers and llama.cpp on the same files).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use sofer::engine::synth::{synthesize, ExpertLayout, SynthQuant, SynthSpec};

/// The seed every reference was made with.
pub const SEED: u64 = SynthSpec::tiny(SynthQuant::F32).seed;

/// `tests/fixtures/engine/`.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/engine"
    ))
}

/// The spec of a tiny file by its label: `f32`, `f16`, `q8_0`, `q5_k_m`, `q4_k_m`, or
/// `legacy-q4_k_m` (the per-expert layout).
pub fn tiny_spec(label: &str) -> SynthSpec {
    let (quant, layout) = match label.strip_prefix("legacy-") {
        Some(quant) => (quant, ExpertLayout::PerExpert),
        None => (label, ExpertLayout::Merged),
    };
    let quant = quant
        .parse::<SynthQuant>()
        .unwrap_or_else(|e| panic!("tiny model `{label}`: {e}"));
    SynthSpec {
        layout,
        ..SynthSpec::tiny(quant)
    }
}

/// The synthesized tiny model `label` (see [`tiny_spec`]), written once into cargo's
/// test scratch folder and shared by every test and test binary. Whether it is the file
/// the references were made from is checked by `tests/engine_parity.rs` and
/// `tests/synth.rs`.
pub fn tiny_gguf(label: &str) -> PathBuf {
    static MADE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut made = MADE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = made.get(label) {
        return path.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("synth-tiny-seed{SEED}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    // Named by the digest the references record, so a regenerated fixture never meets a
    // file synthesized by an older synthesizer.
    let digest = engine_refs()["synth"]["files"][format!("tiny-{label}.gguf")]["sha256"]
        .as_str()
        .map_or("unreferenced", |d| &d[..16]);
    let path = dir.join(format!("tiny-{label}-{digest}.gguf"));
    if !path.is_file() {
        // Another test binary may be writing the same file: each writes its own and renames
        // it into place; the bytes are identical.
        let own = dir.join(format!("tiny-{label}.{}.gguf", std::process::id()));
        synthesize(&tiny_spec(label), &own).unwrap_or_else(|e| panic!("synthesizing {label}: {e}"));
        std::fs::rename(&own, &path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    made.insert(label.to_string(), path.clone());
    path
}

/// `tests/fixtures/engine/references.json`.
pub fn engine_refs() -> &'static Value {
    static REFS: OnceLock<Value> = OnceLock::new();
    REFS.get_or_init(|| {
        let path = fixture_dir().join("references.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// Token ids of a reference prompt (`en`, `he`, `inst`), BOS included, as SentencePiece
/// and llama.cpp tokenize it.
pub fn prompt_ids(name: &str) -> Vec<u32> {
    ids(&engine_refs()["prompts"][name]["ids"])
}

/// The text of a reference prompt (`inst` starts with the literal `<s>` of the BOS token).
pub fn prompt_text(name: &str) -> &'static str {
    engine_refs()["prompts"][name]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("prompt `{name}` missing from references.json"))
}

/// A JSON array of token ids.
pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array of ids, got {v}"))
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("id")).expect("id fits u32"))
        .collect()
}
