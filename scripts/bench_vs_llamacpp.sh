#!/usr/bin/env bash
# Sofer vs llama.cpp, row by row, on the same files in the same run: `sofer bench` and
# `llama-bench` alternated per row; prefill of PROMPT and LONG tokens, decode of GEN tokens at
# short context and after LONG tokens (llama-bench -d), peak RSS against file + KV cache,
# load time, the ratios; then bench Q5_K_M's prefill of XLONG tokens. Dev only: needs
# llama-bench from scripts/setup_llamacpp.sh (built on first use). Run it on an idle machine.
#
# Usage: scripts/bench_vs_llamacpp.sh [DIR]   (synthesized files go to DIR, default models/bench)
# Env:   THREADS (2), PROMPT (256), GEN (128), REPS (3),
#        QUANTS (bench-preset rows: "Q4_0 Q4_1 Q8_0 Q4_K_M Q5_K_M Q6_K"), LONG (4096; 0 skips
#        the long columns), XLONG (16384; 0 skips), EXTRA ("name=file.gguf …": more rows),
#        SMOLLM2 (the SmolLM2 file of the quick start; its row is skipped when absent),
#        LLAMA_BENCH (default /work/peer/lcpp-noamx/bin/llama-bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR="${1:-models/bench}"
THREADS="${THREADS:-2}"; PROMPT="${PROMPT:-256}"; GEN="${GEN:-128}"; REPS="${REPS:-3}"
QUANTS="${QUANTS:-Q4_0 Q4_1 Q8_0 Q4_K_M Q5_K_M Q6_K}"
LONG="${LONG:-4096}"; XLONG="${XLONG:-16384}"
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
for extra in ${EXTRA:-}; do rows+=("$extra"); done

results="$(mktemp)"; trap 'rm -f "$results"' EXIT
ours() { "$SOFER" bench --model "$1" --threads "$THREADS" --prompt-tokens "$2" --gen-tokens "$3" \
    --repetitions "$4" --json; }
peer() { THREADS="$THREADS" REPS="$4" scripts/llamacpp_bench.sh "$1" "$2" "$3" "${@:5}"; }
for row in "${rows[@]}"; do
    name="${row%%=*}"; f="${row#*=}"
    echo "[bench] $name (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
    line="$name	$(ours "$f" "$PROMPT" "$GEN" "$REPS")	$(peer "$f" "$PROMPT" "$GEN" "$REPS")"
    if [ "$LONG" -gt 0 ]; then
        # Prefill of a long prompt, then decode at that depth (llama-bench: -d).
        line="$line	$(ours "$f" "$LONG" "$GEN" "$REPS")	$(peer "$f" "$LONG" 0 "$REPS")"
        line="$line	$(peer "$f" 0 "$GEN" "$REPS" -d "$LONG")"
    fi
    printf '%s\n' "$line" >> "$results"
done
if [ "$XLONG" -gt 0 ] && [ -f "$DIR/bench-Q5_K_M.gguf" ]; then
    f="$DIR/bench-Q5_K_M.gguf"
    echo "[bench] bench Q5_K_M, prompt $XLONG" >&2
    printf 'xlong\t%s\t%s\n' "$(ours "$f" "$XLONG" 8 1)" "$(peer "$f" "$XLONG" 0 1)" >> "$results"
fi

python3 - "$results" "$THREADS" "$PROMPT" "$GEN" "$LONG" <<'PY'
import json, sys
path, threads, prompt, gen, long = sys.argv[1:]
def ratio(a, b):
    return f"{a:8.1f} vs {b:8.1f} {a / b:5.2f}x"
def rss(r):
    return f"{r['peak_rss_bytes'] / 2**20:5.0f} MiB {r['peak_rss_bytes'] / (r['file_bytes'] + r['kv_cache_bytes']):4.2f}x"
print(f"{threads} threads; tok/s sofer vs llama.cpp and the ratio; RSS: sofer's peak and ÷ (file + KV cache)")
cols = [f"prefill {prompt}", f"decode {gen}"] + ([f"prefill {long}", f"decode at {long}"] if int(long) else [])
print(f"{'row':<19}" + "".join(f" {c:>27}" for c in cols) + f" {'RSS':>15}" + (f" {'RSS long':>15}" if int(long) else "") + "  load s")
for line in open(path):
    f = line.rstrip("\n").split("\t")
    name, r = f[0], [json.loads(x) for x in f[1:]]
    if name == "xlong":
        o, p = r
        print(f"bench Q5_K_M prefill {o['prompt_tokens']}: {ratio(o['prefill_tok_s'], p['prefill_tok_s'])}, RSS {rss(o)}")
        continue
    cells = [ratio(r[0]["prefill_tok_s"], r[1]["prefill_tok_s"]), ratio(r[0]["decode_tok_s"], r[1]["decode_tok_s"])]
    if len(r) > 2:
        cells += [ratio(r[2]["prefill_tok_s"], r[3]["prefill_tok_s"]), ratio(r[2]["decode_tok_s"], r[4]["decode_tok_s"])]
    print(f"{name:<19}" + "".join(f" {c:>27}" for c in cells) + f" {rss(r[0]):>15}"
          + (f" {rss(r[2]):>15}" if len(r) > 2 else "") + f"  {r[0]['load_s']:6.2f}")
PY
