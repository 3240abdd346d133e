#!/usr/bin/env bash
# Dev check: `sofer eval translate`'s corpus chrF equals sacrebleu's on the same outputs.
# Translates the first N NTREX sentences with MODEL, saves hypotheses and references, and
# scores them again with sacrebleu 2.6.0 (from the project's .venv; `pip install
# sacrebleu==2.6.0`). Usage: scripts/eval_chrf_vs_sacrebleu.sh MODEL.gguf [N] [DIRECTION]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODEL="${1:?usage: $0 MODEL.gguf [N] [he-en|en-he]}"
N="${2:-20}"
DIRECTION="${3:-he-en}"
PY="${PYTHON:-.venv/bin/python}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
SOFER="${SOFER:-target/release/sofer}"
"$SOFER" eval translate --model "$MODEL" --limit "$N" --direction "$DIRECTION" \
    --candidates 1 --save "$OUT" --json > "$OUT/run.json"
"$PY" - "$OUT" <<'PY'
import json, sys
from sacrebleu.metrics import CHRF
out = sys.argv[1]
run = json.loads(open(f"{out}/run.json").readline())
hyps = open(f"{out}/hyp-1.txt", encoding="utf-8").read().split("\n")[:-1]
refs = open(f"{out}/ref.txt", encoding="utf-8").read().split("\n")[:-1]
theirs = CHRF().corpus_score(hyps, [refs]).score
print(f"sentences {len(hyps)}  sofer chrF2 {run['chrf']:.6f}  sacrebleu chrF2 {theirs:.6f}")
assert abs(run["chrf"] - theirs) < 1e-6, "chrF differs from sacrebleu's"
print("equal")
PY
