#!/usr/bin/env python3
"""Check that GGUFs written by `sofer model synth` load and evaluate in llama.cpp (llama-cpp-python).

Usage (in the venv from scripts/setup_llamacpp.sh):
  .venv/bin/python scripts/check_synth_in_llamacpp.py FILE.gguf [FILE.gguf ...]
  .venv/bin/python scripts/check_synth_in_llamacpp.py --sofer target/debug/sofer [--outdir /tmp] \
        [--preset tiny] [--variants default:Q8_0,merged:F32,merged:F16,merged:Q8_0,merged:Q5_K_M,merged:Q4_K_M]

With --sofer, each variant LAYOUT:QUANT is first written with
  sofer model synth --preset P --quant QUANT [--layout LAYOUT] --out OUTDIR/synth-P-LAYOUT-QUANT.gguf
("default" = no --layout flag). Each file is then loaded in a child process (a llama.cpp crash cannot take
the others down) with use_extra_bufts=False, n_ctx 64, 2 threads, F32 KV cache; it evaluates the prompt ids
[1, 415, 2936] and then greedily 8 more tokens (argmax -> eval). One JSON line per file; exit status 1 if
any file failed.
"""
import argparse
import json
import os
import subprocess
import sys

PROMPT = [1, 415, 2936]
N_GEN = 8

CHILD = r"""
import json, sys
import numpy as np
import llama_cpp, llama_cpp.llama_cpp as C
orig = C.llama_model_default_params
def patched():
    p = orig(); p.use_extra_bufts = False; return p
C.llama_model_default_params = patched
path, prompt, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
llm = llama_cpp.Llama(model_path=path, n_ctx=64, n_threads=2, n_threads_batch=2, logits_all=True,
                      verbose=True, type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
llm.eval(prompt)
prompt_logits = np.array(llm.scores[:len(prompt)], dtype=np.float32)
ids = []
for i in range(n):
    row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
    ids.append(int(np.argmax(row)))
    if i + 1 < n:
        llm.eval([ids[-1]])
md = llm.metadata
print(json.dumps({"greedy_ids": ids, "n_vocab": llm.n_vocab(),
                  "arch": md.get("general.architecture"),
                  "expert_count": md.get("llama.expert_count"),
                  "logits_finite": bool(np.isfinite(prompt_logits).all()),
                  "last_prompt_logit_absmax": float(np.abs(prompt_logits[-1]).max()),
                  "last_prompt_top1": int(np.argmax(prompt_logits[-1]))}))
"""


def check(path):
    res = {"file": path, "bytes": os.path.getsize(path) if os.path.exists(path) else None}
    p = subprocess.run([sys.executable, "-c", CHILD, path, json.dumps(PROMPT), str(N_GEN)],
                       capture_output=True, text=True)
    if p.returncode == 0 and p.stdout.strip():
        res.update(json.loads(p.stdout.strip().splitlines()[-1]))
        res["ok"] = True
    else:
        res["ok"] = False
        res["returncode"] = p.returncode
        lines = (p.stderr + p.stdout).splitlines()
        key = [l for l in lines if any(w in l.lower() for w in ("error", "failed", "not found", "segmentation"))]
        res["error"] = "\n".join((key or lines)[-12:])[-1500:]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--sofer")
    ap.add_argument("--outdir", default="/tmp")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--variants", default="default:Q8_0,merged:F32,merged:F16,merged:Q8_0,merged:Q5_K_M,merged:Q4_K_M")
    a = ap.parse_args()
    files = list(a.files)
    failed = False
    if a.sofer:
        for v in a.variants.split(","):
            layout, quant = v.split(":")
            out = os.path.join(a.outdir, f"synth-{a.preset}-{layout}-{quant.lower()}.gguf")
            cmd = [a.sofer, "model", "synth", "--preset", a.preset, "--quant", quant, "--out", out]
            if layout != "default":
                cmd[-2:-2] = ["--layout", layout]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                failed = True
                print(json.dumps({"file": out, "ok": False, "synth_cmd": " ".join(cmd),
                                  "synth_error": (p.stderr or p.stdout)[-1500:]}), flush=True)
                continue
            files.append(out)
    if not files:
        ap.error("no GGUF files (give FILE.gguf or --sofer)")
    for f in files:
        r = check(f)
        failed |= not r["ok"]
        print(json.dumps(r), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
