#!/usr/bin/env bash
# Sofer vs llama.cpp on the same synthesized bench-preset files, in one run, on an idle
# machine: prefill/decode tok/s, their ratios, k-sample cost and peak RSS.
# Needs llama-bench from scripts/setup_llamacpp.sh. Usage: scripts/bench_vs_llamacpp.sh [DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR="${1:-models/bench}"
THREADS="${THREADS:-2}"
mkdir -p "$DIR"
source scripts/lib/sofer_bin.sh
SOFER="$(build_sofer)"
for q in Q5_K_M Q4_K_M; do
    f="$DIR/bench-$q.gguf"
    [ -f "$f" ] || "$SOFER" model synth --preset bench --quant "$q" --out "$f" >&2
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    ours="$("$SOFER" bench --model "$f" --threads "$THREADS" --n 5 --json)"
    ours_repack="$("$SOFER" bench --model "$f" --threads "$THREADS" --repack --json)"
    peer="$(THREADS="$THREADS" scripts/llamacpp_bench.sh "$f" 256 128)"
    python3 - "$q" "$ours" "$ours_repack" "$peer" <<'PY'
import json, sys
q, ours, rep, peer = sys.argv[1], *(json.loads(a) for a in sys.argv[2:])
kv = ours['kv_cache_bytes']
print(f"{q}: file {ours['file_bytes'] / 2**20:.0f} MiB")
for name, r in (("sofer", ours), ("sofer --repack", rep), ("llama.cpp", peer)):
    print(f"  {name:<15} prefill {r['prefill_tok_s']:8.1f} tok/s ({r['prefill_tok_s'] / peer['prefill_tok_s']:.2f}x)"
          f"  decode {r['decode_tok_s']:7.1f} tok/s ({r['decode_tok_s'] / peer['decode_tok_s']:.2f}x)"
          f"  peak RSS {r['peak_rss_bytes'] / 2**20:6.1f} MiB ({r['peak_rss_bytes'] / (ours['file_bytes'] + kv):.2f}x file+KV)")
print(f"  sofer 5 samples from one prefill: {ours['k_samples_wall_s']:.2f} s vs 1 sample {ours['single_sample_wall_s']:.2f} s"
      f" ({ours['k_samples_wall_s'] / ours['single_sample_wall_s']:.2f}x)")
PY
done
