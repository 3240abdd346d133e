#!/usr/bin/env bash
# Sofer vs llama.cpp, row by row, on the same files in the same run: `sofer bench` and
# `llama-bench` alternated per row; prefill (PROMPT tokens), decode (GEN tokens), peak RSS
# against file + KV cache, load time, and the ratios. Dev only: needs llama-bench from
# scripts/setup_llamacpp.sh (built on first use). Run it on an idle machine.
#
# Usage: scripts/bench_vs_llamacpp.sh [DIR]   (synthesized files go to DIR, default models/bench)
# Env:   THREADS (2), PROMPT (256), GEN (128), REPS (3),
#        QUANTS (bench-preset rows: "Q4_0 Q4_1 Q8_0 Q4_K_M Q5_K_M Q6_K"),
#        SMOLLM2 (the SmolLM2 file of the quick start; its row is skipped when absent),
#        LLAMA_BENCH (default /work/peer/lcpp-noamx/bin/llama-bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR="${1:-models/bench}"
THREADS="${THREADS:-2}"; PROMPT="${PROMPT:-256}"; GEN="${GEN:-128}"; REPS="${REPS:-3}"
QUANTS="${QUANTS:-Q4_0 Q4_1 Q8_0 Q4_K_M Q5_K_M Q6_K}"
SMOLLM2="${SMOLLM2:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
export LLAMA_BENCH="${LLAMA_BENCH:-/work/peer/lcpp-noamx/bin/llama-bench}"
[ -x "$LLAMA_BENCH" ] || scripts/setup_llamacpp.sh >&2
mkdir -p "$DIR"
source scripts/lib/sofer_bin.sh
SOFER="$(build_sofer)"

rows=()
for q in $QUANTS; do
    f="$DIR/bench-$q.gguf"
    [ -f "$f" ] || "$SOFER" model synth --preset bench --quant "$q" --out "$f" >&2
    rows+=("bench $q=$f")
done
[ -f "$SMOLLM2" ] && rows+=("SmolLM2-135M Q4_1=$SMOLLM2")

results="$(mktemp)"; trap 'rm -f "$results"' EXIT
for row in "${rows[@]}"; do
    name="${row%%=*}"; f="${row#*=}"
    echo "[bench] $name (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
    ours="$("$SOFER" bench --model "$f" --threads "$THREADS" --prompt-tokens "$PROMPT" \
        --gen-tokens "$GEN" --repetitions "$REPS" --json)"
    peer="$(THREADS="$THREADS" REPS="$REPS" scripts/llamacpp_bench.sh "$f" "$PROMPT" "$GEN")"
    printf '%s\t%s\t%s\n' "$name" "$ours" "$peer" >> "$results"
done

python3 - "$results" "$THREADS" "$PROMPT" "$GEN" <<'PY'
import json, sys
path, threads, prompt, gen = sys.argv[1:]
print(f"{threads} threads, prompt {prompt}, decode {gen} tokens; ratios are sofer ÷ llama.cpp")
head = (f"{'row':<20} {'prefill tok/s':>22} {'ratio':>6} {'decode tok/s':>20} {'ratio':>6}"
        f" {'RSS MiB':>15} {'÷ file+KV':>9} {'load s':>6}")
print(head)
for line in open(path):
    name, ours, peer = line.rstrip("\n").split("\t")
    o, p = json.loads(ours), json.loads(peer)
    budget = o["file_bytes"] + o["kv_cache_bytes"]
    print(f"{name:<20} {o['prefill_tok_s']:9.1f} vs {p['prefill_tok_s']:9.1f}"
          f" {o['prefill_tok_s'] / p['prefill_tok_s']:5.2f}x"
          f" {o['decode_tok_s']:8.1f} vs {p['decode_tok_s']:8.1f}"
          f" {o['decode_tok_s'] / p['decode_tok_s']:5.2f}x"
          f" {o['peak_rss_bytes'] / 2**20:6.0f} vs {p['peak_rss_bytes'] / 2**20:5.0f}"
          f" {o['peak_rss_bytes'] / budget:8.2f}x {o['load_s']:6.2f}")
PY
