#!/usr/bin/env bash
# The clients tests/http.rs drives the server with: a virtual environment with the pinned
# `openai` SDK and `playwright` (tests/http/requirements.txt), and `curl` and Chromium from
# Debian (installed with apt-get when missing and this runs as root). Idempotent: a venv that
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

# Installs Debian package $1 unless command $2 (or $3) is there.
need() {
    command -v "$2" >/dev/null || { [ -n "${3:-}" ] && command -v "$3" >/dev/null; } && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing $1 (Debian)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null; }
    else
        log "ERROR: no $2; install Debian's $1 package"; exit 1
    fi
}
need curl curl
need chromium chromium chromium-browser

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
