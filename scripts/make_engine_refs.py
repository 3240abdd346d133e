#!/usr/bin/env python3
"""Engine parity references for the synthesized tiny Mixtral (dev script; tests never run it).

Synthesizes the tiny model with `sofer model synth` (seed 1234) in F32, F16, Q8_0, Q5_K_M, Q4_K_M
and the per-expert Q4_K_M layout, then runs independent implementations on the files:
  - transformers float32 (MixtralForCausalLM) on the F16 file's weights, dequantized with gguf-py and
    with llama.cpp's q/k row permutation undone: logits at every prompt position, 24 greedy tokens;
  - llama.cpp (llama-cpp-python, plain CPU kernels: use_extra_bufts=False, F32 KV cache) on each
    quantized file: the same, plus its own tokenization of the prompts;
  - SentencePiece (the Mistral v1 model in assets/) for the prompts' token ids.
and writes compact references into tests/fixtures/engine/:
  references.json          prompts + ids, the logit columns kept, per source: argmax at every
                           prompt position (over the full vocabulary) and the greedy continuation,
                           sha256 of every synthesized file the references were made from
  <source>.<prompt>.npy    logits at the kept columns (every 128th id plus every id in any source's
                           top 8 at that prompt), float32 for transformers, float16 for llama.cpp
  llamacpp_layout.json     (with --converter-ggufs DIR) tensor names / shapes / types, metadata value
                           types and vocabulary digests of the tiny GGUFs llama.cpp's own converter and
                           quantizer wrote, for tests/synth.rs

Usage: .venv/bin/python scripts/make_engine_refs.py [--sofer BIN] [--work DIR] [--converter-ggufs DIR]
Needs: numpy, gguf, sentencepiece, torch, transformers, llama-cpp-python (scripts/setup_llamacpp.sh,
built without AMX). Versions used are recorded in references.json.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "engine")
SPM = os.path.join(ROOT, "assets", "tokenizers", "mistral_v1_tokenizer.model")
SEED = 1234
N_NEW = 24
STRIDE = 128
TOP = 8
PROMPTS = {
    "en": "The quick brown fox jumps over the lazy dog near the river bank.",
    "he": "שלום עולם, זהו מבחן של מודל שפה בעברית.",
    # Mistral v1 instruct format; "<s>" is the BOS token, not text
    "inst": "<s>[INST] סכם את הטקסט הבא: ירושלים היא עיר הבירה של ישראל. [/INST]",
}
# file label -> (quant, layout)
FILES = {
    "f32": ("F32", "merged"),
    "f16": ("F16", "merged"),
    "q8_0": ("Q8_0", "merged"),
    "q5_k_m": ("Q5_K_M", "merged"),
    "q4_k_m": ("Q4_K_M", "merged"),
    "legacy-q4_k_m": ("Q4_K_M", "per-expert"),
}
LLAMACPP_QUANTS = ["q8_0", "q5_k_m", "q4_k_m"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_sofer():
    """The release binary cargo builds, wherever CARGO_TARGET_DIR puts it."""
    out = subprocess.run(
        ["cargo", "build", "--release", "--bin", "sofer", "--message-format=json"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] == "sofer":
            return msg["executable"]
    sys.exit("cargo build did not report the sofer binary")


def synthesize(sofer, work):
    paths = {}
    for label, (quant, layout) in FILES.items():
        path = os.path.join(work, f"tiny-{label}.gguf")
        subprocess.run([sofer, "model", "synth", "--preset", "tiny", "--seed", str(SEED), "--quant", quant,
                        "--layout", layout, "--out", path], check=True, stdout=subprocess.DEVNULL)
        paths[label] = path
    return paths


def prompt_ids():
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=SPM)
    ids = {}
    for name, text in PROMPTS.items():
        body = text[len("<s>"):] if text.startswith("<s>") else text
        ids[name] = [sp.bos_id()] + sp.encode(body)
    return ids


def unpermute(w, n_head):
    """Inverse of llama.cpp's converter permutation of attn_q / attn_k rows (for ggml's NORM rope)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def transformers_model(gguf_path):
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from transformers import MixtralConfig, MixtralForCausalLM

    r = GGUFReader(gguf_path)

    def meta(key):
        f = r.fields[key]
        return f.parts[f.data[0]].tolist()[0]

    heads, kv_heads = meta("llama.attention.head_count"), meta("llama.attention.head_count_kv")
    dim = meta("llama.embedding_length")
    cfg = MixtralConfig(
        vocab_size=len(r.fields["tokenizer.ggml.tokens"].data), hidden_size=dim,
        intermediate_size=meta("llama.feed_forward_length"), num_hidden_layers=meta("llama.block_count"),
        num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=dim // heads,
        rope_theta=meta("llama.rope.freq_base"), max_position_embeddings=meta("llama.context_length"),
        rms_norm_eps=meta("llama.attention.layer_norm_rms_epsilon"), tie_word_embeddings=False,
        num_local_experts=meta("llama.expert_count"), num_experts_per_tok=meta("llama.expert_used_count"),
        bos_token_id=1, eos_token_id=2, hidden_act="silu", sliding_window=None)
    model = MixtralForCausalLM(cfg).to(torch.float32).eval()
    t = {x.name: dequantize(x.data, x.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(x.shape)])
         for x in r.tensors}
    sd = {"model.embed_tokens.weight": t["token_embd.weight"], "lm_head.weight": t["output.weight"],
          "model.norm.weight": t["output_norm.weight"]}
    for i in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        sd[p + "self_attn.q_proj.weight"] = unpermute(t[b + "attn_q.weight"], heads)
        sd[p + "self_attn.k_proj.weight"] = unpermute(t[b + "attn_k.weight"], kv_heads)
        sd[p + "self_attn.v_proj.weight"] = t[b + "attn_v.weight"]
        sd[p + "self_attn.o_proj.weight"] = t[b + "attn_output.weight"]
        sd[p + "input_layernorm.weight"] = t[b + "attn_norm.weight"]
        sd[p + "post_attention_layernorm.weight"] = t[b + "ffn_norm.weight"]
        sd[p + "mlp.gate.weight"] = t[b + "ffn_gate_inp.weight"]
        sd[p + "mlp.experts.gate_up_proj"] = np.concatenate(
            [t[b + "ffn_gate_exps.weight"], t[b + "ffn_up_exps.weight"]], axis=1)
        sd[p + "mlp.experts.down_proj"] = t[b + "ffn_down_exps.weight"]
    own = model.state_dict()
    assert set(own) == set(sd), (set(own) ^ set(sd))
    for k, v in own.items():
        assert tuple(v.shape) == sd[k].shape, (k, v.shape, sd[k].shape)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    return model


def run_transformers(gguf_path, ids):
    import torch
    torch.set_num_threads(2)
    model = transformers_model(gguf_path)
    out = {}
    with torch.no_grad():
        for name, prompt in ids.items():
            x = torch.tensor([prompt])
            o = model(x, use_cache=True)
            logits = o.logits[0].float().numpy()
            gen = []
            for _ in range(N_NEW):
                nxt = int(o.logits[0, -1].argmax())
                gen.append(nxt)
                o = model(torch.tensor([[nxt]]), past_key_values=o.past_key_values, use_cache=True)
            out[name] = (logits, gen)
    return out


def plain_cpu_kernels():
    """llama.cpp 0c1e57098 built for AMX CPUs segfaults in ggml_backend_amx_mul_mat on quantized
    files; use_extra_bufts=False keeps to the plain CPU kernels (no AMX, no weight repacking)."""
    import llama_cpp.llama_cpp as c
    if getattr(c, "_sofer_patched", False):
        return
    default = c.llama_model_default_params

    def patched():
        p = default()
        p.use_extra_bufts = False
        return p
    c.llama_model_default_params = patched
    c._sofer_patched = True


def run_llamacpp(gguf_path, ids):
    import llama_cpp
    plain_cpu_kernels()
    llm = llama_cpp.Llama(model_path=gguf_path, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=2,
                          n_threads_batch=2, logits_all=True, verbose=False, seed=0,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    out, tokenization = {}, {}
    for name, prompt in ids.items():
        text = PROMPTS[name]
        special = text.startswith("<s>")
        theirs = llm.tokenize(text.encode("utf-8"), add_bos=not special, special=special)
        tokenization[name] = theirs == prompt
        llm.reset()
        llm.eval(prompt)
        logits = np.array(llm.scores[: len(prompt)], dtype=np.float32)
        gen = []
        for _ in range(N_NEW):
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            gen.append(nxt)
            llm.eval([nxt])
        out[name] = (logits, gen)
    del llm
    return out, tokenization


def layout_of(path):
    """What tests/synth.rs compares: tensors, metadata value types, vocabulary digests."""
    from gguf import GGUFReader
    r = GGUFReader(path)
    tensors = {t.name: {"shape": [int(d) for d in t.shape], "type": t.tensor_type.name} for t in r.tensors}
    meta = {}
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        kind = f.types[0].name
        if kind == "ARRAY":
            kind += "/" + f.types[-1].name
        meta[key] = kind
    f = r.fields["tokenizer.ggml.tokens"]
    tokens = hashlib.sha256(b"".join(bytes(f.parts[i]) + b"\0" for i in f.data)).hexdigest()
    digest = {"tokenizer.ggml.tokens": tokens}
    for key, dtype in [("tokenizer.ggml.scores", "<f4"), ("tokenizer.ggml.token_type", "<i4")]:
        f = r.fields[key]
        values = np.array([f.parts[i][0] for i in f.data], dtype=dtype)
        digest[key] = hashlib.sha256(values.tobytes()).hexdigest()
    return {"tensors": tensors, "metadata_types": meta, "vocabulary_sha256": digest}


def versions():
    import gguf, llama_cpp, sentencepiece, torch, transformers
    return {"numpy": np.__version__, "gguf": getattr(gguf, "__version__", "0.19.0"),
            "sentencepiece": sentencepiece.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "llama_cpp_python": llama_cpp.__version__,
            "python": sys.version.split()[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sofer", help="sofer binary (default: what `cargo build --release` builds)")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "engine-refs"))
    ap.add_argument("--converter-ggufs", help="folder with llama.cpp-made tiny-{f16,q8_0,q5_k_m,q4_k_m}.gguf")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(OUT, exist_ok=True)

    sofer = args.sofer or find_sofer()
    files = synthesize(sofer, args.work)
    ids = prompt_ids()

    results = {"transformers_f32": (run_transformers(files["f16"], ids), "f16")}
    tokenization = {}
    for q in LLAMACPP_QUANTS:
        out, tok = run_llamacpp(files[q], ids)
        results[f"llamacpp_{q}"] = (out, q)
        tokenization[q] = tok
        assert all(tok.values()), f"llama.cpp tokenizes differently from SentencePiece on {q}: {tok}"

    columns = {}
    for name in PROMPTS:
        keep = set(range(0, 32000, STRIDE))
        for out, _ in results.values():
            keep.update(np.argsort(-out[name][0], axis=-1)[:, :TOP].ravel().tolist())
        columns[name] = sorted(int(c) for c in keep)

    sources = {}
    for source, (out, label) in results.items():
        dtype = np.float32 if source.startswith("transformers") else np.float16
        entry = {"file": f"tiny-{label}.gguf", "stored_as": np.dtype(dtype).name, "argmax": {}, "greedy": {}}
        for name, (logits, gen) in out.items():
            np.save(os.path.join(OUT, f"{source}.{name}.npy"),
                    np.ascontiguousarray(logits[:, columns[name]], dtype=dtype))
            entry["argmax"][name] = logits.argmax(-1).tolist()
            entry["greedy"][name] = gen
        sources[source] = entry

    hf = results["transformers_f32"][0]
    agreement = {}
    for q in LLAMACPP_QUANTS:
        lc = results[f"llamacpp_{q}"][0]
        agreement[q] = {n: float(np.mean(hf[n][0].argmax(-1) == lc[n][0].argmax(-1))) for n in PROMPTS}
    gaps = np.concatenate([np.diff(np.sort(hf[n][0], axis=-1)[:, -2:], axis=-1).ravel() for n in PROMPTS])

    refs = {
        "made_by": "scripts/make_engine_refs.py",
        "synth": {"preset": "tiny", "seed": SEED,
                  "files": {f"tiny-{label}.gguf": {"quant": q, "layout": lay, "sha256": sha256(files[label])}
                            for label, (q, lay) in FILES.items()}},
        "prompts": {n: {"text": PROMPTS[n], "ids": ids[n]} for n in PROMPTS},
        "prompt_ids_from": "SentencePiece on assets/tokenizers/mistral_v1_tokenizer.model, BOS prepended; "
                           "llama.cpp's tokenization of every quantized file is identical",
        "columns": columns,
        "columns_rule": f"every {STRIDE}th id plus every id in any source's top {TOP} at any position",
        "sources": sources,
        "llamacpp_settings": "n_ctx 512, n_batch 512, n_threads 2, logits_all, F32 KV cache, use_extra_bufts False",
        "greedy_rule": f"{N_NEW} new tokens, argmax, no EOS stop",
        "diagnostics": {"llamacpp_vs_transformers_top1": agreement,
                        "transformers_top1_top2_gap": {"median": float(np.median(gaps)),
                                                       "p10": float(np.percentile(gaps, 10))}},
        "versions": versions(),
    }
    with open(os.path.join(OUT, "references.json"), "w") as f:
        json.dump(refs, f, ensure_ascii=False, indent=1)

    if args.converter_ggufs:
        layout = {q: layout_of(os.path.join(args.converter_ggufs, f"tiny-{q}.gguf"))
                  for q in ["f16", "q8_0", "q5_k_m", "q4_k_m"]}
        layout["made_from"] = ("the tiny GGUFs written by llama.cpp 0c1e57098's convert_hf_to_gguf.py (F16) and "
                               "llama_model_quantize (Q8_0, Q5_K_M, Q4_K_M), read with gguf-py")
        layout["vocabulary_digest_rule"] = ("sha256 of: tokens as UTF-8 each followed by a NUL byte; scores as "
                                            "little-endian f32; token types as little-endian i32")
        with open(os.path.join(OUT, "llamacpp_layout.json"), "w") as f:
            json.dump(layout, f, indent=1, sort_keys=True)
    print(json.dumps(refs["diagnostics"], indent=1))


if __name__ == "__main__":
    main()
