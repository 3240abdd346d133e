#!/usr/bin/env bash
# The clients tests/http.rs drives the server with: a virtual environment with the pinned
# `openai` SDK and `playwright` (tests/http/requirements.txt), and Chromium from Debian
# (installed with apt-get when missing and this runs as root). Idempotent: a venv that
# already has the pinned versions is kept.
#
# Usage: scripts/setup_http_clients.sh [VENV_DIR]   (default: $CARGO_TARGET_DIR or target, /http-clients)
# Prints the venv's python on stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${1:-$TARGET/http-clients}"
REQUIREMENTS="$ROOT/tests/http/requirements.txt"
PYTHON="${PYTHON:-python3}"
log() { echo "setup_http_clients: $*" >&2; }

if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing chromium (Debian)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
    else
        log "ERROR: no chromium; install Debian's chromium package"; exit 1
    fi
fi

stamp="$VENV/.requirements"
if [ -x "$VENV/bin/python" ] && cmp -s "$REQUIREMENTS" "$stamp"; then
    log "already set up: $VENV"
else
    log "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$stamp"
fi
echo "$VENV/bin/python"
